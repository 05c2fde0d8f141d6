// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title What the rollup needs from the L1 global exit root manager
/// @notice Function names and selectors are those of the fork-6 manager:
///         `globalExitRootMap(bytes32)` 0x257b3632, `getLastGlobalExitRoot()` 0x3ed691ef,
///         `updateExitRoot(bytes32)` 0x33d6247d.
interface IGlobalExitRootManager {
    /// @notice L1 timestamp at which a global exit root was first recorded; 0 when it never was
    function globalExitRootMap(bytes32 globalExitRoot) external view returns (uint256);

    /// @notice keccak256(lastMainnetExitRoot ‖ lastRollupExitRoot)
    function getLastGlobalExitRoot() external view returns (bytes32);

    /// @notice The bridge sets the mainnet exit root, the rollup sets the rollup exit root
    function updateExitRoot(bytes32 newRoot) external;
}

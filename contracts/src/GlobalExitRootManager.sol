// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IGlobalExitRootManager} from "./interfaces/IGlobalExitRootManager.sol";

/// @title Minimal L1 global exit root manager
/// @notice Keeps the two exit roots of the fork-6 manager and the map from each global exit root
///         (keccak256(mainnetExitRoot ‖ rollupExitRoot)) to the L1 timestamp it was first seen at.
///         The rollup reads that map to accept a batch's global exit root, and snapshots
///         getLastGlobalExitRoot() into every forced batch.
/// @dev zkseq has no bridge contract. `bridgeAddress` is whatever account stands for the bridge: in
///      the devnet and in tests an externally owned account, which is how a non-zero global exit
///      root is created on L1. The rollup updates the rollup exit root on every trusted verification.
contract GlobalExitRootManager is IGlobalExitRootManager {
    /// @notice May set the mainnet exit root
    address public immutable bridgeAddress;
    /// @notice May set the rollup exit root (the rollup contract)
    address public immutable rollupAddress;

    bytes32 public lastRollupExitRoot;
    bytes32 public lastMainnetExitRoot;

    /// @inheritdoc IGlobalExitRootManager
    mapping(bytes32 => uint256) public globalExitRootMap;

    /// @notice A global exit root was recorded for the first time
    event UpdateGlobalExitRoot(bytes32 indexed mainnetExitRoot, bytes32 indexed rollupExitRoot);

    /// @dev The caller is neither the bridge nor the rollup
    error OnlyAllowedContracts();

    constructor(address rollupAddress_, address bridgeAddress_) {
        rollupAddress = rollupAddress_;
        bridgeAddress = bridgeAddress_;
    }

    /// @inheritdoc IGlobalExitRootManager
    function updateExitRoot(bytes32 newRoot) external {
        bytes32 mainnetExitRoot = lastMainnetExitRoot;
        bytes32 rollupExitRoot = lastRollupExitRoot;
        if (msg.sender == bridgeAddress) {
            mainnetExitRoot = newRoot;
            lastMainnetExitRoot = newRoot;
        } else if (msg.sender == rollupAddress) {
            rollupExitRoot = newRoot;
            lastRollupExitRoot = newRoot;
        } else {
            revert OnlyAllowedContracts();
        }

        bytes32 globalExitRoot = keccak256(abi.encodePacked(mainnetExitRoot, rollupExitRoot));
        if (globalExitRootMap[globalExitRoot] == 0) {
            globalExitRootMap[globalExitRoot] = block.timestamp;
            emit UpdateGlobalExitRoot(mainnetExitRoot, rollupExitRoot);
        }
    }

    /// @inheritdoc IGlobalExitRootManager
    function getLastGlobalExitRoot() external view returns (bytes32) {
        return keccak256(abi.encodePacked(lastMainnetExitRoot, lastRollupExitRoot));
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title The proof verifier the rollup calls
/// @notice Same function as the fork-6 verifier interface (selector of
///         `verifyProof(bytes32[24],uint256[1])`), so a real fflonk verifier could be plugged in.
interface IVerifierRollup {
    /// @param proof the fflonk proof, 24 words
    /// @param pubSignals the single public input: sha256(getInputSnarkBytes(...)) mod r(BN254)
    /// @return true when the proof is valid
    function verifyProof(bytes32[24] calldata proof, uint256[1] calldata pubSignals) external view returns (bool);
}

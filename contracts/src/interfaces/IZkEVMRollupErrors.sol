// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title The rollup's custom errors
/// @notice Each name (and so each 4-byte selector) is the one the fork-6 contract uses for the same
///         check, so tools written for fork 6 decode our reverts. Only the errors of the checks we
///         keep are declared.
interface IZkEVMRollupErrors {
    /// @dev The caller is not the admin
    error OnlyAdmin();
    /// @dev The caller is not the pending admin
    error OnlyPendingAdmin();
    /// @dev The caller of sequenceBatches is not the trusted sequencer
    error OnlyTrustedSequencer();
    /// @dev The caller of verifyBatchesTrustedAggregator is not the trusted aggregator
    error OnlyTrustedAggregator();
    /// @dev sequenceBatches / sequenceForceBatches with an empty list
    error SequenceZeroBatches();
    /// @dev More than 1,000 batches in one sequence
    error ExceedMaxVerifyBatches();
    /// @dev A forced batch does not match the hash stored by forceBatch, or is out of queue order
    error ForcedDataDoesNotMatch();
    /// @dev A forced batch sequenced with a timestamp below the time it was forced
    error SequencedTimestampBelowForcedTimestamp();
    /// @dev A non-zero global exit root unknown to the global exit root manager
    error GlobalExitRootNotExist();
    /// @dev Batch data above 120,000 bytes (sequenceBatches) or 5,000 bytes (forceBatch)
    error TransactionsLengthAboveMax();
    /// @dev A batch timestamp below the previous batch's, or above the L1 block's
    error SequencedTimestampInvalid();
    /// @dev More forced batches sequenced than were forced
    error ForceBatchesOverflow();
    /// @dev pendingStateNum != 0: this contract keeps no pending states
    error PendingStateDoesNotExist();
    /// @dev No verified state root at initNumBatch
    error OldStateRootDoesNotExist();
    /// @dev initNumBatch is above the last verified batch
    error InitNumBatchAboveLastVerifiedBatch();
    /// @dev finalNewBatch is not above the last verified batch
    error FinalNumBatchBelowLastVerifiedBatch();
    /// @dev The verifier rejected the proof
    error InvalidProof();
    /// @dev forceBatch with maticAmount below getForcedBatchFee() (which is 0 here)
    error NotEnoughMaticAmount();
    /// @dev sequenceForceBatches before the last batch's minForcedTimestamp + forceBatchTimeout
    error ForceBatchTimeoutNotExpired();
    /// @dev setForceBatchTimeout above one week, or not below the current timeout
    error InvalidRangeForceBatchTimeout();
    /// @dev initNumBatch != 0 is not the end of a sequence
    error OldAccInputHashDoesNotExist();
    /// @dev finalNewBatch is not the end of a sequence
    error NewAccInputHashDoesNotExist();
    /// @dev A 64-bit limb of the new state root is not below the Goldilocks prime
    error NewStateRootNotInsidePrime();
    /// @dev forceBatch / sequenceForceBatches while forced batches are not activated
    error ForceBatchNotAllowed();
    /// @dev activateForceBatches when they already are
    error ForceBatchesAlreadyActive();
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IGlobalExitRootManager} from "./interfaces/IGlobalExitRootManager.sol";
import {IVerifierRollup} from "./interfaces/IVerifierRollup.sol";
import {IZkEVMRollupErrors} from "./interfaces/IZkEVMRollupErrors.sol";

/// @title zkseq's L1 rollup contract, with the Polygon zkEVM fork-6 interface
/// @notice The sequencing surface of the fork-6 `PolygonZkEVM` contract, written for zkseq: the same
///         structs, function selectors, event signatures, custom error names, storage getters,
///         accInputHash chain and checks, in the same order, for
///           - sequenceBatches (trusted sequencer): batches become *virtual*;
///           - forceBatch / sequenceForceBatches: anti-censorship, the queue consumed in order;
///           - verifyBatchesTrustedAggregator: batches become *verified*.
///
///         accInputHash_n = keccak256(accInputHash_{n-1} ‖ keccak256(transactions) ‖ globalExitRoot
///                                    ‖ uint64 timestamp ‖ address sequencer), 124 bytes packed;
///         it is stored once per sequence, at the sequence's last batch number.
///
///         Left out, on purpose:
///           - Fees. `forceBatch` keeps its `maticAmount` parameter so calldata is fork-6 calldata,
///             but no token moves: `batchFee` and `getForcedBatchFee()` are 0, nothing is pulled
///             from the sequencer in `sequenceBatches`, nothing is paid to the aggregator. The
///             sequencer is trusted and run by the same operator as the L1 contract, so a fee
///             would only move an operator's token between the operator's accounts, and every
///             client would need an ERC-20 approve step that tests nothing of the protocol. The
///             one thing the fee buys in fork 6 is a price on forcing batches (spam); here the
///             price is the L1 gas of a transaction carrying up to 5,000 bytes.
///           - Pending states (permissionless verifyBatches, consolidation, overrides), the
///             emergency state and the bridge call: none of them changes what is sequenced. A
///             non-zero `pendingStateNum` reverts with `PendingStateDoesNotExist`, as in fork 6
///             where no pending state exists.
///           - The proxy: there is nothing to upgrade, so the fork-6 `initialize` parameters are
///             constructor parameters, and `forceBatchTimeout` and whether forced batches start
///             allowed are among them (fork 6 hard-codes 5 days and "disallowed"), so tests and
///             the devnet can force batches and let the timeout expire in seconds.
contract ZkEVMRollup is IZkEVMRollupErrors {
    /// @notice One batch of a sequenceBatches call
    /// @param transactions the batchL2Data
    /// @param globalExitRoot 0, or a global exit root known to the manager; for a forced batch the
    ///        one recorded by forceBatch
    /// @param timestamp the batch timestamp, in [lastTimestamp, block.timestamp]
    /// @param minForcedTimestamp 0 for a normal batch; for a forced batch the L1 timestamp of its
    ///        forceBatch transaction
    struct BatchData {
        bytes transactions;
        bytes32 globalExitRoot;
        uint64 timestamp;
        uint64 minForcedTimestamp;
    }

    /// @notice One forced batch of a sequenceForceBatches call
    struct ForcedBatchData {
        bytes transactions;
        bytes32 globalExitRoot;
        uint64 minForcedTimestamp;
    }

    /// @notice What is stored at the last batch number of each sequence
    /// @param accInputHash the accInputHash after that batch
    /// @param sequencedTimestamp the L1 block timestamp of the sequencing transaction
    /// @param previousLastBatchSequenced the last batch of the sequence before (a linked list)
    struct SequencedBatchData {
        bytes32 accInputHash;
        uint64 sequencedTimestamp;
        uint64 previousLastBatchSequenced;
    }

    /// @notice What fork 6 sets in `initialize`, plus the two values it hard-codes
    struct InitializeParameters {
        address admin;
        address trustedSequencer;
        address trustedAggregator;
        /// @dev seconds a forced batch waits before anyone may sequence it; at most one week
        uint64 forceBatchTimeout;
        /// @dev true: forceBatch reverts until the admin calls activateForceBatches (fork 6's start)
        bool isForcedBatchDisallowed;
        /// @dev the state root of batch 0
        bytes32 genesisRoot;
        string trustedSequencerURL;
        string networkName;
        /// @dev emitted in UpdateZkEVMVersion
        string version;
    }

    /// @dev BN254 scalar field: the SNARK public input is taken modulo it
    uint256 internal constant _RFIELD =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// @dev Largest batchL2Data of a sequenced batch (circuit keccak capacity, below geth's 128 kB tx limit)
    uint256 internal constant _MAX_TRANSACTIONS_BYTE_LENGTH = 120000;
    /// @dev Largest batchL2Data of a forced batch
    uint256 internal constant _MAX_FORCE_BATCH_BYTE_LENGTH = 5000;
    /// @dev Most batches per sequenceBatches / sequenceForceBatches call
    uint64 internal constant _MAX_VERIFY_BATCHES = 1000;
    /// @dev Upper bound of forceBatchTimeout
    uint64 internal constant _HALT_AGGREGATION_TIMEOUT = 1 weeks;
    /// @dev 2^64 - 2^32 + 1: each 64-bit limb of a state root is a Goldilocks field element
    uint256 internal constant _GOLDILOCKS_PRIME_FIELD = 0xFFFFFFFF00000001;
    uint256 internal constant _MAX_UINT_64 = type(uint64).max;

    /// @notice MATIC paid per non-forced batch in fork 6; always 0 here (see the contract notice)
    uint256 public constant batchFee = 0;

    IGlobalExitRootManager public immutable globalExitRootManager;
    IVerifierRollup public immutable rollupVerifier;
    /// @notice The L2 chain id
    uint64 public immutable chainID;
    uint64 public immutable forkID;

    address public trustedSequencer;
    /// @notice Forced batch number → keccak256(keccak256(transactions) ‖ globalExitRoot ‖ uint64 forcedAt);
    ///         deleted when sequenced
    mapping(uint64 => bytes32) public forcedBatches;
    /// @notice Last batch number of a sequence → its SequencedBatchData; no entry for other batches
    mapping(uint64 => SequencedBatchData) public sequencedBatches;
    uint64 public lastTimestamp;
    uint64 public lastBatchSequenced;
    uint64 public lastForceBatchSequenced;
    uint64 public lastForceBatch;
    uint64 public lastVerifiedBatch;
    address public trustedAggregator;
    /// @notice Verified batch number → state root; batch 0 holds the genesis root
    mapping(uint64 => bytes32) public batchNumToStateRoot;
    string public trustedSequencerURL;
    string public networkName;
    address public admin;
    address public pendingAdmin;
    uint64 public forceBatchTimeout;
    bool public isForcedBatchDisallowed;

    /// @notice A sequence was stored by sequenceBatches; `numBatch` is its last batch
    event SequenceBatches(uint64 indexed numBatch);
    /// @notice A batch was forced. `transactions` is empty when the caller is an EOA (read them
    ///         from the transaction's calldata), and set when the caller is a contract.
    event ForceBatch(uint64 indexed forceBatchNum, bytes32 lastGlobalExitRoot, address sequencer, bytes transactions);
    /// @notice A sequence was stored by sequenceForceBatches; `numBatch` is its last batch
    event SequenceForceBatches(uint64 indexed numBatch);
    /// @notice Batches up to `numBatch` are verified with `stateRoot`
    event VerifyBatchesTrustedAggregator(uint64 indexed numBatch, bytes32 stateRoot, address indexed aggregator);
    event SetTrustedSequencer(address newTrustedSequencer);
    event SetTrustedSequencerURL(string newTrustedSequencerURL);
    event SetTrustedAggregator(address newTrustedAggregator);
    event SetForceBatchTimeout(uint64 newforceBatchTimeout);
    event ActivateForceBatches();
    event TransferAdminRole(address newPendingAdmin);
    event AcceptAdminRole(address newAdmin);
    /// @notice The fork id from batch `numBatch` on; emitted once, at deployment, with numBatch 0
    event UpdateZkEVMVersion(uint64 numBatch, uint64 forkID, string version);

    modifier onlyAdmin() {
        if (msg.sender != admin) revert OnlyAdmin();
        _;
    }

    modifier onlyTrustedSequencer() {
        if (msg.sender != trustedSequencer) revert OnlyTrustedSequencer();
        _;
    }

    modifier onlyTrustedAggregator() {
        if (msg.sender != trustedAggregator) revert OnlyTrustedAggregator();
        _;
    }

    modifier isForceBatchAllowed() {
        if (isForcedBatchDisallowed) revert ForceBatchNotAllowed();
        _;
    }

    constructor(
        IGlobalExitRootManager globalExitRootManager_,
        IVerifierRollup rollupVerifier_,
        uint64 chainID_,
        uint64 forkID_,
        InitializeParameters memory params
    ) {
        if (params.forceBatchTimeout > _HALT_AGGREGATION_TIMEOUT) revert InvalidRangeForceBatchTimeout();
        globalExitRootManager = globalExitRootManager_;
        rollupVerifier = rollupVerifier_;
        chainID = chainID_;
        forkID = forkID_;
        admin = params.admin;
        trustedSequencer = params.trustedSequencer;
        trustedAggregator = params.trustedAggregator;
        forceBatchTimeout = params.forceBatchTimeout;
        isForcedBatchDisallowed = params.isForcedBatchDisallowed;
        batchNumToStateRoot[0] = params.genesisRoot;
        trustedSequencerURL = params.trustedSequencerURL;
        networkName = params.networkName;
        emit UpdateZkEVMVersion(0, forkID_, params.version);
    }

    // ---------------------------------------------------------------------------------------------
    // Sequencing
    // ---------------------------------------------------------------------------------------------

    /// @notice Append batches to the virtual state (selector 0x5e9145c9). Checks, in fork-6 order:
    ///         the caller; 1..1000 batches; then per batch either the forced-queue match (next in
    ///         order, timestamp >= minForcedTimestamp) or, for a normal batch, a known non-zero
    ///         global exit root and at most 120,000 bytes; then lastTimestamp <= timestamp <=
    ///         block.timestamp.
    /// @param batches the batches, in order
    /// @param l2Coinbase the sequencer address in every batch's accInputHash (the L2 fee recipient)
    function sequenceBatches(BatchData[] calldata batches, address l2Coinbase) external onlyTrustedSequencer {
        uint256 batchesNum = batches.length;
        if (batchesNum == 0) revert SequenceZeroBatches();
        if (batchesNum > _MAX_VERIFY_BATCHES) revert ExceedMaxVerifyBatches();

        uint64 previousLastBatchSequenced = lastBatchSequenced;
        uint64 currentTimestamp = lastTimestamp;
        uint64 initLastForceBatchSequenced = lastForceBatchSequenced;
        uint64 currentLastForceBatchSequenced = initLastForceBatchSequenced;
        bytes32 currentAccInputHash = sequencedBatches[previousLastBatchSequenced].accInputHash;

        for (uint256 i = 0; i < batchesNum; i++) {
            BatchData calldata batch = batches[i];
            bytes32 transactionsHash = keccak256(batch.transactions);

            if (batch.minForcedTimestamp > 0) {
                // A forced batch: must be the next one in the queue, exactly as forced. Its size
                // and global exit root were checked by forceBatch.
                currentLastForceBatchSequenced++;
                bytes32 hashedForcedBatchData =
                    keccak256(abi.encodePacked(transactionsHash, batch.globalExitRoot, batch.minForcedTimestamp));
                if (hashedForcedBatchData != forcedBatches[currentLastForceBatchSequenced]) {
                    revert ForcedDataDoesNotMatch();
                }
                delete forcedBatches[currentLastForceBatchSequenced];
                if (batch.timestamp < batch.minForcedTimestamp) revert SequencedTimestampBelowForcedTimestamp();
            } else {
                if (
                    batch.globalExitRoot != bytes32(0)
                        && globalExitRootManager.globalExitRootMap(batch.globalExitRoot) == 0
                ) {
                    revert GlobalExitRootNotExist();
                }
                if (batch.transactions.length > _MAX_TRANSACTIONS_BYTE_LENGTH) revert TransactionsLengthAboveMax();
            }

            if (batch.timestamp < currentTimestamp || batch.timestamp > block.timestamp) {
                revert SequencedTimestampInvalid();
            }

            currentAccInputHash = keccak256(
                abi.encodePacked(
                    currentAccInputHash, transactionsHash, batch.globalExitRoot, batch.timestamp, l2Coinbase
                )
            );
            currentTimestamp = batch.timestamp;
        }

        if (currentLastForceBatchSequenced > lastForceBatch) revert ForceBatchesOverflow();

        uint64 currentBatchSequenced = previousLastBatchSequenced + uint64(batchesNum);
        sequencedBatches[currentBatchSequenced] = SequencedBatchData({
            accInputHash: currentAccInputHash,
            sequencedTimestamp: uint64(block.timestamp),
            previousLastBatchSequenced: previousLastBatchSequenced
        });
        lastTimestamp = currentTimestamp;
        lastBatchSequenced = currentBatchSequenced;
        if (currentLastForceBatchSequenced != initLastForceBatchSequenced) {
            lastForceBatchSequenced = currentLastForceBatchSequenced;
        }

        emit SequenceBatches(currentBatchSequenced);
    }

    // ---------------------------------------------------------------------------------------------
    // Forced batches
    // ---------------------------------------------------------------------------------------------

    /// @notice Queue a batch the trusted sequencer must include, in order (selector 0xeaeb077b).
    ///         Its global exit root is the manager's last one and its minForcedTimestamp this
    ///         block's timestamp; both are in the ForceBatch event and the stored hash.
    /// @param transactions batchL2Data, at most 5,000 bytes
    /// @param maticAmount the most the caller will pay; kept for fork-6 calldata, no fee is taken
    function forceBatch(bytes calldata transactions, uint256 maticAmount) public isForceBatchAllowed {
        if (getForcedBatchFee() > maticAmount) revert NotEnoughMaticAmount();
        if (transactions.length > _MAX_FORCE_BATCH_BYTE_LENGTH) revert TransactionsLengthAboveMax();

        bytes32 lastGlobalExitRoot = globalExitRootManager.getLastGlobalExitRoot();
        uint64 forceBatchNum = lastForceBatch + 1;
        lastForceBatch = forceBatchNum;
        forcedBatches[forceBatchNum] =
            keccak256(abi.encodePacked(keccak256(transactions), lastGlobalExitRoot, uint64(block.timestamp)));

        if (msg.sender == tx.origin) {
            emit ForceBatch(forceBatchNum, lastGlobalExitRoot, msg.sender, "");
        } else {
            emit ForceBatch(forceBatchNum, lastGlobalExitRoot, msg.sender, transactions);
        }
    }

    /// @notice Anyone may sequence queued forced batches, in order, once the last of them has
    ///         waited forceBatchTimeout (selector 0xd8d1091b). Each batch's accInputHash uses this
    ///         block's timestamp and the caller as sequencer (the caller gets the L2 fees).
    function sequenceForceBatches(ForcedBatchData[] calldata batches) external isForceBatchAllowed {
        uint256 batchesNum = batches.length;
        if (batchesNum == 0) revert SequenceZeroBatches();
        if (batchesNum > _MAX_VERIFY_BATCHES) revert ExceedMaxVerifyBatches();
        if (uint256(lastForceBatchSequenced) + batchesNum > uint256(lastForceBatch)) revert ForceBatchesOverflow();

        uint64 previousLastBatchSequenced = lastBatchSequenced;
        uint64 currentLastForceBatchSequenced = lastForceBatchSequenced;
        bytes32 currentAccInputHash = sequencedBatches[previousLastBatchSequenced].accInputHash;

        for (uint256 i = 0; i < batchesNum; i++) {
            ForcedBatchData calldata batch = batches[i];
            currentLastForceBatchSequenced++;
            bytes32 transactionsHash = keccak256(batch.transactions);
            bytes32 hashedForcedBatchData =
                keccak256(abi.encodePacked(transactionsHash, batch.globalExitRoot, batch.minForcedTimestamp));
            if (hashedForcedBatchData != forcedBatches[currentLastForceBatchSequenced]) {
                revert ForcedDataDoesNotMatch();
            }
            delete forcedBatches[currentLastForceBatchSequenced];

            // The queue is in order, so the last batch is the youngest: only its wait is checked.
            if (i == batchesNum - 1 && batch.minForcedTimestamp + forceBatchTimeout > block.timestamp) {
                revert ForceBatchTimeoutNotExpired();
            }

            currentAccInputHash = keccak256(
                abi.encodePacked(
                    currentAccInputHash, transactionsHash, batch.globalExitRoot, uint64(block.timestamp), msg.sender
                )
            );
        }

        uint64 currentBatchSequenced = previousLastBatchSequenced + uint64(batchesNum);
        lastTimestamp = uint64(block.timestamp);
        sequencedBatches[currentBatchSequenced] = SequencedBatchData({
            accInputHash: currentAccInputHash,
            sequencedTimestamp: uint64(block.timestamp),
            previousLastBatchSequenced: previousLastBatchSequenced
        });
        lastBatchSequenced = currentBatchSequenced;
        lastForceBatchSequenced = currentLastForceBatchSequenced;

        emit SequenceForceBatches(currentBatchSequenced);
    }

    // ---------------------------------------------------------------------------------------------
    // Verification
    // ---------------------------------------------------------------------------------------------

    /// @notice Verify batches initNumBatch+1 .. finalNewBatch at once (selector 0x2b0006fa). Both
    ///         ends must be ends of sequences (they have an accInputHash), initNumBatch must have a
    ///         verified state root, and the proof must pass the verifier.
    /// @param pendingStateNum must be 0: this contract keeps no pending states
    /// @param newLocalExitRoot the L2 local exit root after finalNewBatch; becomes the rollup exit root
    /// @param newStateRoot the state root after finalNewBatch
    function verifyBatchesTrustedAggregator(
        uint64 pendingStateNum,
        uint64 initNumBatch,
        uint64 finalNewBatch,
        bytes32 newLocalExitRoot,
        bytes32 newStateRoot,
        bytes32[24] calldata proof
    ) external onlyTrustedAggregator {
        if (pendingStateNum != 0) revert PendingStateDoesNotExist();
        bytes32 oldStateRoot = batchNumToStateRoot[initNumBatch];
        if (oldStateRoot == bytes32(0)) revert OldStateRootDoesNotExist();
        uint64 currentLastVerifiedBatch = lastVerifiedBatch;
        if (initNumBatch > currentLastVerifiedBatch) revert InitNumBatchAboveLastVerifiedBatch();
        if (finalNewBatch <= currentLastVerifiedBatch) revert FinalNumBatchBelowLastVerifiedBatch();

        bytes memory snarkHashBytes =
            getInputSnarkBytes(initNumBatch, finalNewBatch, newLocalExitRoot, oldStateRoot, newStateRoot);
        uint256 inputSnark = uint256(sha256(snarkHashBytes)) % _RFIELD;
        if (!rollupVerifier.verifyProof(proof, [inputSnark])) revert InvalidProof();

        lastVerifiedBatch = finalNewBatch;
        batchNumToStateRoot[finalNewBatch] = newStateRoot;
        globalExitRootManager.updateExitRoot(newLocalExitRoot);

        emit VerifyBatchesTrustedAggregator(finalNewBatch, newStateRoot, msg.sender);
    }

    // ---------------------------------------------------------------------------------------------
    // Admin
    // ---------------------------------------------------------------------------------------------

    function setTrustedSequencer(address newTrustedSequencer) external onlyAdmin {
        trustedSequencer = newTrustedSequencer;
        emit SetTrustedSequencer(newTrustedSequencer);
    }

    function setTrustedSequencerURL(string calldata newTrustedSequencerURL) external onlyAdmin {
        trustedSequencerURL = newTrustedSequencerURL;
        emit SetTrustedSequencerURL(newTrustedSequencerURL);
    }

    function setTrustedAggregator(address newTrustedAggregator) external onlyAdmin {
        trustedAggregator = newTrustedAggregator;
        emit SetTrustedAggregator(newTrustedAggregator);
    }

    /// @notice Shorten the forced-batch timeout (it can never grow, as in fork 6 outside emergencies)
    function setForceBatchTimeout(uint64 newforceBatchTimeout) external onlyAdmin {
        if (newforceBatchTimeout > _HALT_AGGREGATION_TIMEOUT || newforceBatchTimeout >= forceBatchTimeout) {
            revert InvalidRangeForceBatchTimeout();
        }
        forceBatchTimeout = newforceBatchTimeout;
        emit SetForceBatchTimeout(newforceBatchTimeout);
    }

    /// @notice Allow forceBatch and sequenceForceBatches, for good
    function activateForceBatches() external onlyAdmin {
        if (!isForcedBatchDisallowed) revert ForceBatchesAlreadyActive();
        isForcedBatchDisallowed = false;
        emit ActivateForceBatches();
    }

    function transferAdminRole(address newPendingAdmin) external onlyAdmin {
        pendingAdmin = newPendingAdmin;
        emit TransferAdminRole(newPendingAdmin);
    }

    function acceptAdminRole() external {
        if (msg.sender != pendingAdmin) revert OnlyPendingAdmin();
        admin = msg.sender;
        emit AcceptAdminRole(msg.sender);
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @notice MATIC a forceBatch costs in fork 6 (batchFee × 100); always 0 here
    function getForcedBatchFee() public pure returns (uint256) {
        return batchFee * 100;
    }

    /// @notice The last verified batch (fork 6 would look at pending states first; there are none)
    function getLastVerifiedBatch() external view returns (uint64) {
        return lastVerifiedBatch;
    }

    /// @notice The bytes whose sha256 mod r(BN254) is the proof's public input:
    ///         msg.sender ‖ oldStateRoot ‖ oldAccInputHash ‖ initNumBatch ‖ chainID ‖ forkID
    ///         ‖ newStateRoot ‖ newAccInputHash ‖ newLocalExitRoot ‖ finalNewBatch
    function getInputSnarkBytes(
        uint64 initNumBatch,
        uint64 finalNewBatch,
        bytes32 newLocalExitRoot,
        bytes32 oldStateRoot,
        bytes32 newStateRoot
    ) public view returns (bytes memory) {
        bytes32 oldAccInputHash = sequencedBatches[initNumBatch].accInputHash;
        bytes32 newAccInputHash = sequencedBatches[finalNewBatch].accInputHash;
        if (initNumBatch != 0 && oldAccInputHash == bytes32(0)) revert OldAccInputHashDoesNotExist();
        if (newAccInputHash == bytes32(0)) revert NewAccInputHashDoesNotExist();
        if (!checkStateRootInsidePrime(uint256(newStateRoot))) revert NewStateRootNotInsidePrime();
        return abi.encodePacked(
            msg.sender,
            oldStateRoot,
            oldAccInputHash,
            initNumBatch,
            chainID,
            forkID,
            newStateRoot,
            newAccInputHash,
            newLocalExitRoot,
            finalNewBatch
        );
    }

    /// @notice Whether each of the four 64-bit limbs of a state root is a Goldilocks field element
    function checkStateRootInsidePrime(uint256 newStateRoot) public pure returns (bool) {
        return (newStateRoot & _MAX_UINT_64) < _GOLDILOCKS_PRIME_FIELD
            && ((newStateRoot >> 64) & _MAX_UINT_64) < _GOLDILOCKS_PRIME_FIELD
            && ((newStateRoot >> 128) & _MAX_UINT_64) < _GOLDILOCKS_PRIME_FIELD
            && (newStateRoot >> 192) < _GOLDILOCKS_PRIME_FIELD;
    }
}

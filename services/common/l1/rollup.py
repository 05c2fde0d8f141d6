"""The rollup contract's wire format: calldata of the four state-changing calls, and its events.

Pure functions over frozen dataclasses, no connection to any node: the sequence sender builds
`sequenceBatches` calldata here and hands the bytes to the L1 transaction manager; an L1 watcher
decodes logs (and, for batch contents, the calldata of the sequencing transaction) here.

    call                              selector    what it does
    sequenceBatches(BatchData[],      0x5e9145c9  trusted sequencer: batches → virtual
                    address)
    forceBatch(bytes,uint256)         0xeaeb077b  anyone: queue a forced batch
    sequenceForceBatches(             0xd8d1091b  anyone, after the timeout: forced batches → virtual
                    ForcedBatchData[])
    verifyBatchesTrustedAggregator(   0x2b0006fa  trusted aggregator: batches → verified
                    uint64,uint64,uint64,bytes32,bytes32,bytes32[24])

Events carry little, as in fork 6: `SequenceBatches` / `SequenceForceBatches` only the last batch
number of the sequence (the batches are in the transaction's calldata), `ForceBatch` the queue
number, the global exit root snapshot and the sender (its `transactions` are empty when an EOA
forced the batch: they are in the calldata, and the batch's minForcedTimestamp is the block's
timestamp).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode

from zkevm.batch import Hash32
from zkevm.hashing import keccak256
from zkevm.state_keys import Address

#: the largest batchL2Data sequenceBatches accepts for a non-forced batch
MAX_TRANSACTIONS_BYTE_LENGTH: Final = 120_000
#: the largest batchL2Data forceBatch accepts
MAX_FORCE_BATCH_BYTE_LENGTH: Final = 5_000
#: the most batches one sequenceBatches / sequenceForceBatches call carries
MAX_BATCHES_PER_SEQUENCE: Final = 1_000
#: words in a fork-6 (fflonk) proof
PROOF_WORDS: Final = 24
#: fork 6
FORK_ID: Final = 6
MAX_UINT64: Final = (1 << 64) - 1
MAX_UINT256: Final = (1 << 256) - 1
ZERO_HASH: Final = Hash32(bytes(32))
#: a proof for a verifier that accepts any proof
EMPTY_PROOF: Final[tuple[bytes, ...]] = (bytes(32),) * PROOF_WORDS

_BATCH_DATA: Final = "(bytes,bytes32,uint64,uint64)"
_FORCED_BATCH_DATA: Final = "(bytes,bytes32,uint64)"
_VERIFY_ARGS: Final = ("uint64", "uint64", "uint64", "bytes32", "bytes32", f"bytes32[{PROOF_WORDS}]")

SEQUENCE_BATCHES_SIGNATURE: Final = f"sequenceBatches({_BATCH_DATA}[],address)"
FORCE_BATCH_SIGNATURE: Final = "forceBatch(bytes,uint256)"
SEQUENCE_FORCE_BATCHES_SIGNATURE: Final = f"sequenceForceBatches({_FORCED_BATCH_DATA}[])"
VERIFY_BATCHES_TRUSTED_AGGREGATOR_SIGNATURE: Final = (
    f"verifyBatchesTrustedAggregator({','.join(_VERIFY_ARGS)})"
)


def selector(signature: str) -> bytes:
    return keccak256(signature.encode())[:4]


SEQUENCE_BATCHES_SELECTOR: Final = selector(SEQUENCE_BATCHES_SIGNATURE)
FORCE_BATCH_SELECTOR: Final = selector(FORCE_BATCH_SIGNATURE)
SEQUENCE_FORCE_BATCHES_SELECTOR: Final = selector(SEQUENCE_FORCE_BATCHES_SIGNATURE)
VERIFY_BATCHES_TRUSTED_AGGREGATOR_SELECTOR: Final = selector(VERIFY_BATCHES_TRUSTED_AGGREGATOR_SIGNATURE)
#: of the global exit root manager (the bridge's, or the rollup's, call)
UPDATE_EXIT_ROOT_SELECTOR: Final = selector("updateExitRoot(bytes32)")

SEQUENCE_BATCHES_TOPIC: Final = keccak256(b"SequenceBatches(uint64)")
FORCE_BATCH_TOPIC: Final = keccak256(b"ForceBatch(uint64,bytes32,address,bytes)")
SEQUENCE_FORCE_BATCHES_TOPIC: Final = keccak256(b"SequenceForceBatches(uint64)")
VERIFY_BATCHES_TRUSTED_AGGREGATOR_TOPIC: Final = keccak256(
    b"VerifyBatchesTrustedAggregator(uint64,bytes32,address)"
)
UPDATE_ZKEVM_VERSION_TOPIC: Final = keccak256(b"UpdateZkEVMVersion(uint64,uint64,string)")
#: of the global exit root manager
UPDATE_GLOBAL_EXIT_ROOT_TOPIC: Final = keccak256(b"UpdateGlobalExitRoot(bytes32,bytes32)")


class CalldataError(ValueError):
    """Calldata that is not a call of the expected function."""


def _check_uint(where: str, value: int, maximum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise ValueError(f"{where} must be an integer in [0, {maximum}], got {value!r}")


def _check_bytes(where: str, value: bytes, size: int | None = None) -> None:
    if not isinstance(value, bytes):
        raise ValueError(f"{where} must be bytes, got {type(value).__name__}")
    if size is not None and len(value) != size:
        raise ValueError(f"{where} must be {size} bytes, got {len(value)}")


# ---------------------------------------------------------------------------------------------
# the structs


@dataclass(frozen=True, slots=True)
class BatchData:
    """One batch of sequenceBatches. `min_forced_timestamp` is 0 for a normal batch; for a forced
    batch it is the L1 timestamp of its forceBatch, and `global_exit_root` the one recorded then."""

    transactions: bytes
    global_exit_root: Hash32
    timestamp: int
    min_forced_timestamp: int = 0

    def __post_init__(self) -> None:
        _check_bytes("BatchData.transactions", self.transactions)
        _check_bytes("BatchData.global_exit_root", self.global_exit_root, 32)
        _check_uint("BatchData.timestamp", self.timestamp, MAX_UINT64)
        _check_uint("BatchData.min_forced_timestamp", self.min_forced_timestamp, MAX_UINT64)

    @property
    def is_forced(self) -> bool:
        return self.min_forced_timestamp != 0


@dataclass(frozen=True, slots=True)
class ForcedBatchData:
    """One batch of sequenceForceBatches: exactly what forceBatch recorded."""

    transactions: bytes
    global_exit_root: Hash32
    min_forced_timestamp: int

    def __post_init__(self) -> None:
        _check_bytes("ForcedBatchData.transactions", self.transactions)
        _check_bytes("ForcedBatchData.global_exit_root", self.global_exit_root, 32)
        _check_uint("ForcedBatchData.min_forced_timestamp", self.min_forced_timestamp, MAX_UINT64)


@dataclass(frozen=True, slots=True)
class SequencedBatchData:
    """`sequencedBatches(n)`: stored at the last batch of each sequence only (zeros elsewhere)."""

    acc_input_hash: Hash32
    sequenced_timestamp: int
    previous_last_batch_sequenced: int


def forced_batch_hash(transactions: bytes, global_exit_root: bytes, min_forced_timestamp: int) -> Hash32:
    """`forcedBatches(n)`: keccak256(keccak256(transactions) ‖ globalExitRoot ‖ uint64 minForcedTimestamp)."""
    return Hash32(
        keccak256(keccak256(transactions) + global_exit_root + min_forced_timestamp.to_bytes(8, "big"))
    )


# ---------------------------------------------------------------------------------------------
# calldata


def _split(calldata: bytes, expected: bytes, name: str) -> bytes:
    if calldata[:4] != expected:
        raise CalldataError(
            f"not a {name} call: selector 0x{calldata[:4].hex()}, expected 0x{expected.hex()}"
        )
    return calldata[4:]


def encode_sequence_batches(batches: Sequence[BatchData], l2_coinbase: Address) -> bytes:
    _check_bytes("l2_coinbase", l2_coinbase, 20)
    rows = [(b.transactions, b.global_exit_root, b.timestamp, b.min_forced_timestamp) for b in batches]
    return SEQUENCE_BATCHES_SELECTOR + abi_encode([f"{_BATCH_DATA}[]", "address"], [rows, l2_coinbase])


def decode_sequence_batches(calldata: bytes) -> tuple[list[BatchData], Address]:
    """The batches and l2Coinbase of a sequenceBatches transaction's input."""
    rows, coinbase = abi_decode(
        [f"{_BATCH_DATA}[]", "address"], _split(calldata, SEQUENCE_BATCHES_SELECTOR, "sequenceBatches")
    )
    batches = [BatchData(bytes(t), Hash32(bytes(g)), int(ts), int(mf)) for t, g, ts, mf in rows]
    return batches, Address(bytes.fromhex(str(coinbase)[2:]))


def encode_force_batch(transactions: bytes, matic_amount: int = 0) -> bytes:
    _check_bytes("transactions", transactions)
    _check_uint("matic_amount", matic_amount, MAX_UINT256)
    return FORCE_BATCH_SELECTOR + abi_encode(["bytes", "uint256"], [transactions, matic_amount])


def decode_force_batch(calldata: bytes) -> tuple[bytes, int]:
    """The transactions and maticAmount of a forceBatch transaction's input."""
    transactions, matic_amount = abi_decode(
        ["bytes", "uint256"], _split(calldata, FORCE_BATCH_SELECTOR, "forceBatch")
    )
    return bytes(transactions), int(matic_amount)


def encode_sequence_force_batches(batches: Sequence[ForcedBatchData]) -> bytes:
    rows = [(b.transactions, b.global_exit_root, b.min_forced_timestamp) for b in batches]
    return SEQUENCE_FORCE_BATCHES_SELECTOR + abi_encode([f"{_FORCED_BATCH_DATA}[]"], [rows])


def decode_sequence_force_batches(calldata: bytes) -> list[ForcedBatchData]:
    (rows,) = abi_decode(
        [f"{_FORCED_BATCH_DATA}[]"], _split(calldata, SEQUENCE_FORCE_BATCHES_SELECTOR, "sequenceForceBatches")
    )
    return [ForcedBatchData(bytes(t), Hash32(bytes(g)), int(mf)) for t, g, mf in rows]


def encode_verify_batches_trusted_aggregator(
    *,
    init_num_batch: int,
    final_new_batch: int,
    new_local_exit_root: bytes,
    new_state_root: bytes,
    proof: Sequence[bytes] = EMPTY_PROOF,
    pending_state_num: int = 0,
) -> bytes:
    _check_uint("pending_state_num", pending_state_num, MAX_UINT64)
    _check_uint("init_num_batch", init_num_batch, MAX_UINT64)
    _check_uint("final_new_batch", final_new_batch, MAX_UINT64)
    _check_bytes("new_local_exit_root", new_local_exit_root, 32)
    _check_bytes("new_state_root", new_state_root, 32)
    if len(proof) != PROOF_WORDS:
        raise ValueError(f"proof must be {PROOF_WORDS} words, got {len(proof)}")
    for i, word in enumerate(proof):
        _check_bytes(f"proof[{i}]", word, 32)
    args = [
        pending_state_num,
        init_num_batch,
        final_new_batch,
        new_local_exit_root,
        new_state_root,
        list(proof),
    ]
    return VERIFY_BATCHES_TRUSTED_AGGREGATOR_SELECTOR + abi_encode(list(_VERIFY_ARGS), args)


def encode_update_exit_root(new_root: bytes) -> bytes:
    """The global exit root manager's updateExitRoot: the bridge account sets the mainnet exit root."""
    _check_bytes("new_root", new_root, 32)
    return UPDATE_EXIT_ROOT_SELECTOR + new_root


def global_exit_root(mainnet_exit_root: bytes, rollup_exit_root: bytes) -> Hash32:
    """keccak256(mainnetExitRoot ‖ rollupExitRoot), as the manager computes it."""
    return Hash32(keccak256(mainnet_exit_root + rollup_exit_root))


# ---------------------------------------------------------------------------------------------
# events


@dataclass(frozen=True, slots=True)
class LogPosition:
    """Where on L1 an event was emitted."""

    block_number: int
    block_hash: Hash32
    transaction_hash: Hash32
    log_index: int


@dataclass(frozen=True, slots=True)
class SequenceBatchesEvent:
    """sequenceBatches stored a sequence ending at `num_batch`."""

    num_batch: int
    position: LogPosition


@dataclass(frozen=True, slots=True)
class SequenceForceBatchesEvent:
    """sequenceForceBatches stored a sequence ending at `num_batch`."""

    num_batch: int
    position: LogPosition


@dataclass(frozen=True, slots=True)
class ForceBatchEvent:
    """A batch was forced. `transactions` is b"" when an EOA forced it: read them with
    `decode_force_batch` from the transaction's input. The minForcedTimestamp is the block's timestamp."""

    force_batch_num: int
    last_global_exit_root: Hash32
    sequencer: Address
    transactions: bytes
    position: LogPosition


@dataclass(frozen=True, slots=True)
class VerifyBatchesTrustedAggregatorEvent:
    """Batches up to `num_batch` are verified, with `state_root` after it."""

    num_batch: int
    state_root: Hash32
    aggregator: Address
    position: LogPosition


@dataclass(frozen=True, slots=True)
class UpdateZkEVMVersionEvent:
    """Emitted once, when the rollup is deployed: the fork id from batch `num_batch` on."""

    num_batch: int
    fork_id: int
    version: str
    position: LogPosition


RollupEvent = (
    SequenceBatchesEvent
    | SequenceForceBatchesEvent
    | ForceBatchEvent
    | VerifyBatchesTrustedAggregatorEvent
    | UpdateZkEVMVersionEvent
)

#: the topics `decode_rollup_log` understands (for an eth_getLogs filter)
ROLLUP_EVENT_TOPICS: Final = (
    SEQUENCE_BATCHES_TOPIC,
    SEQUENCE_FORCE_BATCHES_TOPIC,
    FORCE_BATCH_TOPIC,
    VERIFY_BATCHES_TRUSTED_AGGREGATOR_TOPIC,
    UPDATE_ZKEVM_VERSION_TOPIC,
)


def _as_bytes(value: Any) -> bytes:
    """bytes / HexBytes from web3.py, or a 0x-hex string from raw JSON-RPC."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    raise ValueError(f"expected bytes or a hex string, got {type(value).__name__}")


def _as_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return int(value, 16)
    raise ValueError(f"expected an integer or a hex string, got {type(value).__name__}")


def _topic_uint(topic: bytes) -> int:
    return int.from_bytes(topic, "big")


def _topic_address(topic: bytes) -> Address:
    return Address(topic[12:])


def decode_rollup_log(log: Mapping[str, Any]) -> RollupEvent | None:
    """Decode one log of the rollup contract: a web3.py LogReceipt or a raw eth_getLogs entry.
    None for an event this module does not model. The caller checks the log's address."""
    topics = [_as_bytes(topic) for topic in log["topics"]]
    if not topics:
        return None
    data = _as_bytes(log["data"])
    position = LogPosition(
        block_number=_as_int(log["blockNumber"]),
        block_hash=Hash32(_as_bytes(log["blockHash"])),
        transaction_hash=Hash32(_as_bytes(log["transactionHash"])),
        log_index=_as_int(log["logIndex"]),
    )
    topic0 = topics[0]
    if topic0 == SEQUENCE_BATCHES_TOPIC:
        return SequenceBatchesEvent(_topic_uint(topics[1]), position)
    if topic0 == SEQUENCE_FORCE_BATCHES_TOPIC:
        return SequenceForceBatchesEvent(_topic_uint(topics[1]), position)
    if topic0 == FORCE_BATCH_TOPIC:
        ger, sender, transactions = abi_decode(["bytes32", "address", "bytes"], data)
        return ForceBatchEvent(
            force_batch_num=_topic_uint(topics[1]),
            last_global_exit_root=Hash32(bytes(ger)),
            sequencer=Address(bytes.fromhex(str(sender)[2:])),
            transactions=bytes(transactions),
            position=position,
        )
    if topic0 == VERIFY_BATCHES_TRUSTED_AGGREGATOR_TOPIC:
        (state_root,) = abi_decode(["bytes32"], data)
        return VerifyBatchesTrustedAggregatorEvent(
            num_batch=_topic_uint(topics[1]),
            state_root=Hash32(bytes(state_root)),
            aggregator=_topic_address(topics[2]),
            position=position,
        )
    if topic0 == UPDATE_ZKEVM_VERSION_TOPIC:
        num_batch, fork_id, version = abi_decode(["uint64", "uint64", "string"], data)
        return UpdateZkEVMVersionEvent(int(num_batch), int(fork_id), str(version), position)
    return None

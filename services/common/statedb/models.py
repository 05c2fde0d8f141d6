"""The values the StateDB stores: frozen, slotted, validated when built.

Every constructor checks its fields and raises `ValueError` naming the class and field
("L2Tx.value must be a uint256 …", "Batch.coinbase must be 20 bytes …"), so a bad value is
refused before any SQL runs. The checks are about shape (lengths, ranges, enum members); whether a
value fits the stored state (the next batch number, the parent hash) is the repositories' job.

Widths
------
    hashes, roots           32 bytes (`Hash32`, `StateRoot` from zkevm/)
    addresses               20 bytes (`Address` from zkevm/)
    logs bloom              256 bytes
    amounts (value, gas prices, effective gas price)
                            uint256: 0 ≤ v ≤ 2**256 - 1, stored as canonical decimal TEXT on SQLite and
                            NUMERIC(78, 0) on PostgreSQL (see the package notes)
    numbers, nonces, gas, timestamps
                            0 ≤ v ≤ 2**63 - 1: they are stored in signed 64-bit columns (BIGINT);
                            fork-6 nonces and gas limits are uint64 on the wire, but no account or
                            block reaches 2**63, and a value that would is refused here, loudly
    effective percentage    one byte, 0..255
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from zkevm.batch import Hash32
from zkevm.field import StateRoot
from zkevm.state_keys import Address

__all__ = [
    "MAX_DB_INT",
    "MAX_UINT256",
    "PENDING_STATUSES",
    "Address",
    "Batch",
    "ForcedBatch",
    "Hash32",
    "L1Block",
    "L2Block",
    "L2Tx",
    "Log",
    "LogFilter",
    "MonitoredL1Tx",
    "MonitoredTxStatus",
    "Receipt",
    "ReorgDeletion",
    "StateRoot",
    "VerifiedBatch",
    "VirtualBatch",
]

MAX_UINT256: Final = (1 << 256) - 1
#: the largest integer a BIGINT column holds
MAX_DB_INT: Final = (1 << 63) - 1
HASH_BYTES: Final = 32
ADDRESS_BYTES: Final = 20
BLOOM_BYTES: Final = 256
#: an Ethereum log has at most four topics (LOG0..LOG4)
MAX_TOPICS: Final = 4
#: the longest monitored-tx id or owner name accepted
MAX_NAME_CHARS: Final = 200


# ---------------------------------------------------------------------------------------------
# field checks (each names "<Class>.<field>")


def check_int(where: str, value: object, maximum: int = MAX_DB_INT) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{where} must be an integer, got {type(value).__name__}")
    if not 0 <= value <= maximum:
        bound = "2**63 - 1" if maximum == MAX_DB_INT else "2**256 - 1" if maximum == MAX_UINT256 else maximum
        raise ValueError(f"{where} must be between 0 and {bound}, got {value}")


def check_opt_int(where: str, value: object) -> None:
    if value is not None:
        check_int(where, value)


def check_uint256(where: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{where} must be a uint256 integer, got {type(value).__name__}")
    if not 0 <= value <= MAX_UINT256:
        raise ValueError(f"{where} must be a uint256 (0 ≤ v ≤ 2**256 - 1), got {value}")


def check_bytes(where: str, value: object, size: int | None = None) -> None:
    if not isinstance(value, bytes):
        raise ValueError(f"{where} must be bytes, got {type(value).__name__}")
    if size is not None and len(value) != size:
        raise ValueError(f"{where} must be {size} bytes, got {len(value)}")


def check_opt_bytes(where: str, value: object, size: int) -> None:
    if value is not None:
        check_bytes(where, value, size)


def check_name(where: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where} must be a non-empty string")
    if len(value) > MAX_NAME_CHARS or not value.isprintable():
        raise ValueError(f"{where} must be at most {MAX_NAME_CHARS} printable characters, got {value!r}")


def check_utc(where: str, value: object) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{where} must be a timezone-aware datetime")
    if value < EPOCH:
        raise ValueError(f"{where} must not be before 1970-01-01, got {value.isoformat()}")


EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# trusted state: batches, L2 blocks, transactions, receipts, logs


@dataclass(frozen=True, slots=True)
class Batch:
    """A batch as the sequencer builds it: open (roots None) until it is closed.

    `batch_l2_data` is the concatenation of its transactions' fork-6 records; for a forced batch it is
    the data the forcer posted on L1, verbatim.
    """

    number: int
    batch_l2_data: bytes
    global_exit_root: Hash32
    timestamp: int
    coinbase: Address
    state_root: StateRoot | None
    local_exit_root: Hash32 | None
    acc_input_hash: Hash32 | None
    closed: bool
    forced_batch_number: int | None = None

    def __post_init__(self) -> None:
        check_int("Batch.number", self.number)
        check_bytes("Batch.batch_l2_data", self.batch_l2_data)
        check_bytes("Batch.global_exit_root", self.global_exit_root, HASH_BYTES)
        check_int("Batch.timestamp", self.timestamp)
        check_bytes("Batch.coinbase", self.coinbase, ADDRESS_BYTES)
        check_opt_bytes("Batch.state_root", self.state_root, HASH_BYTES)
        check_opt_bytes("Batch.local_exit_root", self.local_exit_root, HASH_BYTES)
        check_opt_bytes("Batch.acc_input_hash", self.acc_input_hash, HASH_BYTES)
        if not isinstance(self.closed, bool):
            raise ValueError(f"Batch.closed must be a bool, got {type(self.closed).__name__}")
        check_opt_int("Batch.forced_batch_number", self.forced_batch_number)
        if self.closed:
            for name in ("state_root", "local_exit_root", "acc_input_hash"):
                if getattr(self, name) is None:
                    raise ValueError(f"Batch.{name} is required once the batch is closed")


@dataclass(frozen=True, slots=True)
class L2Block:
    """A fork-6 L2 block: exactly one transaction (`tx_hash`), or none for the genesis block."""

    number: int
    hash: Hash32
    parent_hash: Hash32
    batch_number: int
    state_root: StateRoot
    timestamp: int
    coinbase: Address
    tx_hash: Hash32 | None
    gas_used: int
    gas_limit: int

    def __post_init__(self) -> None:
        check_int("L2Block.number", self.number)
        check_bytes("L2Block.hash", self.hash, HASH_BYTES)
        check_bytes("L2Block.parent_hash", self.parent_hash, HASH_BYTES)
        check_int("L2Block.batch_number", self.batch_number)
        check_bytes("L2Block.state_root", self.state_root, HASH_BYTES)
        check_int("L2Block.timestamp", self.timestamp)
        check_bytes("L2Block.coinbase", self.coinbase, ADDRESS_BYTES)
        check_opt_bytes("L2Block.tx_hash", self.tx_hash, HASH_BYTES)
        check_int("L2Block.gas_used", self.gas_used)
        check_int("L2Block.gas_limit", self.gas_limit)


@dataclass(frozen=True, slots=True)
class L2Tx:
    """A transaction included in the trusted state, with where it sits (block, batch, index)."""

    hash: Hash32
    from_address: Address
    #: None for a contract creation
    to_address: Address | None
    nonce: int
    gas_price: int
    gas_limit: int
    value: int
    data: bytes
    #: the sequencer's byte (0..255): the sender pays floor(gas_price · (ep + 1) / 256) per gas
    effective_percentage: int
    effective_gas_price: int
    #: the fork-6 batch record RLP(…) ‖ r ‖ s ‖ v ‖ ep (zkevm.transaction.L2Transaction.encode)
    encoded: bytes
    l2_block_number: int
    batch_number: int
    index_in_batch: int

    def __post_init__(self) -> None:
        check_bytes("L2Tx.hash", self.hash, HASH_BYTES)
        check_bytes("L2Tx.from_address", self.from_address, ADDRESS_BYTES)
        check_opt_bytes("L2Tx.to_address", self.to_address, ADDRESS_BYTES)
        check_int("L2Tx.nonce", self.nonce)
        check_uint256("L2Tx.gas_price", self.gas_price)
        check_int("L2Tx.gas_limit", self.gas_limit)
        check_uint256("L2Tx.value", self.value)
        check_bytes("L2Tx.data", self.data)
        check_int("L2Tx.effective_percentage", self.effective_percentage, 0xFF)
        check_uint256("L2Tx.effective_gas_price", self.effective_gas_price)
        check_bytes("L2Tx.encoded", self.encoded)
        if not self.encoded:
            raise ValueError("L2Tx.encoded must be the non-empty fork-6 batch record")
        check_int("L2Tx.l2_block_number", self.l2_block_number)
        check_int("L2Tx.batch_number", self.batch_number)
        check_int("L2Tx.index_in_batch", self.index_in_batch)


@dataclass(frozen=True, slots=True)
class Receipt:
    tx_hash: Hash32
    #: 1 success, 0 reverted
    status: int
    gas_used: int
    #: within the block; in fork 6 (one tx per block) equal to gas_used
    cumulative_gas_used: int
    #: the created contract, for a creation
    contract_address: Address | None
    effective_gas_price: int
    logs_bloom: bytes

    def __post_init__(self) -> None:
        check_bytes("Receipt.tx_hash", self.tx_hash, HASH_BYTES)
        if self.status not in (0, 1) or isinstance(self.status, bool):
            raise ValueError(f"Receipt.status must be 0 or 1, got {self.status!r}")
        check_int("Receipt.gas_used", self.gas_used)
        check_int("Receipt.cumulative_gas_used", self.cumulative_gas_used)
        check_opt_bytes("Receipt.contract_address", self.contract_address, ADDRESS_BYTES)
        check_uint256("Receipt.effective_gas_price", self.effective_gas_price)
        check_bytes("Receipt.logs_bloom", self.logs_bloom, BLOOM_BYTES)


@dataclass(frozen=True, slots=True)
class Log:
    block_number: int
    tx_hash: Hash32
    #: the transaction's index in its block
    tx_index: int
    #: the log's index in its block
    log_index: int
    address: Address
    topics: tuple[Hash32, ...]
    data: bytes

    def __post_init__(self) -> None:
        check_int("Log.block_number", self.block_number)
        check_bytes("Log.tx_hash", self.tx_hash, HASH_BYTES)
        check_int("Log.tx_index", self.tx_index)
        check_int("Log.log_index", self.log_index)
        check_bytes("Log.address", self.address, ADDRESS_BYTES)
        if not isinstance(self.topics, tuple) or len(self.topics) > MAX_TOPICS:
            raise ValueError(f"Log.topics must be a tuple of at most {MAX_TOPICS} hashes")
        for i, topic in enumerate(self.topics):
            check_bytes(f"Log.topics[{i}]", topic, HASH_BYTES)
        check_bytes("Log.data", self.data)


@dataclass(frozen=True, slots=True)
class MinedL2Tx:
    """A transaction of a block with its receipt and its logs (in log-index order)."""

    tx: L2Tx
    receipt: Receipt
    logs: tuple[Log, ...]

    def __post_init__(self) -> None:
        if self.receipt.tx_hash != self.tx.hash:
            raise ValueError("MinedL2Tx.receipt is not the receipt of MinedL2Tx.tx")
        if any(log.tx_hash != self.tx.hash for log in self.logs):
            raise ValueError("MinedL2Tx.logs must all be logs of MinedL2Tx.tx")


@dataclass(frozen=True, slots=True)
class BlockContents:
    """An L2 block with its transactions in block order, each with its receipt and logs."""

    block: L2Block
    txs: tuple[MinedL2Tx, ...]

    def __post_init__(self) -> None:
        if any(mined.tx.l2_block_number != self.block.number for mined in self.txs):
            raise ValueError(f"BlockContents.txs must all be transactions of block {self.block.number}")


@dataclass(frozen=True, slots=True)
class LogFilter:
    """An eth_getLogs query over an inclusive block range, with geth's matching rules.

    `addresses`: empty matches any address, otherwise any of them. `topics[i]`: None (or an empty
    tuple) is a wildcard for position i, otherwise the log's topic i must be one of the listed
    hashes. As in geth, a log with fewer topics than `len(topics)` never matches, wildcards included.
    """

    from_block: int
    to_block: int
    addresses: tuple[Address, ...] = ()
    topics: tuple[tuple[Hash32, ...] | None, ...] = ()

    def __post_init__(self) -> None:
        check_int("LogFilter.from_block", self.from_block)
        check_int("LogFilter.to_block", self.to_block)
        if self.to_block < self.from_block:
            raise ValueError(
                f"LogFilter.to_block ({self.to_block}) must not be below from_block ({self.from_block})"
            )
        if not isinstance(self.addresses, tuple):
            raise ValueError("LogFilter.addresses must be a tuple")
        for i, address in enumerate(self.addresses):
            check_bytes(f"LogFilter.addresses[{i}]", address, ADDRESS_BYTES)
        if not isinstance(self.topics, tuple) or len(self.topics) > MAX_TOPICS:
            raise ValueError(f"LogFilter.topics must be a tuple of at most {MAX_TOPICS} positions")
        for i, options in enumerate(self.topics):
            if options is None:
                continue
            if not isinstance(options, tuple):
                raise ValueError(f"LogFilter.topics[{i}] must be None or a tuple of hashes")
            for j, topic in enumerate(options):
                check_bytes(f"LogFilter.topics[{i}][{j}]", topic, HASH_BYTES)


# ---------------------------------------------------------------------------------------------
# L1 facts: blocks, virtual / verified / forced batches


@dataclass(frozen=True, slots=True)
class L1Block:
    number: int
    hash: Hash32
    parent_hash: Hash32

    def __post_init__(self) -> None:
        check_int("L1Block.number", self.number)
        check_bytes("L1Block.hash", self.hash, HASH_BYTES)
        check_bytes("L1Block.parent_hash", self.parent_hash, HASH_BYTES)


@dataclass(frozen=True, slots=True)
class VirtualBatch:
    """A batch sequenced on L1 (`SequenceBatches` event), with the accInputHash L1 stored for it."""

    batch_number: int
    l1_tx_hash: Hash32
    l1_block_number: int
    sequencer: Address
    acc_input_hash: Hash32

    def __post_init__(self) -> None:
        check_int("VirtualBatch.batch_number", self.batch_number)
        check_bytes("VirtualBatch.l1_tx_hash", self.l1_tx_hash, HASH_BYTES)
        check_int("VirtualBatch.l1_block_number", self.l1_block_number)
        check_bytes("VirtualBatch.sequencer", self.sequencer, ADDRESS_BYTES)
        check_bytes("VirtualBatch.acc_input_hash", self.acc_input_hash, HASH_BYTES)


@dataclass(frozen=True, slots=True)
class VerifiedBatch:
    """A batch whose proof L1 accepted (`VerifyBatchesTrustedAggregator`)."""

    batch_number: int
    l1_tx_hash: Hash32
    l1_block_number: int
    state_root: StateRoot
    aggregator: Address

    def __post_init__(self) -> None:
        check_int("VerifiedBatch.batch_number", self.batch_number)
        check_bytes("VerifiedBatch.l1_tx_hash", self.l1_tx_hash, HASH_BYTES)
        check_int("VerifiedBatch.l1_block_number", self.l1_block_number)
        check_bytes("VerifiedBatch.state_root", self.state_root, HASH_BYTES)
        check_bytes("VerifiedBatch.aggregator", self.aggregator, ADDRESS_BYTES)


@dataclass(frozen=True, slots=True)
class ForcedBatch:
    """A batch forced on L1 (`forceBatch()`), which the sequencer must include in order."""

    forced_batch_number: int
    global_exit_root: Hash32
    #: the L1 block timestamp of the forcing (the batch's minForcedTimestamp)
    timestamp: int
    #: the forced transactions, as posted
    batch_l2_data: bytes
    sender: Address
    l1_block_number: int
    #: the trusted batch that carries it, once the sequencer has opened one
    sequenced_in_batch: int | None = None

    def __post_init__(self) -> None:
        check_int("ForcedBatch.forced_batch_number", self.forced_batch_number)
        check_bytes("ForcedBatch.global_exit_root", self.global_exit_root, HASH_BYTES)
        check_int("ForcedBatch.timestamp", self.timestamp)
        check_bytes("ForcedBatch.batch_l2_data", self.batch_l2_data)
        check_bytes("ForcedBatch.sender", self.sender, ADDRESS_BYTES)
        check_int("ForcedBatch.l1_block_number", self.l1_block_number)
        check_opt_int("ForcedBatch.sequenced_in_batch", self.sequenced_in_batch)


@dataclass(frozen=True, slots=True)
class ReorgDeletion:
    """How many rows an L1 reorg removed."""

    l1_blocks: int
    virtual_batches: int
    verified_batches: int
    forced_batches: int


# ---------------------------------------------------------------------------------------------
# the EthTxManager's L1 transactions


class MonitoredTxStatus(enum.StrEnum):
    """created → sent → mined → confirmed, or failed (mined and reverted, for good)."""

    CREATED = "created"
    SENT = "sent"
    MINED = "mined"
    CONFIRMED = "confirmed"
    FAILED = "failed"


#: the statuses the EthTxManager still has to watch
PENDING_STATUSES: Final = frozenset(
    {MonitoredTxStatus.CREATED, MonitoredTxStatus.SENT, MonitoredTxStatus.MINED}
)


@dataclass(frozen=True, slots=True)
class MonitoredL1Tx:
    """An L1 transaction the EthTxManager owns, stored before anything is sent.

    The unsigned fields are kept so the transaction can be re-signed (new gas price, same nonce)
    after a restart; `attempts` lists the hash of every signed version sent, oldest first.
    """

    #: the caller's idempotency key, e.g. "sequence-from-5-to-9"
    id: str
    #: who asked for it, e.g. "sequencer"
    owner: str
    from_address: Address
    to_address: Address | None
    nonce: int
    value: int
    data: bytes
    gas: int
    gas_price: int
    status: MonitoredTxStatus
    attempts: tuple[Hash32, ...]
    #: the L1 block it was mined in (None until then, and again after a reorg)
    block_number: int | None
    created_at: datetime
    updated_at: datetime

    def __post_init__(self) -> None:
        check_name("MonitoredL1Tx.id", self.id)
        check_name("MonitoredL1Tx.owner", self.owner)
        check_bytes("MonitoredL1Tx.from_address", self.from_address, ADDRESS_BYTES)
        check_opt_bytes("MonitoredL1Tx.to_address", self.to_address, ADDRESS_BYTES)
        check_int("MonitoredL1Tx.nonce", self.nonce)
        check_uint256("MonitoredL1Tx.value", self.value)
        check_bytes("MonitoredL1Tx.data", self.data)
        check_int("MonitoredL1Tx.gas", self.gas)
        check_uint256("MonitoredL1Tx.gas_price", self.gas_price)
        if not isinstance(self.status, MonitoredTxStatus):
            raise ValueError(
                f"MonitoredL1Tx.status must be one of {[s.value for s in MonitoredTxStatus]}, "
                f"got {self.status!r}"
            )
        if not isinstance(self.attempts, tuple):
            raise ValueError("MonitoredL1Tx.attempts must be a tuple of hashes")
        for i, attempt in enumerate(self.attempts):
            check_bytes(f"MonitoredL1Tx.attempts[{i}]", attempt, HASH_BYTES)
        check_opt_int("MonitoredL1Tx.block_number", self.block_number)
        check_utc("MonitoredL1Tx.created_at", self.created_at)
        check_utc("MonitoredL1Tx.updated_at", self.updated_at)

"""Column lists and the conversions between stored rows and the domain values (both backends).

Only the repositories use this module. Rows come back as tuples in the order of the column lists;
bytes may arrive as `bytes` or `memoryview`, booleans as 0/1 (SQLite) or bool (PostgreSQL), uint256 as
decimal text (SQLite) or Decimal (PostgreSQL), and every conversion here accepts both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from services.common.statedb.models import (
    EPOCH,
    Address,
    Batch,
    ForcedBatch,
    Hash32,
    L1Block,
    L2Block,
    L2Tx,
    Log,
    Receipt,
    StateRoot,
    VerifiedBatch,
    VirtualBatch,
)
from services.common.statedb.sql import Dialect, Param, Row, uint256_from_db

BATCH_COLUMNS: Final = (
    "number",
    "batch_l2_data",
    "global_exit_root",
    "timestamp",
    "coinbase",
    "state_root",
    "local_exit_root",
    "acc_input_hash",
    "closed",
    "forced_batch_number",
)
L2_BLOCK_COLUMNS: Final = (
    "number",
    "hash",
    "parent_hash",
    "batch_number",
    "state_root",
    "timestamp",
    "coinbase",
    "tx_hash",
    "gas_used",
    "gas_limit",
)
TX_COLUMNS: Final = (
    "hash",
    "from_address",
    "to_address",
    "nonce",
    "gas_price",
    "gas_limit",
    "value",
    "data",
    "effective_percentage",
    "effective_gas_price",
    "encoded",
    "l2_block_number",
    "batch_number",
    "index_in_batch",
)
RECEIPT_COLUMNS: Final = (
    "tx_hash",
    "status",
    "gas_used",
    "cumulative_gas_used",
    "contract_address",
    "effective_gas_price",
    "logs_bloom",
)
LOG_COLUMNS: Final = (
    "block_number",
    "tx_hash",
    "tx_index",
    "log_index",
    "address",
    "topic0",
    "topic1",
    "topic2",
    "topic3",
    "data",
)
L1_BLOCK_COLUMNS: Final = ("number", "hash", "parent_hash")
VIRTUAL_BATCH_COLUMNS: Final = (
    "batch_number",
    "l1_tx_hash",
    "l1_block_number",
    "sequencer",
    "acc_input_hash",
)
VERIFIED_BATCH_COLUMNS: Final = ("batch_number", "l1_tx_hash", "l1_block_number", "state_root", "aggregator")
FORCED_BATCH_COLUMNS: Final = (
    "forced_batch_number",
    "global_exit_root",
    "timestamp",
    "batch_l2_data",
    "sender",
    "l1_block_number",
    "sequenced_in_batch",
)


def columns(names: Sequence[str], prefix: str = "") -> str:
    """`a, b, c` (or `p.a, p.b, p.c`) for a SELECT list."""
    return ", ".join(f"{prefix}{name}" for name in names)


# -- single values ---------------------------------------------------------------------------------


def to_bytes(value: Any) -> bytes:
    return bytes(value)


def to_opt_bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def to_opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def micros(moment: datetime) -> int:
    """Microseconds since 1970-01-01 UTC (how timestamps of the EthTxManager rows are stored)."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def from_micros(value: Any) -> datetime:
    return EPOCH + timedelta(microseconds=int(value))


# -- batches ---------------------------------------------------------------------------------------


def batch_params(batch: Batch) -> tuple[Param, ...]:
    return (
        batch.number,
        batch.batch_l2_data,
        batch.global_exit_root,
        batch.timestamp,
        batch.coinbase,
        batch.state_root,
        batch.local_exit_root,
        batch.acc_input_hash,
        batch.closed,
        batch.forced_batch_number,
    )


def batch_from_row(row: Row, batch_l2_data: bytes | None = None) -> Batch:
    """The batch in `row`; `batch_l2_data` replaces the stored data (an open batch's is assembled)."""
    return Batch(
        number=int(row[0]),
        batch_l2_data=to_bytes(row[1]) if batch_l2_data is None else batch_l2_data,
        global_exit_root=Hash32(to_bytes(row[2])),
        timestamp=int(row[3]),
        coinbase=Address(to_bytes(row[4])),
        state_root=_opt_root(row[5]),
        local_exit_root=_opt_hash(row[6]),
        acc_input_hash=_opt_hash(row[7]),
        closed=bool(row[8]),
        forced_batch_number=to_opt_int(row[9]),
    )


# -- L2 blocks, transactions, receipts, logs -------------------------------------------------------


def l2_block_params(block: L2Block) -> tuple[Param, ...]:
    return (
        block.number,
        block.hash,
        block.parent_hash,
        block.batch_number,
        block.state_root,
        block.timestamp,
        block.coinbase,
        block.tx_hash,
        block.gas_used,
        block.gas_limit,
    )


def l2_block_from_row(row: Row) -> L2Block:
    return L2Block(
        number=int(row[0]),
        hash=Hash32(to_bytes(row[1])),
        parent_hash=Hash32(to_bytes(row[2])),
        batch_number=int(row[3]),
        state_root=StateRoot(to_bytes(row[4])),
        timestamp=int(row[5]),
        coinbase=Address(to_bytes(row[6])),
        tx_hash=_opt_hash(row[7]),
        gas_used=int(row[8]),
        gas_limit=int(row[9]),
    )


def tx_params(tx: L2Tx, dialect: Dialect) -> tuple[Param, ...]:
    return (
        tx.hash,
        tx.from_address,
        tx.to_address,
        tx.nonce,
        dialect.uint256(tx.gas_price),
        tx.gas_limit,
        dialect.uint256(tx.value),
        tx.data,
        tx.effective_percentage,
        dialect.uint256(tx.effective_gas_price),
        tx.encoded,
        tx.l2_block_number,
        tx.batch_number,
        tx.index_in_batch,
    )


def tx_from_row(row: Row) -> L2Tx:
    return L2Tx(
        hash=Hash32(to_bytes(row[0])),
        from_address=Address(to_bytes(row[1])),
        to_address=_opt_address(row[2]),
        nonce=int(row[3]),
        gas_price=uint256_from_db(row[4]),
        gas_limit=int(row[5]),
        value=uint256_from_db(row[6]),
        data=to_bytes(row[7]),
        effective_percentage=int(row[8]),
        effective_gas_price=uint256_from_db(row[9]),
        encoded=to_bytes(row[10]),
        l2_block_number=int(row[11]),
        batch_number=int(row[12]),
        index_in_batch=int(row[13]),
    )


def receipt_params(receipt: Receipt, dialect: Dialect) -> tuple[Param, ...]:
    return (
        receipt.tx_hash,
        receipt.status,
        receipt.gas_used,
        receipt.cumulative_gas_used,
        receipt.contract_address,
        dialect.uint256(receipt.effective_gas_price),
        receipt.logs_bloom,
    )


def receipt_from_row(row: Row) -> Receipt:
    return Receipt(
        tx_hash=Hash32(to_bytes(row[0])),
        status=int(row[1]),
        gas_used=int(row[2]),
        cumulative_gas_used=int(row[3]),
        contract_address=_opt_address(row[4]),
        effective_gas_price=uint256_from_db(row[5]),
        logs_bloom=to_bytes(row[6]),
    )


def log_params(log: Log) -> tuple[Param, ...]:
    topics: list[Param] = [*log.topics, *([None] * (4 - len(log.topics)))]
    return (log.block_number, log.tx_hash, log.tx_index, log.log_index, log.address, *topics, log.data)


def log_from_row(row: Row) -> Log:
    return Log(
        block_number=int(row[0]),
        tx_hash=Hash32(to_bytes(row[1])),
        tx_index=int(row[2]),
        log_index=int(row[3]),
        address=Address(to_bytes(row[4])),
        topics=tuple(Hash32(to_bytes(t)) for t in row[5:9] if t is not None),
        data=to_bytes(row[9]),
    )


# -- L1 facts --------------------------------------------------------------------------------------


def l1_block_from_row(row: Row) -> L1Block:
    return L1Block(number=int(row[0]), hash=Hash32(to_bytes(row[1])), parent_hash=Hash32(to_bytes(row[2])))


def virtual_batch_params(vb: VirtualBatch) -> tuple[Param, ...]:
    return (vb.batch_number, vb.l1_tx_hash, vb.l1_block_number, vb.sequencer, vb.acc_input_hash)


def virtual_batch_from_row(row: Row) -> VirtualBatch:
    return VirtualBatch(
        batch_number=int(row[0]),
        l1_tx_hash=Hash32(to_bytes(row[1])),
        l1_block_number=int(row[2]),
        sequencer=Address(to_bytes(row[3])),
        acc_input_hash=Hash32(to_bytes(row[4])),
    )


def verified_batch_params(vb: VerifiedBatch) -> tuple[Param, ...]:
    return (vb.batch_number, vb.l1_tx_hash, vb.l1_block_number, vb.state_root, vb.aggregator)


def verified_batch_from_row(row: Row) -> VerifiedBatch:
    return VerifiedBatch(
        batch_number=int(row[0]),
        l1_tx_hash=Hash32(to_bytes(row[1])),
        l1_block_number=int(row[2]),
        state_root=StateRoot(to_bytes(row[3])),
        aggregator=Address(to_bytes(row[4])),
    )


def forced_batch_params(fb: ForcedBatch) -> tuple[Param, ...]:
    return (
        fb.forced_batch_number,
        fb.global_exit_root,
        fb.timestamp,
        fb.batch_l2_data,
        fb.sender,
        fb.l1_block_number,
        fb.sequenced_in_batch,
    )


def forced_batch_from_row(row: Row) -> ForcedBatch:
    return ForcedBatch(
        forced_batch_number=int(row[0]),
        global_exit_root=Hash32(to_bytes(row[1])),
        timestamp=int(row[2]),
        batch_l2_data=to_bytes(row[3]),
        sender=Address(to_bytes(row[4])),
        l1_block_number=int(row[5]),
        sequenced_in_batch=to_opt_int(row[6]),
    )


def _opt_hash(value: Any) -> Hash32 | None:
    return None if value is None else Hash32(bytes(value))


def _opt_root(value: Any) -> StateRoot | None:
    return None if value is None else StateRoot(bytes(value))


def _opt_address(value: Any) -> Address | None:
    return None if value is None else Address(bytes(value))

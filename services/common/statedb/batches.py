"""Trusted batches and the L2 blocks in them: what the sequencer writes.

Lifecycle of a batch (fork 6: one L2 block per transaction)
-----------------------------------------------------------
::

    open_batch(Batch(n, closed=False))           number = last + 1, the last one closed,
        │                                        timestamp ≥ the last one's; roots still None
        ├── add_l2_block(block, tx, receipt, logs)   one transaction: block, tx, receipt, logs
        ├── add_l2_block(…)                          (block numbers and parent hashes chain on)
        ▼
    close_batch(n, state_root, local_exit_root, acc_input_hash)
                                                 one transaction: roots, closed, batch_l2_data

    add_closed_batch(batch, blocks)              all three steps in one transaction

`batch_l2_data` of a trusted batch is the concatenation of its transactions' fork-6 records
(`L2Tx.encoded`) in `index_in_batch` order. While the batch is open it is assembled from the stored
transactions when read (so a restarted sequencer can re-execute its work-in-progress batch), and it is
written into the batch row when the batch closes. A forced batch instead carries the bytes the forcer
posted on L1, verbatim, from the moment it is opened: some of those transactions may be skipped by
the executor, but the data hashed into accInputHash is L1's. Opening a forced batch also marks the
forced batch sequenced, in the same database transaction, and forced batches must be opened in
order.

Closed means: state root, local exit root and accInputHash all set (the database checks it). At most
one batch is open at a time (a partial unique index). The genesis batch is written once, closed,
with its block (the only block without a transaction) by `add_genesis`.

Every method is one database transaction: after any exception nothing of the call is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Final, Protocol, TypeAlias

from services.common.statedb.errors import StateConflict
from services.common.statedb.models import (
    Batch,
    Hash32,
    L2Block,
    L2Tx,
    Log,
    Receipt,
    StateRoot,
    check_bytes,
    check_int,
)
from services.common.statedb.rows import (
    BATCH_COLUMNS,
    FORCED_BATCH_COLUMNS,
    L2_BLOCK_COLUMNS,
    LOG_COLUMNS,
    RECEIPT_COLUMNS,
    TX_COLUMNS,
    batch_from_row,
    batch_params,
    columns,
    forced_batch_from_row,
    l2_block_params,
    log_params,
    receipt_params,
    to_bytes,
    tx_params,
)
from services.common.statedb.sql import Database, Row, Transaction

#: one fork-6 L2 block as `add_l2_block` takes it: the block, its transaction, receipt and logs
BlockParts: TypeAlias = tuple[L2Block, L2Tx, Receipt, Sequence[Log]]

#: the most batches `closed_batches_after` returns in one call
MAX_BATCHES_PER_READ: Final = 1_000

_SELECT_BATCH: Final = f"SELECT {columns(BATCH_COLUMNS)} FROM batches"


class BatchRepository(Protocol):
    """The reference shape of the batch store (a consumer declares the subset it uses)."""

    def add_genesis(self, batch: Batch, block: L2Block) -> None: ...
    def open_batch(self, batch: Batch) -> None: ...
    def add_l2_block(self, block: L2Block, tx: L2Tx, receipt: Receipt, logs: Sequence[Log]) -> None: ...
    def close_batch(
        self, number: int, *, state_root: StateRoot, local_exit_root: Hash32, acc_input_hash: Hash32
    ) -> Batch: ...
    def add_closed_batch(self, batch: Batch, blocks: Sequence[BlockParts]) -> None: ...
    def get_batch(self, number: int) -> Batch | None: ...
    def last_batch(self) -> Batch | None: ...
    def last_closed_batch(self) -> Batch | None: ...
    def get_open_batch(self) -> Batch | None: ...
    def closed_batches_after(self, number: int, limit: int) -> list[Batch]: ...
    def batch_number_of_l2_block(self, block_number: int) -> int | None: ...


class SqlBatchRepository:
    """`BatchRepository` over a `Database` (SQLite or PostgreSQL); safe to share between threads."""

    def __init__(self, db: Database) -> None:
        self._db = db
        dialect = db.dialect
        self._insert_batch = dialect.insert("batches", BATCH_COLUMNS)
        self._insert_block = dialect.insert("l2_blocks", L2_BLOCK_COLUMNS)
        self._insert_tx = dialect.insert("transactions", TX_COLUMNS)
        self._insert_receipt = dialect.insert("receipts", RECEIPT_COLUMNS)
        self._insert_log = dialect.insert("logs", LOG_COLUMNS)

    # -- writes --------------------------------------------------------------------------------

    def add_genesis(self, batch: Batch, block: L2Block) -> None:
        """Write the genesis batch (closed) with its block, once, into an empty StateDB."""
        if not batch.closed:
            raise ValueError("the genesis Batch must be closed (with its state root)")
        if batch.forced_batch_number is not None:
            raise ValueError("the genesis Batch cannot be a forced batch")
        if block.tx_hash is not None:
            raise ValueError("the genesis L2Block has no transaction (L2Block.tx_hash must be None)")
        if block.batch_number != batch.number:
            raise ValueError(
                f"L2Block.batch_number ({block.batch_number}) must be the genesis batch ({batch.number})"
            )
        with self._db.transaction() as tx:
            if tx.scalar("SELECT 1 FROM batches LIMIT 1") is not None:
                raise StateConflict("the StateDB already has batches; the genesis batch is written once")
            tx.execute(self._insert_batch, batch_params(batch))
            tx.execute(self._insert_block, l2_block_params(block))

    def open_batch(self, batch: Batch) -> None:
        """Start batch `batch.number`, the next after the last (closed) one."""
        if batch.closed:
            raise ValueError("open_batch takes an open Batch (closed=False); close_batch closes it")
        for name in ("state_root", "local_exit_root", "acc_input_hash"):
            if getattr(batch, name) is not None:
                raise ValueError(f"Batch.{name} must be None when the batch is opened; close_batch sets it")
        if batch.forced_batch_number is None and batch.batch_l2_data:
            raise ValueError(
                "Batch.batch_l2_data must be empty when a trusted batch is opened: "
                "it is made of the transactions add_l2_block stores"
            )
        with self._db.transaction() as tx:
            last = tx.fetchone(f"{_SELECT_BATCH} ORDER BY number DESC LIMIT 1{tx.dialect.for_update}")
            if last is not None:
                last_batch = batch_from_row(last)
                if not last_batch.closed:
                    raise StateConflict(
                        f"batch {last_batch.number} is still open; "
                        f"close it before opening batch {batch.number}"
                    )
                if batch.number != last_batch.number + 1:
                    raise StateConflict(
                        f"the next batch is {last_batch.number + 1}, cannot open batch {batch.number}"
                    )
                if batch.timestamp < last_batch.timestamp:
                    raise StateConflict(
                        f"batch {batch.number} timestamp {batch.timestamp} is before batch "
                        f"{last_batch.number}'s ({last_batch.timestamp})"
                    )
            if batch.forced_batch_number is not None:
                self._take_forced_batch(tx, batch)
            tx.execute(self._insert_batch, batch_params(batch))

    def _take_forced_batch(self, tx: Transaction, batch: Batch) -> None:
        number = batch.forced_batch_number
        row = tx.fetchone(
            f"SELECT {columns(FORCED_BATCH_COLUMNS)} FROM forced_batches WHERE forced_batch_number = ?"
            f"{tx.dialect.for_update}",
            (number,),
        )
        if row is None:
            raise StateConflict(f"forced batch {number} is not known (has the L1 watcher seen it?)")
        forced = forced_batch_from_row(row)
        if forced.sequenced_in_batch is not None:
            raise StateConflict(f"forced batch {number} is already in batch {forced.sequenced_in_batch}")
        earlier = tx.scalar(
            "SELECT MIN(forced_batch_number) FROM forced_batches WHERE sequenced_in_batch IS NULL",
        )
        if earlier is not None and int(earlier) < forced.forced_batch_number:
            raise StateConflict(f"forced batch {int(earlier)} must be sequenced before forced batch {number}")
        if batch.batch_l2_data != forced.batch_l2_data:
            raise StateConflict(f"Batch.batch_l2_data differs from the data of forced batch {number} on L1")
        if batch.global_exit_root != forced.global_exit_root:
            raise StateConflict(f"Batch.global_exit_root differs from forced batch {number}'s")
        tx.execute(
            "UPDATE forced_batches SET sequenced_in_batch = ? WHERE forced_batch_number = ?",
            (batch.number, number),
        )

    def add_l2_block(self, block: L2Block, tx: L2Tx, receipt: Receipt, logs: Sequence[Log]) -> None:
        """Store one fork-6 L2 block with its transaction, receipt and logs in the open batch."""
        _check_block_parts(block, tx, receipt, logs)
        with self._db.transaction() as dbtx:
            open_row = dbtx.fetchone(f"SELECT number FROM batches WHERE NOT closed{dbtx.dialect.for_update}")
            if open_row is None:
                raise StateConflict(f"no batch is open to take L2 block {block.number}")
            if int(open_row[0]) != block.batch_number:
                raise StateConflict(
                    f"L2 block {block.number} is for batch {block.batch_number}, "
                    f"but batch {int(open_row[0])} is the open one"
                )
            latest = dbtx.fetchone("SELECT number, hash FROM l2_blocks ORDER BY number DESC LIMIT 1")
            if latest is not None:
                if block.number != int(latest[0]) + 1:
                    raise StateConflict(f"the next L2 block is {int(latest[0]) + 1}, got {block.number}")
                if block.parent_hash != to_bytes(latest[1]):
                    raise StateConflict(
                        f"L2 block {block.number} parent hash {block.parent_hash.hex()} is not block "
                        f"{int(latest[0])}'s hash {to_bytes(latest[1]).hex()}"
                    )
            in_batch = int(
                dbtx.scalar("SELECT COUNT(*) FROM transactions WHERE batch_number = ?", (block.batch_number,))
            )
            if tx.index_in_batch != in_batch:
                raise StateConflict(
                    f"L2Tx.index_in_batch is {tx.index_in_batch} but batch {block.batch_number} "
                    f"holds {in_batch} transactions"
                )
            dbtx.execute(self._insert_block, l2_block_params(block))
            dbtx.execute(self._insert_tx, tx_params(tx, dbtx.dialect))
            dbtx.execute(self._insert_receipt, receipt_params(receipt, dbtx.dialect))
            dbtx.executemany(self._insert_log, [log_params(log) for log in logs])

    def close_batch(
        self, number: int, *, state_root: StateRoot, local_exit_root: Hash32, acc_input_hash: Hash32
    ) -> Batch:
        """Close the open batch `number` with its final roots; returns it as stored."""
        check_int("close_batch number", number)
        check_bytes("Batch.state_root", state_root, 32)
        check_bytes("Batch.local_exit_root", local_exit_root, 32)
        check_bytes("Batch.acc_input_hash", acc_input_hash, 32)
        with self._db.transaction() as tx:
            row = tx.fetchone(f"{_SELECT_BATCH} WHERE number = ?{tx.dialect.for_update}", (number,))
            if row is None:
                raise StateConflict(f"batch {number} does not exist")
            stored = batch_from_row(row)
            if stored.closed:
                raise StateConflict(f"batch {number} is already closed")
            data = stored.batch_l2_data if stored.forced_batch_number is not None else _assembled(tx, number)
            tx.execute(
                "UPDATE batches SET state_root = ?, local_exit_root = ?, acc_input_hash = ?, "
                "batch_l2_data = ?, closed = ? WHERE number = ?",
                (state_root, local_exit_root, acc_input_hash, data, True, number),
            )
        return Batch(
            number=stored.number,
            batch_l2_data=data,
            global_exit_root=stored.global_exit_root,
            timestamp=stored.timestamp,
            coinbase=stored.coinbase,
            state_root=state_root,
            local_exit_root=local_exit_root,
            acc_input_hash=acc_input_hash,
            closed=True,
            forced_batch_number=stored.forced_batch_number,
        )

    def add_closed_batch(self, batch: Batch, blocks: Sequence[BlockParts]) -> None:
        """Write a whole closed batch with its blocks in one transaction (a forced batch executed in
        one call, say): the same checks as open_batch, add_l2_block and close_batch, all or nothing.

        A trusted batch's `batch_l2_data` must be its transactions' records back to back.
        """
        if not batch.closed or batch.state_root is None or batch.local_exit_root is None:
            raise ValueError("add_closed_batch takes a closed Batch with its roots")
        if batch.acc_input_hash is None:
            raise ValueError("Batch.acc_input_hash is required once the batch is closed")
        if batch.forced_batch_number is None:
            records = b"".join(tx.encoded for _, tx, _, _ in blocks)
            if batch.batch_l2_data != records:
                raise ValueError("Batch.batch_l2_data must be the records of its transactions, in order")
        opening = replace(
            batch,
            closed=False,
            state_root=None,
            local_exit_root=None,
            acc_input_hash=None,
            batch_l2_data=batch.batch_l2_data if batch.forced_batch_number is not None else b"",
        )
        with self._db.transaction():
            self.open_batch(opening)
            for block, tx, receipt, logs in blocks:
                self.add_l2_block(block, tx, receipt, logs)
            self.close_batch(
                batch.number,
                state_root=batch.state_root,
                local_exit_root=batch.local_exit_root,
                acc_input_hash=batch.acc_input_hash,
            )

    # -- reads ---------------------------------------------------------------------------------

    def get_batch(self, number: int) -> Batch | None:
        check_int("batch number", number)
        with self._db.transaction(readonly=True) as tx:
            return _batch(tx, tx.fetchone(f"{_SELECT_BATCH} WHERE number = ?", (number,)))

    def last_batch(self) -> Batch | None:
        with self._db.transaction(readonly=True) as tx:
            return _batch(tx, tx.fetchone(f"{_SELECT_BATCH} ORDER BY number DESC LIMIT 1"))

    def last_closed_batch(self) -> Batch | None:
        with self._db.transaction(readonly=True) as tx:
            return _batch(tx, tx.fetchone(f"{_SELECT_BATCH} WHERE closed ORDER BY number DESC LIMIT 1"))

    def get_open_batch(self) -> Batch | None:
        """The open batch, with the data of the transactions stored so far, or None."""
        with self._db.transaction(readonly=True) as tx:
            return _batch(tx, tx.fetchone(f"{_SELECT_BATCH} WHERE NOT closed"))

    def closed_batches_after(self, number: int, limit: int) -> list[Batch]:
        """Up to `limit` closed batches numbered above `number`, in order (for the sequence sender)."""
        check_int("closed_batches_after number", number)
        if not 1 <= limit <= MAX_BATCHES_PER_READ:
            raise ValueError(f"limit must be between 1 and {MAX_BATCHES_PER_READ}, got {limit}")
        with self._db.transaction(readonly=True) as tx:
            rows = tx.fetchall(
                f"{_SELECT_BATCH} WHERE closed AND number > ? ORDER BY number LIMIT ?", (number, limit)
            )
        return [batch_from_row(row) for row in rows]

    def batch_number_of_l2_block(self, block_number: int) -> int | None:
        check_int("L2 block number", block_number)
        with self._db.transaction(readonly=True) as tx:
            value = tx.scalar("SELECT batch_number FROM l2_blocks WHERE number = ?", (block_number,))
        return None if value is None else int(value)


def _batch(tx: Transaction, row: Row | None) -> Batch | None:
    if row is None:
        return None
    batch = batch_from_row(row)
    if batch.closed or batch.forced_batch_number is not None:
        return batch
    return batch_from_row(row, batch_l2_data=_assembled(tx, batch.number))


def _assembled(tx: Transaction, batch_number: int) -> bytes:
    rows = tx.fetchall(
        "SELECT encoded FROM transactions WHERE batch_number = ? ORDER BY index_in_batch", (batch_number,)
    )
    return b"".join(to_bytes(row[0]) for row in rows)


def _check_block_parts(block: L2Block, tx: L2Tx, receipt: Receipt, logs: Sequence[Log]) -> None:
    """The links between the parts of one block, before anything is written."""
    if block.tx_hash is None:
        raise ValueError("L2Block.tx_hash is required: in fork 6 every block but genesis has one transaction")
    if block.tx_hash != tx.hash:
        raise ValueError(f"L2Block.tx_hash {block.tx_hash.hex()} is not L2Tx.hash {tx.hash.hex()}")
    if receipt.tx_hash != tx.hash:
        raise ValueError(f"Receipt.tx_hash {receipt.tx_hash.hex()} is not L2Tx.hash {tx.hash.hex()}")
    if tx.l2_block_number != block.number:
        raise ValueError(
            f"L2Tx.l2_block_number ({tx.l2_block_number}) is not L2Block.number ({block.number})"
        )
    if tx.batch_number != block.batch_number:
        raise ValueError(
            f"L2Tx.batch_number ({tx.batch_number}) is not L2Block.batch_number ({block.batch_number})"
        )
    for i, log in enumerate(logs):
        if log.block_number != block.number:
            raise ValueError(
                f"logs[{i}].block_number ({log.block_number}) is not L2Block.number ({block.number})"
            )
        if log.tx_hash != tx.hash:
            raise ValueError(f"logs[{i}].tx_hash is not L2Tx.hash {tx.hash.hex()}")
        if log.log_index != i:
            raise ValueError(
                f"logs[{i}].log_index must be {i} (logs are numbered in block order), got {log.log_index}"
            )

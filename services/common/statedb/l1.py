"""What the L1 watcher records: L1 blocks, and the virtual, verified and forced batches seen in them.

    l1_blocks ◀──┬── virtual_batches.l1_block_number     SequenceBatches: batch is virtual
                 ├── verified_batches.l1_block_number    VerifyBatchesTrustedAggregator: verified
                 └── forced_batches.l1_block_number      ForceBatch: the sequencer must include it

Every L1 fact points at the L1 block it came from, so an L1 reorg is undone by
`L1BlockRepository.delete_from(n)`: in one transaction it removes the blocks numbered n and above
and every virtual, verified and forced batch row recorded from them. The watcher then re-reads L1
from n. Forced batches that were already taken into a trusted batch are removed all the same; what
that means for the trusted chain (a trusted reorg) is the sequencer's decision, not this store's.

The watcher should record a block and its events together, `L1BlockRepository.add(block,
virtual_batches=…, verified_batches=…, forced_batches=…)`, so that "the last L1 block seen" never
runs ahead of the events stored from it. The per-kind `add` methods exist for the rows whose block
is already recorded.

`batch_number` in virtual / verified rows is L1's word, not a reference to `batches`: L1 may sequence
batches this node never built (forced batches sequenced by someone else after the timeout).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol

from services.common.statedb.errors import StateConflict
from services.common.statedb.models import (
    ForcedBatch,
    L1Block,
    ReorgDeletion,
    VerifiedBatch,
    VirtualBatch,
    check_int,
)
from services.common.statedb.rows import (
    FORCED_BATCH_COLUMNS,
    L1_BLOCK_COLUMNS,
    VERIFIED_BATCH_COLUMNS,
    VIRTUAL_BATCH_COLUMNS,
    columns,
    forced_batch_from_row,
    forced_batch_params,
    l1_block_from_row,
    verified_batch_from_row,
    verified_batch_params,
    virtual_batch_from_row,
    virtual_batch_params,
)
from services.common.statedb.sql import Database, Transaction

#: the most forced batches `pending` returns in one call
MAX_FORCED_BATCHES_PER_READ: Final = 1_000


class L1BlockRepository(Protocol):
    def add(
        self,
        block: L1Block,
        *,
        virtual_batches: Sequence[VirtualBatch] = (),
        verified_batches: Sequence[VerifiedBatch] = (),
        forced_batches: Sequence[ForcedBatch] = (),
    ) -> None: ...
    def get(self, number: int) -> L1Block | None: ...
    def latest(self) -> L1Block | None: ...
    def delete_from(self, number: int) -> ReorgDeletion: ...


class VirtualBatchRepository(Protocol):
    def add(self, virtual_batch: VirtualBatch) -> None: ...
    def get(self, batch_number: int) -> VirtualBatch | None: ...
    def last_virtual_batch_number(self) -> int | None: ...
    def is_block_virtualized(self, l2_block_number: int) -> bool: ...


class VerifiedBatchRepository(Protocol):
    def add(self, verified_batch: VerifiedBatch) -> None: ...
    def get(self, batch_number: int) -> VerifiedBatch | None: ...
    def last_verified_batch_number(self) -> int | None: ...
    def is_block_verified(self, l2_block_number: int) -> bool: ...


class ForcedBatchRepository(Protocol):
    def add(self, forced_batch: ForcedBatch) -> None: ...
    def get(self, forced_batch_number: int) -> ForcedBatch | None: ...
    def last_forced_batch_number(self) -> int | None: ...
    def pending(self, *, max_l1_block: int | None = None, limit: int = 100) -> list[ForcedBatch]: ...
    def mark_sequenced(self, forced_batch_number: int, batch_number: int) -> None: ...


# ---------------------------------------------------------------------------------------------


class SqlL1BlockRepository:
    """`L1BlockRepository` over a `Database`; safe to share between threads."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        block: L1Block,
        *,
        virtual_batches: Sequence[VirtualBatch] = (),
        verified_batches: Sequence[VerifiedBatch] = (),
        forced_batches: Sequence[ForcedBatch] = (),
    ) -> None:
        """Record an L1 block above the latest one, with the events read from it (one transaction).

        Blocks need not be contiguous (blocks without events may be skipped), but a block directly
        above the latest must name it as parent: otherwise L1 reorganised and `delete_from` is due.
        """
        events: list[tuple[str, Sequence[VirtualBatch | VerifiedBatch | ForcedBatch]]] = [
            ("virtual_batches", virtual_batches),
            ("verified_batches", verified_batches),
            ("forced_batches", forced_batches),
        ]
        for kind, rows in events:
            for i, row in enumerate(rows):
                if row.l1_block_number != block.number:
                    raise ValueError(
                        f"{kind}[{i}].l1_block_number ({row.l1_block_number}) is not the block being "
                        f"added ({block.number})"
                    )
        with self._db.transaction() as tx:
            latest = tx.fetchone(
                f"SELECT {columns(L1_BLOCK_COLUMNS)} FROM l1_blocks ORDER BY number DESC LIMIT 1"
                f"{tx.dialect.for_update}"
            )
            if latest is not None:
                last = l1_block_from_row(latest)
                if block.number <= last.number:
                    raise StateConflict(
                        f"L1 block {block.number} is not above the latest recorded L1 block {last.number}"
                    )
                if block.number == last.number + 1 and block.parent_hash != last.hash:
                    raise StateConflict(
                        f"L1 block {block.number} parent hash {block.parent_hash.hex()} is not the hash of "
                        f"recorded block {last.number} ({last.hash.hex()}): L1 reorganised"
                    )
            tx.execute(
                tx.dialect.insert("l1_blocks", L1_BLOCK_COLUMNS),
                (block.number, block.hash, block.parent_hash),
            )
            _insert_virtual(tx, virtual_batches)
            _insert_verified(tx, verified_batches)
            _insert_forced(tx, forced_batches)

    def get(self, number: int) -> L1Block | None:
        check_int("L1 block number", number)
        with self._db.transaction(readonly=True) as tx:
            row = tx.fetchone(
                f"SELECT {columns(L1_BLOCK_COLUMNS)} FROM l1_blocks WHERE number = ?", (number,)
            )
        return None if row is None else l1_block_from_row(row)

    def latest(self) -> L1Block | None:
        with self._db.transaction(readonly=True) as tx:
            row = tx.fetchone(
                f"SELECT {columns(L1_BLOCK_COLUMNS)} FROM l1_blocks ORDER BY number DESC LIMIT 1"
            )
        return None if row is None else l1_block_from_row(row)

    def delete_from(self, number: int) -> ReorgDeletion:
        """Forget L1 blocks `number` and above and every batch row recorded from them (one transaction)."""
        check_int("L1 block number", number)
        with self._db.transaction() as tx:
            virtual = tx.execute("DELETE FROM virtual_batches WHERE l1_block_number >= ?", (number,))
            verified = tx.execute("DELETE FROM verified_batches WHERE l1_block_number >= ?", (number,))
            forced = tx.execute("DELETE FROM forced_batches WHERE l1_block_number >= ?", (number,))
            blocks = tx.execute("DELETE FROM l1_blocks WHERE number >= ?", (number,))
        return ReorgDeletion(
            l1_blocks=blocks, virtual_batches=virtual, verified_batches=verified, forced_batches=forced
        )


class SqlVirtualBatchRepository:
    """`VirtualBatchRepository` over a `Database`; safe to share between threads."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, virtual_batch: VirtualBatch) -> None:
        with self._db.transaction() as tx:
            _insert_virtual(tx, (virtual_batch,))

    def get(self, batch_number: int) -> VirtualBatch | None:
        check_int("batch number", batch_number)
        with self._db.transaction(readonly=True) as tx:
            row = tx.fetchone(
                f"SELECT {columns(VIRTUAL_BATCH_COLUMNS)} FROM virtual_batches WHERE batch_number = ?",
                (batch_number,),
            )
        return None if row is None else virtual_batch_from_row(row)

    def last_virtual_batch_number(self) -> int | None:
        """The highest batch number sequenced on L1, or None before the first sequence."""
        with self._db.transaction(readonly=True) as tx:
            value = tx.scalar("SELECT MAX(batch_number) FROM virtual_batches")
        return None if value is None else int(value)

    def is_block_virtualized(self, l2_block_number: int) -> bool:
        """Whether the batch holding L2 block `l2_block_number` has been sequenced on L1."""
        check_int("L2 block number", l2_block_number)
        with self._db.transaction(readonly=True) as tx:
            row = tx.fetchone(
                "SELECT 1 FROM l2_blocks b JOIN virtual_batches v ON v.batch_number = b.batch_number "
                "WHERE b.number = ?",
                (l2_block_number,),
            )
        return row is not None


class SqlVerifiedBatchRepository:
    """`VerifiedBatchRepository` over a `Database`; safe to share between threads."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, verified_batch: VerifiedBatch) -> None:
        with self._db.transaction() as tx:
            _insert_verified(tx, (verified_batch,))

    def get(self, batch_number: int) -> VerifiedBatch | None:
        check_int("batch number", batch_number)
        with self._db.transaction(readonly=True) as tx:
            row = tx.fetchone(
                f"SELECT {columns(VERIFIED_BATCH_COLUMNS)} FROM verified_batches WHERE batch_number = ?",
                (batch_number,),
            )
        return None if row is None else verified_batch_from_row(row)

    def last_verified_batch_number(self) -> int | None:
        with self._db.transaction(readonly=True) as tx:
            value = tx.scalar("SELECT MAX(batch_number) FROM verified_batches")
        return None if value is None else int(value)

    def is_block_verified(self, l2_block_number: int) -> bool:
        """Whether the batch holding L2 block `l2_block_number` is verified on L1 (consolidated)."""
        check_int("L2 block number", l2_block_number)
        with self._db.transaction(readonly=True) as tx:
            row = tx.fetchone(
                "SELECT 1 FROM l2_blocks b JOIN verified_batches v ON v.batch_number = b.batch_number "
                "WHERE b.number = ?",
                (l2_block_number,),
            )
        return row is not None


class SqlForcedBatchRepository:
    """`ForcedBatchRepository` over a `Database`; safe to share between threads."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, forced_batch: ForcedBatch) -> None:
        with self._db.transaction() as tx:
            _insert_forced(tx, (forced_batch,))

    def get(self, forced_batch_number: int) -> ForcedBatch | None:
        check_int("forced batch number", forced_batch_number)
        with self._db.transaction(readonly=True) as tx:
            row = tx.fetchone(
                f"SELECT {columns(FORCED_BATCH_COLUMNS)} FROM forced_batches WHERE forced_batch_number = ?",
                (forced_batch_number,),
            )
        return None if row is None else forced_batch_from_row(row)

    def last_forced_batch_number(self) -> int | None:
        with self._db.transaction(readonly=True) as tx:
            value = tx.scalar("SELECT MAX(forced_batch_number) FROM forced_batches")
        return None if value is None else int(value)

    def pending(self, *, max_l1_block: int | None = None, limit: int = 100) -> list[ForcedBatch]:
        """Forced batches not yet in a trusted batch, lowest number first.

        `max_l1_block` keeps only those forced at or below that L1 block (the ones final enough).
        """
        if not 1 <= limit <= MAX_FORCED_BATCHES_PER_READ:
            raise ValueError(f"limit must be between 1 and {MAX_FORCED_BATCHES_PER_READ}, got {limit}")
        statement = (
            f"SELECT {columns(FORCED_BATCH_COLUMNS)} FROM forced_batches WHERE sequenced_in_batch IS NULL"
        )
        params: tuple[int, ...] = (limit,)
        if max_l1_block is not None:
            check_int("max_l1_block", max_l1_block)
            statement += " AND l1_block_number <= ?"
            params = (max_l1_block, limit)
        with self._db.transaction(readonly=True) as tx:
            rows = tx.fetchall(f"{statement} ORDER BY forced_batch_number LIMIT ?", params)
        return [forced_batch_from_row(row) for row in rows]

    def mark_sequenced(self, forced_batch_number: int, batch_number: int) -> None:
        """Record that trusted batch `batch_number` carries the forced batch (again: a no-op)."""
        check_int("forced batch number", forced_batch_number)
        check_int("batch number", batch_number)
        with self._db.transaction() as tx:
            changed = tx.execute(
                "UPDATE forced_batches SET sequenced_in_batch = ? "
                "WHERE forced_batch_number = ? AND sequenced_in_batch IS NULL",
                (batch_number, forced_batch_number),
            )
            if changed:
                return
            current = tx.fetchone(
                "SELECT sequenced_in_batch FROM forced_batches WHERE forced_batch_number = ?",
                (forced_batch_number,),
            )
            if current is None:
                raise StateConflict(f"forced batch {forced_batch_number} is not known")
            if int(current[0]) != batch_number:
                raise StateConflict(
                    f"forced batch {forced_batch_number} is already in batch {int(current[0])}"
                )


# ---------------------------------------------------------------------------------------------


def _require_l1_blocks(tx: Transaction, kind: str, numbers: set[int]) -> None:
    for number in sorted(numbers):
        if tx.scalar("SELECT 1 FROM l1_blocks WHERE number = ?", (number,)) is None:
            raise StateConflict(f"{kind} points at L1 block {number}, which is not recorded")


def _insert_virtual(tx: Transaction, rows: Sequence[VirtualBatch]) -> None:
    _require_l1_blocks(tx, "a virtual batch", {r.l1_block_number for r in rows})
    tx.executemany(
        tx.dialect.insert("virtual_batches", VIRTUAL_BATCH_COLUMNS), [virtual_batch_params(r) for r in rows]
    )


def _insert_verified(tx: Transaction, rows: Sequence[VerifiedBatch]) -> None:
    _require_l1_blocks(tx, "a verified batch", {r.l1_block_number for r in rows})
    tx.executemany(
        tx.dialect.insert("verified_batches", VERIFIED_BATCH_COLUMNS),
        [verified_batch_params(r) for r in rows],
    )


def _insert_forced(tx: Transaction, rows: Sequence[ForcedBatch]) -> None:
    _require_l1_blocks(tx, "a forced batch", {r.l1_block_number for r in rows})
    tx.executemany(
        tx.dialect.insert("forced_batches", FORCED_BATCH_COLUMNS), [forced_batch_params(r) for r in rows]
    )

"""`ports.Ledger` over the StateDB repositories (SQLite or PostgreSQL), off the event loop.

Each method runs in a worker thread (`asyncio.to_thread`) and is one database transaction: the
repositories' own, or `write_blocks`, which opens the batch (with its first blocks) and stores a
group of L2 blocks in one transaction — each block is still all-or-nothing, and a group costs one
commit (one fsync on SQLite) instead of one per block. `DatabaseUnavailable` becomes
`StateDBUnavailable` (retried by the caller); `StateConflict` is left as it is: it means the StateDB
holds something this sequencer did not expect, which no retry fixes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TypeVar

from services.common.statedb import DatabaseUnavailable, StateDB
from services.common.statedb.models import Batch, ForcedBatch, Hash32, L2Block, StateRoot
from services.sequencer.ports import BlockParts, ChainTip, StateDBUnavailable

_T = TypeVar("_T")


class StateDBLedger:
    def __init__(self, statedb: StateDB) -> None:
        self._db = statedb

    async def _run(self, fn: Callable[[], _T]) -> _T:
        try:
            return await asyncio.to_thread(fn)
        except DatabaseUnavailable as exc:
            raise StateDBUnavailable(f"StateDB: {exc}") from exc

    async def tip(self, recent_txs: int) -> ChainTip | None:
        return await self._run(lambda: self._tip(recent_txs))

    def _tip(self, recent_txs: int) -> ChainTip | None:
        batches, blocks = self._db.batches, self._db.blocks
        if batches.last_batch() is None:
            return None
        last_closed = batches.last_closed_batch()
        if last_closed is None:
            raise RuntimeError("the StateDB has batches but none is closed (no genesis batch)")
        open_batch = batches.get_open_batch()
        open_blocks = []
        if open_batch is not None:
            for block in blocks.blocks_of_batch(open_batch.number):
                txs = blocks.txs_of_block(block.number)
                if len(txs) != 1:
                    raise RuntimeError(f"L2 block {block.number} holds {len(txs)} transactions, not 1")
                open_blocks.append((block, txs[0]))
        recent: list[bytes] = []
        number = last_closed.number
        while number > 0 and len(recent) < recent_txs:
            batch_blocks = blocks.blocks_of_batch(number)
            recent += [b.tx_hash for b in reversed(batch_blocks) if b.tx_hash is not None]
            number -= 1
        latest_number = blocks.latest_block_number()
        latest = None if latest_number is None else blocks.block_by_number(latest_number)
        if latest is None:
            raise RuntimeError("the StateDB has batches but no L2 block (no genesis block)")
        return ChainTip(last_closed, open_batch, tuple(open_blocks), tuple(recent), latest)

    async def add_genesis(self, batch: Batch, block: L2Block) -> None:
        await self._run(lambda: self._db.batches.add_genesis(batch, block))

    async def write_blocks(self, opening: Batch | None, blocks: Sequence[BlockParts]) -> None:
        def write() -> None:
            with self._db.database.transaction():
                if opening is not None:
                    self._db.batches.open_batch(opening)
                for block, tx, receipt, logs in blocks:
                    self._db.batches.add_l2_block(block, tx, receipt, logs)

        await self._run(write)

    async def close_batch(
        self, number: int, *, state_root: bytes, local_exit_root: bytes, acc_input_hash: bytes
    ) -> None:
        await self._run(
            lambda: self._db.batches.close_batch(
                number,
                state_root=StateRoot(state_root),
                local_exit_root=Hash32(local_exit_root),
                acc_input_hash=Hash32(acc_input_hash),
            )
        )

    async def write_closed_batch(self, batch: Batch, blocks: Sequence[BlockParts]) -> None:
        await self._run(lambda: self._db.batches.add_closed_batch(batch, blocks))

    async def block_hash(self, number: int) -> bytes | None:
        block = await self._run(lambda: self._db.blocks.block_by_number(number))
        return None if block is None else block.hash

    async def batch_closed(self, number: int) -> bool:
        batch = await self._run(lambda: self._db.batches.get_batch(number))
        return batch is not None and batch.closed

    async def due_forced_batches(self, finality_blocks: int) -> list[ForcedBatch]:
        def read() -> list[ForcedBatch]:
            latest = self._db.l1_blocks.latest()
            if latest is None or latest.number < finality_blocks:
                return []
            return self._db.forced_batches.pending(max_l1_block=latest.number - finality_blocks)

        return await self._run(read)

"""`StateDBChain`: the chain and batch readers over the StateDB repositories.

The repositories are synchronous (one database transaction per call); every read here runs on a
worker thread (`asyncio.to_thread`), and a read that needs several repository calls (a tag resolved,
then its block) makes them all in one hop. A block with its transactions, receipts and logs is one
repository call of a fixed number of set queries (`block_contents`), whatever it holds. The
repository subsets used are declared below, so any implementation with these methods will do (the
SQL ones, over SQLite or PostgreSQL).

Point reads issued in the same turn of the event loop (the calls of one JSON-RPC batch: `zkseq load`
follows the chain with batches of eth_getBlockByNumber) run one after another in one worker-thread
hop rather than one hop each: a hop costs more CPU (thread wake-ups both ways) than a point read of
the StateDB. Reads that may be long (eth_getLogs, a whole batch) keep a hop of their own, so they
never hold the others up.

"safe" and "finalized"
----------------------
As in zkevm-node, "safe" is the newest L2 block whose batch is virtual (sequenced on L1) and
"finalized" the newest whose batch is verified; 0 (genesis) before any. Batches are virtualized and
verified in order, so "block n is virtual" is monotone in n and the newest such block is found by
bisection over the block numbers: about log2(latest) point reads, whatever the number of empty
batches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from services.common.statedb.errors import DatabaseUnavailable, QueryLimitExceeded, StateDBError
from services.common.statedb.models import (
    Batch,
    BlockContents,
    Hash32,
    L2Block,
    L2Tx,
    Log,
    LogFilter,
    Receipt,
    VerifiedBatch,
    VirtualBatch,
)
from services.jsonrpc.backends import BatchView, BlockLog, MinedBlock, MinedTx
from services.jsonrpc.errors import BackendUnavailable, InvalidParams, ServerError
from services.jsonrpc.params import BlockTag

_T = TypeVar("_T")


class BlockRepository(Protocol):
    def latest_block_number(self) -> int | None: ...
    def block_by_number(self, number: int) -> L2Block | None: ...
    def block_by_hash(self, block_hash: Hash32) -> L2Block | None: ...
    def tx_by_hash(self, tx_hash: Hash32) -> L2Tx | None: ...
    def receipt_by_hash(self, tx_hash: Hash32) -> Receipt | None: ...
    def logs_of_tx(self, tx_hash: Hash32) -> list[Log]: ...
    def get_logs(self, log_filter: LogFilter) -> list[Log]: ...
    def block_contents(self, number: int) -> BlockContents | None: ...
    def block_contents_by_hash(self, block_hash: Hash32) -> BlockContents | None: ...
    def batch_contents(self, batch_number: int) -> list[BlockContents]: ...


class BatchRepository(Protocol):
    def get_batch(self, number: int) -> Batch | None: ...
    def last_batch(self) -> Batch | None: ...
    def batch_number_of_l2_block(self, block_number: int) -> int | None: ...


class VirtualBatchRepository(Protocol):
    def get(self, batch_number: int) -> VirtualBatch | None: ...
    def last_virtual_batch_number(self) -> int | None: ...
    def is_block_virtualized(self, l2_block_number: int) -> bool: ...


class VerifiedBatchRepository(Protocol):
    def get(self, batch_number: int) -> VerifiedBatch | None: ...
    def last_verified_batch_number(self) -> int | None: ...
    def is_block_verified(self, l2_block_number: int) -> bool: ...


#: a read waiting for its group's hop, with the future its caller awaits
_Waiting = tuple[Callable[[], Any], "asyncio.Future[Any]"]


class _ReadGroups:
    """Reads submitted during one turn of the event loop, run together in one worker-thread hop."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: list[_Waiting] = []

    def submit(self, read: Callable[[], _T]) -> asyncio.Future[_T]:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (tests run one per test): nothing of the old one is kept
            self._loop, self._waiting = loop, []
        future: asyncio.Future[_T] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._start, loop)
        self._waiting.append((read, future))
        return future

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._loop:
            return
        group, self._waiting = self._waiting, []
        try:
            hop = loop.run_in_executor(None, _run_all, [read for read, _ in group])
        except RuntimeError as exc:  # the executor is shut down (the loop is closing)
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        hop.add_done_callback(lambda finished: _settle(group, finished))


def _run_all(reads: list[Callable[[], Any]]) -> list[tuple[bool, Any]]:
    """Each read's value, or the exception it raised (one read failing does not fail the others)."""
    outcomes: list[tuple[bool, Any]] = []
    for read in reads:
        try:
            outcomes.append((True, read()))
        except Exception as exc:  # handed to its own caller, which translates it
            outcomes.append((False, exc))
    return outcomes


def _settle(group: list[_Waiting], finished: asyncio.Future[list[tuple[bool, Any]]]) -> None:
    if finished.cancelled() or finished.exception() is not None:
        failure = finished.exception() if not finished.cancelled() else None
        for _, future in group:
            if not future.done():
                future.set_exception(failure or RuntimeError("the read was cancelled"))
        return
    for (_, future), (ok, value) in zip(group, finished.result(), strict=True):
        if future.done():  # its caller gave up waiting
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class StateDBChain:
    """`ChainReader` and `BatchReader` over the StateDB; safe to share between tasks."""

    def __init__(
        self,
        blocks: BlockRepository,
        batches: BatchRepository,
        virtual_batches: VirtualBatchRepository,
        verified_batches: VerifiedBatchRepository,
        *,
        group_reads: bool = True,
    ) -> None:
        self._blocks = blocks
        self._batches = batches
        self._virtual = virtual_batches
        self._verified = verified_batches
        self._groups = _ReadGroups() if group_reads else None

    async def _read(self, read: Callable[[], _T], *, alone: bool = False) -> _T:
        """`read` on a worker thread, with its StateDB errors as the RPC errors callers see; grouped
        with the other point reads of this turn of the event loop unless `alone`."""
        try:
            if alone or self._groups is None:
                return await asyncio.to_thread(read)
            return await self._groups.submit(read)
        except QueryLimitExceeded as exc:
            raise InvalidParams(str(exc)) from exc
        except DatabaseUnavailable as exc:
            raise BackendUnavailable(f"the state database is unavailable: {exc}") from exc
        except StateDBError as exc:
            raise ServerError(f"the state database failed: {exc}") from exc

    # -- ChainReader ------------------------------------------------------------------------------

    async def latest_block_number(self) -> int | None:
        return await self._read(self._blocks.latest_block_number)

    async def tagged_block_number(self, tag: BlockTag) -> int | None:
        return await self._read(lambda: self._tagged(tag))

    def _tagged(self, tag: BlockTag) -> int | None:
        latest = self._blocks.latest_block_number()
        if latest is None:
            return None
        if tag is BlockTag.EARLIEST:
            return 0
        if tag is BlockTag.SAFE:
            return _newest_marked(latest, self._virtual.is_block_virtualized)
        if tag is BlockTag.FINALIZED:
            return _newest_marked(latest, self._verified.is_block_verified)
        return latest

    async def block(self, number: int) -> L2Block | None:
        return await self._read(lambda: self._blocks.block_by_number(number))

    async def block_by_hash(self, block_hash: bytes) -> L2Block | None:
        return await self._read(lambda: self._blocks.block_by_hash(Hash32(block_hash)))

    async def mined_block(self, number: int | BlockTag) -> MinedBlock | None:
        def read() -> MinedBlock | None:
            resolved = number if isinstance(number, int) else self._tagged(number)
            if resolved is None:
                return None
            contents = self._blocks.block_contents(resolved)
            return None if contents is None else _mined_block(contents)

        return await self._read(read)

    async def mined_block_by_hash(self, block_hash: bytes) -> MinedBlock | None:
        def read() -> MinedBlock | None:
            contents = self._blocks.block_contents_by_hash(Hash32(block_hash))
            return None if contents is None else _mined_block(contents)

        return await self._read(read)

    def _mined(self, tx: L2Tx, block_hash: bytes) -> MinedTx | None:
        receipt = self._blocks.receipt_by_hash(tx.hash)
        if receipt is None:  # written with its transaction; absent only mid-reorg
            return None
        return MinedTx(tx, receipt, tuple(self._blocks.logs_of_tx(tx.hash)), block_hash)

    async def mined_tx(self, tx_hash: bytes) -> MinedTx | None:
        def read() -> MinedTx | None:
            tx = self._blocks.tx_by_hash(Hash32(tx_hash))
            if tx is None:
                return None
            block = self._blocks.block_by_number(tx.l2_block_number)
            return None if block is None else self._mined(tx, block.hash)

        return await self._read(read)

    async def logs(self, log_filter: LogFilter) -> list[BlockLog]:
        def read() -> list[BlockLog]:
            logs = self._blocks.get_logs(log_filter)
            hashes: dict[int, bytes] = {}
            for number in sorted({log.block_number for log in logs}):
                block = self._blocks.block_by_number(number)
                hashes[number] = block.hash if block is not None else bytes(32)
            return [BlockLog(log, hashes[log.block_number]) for log in logs]

        return await self._read(read, alone=True)

    # -- BatchReader ------------------------------------------------------------------------------

    async def last_batch_number(self) -> int | None:
        batch = await self._read(self._batches.last_batch)
        return None if batch is None else batch.number

    async def last_virtual_batch_number(self) -> int | None:
        return await self._read(self._virtual.last_virtual_batch_number)

    async def last_verified_batch_number(self) -> int | None:
        return await self._read(self._verified.last_verified_batch_number)

    async def batch_number_of_block(self, block_number: int) -> int | None:
        return await self._read(lambda: self._batches.batch_number_of_l2_block(block_number))

    async def is_block_virtualized(self, block_number: int) -> bool:
        return await self._read(lambda: self._virtual.is_block_virtualized(block_number))

    async def is_block_verified(self, block_number: int) -> bool:
        return await self._read(lambda: self._verified.is_block_verified(block_number))

    async def batch(self, number: int) -> BatchView | None:
        def read() -> BatchView | None:
            batch = self._batches.get_batch(number)
            if batch is None:
                return None
            contents = [_mined_block(c) for c in self._blocks.batch_contents(number)]
            blocks = [c.block for c in contents]
            txs = [mined for c in contents for mined in c.txs]
            virtual = self._virtual.get(number)
            verified = self._verified.get(number)
            return BatchView(
                batch=batch,
                blocks=tuple(blocks),
                txs=tuple(txs),
                sequence_tx_hash=None if virtual is None else virtual.l1_tx_hash,
                verify_tx_hash=None if verified is None else verified.l1_tx_hash,
            )

        return await self._read(read, alone=True)


def _mined_block(contents: BlockContents) -> MinedBlock:
    block_hash = contents.block.hash
    return MinedBlock(
        contents.block,
        tuple(MinedTx(m.tx, m.receipt, m.logs, block_hash) for m in contents.txs),
    )


def _newest_marked(latest: int, is_marked: Callable[[int], bool]) -> int:
    """The largest n in [0, latest] with is_marked(n), for a predicate true on a prefix of the
    blocks; the genesis block counts as marked (it is final by definition)."""
    low, high = 0, latest
    if high == 0 or is_marked(high):
        return high
    # invariant: block `low` is marked (or genesis), block `high` is not
    while high - low > 1:
        middle = (low + high) // 2
        if is_marked(middle):
            low = middle
        else:
            high = middle
    return low

"""The recorder: makes what the finalizer executed durable, in order, and closes batches.

    for each job, in the order the finalizer queued them:
      BlockJob(s)  wait until the executor reports the job's flush stored (HashDB durable), then
                   write up to `max_blocks_per_write` consecutive blocks in one StateDB
                   transaction (opening the batch with its first block), then hand them to the
                   pool marker (MarkIncludedMany, one call per write, in a task of its own: an
                   unreachable pool never holds up the StateDB or a batch's close)
      CloseJob     re-execute the whole batch in one call on its start root with
                   update_merkle_tree off; the state root, every transaction's root, the local exit
                   root and the accInputHash must be those of the one-by-one execution — or the
                   sequencer halts; then close the batch in the StateDB with its accInputHash
      ForcedJob    wait for its flush, write the forced batch closed, with its blocks

A transaction is in the StateDB only once its HashDB flush is stored, so every recorded state root
is durable: after any crash the chain continues from the last recorded block. The executor numbers
flushes per process (`prover_id`): when it restarts before a job's flush was reported stored, the
recorder executes the job's call again on the same inputs (the result must give the job's block the
same root, or the sequencer halts; a group's call is executed once for all its blocks) and waits for
the new flush — nothing executed is lost, nothing is written twice.

Every call to another service is retried with backoff while that service is unreachable; the order
of the writes never changes, so the StateDB always holds a prefix of what the finalizer decided.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from services.common.logs import EventLogger
from services.common.statedb.errors import StateConflict
from services.sequencer.limits import COUNTER_NAMES, BatchUsage
from services.sequencer.metrics import SequencerMetrics
from services.sequencer.outcomes import CallOutcome, call_outcome, executor_error_name, rom_error_name
from services.sequencer.ports import (
    ExecRequest,
    ExecResult,
    Executor,
    ExecutorFailed,
    ExecutorUnavailable,
    FlushStatus,
    Ledger,
    Pool,
    Unavailable,
)
from services.sequencer.work import (
    Backoff,
    BlockJob,
    CloseJob,
    ForcedJob,
    JobQueue,
    SequencerHalted,
    SequencerSettings,
    wait_event,
)

_T = TypeVar("_T")


class Recorder:
    def __init__(
        self,
        settings: SequencerSettings,
        *,
        queue: JobQueue,
        executor: Executor,
        pool: Pool,
        ledger: Ledger,
        metrics: SequencerMetrics,
        log: EventLogger,
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.executor = executor
        self.pool = pool
        self.ledger = ledger
        self.metrics = metrics
        self.log = log
        #: the last flush status seen (from GetFlushStatus or a ProcessBatch answer)
        self._flush = FlushStatus(0, "")
        self._flush_changed = asyncio.Event()
        #: the last L2 block in the StateDB, and the state root after it
        self.recorded_block = 0
        self.recorded_root = b""
        self.last_closed_batch = 0
        #: set after each write and each pool mark, so the finalizer reads the pool again at once
        self.progress = asyncio.Event()
        #: recorded transactions still to be marked included in the pool, oldest first
        self._marks: deque[bytes] = deque()
        self._marks_changed = asyncio.Condition()

    # -- what others tell the recorder --------------------------------------------------------------

    def start_at(self, *, block: int, state_root: bytes, last_closed_batch: int) -> None:
        self.recorded_block = block
        self.recorded_root = state_root
        self.last_closed_batch = last_closed_batch

    def note_flush(self, stored_flush_id: int, prover_id: str) -> None:
        """A flush status carried by an executor answer (ProcessBatch returns one). Only a poll may
        switch to another executor process: an answer of the old one may arrive late."""
        current = self._flush
        if current.prover_id in ("", prover_id) and stored_flush_id > current.stored_flush_id:
            self._flush = FlushStatus(stored_flush_id, prover_id)
            self._flush_changed.set()

    # -- the loop --------------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            job = await self.queue.peek()
            if isinstance(job, BlockJob):
                group = self._block_group()
                await self._record_blocks(group)
                await self.queue.done(len(group))
            elif isinstance(job, CloseJob):
                await self._close(job)
                await self.queue.done(1)
            else:
                await self._record_forced(job)
                await self.queue.done(1)
            self.metrics.in_flight.set(len(self.queue))
            self.progress.set()

    def _block_group(self) -> list[BlockJob]:
        group: list[BlockJob] = []
        for job in self.queue.head(self.settings.max_blocks_per_write):
            if not isinstance(job, BlockJob) or (group and job.opening is not None):
                break
            group.append(job)
        return group

    # -- retries ---------------------------------------------------------------------------------

    async def _retrying(self, what: str, call: Callable[[], Awaitable[_T]]) -> _T:
        backoff = Backoff(self.settings.retry_initial_s, self.settings.retry_max_s)
        while True:
            try:
                return await call()
            except Unavailable as exc:
                self.log.warning(
                    "service_unavailable", call=what, attempt=backoff.attempts + 1, error=str(exc)
                )
                await backoff.wait()

    async def _timed(self, stage: str, call: Callable[[], Awaitable[_T]]) -> _T:
        start = time.perf_counter()
        try:
            return await call()
        finally:
            self.metrics.observe(stage, time.perf_counter() - start)

    async def _execute(self, request: ExecRequest, what: str) -> ExecResult:
        backoff = Backoff(self.settings.retry_initial_s, self.settings.retry_max_s)
        while True:
            try:
                result = await self.executor.process(request)
            except ExecutorFailed as exc:
                raise SequencerHalted(f"{what}: {exc}") from exc
            except ExecutorUnavailable as exc:
                self.metrics.executor_retries.labels("unavailable").inc()
                self.log.warning(
                    "executor_unavailable", call=what, attempt=backoff.attempts + 1, error=str(exc)
                )
                await backoff.wait()
                continue
            outcome = call_outcome(result.error)
            if outcome is CallOutcome.RETRY:
                self.metrics.executor_retries.labels("db_error").inc()
                self.log.warning("executor_db_error", call=what, attempt=backoff.attempts + 1)
                await backoff.wait()
                continue
            if outcome is not None:
                raise SequencerHalted(f"{what}: the executor answered {executor_error_name(result.error)}")
            self.note_flush(result.stored_flush_id, result.prover_id)
            return result

    # -- durability ------------------------------------------------------------------------------

    async def _durable(self, job: BlockJob | ForcedJob) -> None:
        """Return once the job's state is stored in the HashDB (executing it again if need be).

        A ProcessBatch answer carries the stored flush id the executor last learnt; when none brings
        the job's, GetFlushStatus is asked, first after `flush_poll_s`, then at doubling intervals
        (at most 8×): each poll costs the executor a HashDB round trip, and a flush takes tens of
        milliseconds, so polling fast would mostly load the two services it waits for."""
        polled = False
        wait_s = self.settings.flush_poll_s
        while True:
            status = self._flush
            if status.prover_id == job.prover_id and status.stored_flush_id >= job.flush_id:
                return
            if polled and status.prover_id != job.prover_id:
                await self._replay(job)
                polled = False
                continue
            self._flush_changed.clear()
            if await wait_event(self._flush_changed, wait_s):
                continue
            self._flush = await self._retrying("executor GetFlushStatus", self.executor.flush_status)
            self.metrics.flush_polls.inc()
            polled = True
            wait_s = min(wait_s * 2, 8 * self.settings.flush_poll_s)

    async def _replay(self, job: BlockJob | ForcedJob) -> None:
        """The executor restarted before this job's flush was stored: execute it again."""
        self.metrics.replays.inc()
        self.log.warning(
            "executor_restarted_replay",
            old_prover_id=job.prover_id,
            new_prover_id=self._flush.prover_id,
            state_root="0x" + job.state_root.hex(),
        )
        result = await self._execute(job.request, "replay")
        root = result.new_state_root
        if isinstance(job, BlockJob):
            # the request may be a group: this job's root is its transaction's
            root = next((t.state_root for t in result.txs if t.tx_hash == job.tx_hash), b"")
        if root != job.state_root:
            raise SequencerHalted(
                f"executing again gave state root 0x{root.hex()}, "
                f"the first execution 0x{job.state_root.hex()}"
            )
        # the other blocks of the same call are durable with this flush too
        for queued in self.queue.snapshot():
            if isinstance(queued, BlockJob | ForcedJob) and queued.request is job.request:
                queued.flush_id, queued.prover_id = result.flush_id, result.prover_id
        job.flush_id, job.prover_id = result.flush_id, result.prover_id

    # -- writes ----------------------------------------------------------------------------------

    async def _record_blocks(self, group: Sequence[BlockJob]) -> None:
        start = time.perf_counter()
        for job in group:
            await self._durable(job)
        self.metrics.observe("flush_wait", time.perf_counter() - start)
        opening = group[0].opening
        parts = [job.parts for job in group]
        last = group[-1].parts[0]
        await self._timed(
            "statedb_write",
            lambda: self._write(
                lambda: self.ledger.write_blocks(opening, parts), self._block_written(last.number, last.hash)
            ),
        )
        self.recorded_block, self.recorded_root = last.number, last.state_root
        self.metrics.recorded.inc(len(group))
        await self._mark_included([job.tx_hash for job in group])

    async def _write(
        self, write: Callable[[], Awaitable[None]], committed: Callable[[], Awaitable[bool]]
    ) -> None:
        """A StateDB write, retried while the database is unavailable. A retry that finds its own
        earlier attempt committed (the connection dropped after COMMIT) is done."""
        backoff = Backoff(self.settings.retry_initial_s, self.settings.retry_max_s)
        while True:
            try:
                await write()
                return
            except Unavailable as exc:
                self.log.warning("statedb_unavailable", attempt=backoff.attempts + 1, error=str(exc))
                await backoff.wait()
            except StateConflict as exc:
                if backoff.attempts and await self._retrying("StateDB read", committed):
                    return
                raise SequencerHalted(f"the StateDB refused a write: {exc}") from exc

    def _block_written(self, number: int, block_hash: bytes) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return await self.ledger.block_hash(number) == block_hash

        return check

    def _batch_closed(self, number: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return await self.ledger.batch_closed(number)

        return check

    async def _mark_included(self, hashes: Sequence[bytes]) -> None:
        """Hand recorded transactions to the pool marker; waits only if its backlog is full."""
        async with self._marks_changed:
            await self._marks_changed.wait_for(lambda: len(self._marks) < self.settings.max_in_flight)
            self._marks.extend(hashes)
            self._marks_changed.notify_all()

    async def run_marker(self) -> None:
        """MarkIncluded in the pool what the StateDB holds, in its own task: a slow or unreachable
        pool never holds up the StateDB writes or a batch's close. The backlog is bounded by
        `max_in_flight` (plus a group); after a crash, recovery marks that many of the latest
        recorded transactions again."""
        while True:
            async with self._marks_changed:
                await self._marks_changed.wait_for(lambda: bool(self._marks))
                hashes = [
                    self._marks[i] for i in range(min(self.settings.max_blocks_per_write, len(self._marks)))
                ]

            await self._timed("pool_mark", functools.partial(self._mark_all, hashes))
            async with self._marks_changed:
                for _ in hashes:
                    self._marks.popleft()
                self._marks_changed.notify_all()
            self.progress.set()  # the senders' next nonces are ready now

    async def _mark_all(self, hashes: Sequence[bytes]) -> None:
        await self._retrying("pool MarkIncludedMany", lambda: self.pool.include_many(hashes))

    async def marks_done(self) -> None:
        async with self._marks_changed:
            await self._marks_changed.wait_for(lambda: not self._marks)

    async def _record_forced(self, job: ForcedJob) -> None:
        start = time.perf_counter()
        await self._durable(job)
        self.metrics.observe("flush_wait", time.perf_counter() - start)
        last = job.blocks[-1][0] if job.blocks else None
        await self._timed(
            "statedb_write",
            lambda: self._write(
                lambda: self.ledger.write_closed_batch(job.batch, job.blocks),
                self._batch_closed(job.batch.number),
            ),
        )
        if last is not None:
            self.recorded_block = last.number
        self.recorded_root = job.state_root
        self.last_closed_batch = job.batch.number
        self.metrics.recorded.inc(len(job.blocks))
        self.metrics.closed.labels("forced").inc()
        await self._mark_included([parts[1].hash for parts in job.blocks])
        self.log.info(
            "forced_batch_sequenced",
            batch=job.batch.number,
            forced_batch=job.batch.forced_batch_number,
            txs=len(job.blocks),
            state_root="0x" + job.state_root.hex(),
        )

    # -- closing ---------------------------------------------------------------------------------

    async def _close(self, job: CloseJob) -> None:
        start = time.perf_counter()
        result = await self._timed(
            "batch_reexecution", lambda: self._execute(job.request, f"re-execution of batch {job.number}")
        )
        problem = _compare(job, result)
        if problem is not None:
            self.log.error("batch_reexecution_mismatch", batch=job.number, problem=problem)
            raise SequencerHalted(f"re-executing batch {job.number} in one call: {problem}")
        await self._write(
            lambda: self.ledger.close_batch(
                job.number,
                state_root=job.state_root,
                local_exit_root=job.local_exit_root,
                acc_input_hash=job.acc_input_hash,
            ),
            self._batch_closed(job.number),
        )
        self.last_closed_batch = job.number
        self.metrics.closed.labels(job.reason.value).inc()
        exact = BatchUsage(
            len(job.tx_hashes), len(job.request.batch_l2_data), result.cumulative_gas_used, result.counters
        )
        for resource, ratio in exact.fill(self.settings.limits).items():
            self.metrics.fill.labels(resource).observe(ratio)
        low = [n for n in COUNTER_NAMES if getattr(result.counters, n) > getattr(job.usage.counters, n)]
        if low:
            self.log.warning("counter_estimate_low", batch=job.number, counters=low)
        self.metrics.observe("batch_close", time.perf_counter() - start)
        self.log.info(
            "batch_closed",
            batch=job.number,
            reason=job.reason.value,
            txs=len(job.tx_hashes),
            bytes=len(job.request.batch_l2_data),
            gas=result.cumulative_gas_used,
            steps=result.counters.steps,
            keccak_hashes=result.counters.keccak_hashes,
            state_root="0x" + job.state_root.hex(),
            acc_input_hash="0x" + job.acc_input_hash.hex(),
        )


def _compare(job: CloseJob, result: ExecResult) -> str | None:
    """What differs between the batch executed whole and the one-by-one execution, or None."""
    if len(result.txs) != len(job.tx_roots):
        return f"{len(result.txs)} transaction results, {len(job.tx_roots)} transactions executed one by one"
    for i, (tx, root, tx_hash) in enumerate(zip(result.txs, job.tx_roots, job.tx_hashes, strict=True)):
        if tx.tx_hash != tx_hash:
            return f"transaction {i} is 0x{tx.tx_hash.hex()}, expected 0x{tx_hash.hex()}"
        if tx.state_root != root:
            return (
                f"transaction {i} ({rom_error_name(tx.rom_error)}) ends at 0x{tx.state_root.hex()}, "
                f"one by one at 0x{root.hex()}"
            )
    if result.new_state_root != job.state_root:
        return f"state root 0x{result.new_state_root.hex()}, one by one 0x{job.state_root.hex()}"
    if result.new_local_exit_root != job.local_exit_root:
        return (
            f"local exit root 0x{result.new_local_exit_root.hex()}, one by one 0x{job.local_exit_root.hex()}"
        )
    if result.new_acc_input_hash != job.acc_input_hash:
        return f"accInputHash 0x{result.new_acc_input_hash.hex()}, computed 0x{job.acc_input_hash.hex()}"
    return None

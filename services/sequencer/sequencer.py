"""The sequencer: recovery at start, the finalizer and the recorder, their supervision, its status.

Start (and restart after any crash, SIGKILL included)
-----------------------------------------------------
1. Read the chain tip from the StateDB: the last closed batch, the open batch with its blocks, the
   latest L2 block. Nothing is taken from memory: whatever was executed and not yet recorded is
   simply executed again later (its transactions are still in the pool).
2. Measure the counters of an empty batch (the baseline of limits.py).
3. Re-execute the open batch's transactions in one call on the last closed batch's root
   (update_merkle_tree off, zkevm-node's `GetWIPBatch`): every block's state root must come out
   the same, or the sequencer halts. The result gives the batch's exact counters and gas, so it
   is filled on from where it was; its age is counted from its timestamp.
4. Make the pool agree with the StateDB: MarkIncluded every transaction of the open batch and of
   the latest closed batches, as many as the pool marker may hold (a crash can fall between a
   StateDB write and the pool mark; marking an included transaction again changes nothing), then
   ReleaseSelected puts every transaction that was selected but never recorded back to pending.

So nothing accepted is lost (a recorded transaction is durable in the StateDB and the HashDB) and
nothing is included twice (a transaction the StateDB holds is out of the pool before the finalizer
reads it, and a second execution of the same nonce would fail the executor's nonce check anyway).

Running
-------
The finalizer, the recorder and the recorder's pool marker run as three tasks. If one halts
(`SequencerHalted`), the others are cancelled, the status reports the reason, health turns
NOT_SERVING, and `run` raises it: the process exits loudly rather than write anything a prover or
L1 would refuse. A graceful `stop` stops the finalizer, lets the recorder write (and the marker
mark) what is already executed (`drain_timeout_s`), and puts the still-selected transactions back
to pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from services.common.logs import EventLogger
from services.sequencer.finalizer import Finalizer
from services.sequencer.limits import BatchUsage, ZkCounters
from services.sequencer.metrics import SequencerMetrics
from services.sequencer.outcomes import call_outcome, executor_error_name
from services.sequencer.ports import (
    AccountReader,
    ChainTip,
    ExecRequest,
    ExecResult,
    Executor,
    ExecutorFailed,
    L1Clock,
    Ledger,
    Pool,
    Unavailable,
)
from services.sequencer.recorder import Recorder
from services.sequencer.work import ZERO_32, Backoff, JobQueue, OpenBatch, SequencerHalted, SequencerSettings

_T = TypeVar("_T")


class NoGenesis(Exception):
    """The StateDB holds no batch: the genesis has not been written."""


@dataclass(frozen=True, slots=True)
class OpenBatchStatus:
    number: int
    timestamp: int
    age_s: float
    txs: int
    fill: dict[str, float]
    global_exit_root: bytes


@dataclass(frozen=True, slots=True)
class SequencerStatus:
    open_batch: OpenBatchStatus | None
    last_closed_batch: int
    state_root: bytes
    recorded_state_root: bytes
    last_l2_block: int
    txs_in_flight: int
    halted: bool
    halt_reason: str


class Sequencer:
    def __init__(
        self,
        settings: SequencerSettings,
        *,
        executor: Executor,
        pool: Pool,
        ledger: Ledger,
        accounts: AccountReader,
        l1_clock: L1Clock,
        metrics: SequencerMetrics,
        log: EventLogger,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.executor = executor
        self.pool = pool
        self.ledger = ledger
        self.metrics = metrics
        self.log = log
        self._wall_clock = wall_clock
        self._monotonic = monotonic
        self.queue = JobQueue(settings.max_in_flight)
        self.recorder = Recorder(
            settings, queue=self.queue, executor=executor, pool=pool, ledger=ledger, metrics=metrics, log=log
        )
        self.finalizer = Finalizer(
            settings,
            queue=self.queue,
            recorder=self.recorder,
            executor=executor,
            pool=pool,
            ledger=ledger,
            accounts=accounts,
            l1_clock=l1_clock,
            metrics=metrics,
            log=log,
            monotonic=monotonic,
        )
        self.halt_reason = ""
        self._tasks: list[asyncio.Task[None]] = []
        metrics.watch_open_batch_age(self.finalizer.batch_age_s)

    # -- start -----------------------------------------------------------------------------------------

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

    async def recover(self) -> None:
        """Steps 1–4 of the module notes. Raises `NoGenesis`, or `SequencerHalted` on a mismatch."""
        # the pool marker holds at most about `max_in_flight` recorded transactions not yet marked
        recent = self.settings.max_in_flight + self.settings.max_blocks_per_write
        tip = await self._retrying("StateDB tip", lambda: self.ledger.tip(recent))
        if tip is None:
            raise NoGenesis(
                "the StateDB holds no batch: write the genesis first (python -m services.sequencer.genesis, "
                "or set ZKSEQ_SEQUENCER_GENESIS_FILE)"
            )
        last = tip.last_closed
        assert last.state_root is not None and last.acc_input_hash is not None
        f = self.finalizer
        f.state_root = bytes(last.state_root)
        f.last_block_number = tip.latest_block.number
        f.last_block_hash = tip.latest_block.hash
        f.next_batch_number = last.number + 1
        f.last_batch_timestamp = last.timestamp
        f.last_acc_input_hash = last.acc_input_hash
        f.baseline = await self._baseline(last.state_root, last.timestamp)
        recorded_root: bytes = last.state_root
        if tip.open_batch is not None:
            recorded_root = await self._resume_open_batch(tip)
        self.recorder.start_at(
            block=tip.latest_block.number, state_root=recorded_root, last_closed_batch=last.number
        )
        hashes = [tx.hash for _, tx in tip.open_blocks] + list(tip.recent_tx_hashes)
        step = self.settings.max_blocks_per_write
        for start in range(0, len(hashes), step):
            chunk = hashes[start : start + step]
            await self._retrying("pool MarkIncludedMany", functools.partial(self.pool.include_many, chunk))
        released = await self._retrying("pool ReleaseSelected", self.pool.release_selected)
        self.log.info(
            "sequencer_recovered",
            last_closed_batch=last.number,
            open_batch=None if tip.open_batch is None else tip.open_batch.number,
            open_batch_txs=len(tip.open_blocks),
            latest_block=tip.latest_block.number,
            state_root="0x" + f.state_root.hex(),
            released_from_selected=released,
        )

    async def _baseline(self, root: bytes, timestamp: int) -> ZkCounters:
        request = ExecRequest(
            old_state_root=root,
            batch_l2_data=b"",
            global_exit_root=ZERO_32,
            timestamp=timestamp,
            coinbase=self.settings.coinbase,
            chain_id=self.settings.chain_id,
            old_batch_number=0,
            old_acc_input_hash=ZERO_32,
            update_merkle_tree=False,
            context_id="baseline",
        )
        result = await self._checked(request, "empty batch (counter baseline)")
        return result.counters

    async def _checked(self, request: ExecRequest, what: str) -> ExecResult:
        try:
            result = await self.finalizer.execute(request, what)
        except ExecutorFailed as exc:
            raise SequencerHalted(f"{what}: {exc}") from exc
        if call_outcome(result.error) is not None:
            raise SequencerHalted(f"{what}: the executor answered {executor_error_name(result.error)}")
        return result

    async def _resume_open_batch(self, tip: ChainTip) -> bytes:
        ob = tip.open_batch
        assert ob is not None
        last = tip.last_closed
        assert last.state_root is not None and last.acc_input_hash is not None
        if not tip.open_blocks:
            raise SequencerHalted(
                f"open batch {ob.number} has no block: this sequencer never writes such a batch"
            )
        if ob.coinbase != self.settings.coinbase:
            raise SequencerHalted(
                f"open batch {ob.number} has coinbase 0x{ob.coinbase.hex()}, the configured one is "
                f"0x{self.settings.coinbase.hex()}: close it with its own configuration first"
            )
        request = ExecRequest(
            old_state_root=last.state_root,
            batch_l2_data=ob.batch_l2_data,
            global_exit_root=ob.global_exit_root,
            timestamp=ob.timestamp,
            coinbase=ob.coinbase,
            chain_id=self.settings.chain_id,
            old_batch_number=last.number,
            old_acc_input_hash=last.acc_input_hash,
            update_merkle_tree=False,
            context_id=f"recover-batch-{ob.number}",
        )
        result = await self._checked(request, f"re-execution of open batch {ob.number}")
        blocks = tip.open_blocks
        if len(result.txs) != len(blocks):
            raise SequencerHalted(
                f"open batch {ob.number}: {len(result.txs)} transactions re-executed, "
                f"{len(blocks)} blocks stored"
            )
        for executed, (block, tx) in zip(result.txs, blocks, strict=True):
            if executed.tx_hash != tx.hash or executed.state_root != block.state_root:
                raise SequencerHalted(
                    f"open batch {ob.number}: block {block.number} has state root "
                    f"0x{block.state_root.hex()}, re-executed 0x{executed.state_root.hex()}"
                )
        age_s = max(0.0, self._wall_clock() - ob.timestamp)
        self.finalizer.batch = OpenBatch(
            number=ob.number,
            timestamp=ob.timestamp,
            global_exit_root=ob.global_exit_root,
            start_root=last.state_root,
            old_acc_input_hash=last.acc_input_hash,
            usage=BatchUsage(len(blocks), len(ob.batch_l2_data), result.cumulative_gas_used, result.counters),
            records=[tx.encoded for _, tx in blocks],
            tx_roots=[block.state_root for block, _ in blocks],
            tx_hashes=[tx.hash for _, tx in blocks],
            started_at=self._monotonic() - min(age_s, self.settings.batch_time_limit_s),
            in_statedb=True,
            local_exit_root=result.new_local_exit_root,
        )
        self.finalizer.next_batch_number = ob.number + 1
        self.finalizer.state_root = blocks[-1][0].state_root
        return blocks[-1][0].state_root

    # -- run -------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Recover, then sequence until stopped; raises `SequencerHalted` if the sequencer halts."""
        try:
            await self.recover()
            self._tasks = [
                asyncio.create_task(self.finalizer.run(), name="finalizer"),
                asyncio.create_task(self.recorder.run(), name="recorder"),
                asyncio.create_task(self.recorder.run_marker(), name="pool-marker"),
            ]
            done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if not task.cancelled() and (exc := task.exception()) is not None:
                    raise exc
        except SequencerHalted as exc:
            self.halt_reason = exc.reason
            self.metrics.halted.set(1)
            self.log.error("sequencer_halted", reason=exc.reason)
            raise
        finally:
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def stop(self) -> None:
        """Stop taking transactions, write what is executed, release what is not."""
        if not self._tasks:
            return
        finalizer, recorder, marker = self._tasks
        finalizer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await finalizer
        if not recorder.done():

            async def drained() -> None:
                await self.queue.empty()
                await self.recorder.marks_done()

            drain = asyncio.ensure_future(drained())
            done, _ = await asyncio.wait({drain}, timeout=self.settings.drain_timeout_s)
            if not done:
                drain.cancel()
                self.log.warning("recorder_not_drained", txs_in_flight=len(self.queue))
        for task in (recorder, marker):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        try:
            released = await asyncio.wait_for(self.pool.release_selected(), 5.0)
            self.log.info("selected_released", count=released)
        except (Unavailable, TimeoutError) as exc:
            self.log.warning("selected_not_released", error=str(exc))

    # -- status ----------------------------------------------------------------------------------------

    def status(self) -> SequencerStatus:
        f = self.finalizer
        batch = f.batch
        open_status = None
        if batch is not None and (not batch.empty or batch.in_statedb):
            open_status = OpenBatchStatus(
                number=batch.number,
                timestamp=batch.timestamp,
                age_s=f.batch_age_s(),
                txs=batch.usage.txs,
                fill=batch.usage.fill(self.settings.limits),
                global_exit_root=batch.global_exit_root,
            )
        return SequencerStatus(
            open_batch=open_status,
            last_closed_batch=self.recorder.last_closed_batch,
            state_root=f.state_root,
            recorded_state_root=self.recorder.recorded_root,
            last_l2_block=self.recorder.recorded_block,
            txs_in_flight=len(self.queue),
            halted=bool(self.halt_reason),
            halt_reason=self.halt_reason,
        )

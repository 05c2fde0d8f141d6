"""The finalizer: takes the pool's best ready transactions, pre-executes them, keeps what fits.

    loop
      ├─ forced batches due?  close the open batch (if it holds anything), then execute each forced
      │                       batch whole, in order, as a batch of its own (zkevm-node §1.7)
      ├─ open batch too old?  close it (reason "time")
      ├─ next transactions    the one that did not fit the last batch, else the pool's best ready
      │                       ones (GetReadyTransactions, best price first, then the followers);
      │                       a group is that one and the candidates after it, up to
      │                       `max_group_txs`, each sender's in nonce order
      ├─ a group of one: the one-transaction path
      │   ├─ bytes would overflow → close (the transaction opens the next batch)
      │   ├─ claimed with MarkSelected; executed alone on the current state root:
      │   │   ProcessBatch(update_merkle_tree = 1), the batch's GER only until its first
      │   │   transaction is in, its timestamp and coinbase
      │   ├─ included (success, revert, out of gas …)?
      │   │     counters or gas would overflow → close, the transaction opens the next batch
      │   │     (does not fit even alone → invalid)
      │   │     else: its L2 block is built, the state root moves on, a BlockJob goes to the
      │   │     recorder; the batch closes at its transaction count
      │   └─ not included: out of counters → invalid; nonce → back to waiting with the state nonce;
      │                    balance → back to waiting, left aside for `balance_retry_s`; other → failed
      └─ a group of several: cut to the room left (transaction count, bytes), claimed with one
         SelectMany, executed in ONE ProcessBatch call on the current state root, each transaction
         still its own L2 block with the state root, logs and gas of its own response. Kept whole
         only if every transaction is included and the whole call fits the batch (gas, counters:
         the call's counters count as one call of limits.py); otherwise
           first not included at k > 0 → the first k run again as a group, the rest back in line
           does not fit                → the first half runs again, the rest back in line
           the first not included, an executor error, an answer that does not add up
                                       → the first transaction takes the one-transaction path
                                         (which decides it), the rest back in line
         so every transaction is decided alone or in a call that is kept whole, and what is kept is
         what one call per transaction gives: the batch's close re-executes it whole and compares.

Why groups: a ProcessBatch call has fixed costs (the round trip, the batch prologue, the HashDB
LoadDB + Flush of its nodes, one flush to wait for), about as large as a transfer's own work; a
group pays them once. A group is what is ready, so at low load it is one transaction and latency
does not grow. The pool marks ready only each sender's next nonce, and a sender's next transaction
would otherwise wait until the recorder has marked this one included (flush, StateDB write, pool
mark: hundreds of milliseconds, which caps a sender, and a load from few senders): the finalizer
also reads the pool's *followers* (a sender's pending nonces right after a ready or claimed one) and
claims them with SelectMany in nonce order, which the pool allows only once every earlier nonce of
the sender is claimed. A group keeps each sender's transactions in nonce order; a follower whose
predecessor did not get in fails with a nonce error, decided alone like any other.

Batch boundaries: a group's counters are counted as one call (limits.py: call − baseline + 1 Keccak),
which is closer to the batch's exact figure than one call per transaction; near the end of a batch
the halving makes the last groups small, and the last transaction that does not fit takes the
one-transaction path and opens the next batch, as before. The estimate never falls below the
executor's count (the same argument as limits.py: every call's data hash is one Keccak).

The finalizer never waits for durability: it executes the next transactions while the recorder waits
for the flush of the earlier ones and writes them (zkevm-node's pattern, §1.8), up to `max_in_flight`
transactions ahead. The claims of the next candidates are sent while the current ones execute. A
closed batch is handed to the recorder as a CloseJob; its accInputHash is computed here, as it
closes.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

from services.common.logs import EventLogger
from services.common.statedb.models import Batch, ForcedBatch, Hash32, StateRoot
from services.sequencer.blocks import build_block
from services.sequencer.l1clock import batch_timestamp
from services.sequencer.limits import CloseReason, ZkCounters, batch_counters, bytes_misfit, executed_misfit
from services.sequencer.metrics import SequencerMetrics
from services.sequencer.outcomes import (
    CallOutcome,
    TxOutcome,
    call_outcome,
    executor_error_name,
    rom_error_name,
    tx_outcome,
)
from services.sequencer.ports import (
    AccountReader,
    BlockParts,
    ExecRequest,
    ExecResult,
    ExecTx,
    Executor,
    ExecutorFailed,
    ExecutorUnavailable,
    FailureKind,
    L1Clock,
    Ledger,
    Pool,
    PoolTx,
    Unavailable,
)
from services.sequencer.recorder import Recorder
from services.sequencer.work import (
    ZERO_32,
    Backoff,
    BlockJob,
    CloseJob,
    ForcedJob,
    JobQueue,
    OpenBatch,
    SequencerHalted,
    SequencerSettings,
    wait_event,
)
from zkevm.batch import acc_input_hash, batch_hash_data
from zkevm.errors import DecodeError, InvalidSignatureError
from zkevm.transaction import L2Transaction, decode_batch_l2_data

_T = TypeVar("_T")


class Finalizer:
    def __init__(
        self,
        settings: SequencerSettings,
        *,
        queue: JobQueue,
        recorder: Recorder,
        executor: Executor,
        pool: Pool,
        ledger: Ledger,
        accounts: AccountReader,
        l1_clock: L1Clock,
        metrics: SequencerMetrics,
        log: EventLogger,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.recorder = recorder
        self.executor = executor
        self.pool = pool
        self.ledger = ledger
        self.accounts = accounts
        self.l1_clock = l1_clock
        self.metrics = metrics
        self.log = log
        self._monotonic = monotonic
        # the chain as executed (ahead of the StateDB by what the recorder has not written yet)
        self.state_root = b""
        self.last_block_number = 0
        self.last_block_hash = b""
        self.next_batch_number = 1
        self.last_batch_timestamp = 0
        self.last_acc_input_hash = ZERO_32
        self.batch: OpenBatch | None = None
        #: the counters of an empty one-call batch (limits.py)
        self.baseline = ZkCounters()
        self._candidates: deque[PoolTx] = deque()
        #: the transaction that did not fit the last batch: first in the next one
        self._carry: PoolTx | None = None
        self._claimed: set[bytes] = set()
        #: claims (MarkSelected / SelectMany) of the next candidates, sent while the current ones
        #: execute: hash → the call's task, which answers the hashes it claimed
        self._claims: dict[bytes, asyncio.Task[set[bytes]]] = {}
        #: transactions left aside until a monotonic time (balance errors)
        self._parked: dict[bytes, float] = {}
        self._next_forced_check = 0.0
        #: GetReadyTransactions failed this many times in a row
        self._pool_failures = 0

    # -- the loop ------------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while True:
                await self.step()
        finally:
            for claim in self._claims.values():
                claim.cancel()

    async def step(self) -> None:
        """One turn of the loop (tests drive it turn by turn)."""
        now = self._monotonic()
        if now >= self._next_forced_check:
            self._next_forced_check = now + self.settings.forced_batch_check_s
            await self._forced_batches()
        batch = self.batch
        if batch is not None and not batch.empty and self.deadline_passed():
            await self.close(CloseReason.TIME)
            return
        if batch is not None and batch.usage.txs >= self.settings.limits.max_txs:
            await self.close(CloseReason.TX_COUNT)  # a batch recovered full, its close lost in a crash
            return
        tx = await self._next_tx()
        if tx is None:
            return
        group = self._gather(tx)
        if len(group) > 1:
            await self._take_group(group)
        else:
            await self._take(tx)

    def batch_age_s(self) -> float:
        batch = self.batch
        if batch is None or batch.started_at is None:
            return 0.0
        return max(0.0, self._monotonic() - batch.started_at)

    def deadline_passed(self) -> bool:
        return self.batch_age_s() >= self.settings.batch_time_limit_s

    def _wait_s(self) -> float:
        """How long to wait for new transactions: the poll interval, or less if the batch is due."""
        wait = self.settings.poll_interval_s
        batch = self.batch
        if batch is not None and batch.started_at is not None:
            wait = min(wait, max(0.0, self.settings.batch_time_limit_s - self.batch_age_s()))
        return wait

    # -- helpers -------------------------------------------------------------------------------------

    async def _timed(self, stage: str, call: Callable[[], Awaitable[_T]]) -> _T:
        start = time.perf_counter()
        try:
            return await call()
        finally:
            self.metrics.observe(stage, time.perf_counter() - start)

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

    async def execute(self, request: ExecRequest, what: str) -> ExecResult:
        """ProcessBatch, retried with backoff while the executor is down or its HashDB is."""
        backoff = Backoff(self.settings.retry_initial_s, self.settings.retry_max_s)
        while True:
            start = time.perf_counter()
            try:
                result = await self.executor.process(request)
            except ExecutorUnavailable as exc:
                self.metrics.executor_retries.labels("unavailable").inc()
                self.log.warning(
                    "executor_unavailable", call=what, attempt=backoff.attempts + 1, error=str(exc)
                )
                await backoff.wait()
                continue
            finally:
                self.metrics.observe("executor_call", time.perf_counter() - start)
            if call_outcome(result.error) is CallOutcome.RETRY:
                self.metrics.executor_retries.labels("db_error").inc()
                self.log.warning("executor_db_error", call=what, attempt=backoff.attempts + 1)
                await backoff.wait()
                continue
            self.recorder.note_flush(result.stored_flush_id, result.prover_id)
            return result

    async def current_l1_timestamp(self) -> int:
        return await self._retrying("L1 latest block", self.l1_clock.latest_block_timestamp)

    # -- taking transactions ---------------------------------------------------------------------------

    async def _next_tx(self) -> PoolTx | None:
        if self._carry is not None:
            tx, self._carry = self._carry, None
            return tx
        now = self._monotonic()
        while self._candidates:
            tx = self._candidates.popleft()
            until = self._parked.get(tx.hash)
            if until is None or until <= now:
                self._parked.pop(tx.hash, None)
                return tx
        self.recorder.progress.clear()
        limit = self.settings.fetch_limit + len(self._parked)
        try:
            followers = self.settings.max_group_txs > 1
            fetched = await self._timed("pool_fetch", lambda: self.pool.ready(limit, followers=followers))
            self._pool_failures = 0
        except Unavailable as exc:
            # keep closing batches on time while the pool is down; log now and then, not every poll
            if self._pool_failures % 50 == 0:
                self.log.warning(
                    "service_unavailable",
                    call="pool GetReadyTransactions",
                    attempt=self._pool_failures + 1,
                    error=str(exc),
                )
            self._pool_failures += 1
            await wait_event(self.recorder.progress, self._wait_s())
            return None
        fresh = [tx for tx in fetched if self._parked.get(tx.hash, 0.0) <= now]
        if fresh:
            self._candidates.extend(fresh)
            tx = self._candidates.popleft()
            self._parked.pop(tx.hash, None)
            return tx
        # nothing ready: wait for the recorder to make progress (a sender's next nonce), or a while
        await wait_event(self.recorder.progress, self._wait_s())
        return None

    async def _open_batch(self) -> OpenBatch:
        batch = self.batch
        if batch is None:
            batch = self.batch = OpenBatch(
                number=self.next_batch_number,
                timestamp=self.last_batch_timestamp,
                global_exit_root=self.settings.global_exit_root,
                start_root=self.state_root,
                old_acc_input_hash=self.last_acc_input_hash,
            )
        if batch.empty and not batch.in_statedb:
            # the timestamp is fixed by the first transaction that gets in
            batch.timestamp = batch_timestamp(self.last_batch_timestamp, await self.current_l1_timestamp())
        return batch

    def _batch_call(
        self, batch: OpenBatch, old_root: bytes, data: bytes, *, ger: bytes, keep: bool, context_id: str
    ) -> ExecRequest:
        """A ProcessBatch call in `batch`'s context (its timestamp, number and accInputHash)."""
        return ExecRequest(
            old_state_root=old_root,
            batch_l2_data=data,
            global_exit_root=ger,
            timestamp=batch.timestamp,
            coinbase=self.settings.coinbase,
            chain_id=self.settings.chain_id,
            old_batch_number=batch.number - 1,
            old_acc_input_hash=batch.old_acc_input_hash,
            update_merkle_tree=keep,
            context_id=context_id,
        )

    def _pre_execution(self, batch: OpenBatch, batch_l2_data: bytes, context_id: str) -> ExecRequest:
        """A call that executes transactions on the current root and keeps what they write; the
        batch's GER is written before its first transaction only."""
        ger = batch.global_exit_root if batch.empty else ZERO_32
        return self._batch_call(
            batch, self.state_root, batch_l2_data, ger=ger, keep=True, context_id=context_id
        )

    async def _take(self, tx: PoolTx) -> None:
        batch = await self._open_batch()
        misfit = bytes_misfit(batch.usage, len(tx.record), self.settings.limits)
        if misfit is not None:
            if misfit.alone:
                await self._invalidate(
                    tx,
                    f"the transaction is {len(tx.record)} bytes, a batch may hold "
                    f"{self.settings.limits.max_bytes}",
                    TxOutcome.INVALID,
                )
            else:
                self._carry = tx
                await self.close(misfit.reason)
            return
        if not await self._claim(tx):
            return  # replaced or gone since it was read
        self._claim_next()
        request = self._pre_execution(batch, tx.record, "0x" + tx.hash.hex())
        try:
            result = await self.execute(request, "transaction")
        except ExecutorFailed as exc:
            await self._invalidate(tx, f"executor error: {exc}", TxOutcome.INVALID)
            return
        call = call_outcome(result.error)
        if call is CallOutcome.HALT:
            raise SequencerHalted(
                f"the executor refused the sequencer's request with {executor_error_name(result.error)} "
                "(check the chain id, coinbase and GER settings)"
            )
        if call is CallOutcome.INVALID_TX:
            await self._invalidate(tx, executor_error_name(result.error), TxOutcome.INVALID)
            return
        if len(result.txs) != 1:
            await self._invalidate(
                tx, f"the executor returned {len(result.txs)} results for one transaction", TxOutcome.INVALID
            )
            return
        executed = result.txs[0]
        outcome = tx_outcome(executed.rom_error)
        reason = rom_error_name(executed.rom_error)
        if outcome.included:
            if executed.tx_hash != tx.hash:
                await self._invalidate(
                    tx, f"the executor hashed it to 0x{executed.tx_hash.hex()}", TxOutcome.INVALID
                )
                return
            counters = batch_counters(batch.usage, result.counters, self.baseline)
            misfit = executed_misfit(
                batch.usage,
                gas=executed.gas_used,
                counters=counters,
                alone_counters=result.counters,
                limits=self.settings.limits,
            )
            if misfit is not None and misfit.alone:
                await self._invalidate(
                    tx,
                    f"out of counters: it needs more {misfit.resource} than a batch may hold",
                    TxOutcome.OUT_OF_COUNTERS,
                )
            elif misfit is not None:
                self._carry = tx
                await self.close(misfit.reason)
            else:
                self.metrics.txs.labels(outcome.value).inc()
                self.metrics.group_txs.observe(1)
                await self._include(batch, tx, executed, request=request, result=result, counters=counters)
            return
        self.metrics.txs.labels(outcome.value).inc()
        self._claimed.discard(tx.hash)
        if outcome is TxOutcome.OUT_OF_COUNTERS:
            await self._retrying(
                "pool MarkInvalid", lambda: self.pool.invalidate(tx.hash, f"out of counters: {reason}")
            )
        elif outcome is TxOutcome.NONCE:
            state_nonce = await self.state_nonce(tx.sender)
            await self._retrying(
                "pool MarkFailed", lambda: self.pool.fail(tx.hash, FailureKind.NONCE, reason, state_nonce)
            )
            if state_nonce is None or state_nonce == tx.nonce:
                self._park(tx)
        elif outcome is TxOutcome.BALANCE:
            await self._retrying(
                "pool MarkFailed", lambda: self.pool.fail(tx.hash, FailureKind.BALANCE, reason, None)
            )
            self._park(tx)
        elif outcome is TxOutcome.FAILED:
            await self._retrying(
                "pool MarkFailed", lambda: self.pool.fail(tx.hash, FailureKind.OTHER, reason, None)
            )
        else:
            await self._retrying("pool MarkInvalid", lambda: self.pool.invalidate(tx.hash, reason))
        self.log.info("tx_not_included", hash="0x" + tx.hash.hex(), outcome=outcome.value, error=reason)

    # -- groups --------------------------------------------------------------------------------------

    def _gather(self, first: PoolTx) -> list[PoolTx]:
        """`first` and the candidates after it, up to `max_group_txs`. A sender's transactions are in
        nonce order: one of a sender already in the group joins only as that sender's next nonce
        (the pool's followers come after the ready ones, a sender's run in order), else the group
        ends there. What is ready is what is taken: at low load a group is one transaction and takes
        the one-transaction path."""
        group = [first]
        last_nonce = {first.sender: first.nonce}
        now = self._monotonic()
        while self._candidates and len(group) < self.settings.max_group_txs:
            tx = self._candidates[0]
            until = self._parked.get(tx.hash)
            if until is not None and until > now:
                self._candidates.popleft()  # as _next_tx: left aside, the pool offers it again later
                continue
            previous = last_nonce.get(tx.sender)
            if previous is not None and tx.nonce != previous + 1:
                break
            self._candidates.popleft()
            self._parked.pop(tx.hash, None)
            last_nonce[tx.sender] = tx.nonce
            group.append(tx)
        return group

    def _requeue(self, txs: list[PoolTx]) -> None:
        """Put transactions back first in line, in their order (they stay claimed)."""
        self._candidates.extendleft(reversed(txs))

    async def _take_group(self, txs: list[PoolTx]) -> None:
        """Pre-execute several transactions in one ProcessBatch call and keep them all, or fall back.

        The group is cut to what the batch still has room for (transaction count, bytes). It is kept
        whole only when every transaction is included and the whole call fits the batch's gas and
        counters; each transaction is then its own L2 block, with the state root, logs and gas of its
        own response, exactly as one call per transaction would give (the batch's close re-executes
        it whole and compares). Otherwise:
          a transaction not included at position k > 0 → the first k are run again as a group, the
                                   rest go back first in line
          does not fit             → the first half is run again, the rest go back first in line
          the first one not included, an executor error, an answer that does not add up
                                   → the first transaction takes the one-transaction path (which
                                     decides invalid, nonce, balance, out of counters, close …) and
                                     the rest go back first in line
        so a transaction is only ever decided alone or as part of a group that fits whole."""
        batch = await self._open_batch()
        limits = self.settings.limits
        size, used = 0, batch.usage.bytes
        for tx in txs[: max(0, limits.max_txs - batch.usage.txs)]:
            if used + len(tx.record) > limits.max_bytes:
                break
            used += len(tx.record)
            size += 1
        self._requeue(txs[max(size, 1) :])
        if size <= 1:
            await self._take(txs[0])
            return
        group = await self._claim_many(txs[:size])
        if len(group) <= 1:
            if group:
                await self._take(group[0])
            return
        self._claim_next()
        request = self._pre_execution(
            batch, b"".join(tx.record for tx in group), f"group-{len(group)}-0x{group[0].hash.hex()}"
        )
        try:
            result = await self.execute(request, "transactions")
        except ExecutorFailed as exc:
            await self._first_alone(group, f"executor error: {exc}")
            return
        call = call_outcome(result.error)
        if call is CallOutcome.HALT:
            raise SequencerHalted(
                f"the executor refused the sequencer's request with {executor_error_name(result.error)} "
                "(check the chain id, coinbase and GER settings)"
            )
        if call is not None:
            await self._first_alone(group, executor_error_name(result.error))
            return
        if len(result.txs) != len(group):
            await self._first_alone(group, f"{len(result.txs)} results for {len(group)} transactions")
            return
        for k, (tx, executed) in enumerate(zip(group, result.txs, strict=True)):
            if executed.tx_hash != tx.hash:
                await self._first_alone(group, f"result {k} is for 0x{executed.tx_hash.hex()}")
                return
            if not tx_outcome(executed.rom_error).included:
                if k == 0:
                    await self._first_alone(group, rom_error_name(executed.rom_error))
                else:
                    self.metrics.group_retries.labels("not_included").inc()
                    self._requeue(group[k:])
                    await self._take_group(group[:k])
                return
        if result.txs[-1].state_root != result.new_state_root:
            await self._first_alone(group, "the last transaction's state root is not the call's")
            return
        counters = batch_counters(batch.usage, result.counters, self.baseline)
        misfit = executed_misfit(
            batch.usage,
            gas=sum(executed.gas_used for executed in result.txs),
            counters=counters,
            alone_counters=result.counters,
            limits=limits,
        )
        if misfit is not None:
            self.metrics.group_retries.labels("misfit").inc()
            half = len(group) // 2
            self._requeue(group[half:])
            await self._take_group(group[:half])
            return
        self.metrics.group_txs.observe(len(group))
        for i, (tx, executed) in enumerate(zip(group, result.txs, strict=True)):
            self.metrics.txs.labels(tx_outcome(executed.rom_error).value).inc()
            # the call's counters are the group's: counted once, with its first transaction
            added = counters if i == 0 else ZkCounters()
            await self._include(batch, tx, executed, request=request, result=result, counters=added)

    async def _first_alone(self, group: list[PoolTx], why: str) -> None:
        self.metrics.group_retries.labels("anomaly").inc()
        self.log.info("group_first_alone", txs=len(group), hash="0x" + group[0].hash.hex(), why=why)
        self._requeue(group[1:])
        await self._take(group[0])

    async def _select(self, tx_hash: bytes) -> bool:
        return await self._timed("pool_select", lambda: self.pool.select(tx_hash))

    async def _select_many(self, hashes: list[bytes]) -> set[bytes]:
        """Claim `hashes`: MarkSelected for one, SelectMany (one atomic pool call) for several."""
        if len(hashes) == 1:
            return set(hashes) if await self._select(hashes[0]) else set()
        return await self._timed("pool_select", lambda: self.pool.select_many(hashes))

    async def _claim(self, tx: PoolTx) -> bool:
        """MarkSelected `tx` (or take the answer of the claim sent ahead); False if the pool no longer
        offers it."""
        if tx.hash in self._claimed:
            return True
        ahead = self._claims.pop(tx.hash, None)
        try:
            ok = tx.hash in await ahead if ahead is not None else await self._select(tx.hash)
        except Unavailable:
            ok = await self._retrying("pool MarkSelected", lambda: self._select(tx.hash))
        if ok:
            self._claimed.add(tx.hash)
        return ok

    async def _claim_many(self, txs: list[PoolTx]) -> list[PoolTx]:
        """Claim a group in one pool call (taking the answers of claims sent ahead); the transactions
        the pool still offered, in order."""
        for tx in txs:
            if tx.hash in self._claims:  # sent ahead: its answer first (a follower needs its predecessor)
                await self._claim(tx)
        need = [tx.hash for tx in txs if tx.hash not in self._claimed]
        if need:
            try:
                fresh = await self._select_many(need)
            except Unavailable:
                fresh = await self._retrying("pool SelectMany", lambda: self._select_many(need))
            self._claimed.update(fresh)
        return [tx for tx in txs if tx.hash in self._claimed]

    def _claim_next(self) -> None:
        """Claim the next candidates (up to a group) while these execute: the pool round trip is then
        off the finalizer's path. A claim never used is released at stop or by the next start's
        recovery."""
        hashes: list[bytes] = []
        for tx in self._candidates:
            if len(hashes) >= self.settings.max_group_txs:
                break
            h = tx.hash
            if h not in self._claimed and h not in self._claims and h not in self._parked:
                hashes.append(h)
        if not hashes:
            return
        task = asyncio.create_task(self._select_many(hashes))
        for h in hashes:
            self._claims[h] = task

    def _park(self, tx: PoolTx) -> None:
        self._parked[tx.hash] = self._monotonic() + self.settings.balance_retry_s

    async def _invalidate(self, tx: PoolTx, reason: str, outcome: TxOutcome) -> None:
        self.metrics.txs.labels(outcome.value).inc()
        self._claimed.discard(tx.hash)
        await self._retrying("pool MarkInvalid", lambda: self.pool.invalidate(tx.hash, reason))
        self.log.info("tx_invalid", hash="0x" + tx.hash.hex(), reason=reason)

    async def state_nonce(self, sender: bytes) -> int | None:
        """The sender's nonce at the executed state: one past its last transaction still on its way to
        the StateDB, else its nonce at the last recorded (durable) root, read from the HashDB."""
        root = self.recorder.recorded_root
        pending: int | None = None
        for job in self.queue.snapshot():
            if isinstance(job, BlockJob) and job.sender == sender:
                pending = max(pending or 0, job.nonce + 1)
            elif isinstance(job, ForcedJob):
                for forced_sender, nonce in job.senders:
                    if forced_sender == sender:
                        pending = max(pending or 0, nonce + 1)
        if pending is not None:
            return pending
        try:
            return await self.accounts.nonce(root, sender)
        except Unavailable as exc:
            self.log.warning("service_unavailable", call="HashDB nonce", error=str(exc))
            return None

    async def _include(
        self,
        batch: OpenBatch,
        tx: PoolTx,
        executed: ExecTx,
        *,
        request: ExecRequest,
        result: ExecResult,
        counters: ZkCounters,
    ) -> None:
        number = self.last_block_number + 1
        parts = build_block(
            tx=tx,
            executed=executed,
            number=number,
            parent_hash=self.last_block_hash,
            batch_number=batch.number,
            index_in_batch=batch.usage.txs,
            timestamp=batch.timestamp,
            coinbase=self.settings.coinbase,
        )
        opening = None
        if not batch.in_statedb:
            opening = Batch(
                number=batch.number,
                batch_l2_data=b"",
                global_exit_root=Hash32(batch.global_exit_root),
                timestamp=batch.timestamp,
                coinbase=self.settings.coinbase,  # type: ignore[arg-type]
                state_root=None,
                local_exit_root=None,
                acc_input_hash=None,
                closed=False,
            )
            batch.in_statedb = True
        if batch.started_at is None:
            batch.started_at = self._monotonic()
        batch.usage = batch.usage.plus(tx_bytes=len(tx.record), gas=executed.gas_used, counters=counters)
        batch.records.append(tx.record)
        batch.tx_roots.append(executed.state_root)
        batch.tx_hashes.append(tx.hash)
        batch.local_exit_root = result.new_local_exit_root
        self.state_root = executed.state_root
        self.last_block_number = number
        self.last_block_hash = parts[0].hash
        self._claimed.discard(tx.hash)
        await self.queue.put(
            BlockJob(
                batch_number=batch.number,
                opening=opening,
                parts=parts,
                sender=tx.sender,
                nonce=tx.tx.nonce,
                request=request,
                flush_id=result.flush_id,
                prover_id=result.prover_id,
            )
        )
        self.metrics.in_flight.set(len(self.queue))
        if batch.usage.txs >= self.settings.limits.max_txs:
            await self.close(CloseReason.TX_COUNT)

    # -- closing -------------------------------------------------------------------------------------

    async def close(self, reason: CloseReason) -> None:
        """Hand the open batch to the recorder to be closed; the next transaction opens a new one."""
        batch = self.batch
        if batch is None or batch.empty:
            return
        data = batch.batch_l2_data
        acc = acc_input_hash(
            batch.old_acc_input_hash,
            batch_hash_data(data),
            batch.global_exit_root,
            batch.timestamp,
            self.settings.coinbase,
        )
        # the whole batch again on its start root, keeping nothing: the sanity check
        request = self._batch_call(
            batch,
            batch.start_root,
            data,
            ger=batch.global_exit_root,
            keep=False,
            context_id=f"close-batch-{batch.number}",
        )
        await self.queue.put(
            CloseJob(
                number=batch.number,
                reason=reason,
                request=request,
                tx_roots=tuple(batch.tx_roots),
                tx_hashes=tuple(batch.tx_hashes),
                state_root=self.state_root,
                local_exit_root=batch.local_exit_root,
                acc_input_hash=acc,
                usage=batch.usage,
            )
        )
        self.log.info(
            "batch_closing",
            batch=batch.number,
            reason=reason.value,
            txs=batch.usage.txs,
            age_s=round(self.batch_age_s(), 3),
        )
        self.next_batch_number = batch.number + 1
        self.last_batch_timestamp = batch.timestamp
        self.last_acc_input_hash = acc
        self.batch = None

    # -- forced batches ------------------------------------------------------------------------------

    async def _forced_batches(self) -> None:
        due = await self._retrying(
            "StateDB forced batches",
            lambda: self.ledger.due_forced_batches(self.settings.forced_batch_finality_blocks),
        )
        if not due:
            return
        if self.batch is not None and not self.batch.empty:
            await self.close(CloseReason.FORCED_BATCH)
        self.batch = None
        for forced in due:
            await self.sequence_forced(forced)

    async def sequence_forced(self, forced: ForcedBatch) -> None:
        """Execute a forced batch whole, as the next batch, on the current state root."""
        number = self.next_batch_number
        timestamp = batch_timestamp(
            self.last_batch_timestamp, await self.current_l1_timestamp(), forced.timestamp
        )
        request = ExecRequest(
            old_state_root=self.state_root,
            batch_l2_data=forced.batch_l2_data,
            global_exit_root=forced.global_exit_root,
            timestamp=timestamp,
            coinbase=self.settings.coinbase,
            chain_id=self.settings.chain_id,
            old_batch_number=number - 1,
            old_acc_input_hash=self.last_acc_input_hash,
            update_merkle_tree=True,
            context_id=f"forced-batch-{forced.forced_batch_number}",
        )
        try:
            result = await self.execute(request, f"forced batch {forced.forced_batch_number}")
        except ExecutorFailed as exc:
            raise SequencerHalted(f"forced batch {forced.forced_batch_number}: {exc}") from exc
        if call_outcome(result.error) is not None:
            raise SequencerHalted(
                f"forced batch {forced.forced_batch_number}: "
                f"the executor answered {executor_error_name(result.error)}"
            )
        acc = acc_input_hash(
            self.last_acc_input_hash,
            batch_hash_data(forced.batch_l2_data),
            forced.global_exit_root,
            timestamp,
            self.settings.coinbase,
        )
        if result.new_acc_input_hash != acc:
            raise SequencerHalted(
                f"forced batch {forced.forced_batch_number}: the executor's accInputHash "
                f"0x{result.new_acc_input_hash.hex()} is not 0x{acc.hex()}"
            )
        blocks, senders = self._forced_blocks(forced, number, timestamp, result)
        batch = Batch(
            number=number,
            batch_l2_data=forced.batch_l2_data,
            global_exit_root=forced.global_exit_root,
            timestamp=timestamp,
            coinbase=self.settings.coinbase,  # type: ignore[arg-type]
            state_root=StateRoot(result.new_state_root),
            local_exit_root=Hash32(result.new_local_exit_root),
            acc_input_hash=acc,
            closed=True,
            forced_batch_number=forced.forced_batch_number,
        )
        await self.queue.put(ForcedJob(batch, blocks, senders, request, result.flush_id, result.prover_id))
        self.state_root = result.new_state_root
        self.next_batch_number = number + 1
        self.last_batch_timestamp = timestamp
        self.last_acc_input_hash = acc
        self.log.info(
            "forced_batch_executed",
            batch=number,
            forced_batch=forced.forced_batch_number,
            txs=len(blocks),
            state_root="0x" + result.new_state_root.hex(),
        )

    def _forced_blocks(
        self, forced: ForcedBatch, number: int, timestamp: int, result: ExecResult
    ) -> tuple[list[BlockParts], list[tuple[bytes, int]]]:
        """The blocks of the forced transactions the executor included (none if the batch ran out
        of counters: it then ends at its start root, spec §6.10 quirk 3)."""
        if any(tx_outcome(t.rom_error) is TxOutcome.OUT_OF_COUNTERS for t in result.txs):
            return [], []
        try:
            decoded: list[L2Transaction] = decode_batch_l2_data(forced.batch_l2_data)
        except DecodeError:
            return [], []
        blocks: list[BlockParts] = []
        senders: list[tuple[bytes, int]] = []
        for tx, executed in zip(decoded, result.txs, strict=False):
            if not tx_outcome(executed.rom_error).included:
                continue
            try:
                sender = tx.sender()
            except InvalidSignatureError:
                continue
            pool_tx = PoolTx(
                hash=executed.tx_hash,
                record=tx.encode(),
                sender=sender,
                nonce=tx.nonce,
                gas_price=tx.gas_price,
                tx=tx,
            )
            parts = build_block(
                tx=pool_tx,
                executed=executed,
                number=self.last_block_number + 1,
                parent_hash=self.last_block_hash,
                batch_number=number,
                index_in_batch=len(blocks),
                timestamp=timestamp,
                coinbase=self.settings.coinbase,
            )
            blocks.append(parts)
            senders.append((sender, tx.nonce))
            self.last_block_number += 1
            self.last_block_hash = parts[0].hash
        return blocks, senders

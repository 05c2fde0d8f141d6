"""The sequence sender: closed batches → sequenceBatches transactions, through the EthTxManager.

    every SEND_INTERVAL_S (one asyncio task)
      1. ask the EthTxManager about the sequences in flight; drop the confirmed and the failed
      2. stopped by an alarm?                                      → wait (for good)
      3. MAX_IN_FLIGHT sequences on their way?                     → wait
      4. read L1's lastBatchSequenced and its accInputHash (one block); the accInputHash must be
         the one zkseq stored for that batch, else raise the alarm (this also re-raises an alarm
         after a restart)
      5. next batch = 1 + the highest of: L1's lastBatchSequenced, the last batch of every sequence
         in flight, the last batch of every sequence the EthTxManager confirmed
      6. pack the closed batches from there (packing.py); a sequence that is not full waits until
         its first batch has waited PARTIAL_SEQUENCE_WAIT_S, so batches share L1 transactions
      7. eth_estimateGas from the trusted sequencer; a revert or a node limit halves the sequence
         and estimates again, down to one batch, which then waits ("timestamp out of range":
         for a newer L1 block; "oversize": it was split first); gas above MAX_SEQUENCE_GAS halves too
      8. Add(id = "sequence:<first>-<last>", to = rollup, data, gas = estimate × (1 + margin) + offset)

Never a batch twice
-------------------
A batch is in at most one sequence that is not FAILED. Step 5 starts after every batch L1 has and
every batch of a sequence in flight or confirmed; the id names the range, and Add is idempotent, so
a retried Add (an answer lost on the way) stores nothing new. After a restart the sequences in
flight, confirmed and failed are read back from the EthTxManager (List) before anything is sent.
An Add whose answer was lost is retried, unchanged, before any other. A FAILED transaction
sequenced nothing (it reverted), so its batches are packed again under a new id
(`sequence:<first>-<last>#<attempt>`). If L1 shows fewer batches than the EthTxManager confirmed (a
lagging node, or a reorg deeper than its confirmations) the sender waits rather than guess.

Forced batches are sequenced like the others, with their minForcedTimestamp (the L1 timestamp of
their forceBatch, from the StateDB's forced batches) and global exit root. The contract consumes the
forced queue in order and a gas estimate runs against the L1 state without the sequences still in
flight, so a sequence with a forced batch is only estimated and sent when nothing is in flight.

Several sequences in flight (MAX_IN_FLIGHT > 1) raise the data throughput (zkevm-node#1795), at a
price: sequenceBatches carries no batch numbers, so if an earlier sequence fails while a later one
is mined, L1 numbers the later batches differently from zkseq. The watcher then sees an accInputHash
that is not ours and raises the alarm: sequencing stops instead of building on a wrong chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from services.common.l1.errors import CUSTOM_ERRORS, RollupRevert
from services.common.l1.rollup import BatchData, encode_sequence_batches
from services.common.logs import EventLogger
from services.common.statedb.errors import StateDBError
from services.common.statedb.models import Batch
from services.sequencesender.alarms import AlarmBoard
from services.sequencesender.metrics import SequenceSenderMetrics
from services.sequencesender.models import (
    Alarm,
    AlarmKind,
    SequencedState,
    SequenceRange,
    parse_sequence_id,
    sequence_id,
)
from services.sequencesender.packing import NumberedBatch, Packing, PackLimits, StopReason, pack
from services.sequencesender.ports import (
    IN_FLIGHT_STATUSES,
    AddOutcome,
    ClosedBatches,
    ForcedBatches,
    GasEstimateFailed,
    L1Sequencing,
    L1Unavailable,
    TxIdConflict,
    TxManager,
    TxManagerUnavailable,
    TxResult,
    TxStatus,
)
from zkevm.batch import ZERO_HASH
from zkevm.state_keys import Address

#: the largest gas limit an L1 block allows today, a sane upper bound for the setting
MAX_L1_GAS: Final = 60_000_000


class WaitReason(enum.StrEnum):
    """Why a tick sent nothing (a bounded label set for the metric)."""

    ALARM = "alarm"
    IN_FLIGHT_FULL = "in_flight_full"
    NO_CLOSED_BATCHES = "no_closed_batches"
    PARTIAL_SEQUENCE = "partial_sequence"
    TIMESTAMP_AHEAD = "timestamp_ahead"
    BATCH_TOO_LARGE = "batch_too_large"
    FORCED_WAITS_FOR_IN_FLIGHT = "forced_waits_for_in_flight"
    FORCED_BATCH_UNKNOWN = "forced_batch_unknown"
    ESTIMATE_REVERTED = "estimate_reverted"
    L1_BEHIND = "l1_behind"
    ID_CONFLICT = "id_conflict"
    SEQUENCE_FAILED = "sequence_failed"
    COINBASE_MISMATCH = "coinbase_mismatch"
    UNAVAILABLE = "unavailable"


#: why nothing could be packed, by the reason the packing stopped at its first batch
_EMPTY_PACKING_WAITS: Final = {
    StopReason.TIMESTAMP_AHEAD: WaitReason.TIMESTAMP_AHEAD,
    StopReason.BATCH_TOO_LARGE: WaitReason.BATCH_TOO_LARGE,
    StopReason.GAP: WaitReason.NO_CLOSED_BATCHES,
    StopReason.NO_MORE_BATCHES: WaitReason.NO_CLOSED_BATCHES,
    StopReason.MAX_BATCHES: WaitReason.NO_CLOSED_BATCHES,
    StopReason.MAX_CALLDATA: WaitReason.BATCH_TOO_LARGE,
}


@dataclass(frozen=True, slots=True)
class SenderSettings:
    l2_coinbase: Address
    #: the rollup contract, 20 bytes
    rollup_address: bytes
    limits: PackLimits = field(default_factory=PackLimits)
    max_in_flight: int = 2
    #: gas = estimate × (100 + margin) / 100 + offset
    gas_margin_percent: int = 10
    #: zkevm-node's GasOffset (an estimate made while another transaction changes the same slots)
    gas_offset: int = 80_000
    #: a sequence needing more gas than this is split
    max_sequence_gas: int = 15_000_000
    #: a sequence that is not full waits until its first batch has waited this long
    partial_sequence_wait_s: float = 5.0
    interval_s: float = 1.0

    def __post_init__(self) -> None:
        if len(self.l2_coinbase) != 20 or len(self.rollup_address) != 20:
            raise ValueError("SenderSettings.l2_coinbase and rollup_address must be 20 bytes")
        if self.max_in_flight < 1:
            raise ValueError("SenderSettings.max_in_flight must be at least 1")
        if not 0 <= self.gas_margin_percent <= 1000 or self.gas_offset < 0:
            raise ValueError("SenderSettings.gas_margin_percent must be in [0, 1000], gas_offset >= 0")
        if not 21_000 <= self.max_sequence_gas <= MAX_L1_GAS:
            raise ValueError(f"SenderSettings.max_sequence_gas must be in [21000, {MAX_L1_GAS}]")
        if self.partial_sequence_wait_s < 0 or self.interval_s <= 0:
            raise ValueError("SenderSettings wait and interval must be positive")

    def gas_limit(self, estimate: int) -> int:
        return -(-estimate * (100 + self.gas_margin_percent) // 100) + self.gas_offset


@dataclass(frozen=True, slots=True)
class InFlight:
    range: SequenceRange
    status: TxStatus


@dataclass(slots=True)
class TickResult:
    """What one tick did: the sequence it handed over, or why it waited."""

    sent: SequenceRange | None = None
    wait: WaitReason | None = None
    detail: str = ""


@dataclass(slots=True)
class _PendingAdd:
    """An Add whose answer was lost: retried exactly as it was before anything else."""

    range: SequenceRange
    data: bytes
    gas_limit: int
    batches: int


@dataclass(slots=True)
class _Recovered:
    in_flight: dict[str, InFlight] = field(default_factory=dict)
    failed_ids: set[str] = field(default_factory=set)
    confirmed_through: int = 0


class SequenceSender:
    def __init__(
        self,
        *,
        l1: L1Sequencing,
        tx_manager: TxManager,
        batches: ClosedBatches,
        forced_batches: ForcedBatches,
        alarms: AlarmBoard,
        metrics: SequenceSenderMetrics,
        log: EventLogger,
        settings: SenderSettings,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._l1 = l1
        self._txm = tx_manager
        self._batches = batches
        self._forced = forced_batches
        self._alarms = alarms
        self._metrics = metrics
        self._log = log
        self.settings = settings
        self._clock = clock
        self._monotonic = monotonic
        self._state: _Recovered | None = None
        self._pending_add: _PendingAdd | None = None
        #: (first batch number of the candidate, when it was first seen waiting)
        self._waiting_since: tuple[int, float] | None = None
        self.last_batch_sequenced_l1: int | None = None
        self.last_wait: WaitReason | None = None

    # -- status -----------------------------------------------------------------------------------

    @property
    def in_flight(self) -> list[InFlight]:
        if self._state is None:
            return []
        return sorted(self._state.in_flight.values(), key=lambda f: f.range.first)

    # -- the loop ---------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        while not stop.is_set():
            pause = self.settings.interval_s
            try:
                result = await self.tick()
                if result.sent is not None:
                    pause = 0.0  # there may be more to send at once
            except (L1Unavailable, TxManagerUnavailable, StateDBError, OSError) as exc:
                self._waited(WaitReason.UNAVAILABLE)
                self._log.warning("sequence_sender_retry", error=str(exc), error_type=type(exc).__name__)
            except Exception as exc:  # a bug or an answer nobody expected: log it, keep going
                self._log.exception("sequence_sender_error", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)

    async def tick(self) -> TickResult:
        if self._state is None:
            self._state = await self._recover()
        state = self._state
        if self._alarms.stopped:
            # nothing is sent any more; what is on its way is still followed, for the status
            await self._refresh(state)
            return self._wait(WaitReason.ALARM)
        if self._pending_add is not None:
            return await self._add(self._pending_add)
        await self._refresh(state)
        if len(state.in_flight) >= self.settings.max_in_flight:
            return self._wait(WaitReason.IN_FLIGHT_FULL)

        sequenced = await self._sequenced_state()
        self.last_batch_sequenced_l1 = sequenced.last_batch_sequenced
        if not await self._l1_agrees(sequenced):
            return self._wait(WaitReason.ALARM)
        if sequenced.last_batch_sequenced < state.confirmed_through:
            return self._wait(
                WaitReason.L1_BEHIND,
                f"L1 shows batch {sequenced.last_batch_sequenced} sequenced, but the sequence up to batch "
                f"{state.confirmed_through} is confirmed",
            )
        after = max(
            sequenced.last_batch_sequenced,
            state.confirmed_through,
            max((f.range.last for f in state.in_flight.values()), default=0),
        )
        closed = await asyncio.to_thread(
            self._batches.closed_batches_after, after, self.settings.limits.max_batches
        )
        if not closed:
            self._waiting_since = None
            return self._wait(WaitReason.NO_CLOSED_BATCHES)
        numbered: list[NumberedBatch] = []
        for batch in closed:
            if batch.coinbase != self.settings.l2_coinbase:
                # one l2Coinbase per sequence, and it is in every accInputHash: sending this batch
                # with the configured one would give L1 a hash that is not the batch's
                if not numbered:
                    self._log.error(
                        "batch_coinbase_not_l2_coinbase",
                        batch_number=batch.number,
                        coinbase="0x" + batch.coinbase.hex(),
                        l2_coinbase="0x" + self.settings.l2_coinbase.hex(),
                    )
                    return self._wait(WaitReason.COINBASE_MISMATCH, f"batch {batch.number}")
                break
            data = await self._batch_data(batch)
            if data is None:
                if not numbered:
                    return self._wait(
                        WaitReason.FORCED_BATCH_UNKNOWN,
                        f"batch {batch.number} carries forced batch {batch.forced_batch_number}, "
                        "which the StateDB does not hold (L1 reorganised?)",
                    )
                break
            if data.is_forced and state.in_flight:
                if not numbered:
                    return self._wait(WaitReason.FORCED_WAITS_FOR_IN_FLIGHT)
                break
            numbered.append(NumberedBatch(batch.number, data))
        latest = await self._l1.latest_header()
        packing = pack(numbered, first=after + 1, limits=self.settings.limits, l1_timestamp=latest.timestamp)
        if not packing.batches:
            reason = _EMPTY_PACKING_WAITS[packing.stop]
            if reason is WaitReason.BATCH_TOO_LARGE:
                self._log.error(
                    "batch_cannot_be_sequenced", batch_number=after + 1, reason=packing.stop.value
                )
            return self._wait(reason, f"batch {after + 1}: {packing.stop.value}")
        if not packing.full and not self._waited_enough(packing.first):
            return self._wait(WaitReason.PARTIAL_SEQUENCE)
        return await self._send(packing, state)

    # -- steps ------------------------------------------------------------------------------------

    async def _recover(self) -> _Recovered:
        """What the EthTxManager holds of this owner: in flight, failed, confirmed."""
        recovered = _Recovered()
        for tx in await self._txm.list([*IN_FLIGHT_STATUSES, TxStatus.CONFIRMED, TxStatus.FAILED]):
            parsed = parse_sequence_id(tx.id)
            if parsed is None:
                continue
            first, last, _ = parsed
            if tx.status in IN_FLIGHT_STATUSES:
                recovered.in_flight[tx.id] = InFlight(SequenceRange(tx.id, first, last), tx.status)
            elif tx.status is TxStatus.FAILED:
                recovered.failed_ids.add(tx.id)
            else:
                recovered.confirmed_through = max(recovered.confirmed_through, last)
        self._metrics.in_flight.set(len(recovered.in_flight))
        self._log.info(
            "sequence_sender_recovered",
            in_flight=sorted(recovered.in_flight),
            failed=len(recovered.failed_ids),
            confirmed_through=recovered.confirmed_through,
        )
        return recovered

    async def _refresh(self, state: _Recovered) -> None:
        for id_, flight in list(state.in_flight.items()):
            result = await self._txm.result(id_)
            if result is None:
                self._log.warning("sequence_unknown_to_ethtxmanager", id=id_)
                del state.in_flight[id_]
            elif result.status is TxStatus.CONFIRMED:
                del state.in_flight[id_]
                state.confirmed_through = max(state.confirmed_through, flight.range.last)
                self._log.info(
                    "sequence_confirmed",
                    id=id_,
                    first=flight.range.first,
                    last=flight.range.last,
                    l1_block=result.block_number,
                    gas_used=result.gas_used,
                )
            elif result.status is TxStatus.FAILED:
                del state.in_flight[id_]
                state.failed_ids.add(id_)
                self._metrics.sequences_failed.inc()
                self._log.error(
                    "sequence_failed",
                    id=id_,
                    first=flight.range.first,
                    last=flight.range.last,
                    revert_reason=result.revert_reason,
                    error=result.error,
                    l1_tx_hash="0x" + result.mined_tx_hash.hex() if result.mined_tx_hash else None,
                )
            elif result.status is not flight.status:
                state.in_flight[id_] = InFlight(flight.range, result.status)
        self._metrics.in_flight.set(len(state.in_flight))

    async def _sequenced_state(self) -> SequencedState:
        state = await self._l1.sequenced_state()
        if state.last_batch_sequenced > 0 and state.acc_input_hash == ZERO_HASH:
            # the contract never stores a zero hash at the end of a sequence: the node answered
            # from a state it had not finished writing
            raise L1Unavailable(
                f"L1 block {state.block_number}: no accInputHash at lastBatchSequenced "
                f"{state.last_batch_sequenced}"
            )
        return state

    async def _l1_agrees(self, sequenced: SequencedState) -> bool:
        """L1's accInputHash at its last sequenced batch is the one zkseq stored (else: the alarm).

        A disagreement is read again from a fresh L1 block before it stops anything."""
        last, l1_acc = sequenced.last_batch_sequenced, sequenced.acc_input_hash
        if last == 0:
            return True
        local = await asyncio.to_thread(self._batches.get_batch, last)
        mine = local.acc_input_hash if local is not None and local.closed else None
        if mine == l1_acc:
            return True
        again = await self._sequenced_state()
        if again.last_batch_sequenced != last or again.acc_input_hash != l1_acc:
            self._log.warning(
                "l1_read_changed",
                first_block=sequenced.block_number,
                second_block=again.block_number,
                last_batch_sequenced=again.last_batch_sequenced,
            )
            return True  # L1 moved: the next round looks again
        kind = AlarmKind.UNKNOWN_BATCH if mine is None else AlarmKind.ACC_INPUT_HASH_MISMATCH
        self._alarms.raise_alarm(
            Alarm(
                kind=kind,
                batch_number=last,
                local_hash=mine,
                l1_hash=l1_acc,
                l1_block_number=sequenced.block_number,
                l1_tx_hash=None,
                message=(
                    f"L1's accInputHash at its last sequenced batch {last} "
                    + ("is for a batch zkseq has not closed" if mine is None else "differs from zkseq's")
                ),
                raised_at=self._clock(),
            )
        )
        return False

    async def _batch_data(self, batch: Batch) -> BatchData | None:
        min_forced_timestamp = 0
        if batch.forced_batch_number is not None:
            forced = await asyncio.to_thread(self._forced.get, batch.forced_batch_number)
            if forced is None:
                return None
            min_forced_timestamp = forced.timestamp
        return BatchData(
            transactions=batch.batch_l2_data,
            global_exit_root=batch.global_exit_root,
            timestamp=batch.timestamp,
            min_forced_timestamp=min_forced_timestamp,
        )

    def _waited_enough(self, first: int) -> bool:
        now = self._monotonic()
        if self._waiting_since is None or self._waiting_since[0] != first:
            self._waiting_since = (first, now)
        return now - self._waiting_since[1] >= self.settings.partial_sequence_wait_s

    async def _send(self, packing: Packing, state: _Recovered) -> TickResult:
        coinbase = self.settings.l2_coinbase
        while True:
            data = encode_sequence_batches(packing.batches, coinbase)
            try:
                estimate = await self._l1.estimate_gas(data)
            except (RollupRevert, GasEstimateFailed) as exc:
                name = exc.name if isinstance(exc, RollupRevert) else "GasEstimateFailed"
                self._metrics.estimate_reverts.labels(name if isinstance(exc, RollupRevert) else "node").inc()
                if len(packing.batches) > 1:
                    half = packing.prefix(len(packing.batches) // 2)
                    self._log.info(
                        "sequence_split",
                        first=packing.first,
                        last=packing.last,
                        new_last=half.last,
                        error=name,
                        detail=str(exc),
                    )
                    packing = half
                    continue
                self._log.warning(
                    "sequence_estimate_reverted", batch_number=packing.first, error=name, detail=str(exc)
                )
                return self._wait(WaitReason.ESTIMATE_REVERTED, f"batch {packing.first}: {name}")
            gas_limit = self.settings.gas_limit(estimate)
            if gas_limit > self.settings.max_sequence_gas and len(packing.batches) > 1:
                packing = packing.prefix(len(packing.batches) // 2)
                continue
            break
        attempt = 0
        while sequence_id(packing.first, packing.last, attempt) in state.failed_ids:
            attempt += 1
        range_ = SequenceRange(sequence_id(packing.first, packing.last, attempt), packing.first, packing.last)
        self._metrics.sequence_bytes.observe(len(data))
        self._metrics.sequence_gas.observe(gas_limit)
        return await self._add(_PendingAdd(range_, data, gas_limit, len(packing.batches)))

    async def _add(self, pending: _PendingAdd) -> TickResult:
        assert self._state is not None
        state = self._state
        if self._alarms.stopped:
            # raised by the watcher while this round was reading L1 and packing: nothing more goes out
            self._pending_add = None
            return self._wait(WaitReason.ALARM)
        self._pending_add = pending
        try:
            added = await self._txm.add(
                id=pending.range.id,
                to=self.settings.rollup_address,
                data=pending.data,
                gas_limit=pending.gas_limit,
            )
        except TxIdConflict as exc:
            self._pending_add = None
            self._log.error("sequence_id_conflict", id=pending.range.id, error=str(exc))
            return self._wait(WaitReason.ID_CONFLICT, str(exc))
        # an answer came: the outcome is known
        self._pending_add = None
        if added.outcome is AddOutcome.REVERTED:
            label = added.revert_reason if added.revert_reason in CUSTOM_ERRORS else "other"
            self._metrics.estimate_reverts.labels(label).inc()
            self._log.warning("sequence_add_reverted", id=pending.range.id, error=added.revert_reason)
            return self._wait(WaitReason.ESTIMATE_REVERTED, added.revert_reason)
        if added.outcome is AddOutcome.ALREADY_ADDED:
            known = await self._txm.result(pending.range.id)
            if known is not None and not self._track_existing(state, pending.range, known):
                reason = (
                    WaitReason.SEQUENCE_FAILED if known.status is TxStatus.FAILED else WaitReason.L1_BEHIND
                )
                return self._wait(reason, f"{pending.range.id} is {known.status.value}")
        state.in_flight[pending.range.id] = InFlight(pending.range, TxStatus.CREATED)
        self._waiting_since = None
        self._metrics.in_flight.set(len(state.in_flight))
        self._metrics.sequences_sent.inc()
        self._metrics.batches_sent.inc(pending.batches)
        self._metrics.sequence_batches.observe(pending.batches)
        self._log.info(
            "sequence_sent",
            id=pending.range.id,
            first=pending.range.first,
            last=pending.range.last,
            batches=pending.batches,
            calldata_bytes=len(pending.data),
            gas_limit=pending.gas_limit,
            outcome=added.outcome.value,
        )
        self.last_wait = None
        return TickResult(sent=pending.range)

    def _track_existing(self, state: _Recovered, range_: SequenceRange, known: TxResult) -> bool:
        """An Add found the id stored already: True if it is on its way (track it)."""
        if known.status in IN_FLIGHT_STATUSES:
            return True
        if known.status is TxStatus.FAILED:
            state.failed_ids.add(range_.id)  # the next tick packs it again under a new id
        else:
            state.confirmed_through = max(state.confirmed_through, range_.last)
        return False

    def _wait(self, reason: WaitReason, detail: str = "") -> TickResult:
        self._waited(reason)
        if detail:
            self._log.debug("sequence_sender_waits", reason=reason.value, detail=detail)
        return TickResult(wait=reason, detail=detail)

    def _waited(self, reason: WaitReason) -> None:
        self.last_wait = reason
        self._metrics.waits.labels(reason.value).inc()

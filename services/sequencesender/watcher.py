"""The L1 watcher: what the rollup contract says, written into the StateDB.

    every POLL_INTERVAL_S                                     (one asyncio task in this process)
      1. is the newest L1 block we recorded still canonical?   no → rewind (below), start again
      2. read [next, min(head − CONFIRMATIONS, next + MAX_BLOCKS_PER_READ − 1)]:
         the end block's hash, the rollup's events, the header of every block with events
      3. per block, in order, one StateDB transaction (`L1BlockRepository.add`):
           SequenceBatches / SequenceForceBatches → virtual batches, each accInputHash checked
           VerifyBatchesTrustedAggregator          → verified batches (last verified + 1 .. numBatch)
           ForceBatch                              → a forced batch for the sequencer, its
                                                     transactions from the event or, when the event
                                                     carries none (an EOA forced it), from the calldata;
                                                     its minForcedTimestamp is the block's timestamp
      4. record the end block too (so the next poll starts after it), unless its hash changed
         while we read (then the next poll finds out why)

Why in the sequence sender's process: the watcher's verdict gates the sender (an accInputHash
mismatch must stop the very next send, not a poll of some table later), both read the same L1 node,
rollup and StateDB with the same settings, and one status RPC reports both. It is still its own
component with its own loop, so it could move into a process of its own (a synchronizer) unchanged.

Reorgs of the watcher's view
----------------------------
Every L1 fact in the StateDB points at the L1 block it came from, and blocks are recorded with their
hash. When the newest recorded block is no longer canonical (or a block's parent hash does not match
the recorded block below it), the watcher looks for the fork point — the newest recorded block that
is still canonical: first among the last REMEMBERED blocks it keeps in memory, then down the
StateDB's recorded blocks for at most MAX_REORG_DEPTH block numbers — and deletes every block above
it with every batch row read from them (`delete_from`, one transaction), then reads L1 again from
there. Found nowhere, it deletes from START_BLOCK and reads everything again.

Reads race reorgs: a log whose block hash differs from the header read after it, or an end block
whose hash changed between the first and the last read of the poll, means L1 moved during the
poll; what was read is dropped (or, for blocks already written, checked by step 1 of the next poll).
A reorg replaces a suffix of the chain, so if the end block kept its hash, every block below it did.

Which batches become virtual: see checks.py. Rows are written only for batches whose accInputHash
L1 and zkseq agree on; the first disagreement raises the alarm that stops the sender.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eth_abi.exceptions import DecodingError

from services.common.l1.rollup import (
    FORK_ID,
    ZERO_HASH,
    CalldataError,
    ForceBatchEvent,
    RollupEvent,
    SequenceBatchesEvent,
    SequenceForceBatchesEvent,
    UpdateZkEVMVersionEvent,
    VerifyBatchesTrustedAggregatorEvent,
    decode_force_batch,
    decode_sequence_batches,
    decode_sequence_force_batches,
)
from services.common.logs import EventLogger
from services.common.statedb.errors import StateConflict, StateDBError
from services.common.statedb.models import ForcedBatch, L1Block, StateRoot, VerifiedBatch, VirtualBatch
from services.sequencesender.alarms import AlarmBoard
from services.sequencesender.checks import (
    L1BatchInput,
    L1Sequence,
    SequenceCheck,
    acc_input_hashes_of_contents,
    chain_acc_input_hashes,
    check_sequence,
)
from services.sequencesender.metrics import SequenceSenderMetrics
from services.sequencesender.models import Alarm, AlarmKind, L1Header, L1Tx
from services.sequencesender.ports import (
    ClosedBatches,
    L1Blocks,
    L1Reader,
    L1Unavailable,
    VerifiedBatches,
    VirtualBatches,
)
from zkevm.batch import Hash32
from zkevm.state_keys import Address


@dataclass(frozen=True, slots=True)
class WatcherSettings:
    #: the first L1 block to read (the rollup's deployment block)
    start_block: int = 0
    #: read only blocks at least this deep under the head (0: up to the head)
    confirmations: int = 0
    max_blocks_per_read: int = 1_000
    #: how far below the newest recorded block a fork point is searched for in the StateDB
    max_reorg_depth: int = 256
    #: recorded blocks kept in memory to find a fork point without reading the StateDB
    remembered_blocks: int = 128
    poll_interval_s: float = 1.0

    def __post_init__(self) -> None:
        for name in ("start_block", "confirmations", "max_reorg_depth"):
            if getattr(self, name) < 0:
                raise ValueError(f"WatcherSettings.{name} must not be negative")
        if self.max_blocks_per_read < 1 or self.remembered_blocks < 1:
            raise ValueError("WatcherSettings.max_blocks_per_read and remembered_blocks must be positive")
        if self.poll_interval_s <= 0:
            raise ValueError("WatcherSettings.poll_interval_s must be positive")


@dataclass(slots=True)
class PollResult:
    """What one poll did."""

    #: blocks recorded (with events or as the end of the range)
    recorded: int = 0
    #: the newest L1 block the watcher reached (recorded), None before any
    last_block: int | None = None
    #: a reorg was found and rewound
    reorg: bool = False
    #: L1 changed during the poll; nothing (more) was recorded
    raced: bool = False
    #: there are more blocks to read up to the target: poll again at once
    behind: bool = False


@dataclass(slots=True)
class _BlockRows:
    virtual: list[VirtualBatch] = field(default_factory=list)
    verified: list[VerifiedBatch] = field(default_factory=list)
    forced: list[ForcedBatch] = field(default_factory=list)
    #: raised once the block is recorded (not for a block dropped because L1 moved)
    alarms: list[Alarm] = field(default_factory=list)


class _Raced(Exception):
    """L1 changed under the poll."""


class L1Watcher:
    def __init__(
        self,
        *,
        l1: L1Reader,
        l1_blocks: L1Blocks,
        batches: ClosedBatches,
        virtual_batches: VirtualBatches,
        verified_batches: VerifiedBatches,
        alarms: AlarmBoard,
        metrics: SequenceSenderMetrics,
        log: EventLogger,
        settings: WatcherSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._l1 = l1
        self._blocks = l1_blocks
        self._batches = batches
        self._virtual = virtual_batches
        self._verified = verified_batches
        self._alarms = alarms
        self._metrics = metrics
        self._log = log
        self._settings = settings
        self._clock = clock
        self._remembered: collections.deque[L1Block] = collections.deque(maxlen=settings.remembered_blocks)
        self._started = False
        #: the newest verified batch number as recorded, while a poll runs
        self._last_verified = 0
        self.last_block: int | None = None
        self.last_virtual_batch: int | None = None
        self.last_verified_batch: int | None = None

    # -- the loop -------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Poll until cancelled (or `stop` is set); errors are logged and retried after a pause."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            pause = self._settings.poll_interval_s
            try:
                result = await self.poll_once()
                if result.behind or result.reorg:
                    pause = 0.0
            except (L1Unavailable, StateDBError, OSError) as exc:
                self._log.warning("l1_watcher_retry", error=str(exc), error_type=type(exc).__name__)
            except Exception as exc:  # a bug or an answer nobody expected: log it, keep watching
                self._log.exception("l1_watcher_error", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)

    async def poll_once(self) -> PollResult:
        result = PollResult()
        if not self._started:
            await self._load()
        latest = await asyncio.to_thread(self._blocks.latest)
        if latest is not None:
            canonical = await self._l1.header(latest.number)
            if canonical is None or canonical.hash != latest.hash:
                await self._rewind(latest)
                result.reorg = True
                return result
            start = max(latest.number + 1, self._settings.start_block)
        else:
            start = self._settings.start_block
        result.last_block = None if latest is None else latest.number

        target = await self._l1.head_number() - self._settings.confirmations
        if start > target:
            return result
        end = min(target, start + self._settings.max_blocks_per_read - 1)
        result.behind = end < target

        end_header = await self._l1.header(end)
        if end_header is None:
            result.raced = True
            return result
        events = await self._l1.rollup_events(start, end)
        by_block: dict[int, list[RollupEvent]] = collections.defaultdict(list)
        for event in events:
            by_block[event.position.block_number].append(event)
        last_verified = await asyncio.to_thread(self._verified.last_verified_batch_number)
        self._last_verified = last_verified or 0

        try:
            for number in sorted(by_block):
                header = end_header if number == end else await self._l1.header(number)
                block_events = by_block[number]
                if header is None or any(e.position.block_hash != header.hash for e in block_events):
                    raise _Raced(f"block {number} changed while it was read")
                rows = await self._rows(header, block_events)
                if not await self._record(header, rows):
                    result.reorg = True
                    return result
                result.recorded += 1
                result.last_block = number
            again = await self._l1.header(end)
            if again is None or again.hash != end_header.hash:
                raise _Raced(f"block {end} changed while the range was read")
        except _Raced as exc:
            self._log.info("l1_read_raced_reorg", reason=str(exc))
            result.raced = True
            result.behind = True
            return result
        if end not in by_block:
            if not await self._record(end_header, _BlockRows()):
                result.reorg = True
                return result
            result.recorded += 1
            result.last_block = end
        return result

    # -- state ------------------------------------------------------------------------------------

    async def _load(self) -> None:
        latest = await asyncio.to_thread(self._blocks.latest)
        if latest is not None:
            self._remembered.append(latest)
            self.last_block = latest.number
            self._metrics.last_l1_block.set(latest.number)
        await self.refresh_batch_numbers()
        self._started = True

    async def refresh_batch_numbers(self) -> None:
        """Re-read the newest virtual and verified batch numbers (after a start or a reorg)."""
        self.last_virtual_batch = await asyncio.to_thread(self._virtual.last_virtual_batch_number)
        self.last_verified_batch = await asyncio.to_thread(self._verified.last_verified_batch_number)
        self._metrics.last_virtual_batch.set(self.last_virtual_batch or 0)
        self._metrics.last_verified_batch.set(self.last_verified_batch or 0)

    async def _record(self, header: L1Header, rows: _BlockRows) -> bool:
        """Write one block with its rows; False if its parent is not the recorded block below
        (then the view has been rewound)."""
        block = L1Block(header.number, header.hash, header.parent_hash)
        try:
            await asyncio.to_thread(
                self._blocks.add,
                block,
                virtual_batches=rows.virtual,
                verified_batches=rows.verified,
                forced_batches=rows.forced,
            )
        except StateConflict:
            latest = await asyncio.to_thread(self._blocks.latest)
            if latest is None or header.number != latest.number + 1 or header.parent_hash == latest.hash:
                raise  # not a reorg: another writer, or a row L1 cannot have produced twice
            self._log.warning(
                "l1_parent_mismatch",
                block=header.number,
                parent_hash="0x" + header.parent_hash.hex(),
                recorded_hash="0x" + latest.hash.hex(),
            )
            await self._rewind(latest)
            return False
        self._remembered.append(block)
        for alarm in rows.alarms:
            self._alarms.raise_alarm(alarm)
        self.last_block = header.number
        self._metrics.last_l1_block.set(header.number)
        if rows.virtual:
            self.last_virtual_batch = max(self.last_virtual_batch or 0, rows.virtual[-1].batch_number)
            self._metrics.last_virtual_batch.set(self.last_virtual_batch)
        if rows.verified:
            self.last_verified_batch = max(self.last_verified_batch or 0, rows.verified[-1].batch_number)
            self._metrics.last_verified_batch.set(self.last_verified_batch)
        if rows.virtual or rows.verified or rows.forced:
            self._log.info(
                "l1_block_recorded",
                block=header.number,
                virtual_first=rows.virtual[0].batch_number if rows.virtual else None,
                virtual_last=rows.virtual[-1].batch_number if rows.virtual else None,
                verified=len(rows.verified),
                forced=[r.forced_batch_number for r in rows.forced],
            )
        return True

    # -- reorgs -----------------------------------------------------------------------------------

    async def _rewind(self, stale: L1Block) -> None:
        fork = await self._fork_point(stale)
        delete_from = self._settings.start_block if fork is None else fork + 1
        deletion = await asyncio.to_thread(self._blocks.delete_from, delete_from)
        while self._remembered and self._remembered[-1].number >= delete_from:
            self._remembered.pop()
        self._metrics.l1_reorgs.inc()
        latest = await asyncio.to_thread(self._blocks.latest)
        self.last_block = None if latest is None else latest.number
        self._metrics.last_l1_block.set(self.last_block or 0)
        await self.refresh_batch_numbers()
        self._log.warning(
            "l1_reorg",
            stale_block=stale.number,
            fork_point=fork,
            deleted_from=delete_from,
            l1_blocks=deletion.l1_blocks,
            virtual_batches=deletion.virtual_batches,
            verified_batches=deletion.verified_batches,
            forced_batches=deletion.forced_batches,
        )

    async def _fork_point(self, stale: L1Block) -> int | None:
        """The newest recorded block below the stale one that is still canonical."""

        async def canonical(block: L1Block) -> bool:
            header = await self._l1.header(block.number)
            return header is not None and header.hash == block.hash

        lowest = stale.number
        for block in reversed(self._remembered):
            if block.number >= stale.number:
                continue
            if await canonical(block):
                return block.number
            lowest = min(lowest, block.number)
        floor = max(self._settings.start_block, stale.number - self._settings.max_reorg_depth)
        for number in range(lowest - 1, floor - 1, -1):
            recorded = await asyncio.to_thread(self._blocks.get, number)
            if recorded is not None and await canonical(recorded):
                return number
        return None

    # -- events -----------------------------------------------------------------------------------

    async def _rows(self, header: L1Header, events: Sequence[RollupEvent]) -> _BlockRows:
        rows = _BlockRows()
        for event in events:
            if isinstance(event, SequenceBatchesEvent | SequenceForceBatchesEvent):
                self._metrics.l1_events.labels("sequence").inc()
                check = await self._sequence(header, event)
                rows.virtual.extend(check.virtual)
                if check.alarm is not None:
                    rows.alarms.append(check.alarm)
            elif isinstance(event, ForceBatchEvent):
                self._metrics.l1_events.labels("force").inc()
                rows.forced.append(await self._forced(header, event))
            elif isinstance(event, VerifyBatchesTrustedAggregatorEvent):
                self._metrics.l1_events.labels("verify").inc()
                rows.verified.extend(await self._verified_rows(header, event, rows.alarms))
            elif isinstance(event, UpdateZkEVMVersionEvent) and event.fork_id != FORK_ID:
                self._log.error(
                    "l1_unexpected_fork_id", fork_id=event.fork_id, expected=FORK_ID, block=header.number
                )
        return rows

    async def _sequence(
        self, header: L1Header, event: SequenceBatchesEvent | SequenceForceBatchesEvent
    ) -> SequenceCheck:
        stored = await self._l1.sequenced_batch(event.num_batch, header.number)
        if stored.acc_input_hash == ZERO_HASH:
            # the contract stores a hash at the end of every sequence: the node's state at that
            # block is not (or no longer) the one that emitted the event
            raise _Raced(f"no accInputHash at batch {event.num_batch} in block {header.number}")
        previous = stored.previous_last_batch_sequenced
        start = await self._l1.sequenced_batch(previous, header.number)
        tx = await self._l1.transaction(event.position.transaction_hash)
        first, last = previous + 1, event.num_batch
        accs = _acc_input_hashes_from_calldata(
            event,
            tx,
            header,
            start=start.acc_input_hash,
            end=stored.acc_input_hash,
            count=last - first + 1,
        )
        local = await asyncio.to_thread(lambda: [self._batches.get_batch(n) for n in range(first, last + 1)])
        if accs is None:
            accs = acc_input_hashes_of_contents(start.acc_input_hash, local, stored.acc_input_hash)
            self._log.warning(
                "l1_sequence_calldata_not_decoded",
                tx_hash="0x" + tx.hash.hex(),
                first=first,
                last=last,
                checked_by="local contents" if accs is not None else "end hash only",
            )
        sequence = L1Sequence(
            first=first,
            last=last,
            end_acc_input_hash=stored.acc_input_hash,
            acc_input_hashes=accs,
            l1_block_number=header.number,
            l1_tx_hash=event.position.transaction_hash,
            sender=tx.sender,
        )
        return check_sequence(sequence, local, self._clock())

    async def _forced(self, header: L1Header, event: ForceBatchEvent) -> ForcedBatch:
        transactions = event.transactions
        if not transactions:
            tx = await self._l1.transaction(event.position.transaction_hash)
            with contextlib.suppress(CalldataError, DecodingError):
                transactions, _ = decode_force_batch(tx.input)
        return ForcedBatch(
            forced_batch_number=event.force_batch_num,
            global_exit_root=event.last_global_exit_root,
            timestamp=header.timestamp,
            batch_l2_data=transactions,
            sender=event.sequencer,
            l1_block_number=header.number,
        )

    async def _verified_rows(
        self, header: L1Header, event: VerifyBatchesTrustedAggregatorEvent, alarms: list[Alarm]
    ) -> list[VerifiedBatch]:
        first, last = self._last_verified + 1, event.num_batch
        if last < first:
            return []
        local = await asyncio.to_thread(lambda: [self._batches.get_batch(n) for n in range(first, last + 1)])
        final = local[-1]
        if final is not None and final.closed and bytes(final.state_root or b"") != event.state_root:
            assert final.state_root is not None
            alarms.append(
                Alarm(
                    kind=AlarmKind.STATE_ROOT_MISMATCH,
                    batch_number=last,
                    local_hash=Hash32(final.state_root),
                    l1_hash=event.state_root,
                    l1_block_number=header.number,
                    l1_tx_hash=event.position.transaction_hash,
                    message=f"L1 verified batch {last} with a state root that differs from zkseq's",
                    raised_at=self._clock(),
                )
            )
        rows = []
        for offset, batch in enumerate(local):
            number = first + offset
            # L1 states only the final root; the proof covers the batches before it, whose roots are
            # the ones zkseq computed (when it has them)
            known = batch.state_root if batch is not None and batch.closed and number != last else None
            rows.append(
                VerifiedBatch(
                    batch_number=number,
                    l1_tx_hash=event.position.transaction_hash,
                    l1_block_number=header.number,
                    state_root=known if known is not None else StateRoot(event.state_root),
                    aggregator=event.aggregator,
                )
            )
        self._last_verified = last
        return rows


def _acc_input_hashes_from_calldata(
    event: SequenceBatchesEvent | SequenceForceBatchesEvent,
    tx: L1Tx,
    header: L1Header,
    *,
    start: Hash32,
    end: Hash32,
    count: int,
) -> tuple[Hash32, ...] | None:
    """Every batch's accInputHash, recomputed from the sequencing transaction's calldata; None when
    the calldata is not that call (a contract in between) or does not lead to L1's stored end hash."""
    try:
        if isinstance(event, SequenceBatchesEvent):
            batches, coinbase = decode_sequence_batches(tx.input)
            inputs = [L1BatchInput(b.transactions, b.global_exit_root, b.timestamp) for b in batches]
        else:
            forced = decode_sequence_force_batches(tx.input)
            # sequenceForceBatches hashes the block's timestamp and the caller as the sequencer
            inputs = [L1BatchInput(b.transactions, b.global_exit_root, header.timestamp) for b in forced]
            coinbase = Address(tx.sender)
    except (CalldataError, DecodingError, ValueError):
        return None
    if len(inputs) != count:
        return None
    hashes = chain_acc_input_hashes(start, inputs, coinbase)
    return hashes if hashes[-1] == end else None

"""The values the finalizer hands to the recorder, the open batch it builds, and what both share.

Finalizer ──BlockJob──▶ ┌──────────────┐   in order: wait for the HashDB flush, write the
          ──CloseJob──▶ │   JobQueue   │──▶ block(s) to the StateDB, mark them included in the
          ──ForcedJob─▶ └──────────────┘   pool; re-execute and close a batch; write a forced
                                           batch
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, TypeAlias

from services.common.statedb.models import Batch
from services.sequencer.limits import BatchLimits, BatchUsage, CloseReason
from services.sequencer.ports import BlockParts, ExecRequest

ZERO_32: Final = bytes(32)


class SequencerHalted(Exception):
    """The sequencer must stop: continuing could write a state the prover or L1 would refuse.

    Raised by the finalizer or the recorder; the supervisor stops both, reports NOT_SERVING and the
    reason, and the process exits with a non-zero code.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SequencerSettings:
    chain_id: int
    coinbase: bytes
    global_exit_root: bytes = ZERO_32
    limits: BatchLimits = field(default_factory=BatchLimits)
    #: a non-empty batch closes once it is this old (zkevm-node TimestampResolution)
    batch_time_limit_s: float = 10.0
    #: wait for new transactions when the pool has none ready (zkevm-node SleepDuration)
    poll_interval_s: float = 0.1
    #: ready transactions read per pool call
    fetch_limit: int = 64
    #: transactions pre-executed together in one ProcessBatch call at most (finalizer.py: groups);
    #: a group is what is ready, so at low load it is one transaction
    max_group_txs: int = 32
    #: executed transactions not yet in the StateDB before the finalizer waits
    max_in_flight: int = 1024
    #: blocks written in one StateDB transaction at most
    max_blocks_per_write: int = 64
    #: a transaction refused for its balance is left aside this long before it is tried again
    balance_retry_s: float = 5.0
    #: forced batches: how often the StateDB is asked, and how deep in L1 they must be
    forced_batch_check_s: float = 10.0
    forced_batch_finality_blocks: int = 64
    #: backoff of retried calls (executor, pool, StateDB, HashDB): doubling, with jitter
    retry_initial_s: float = 0.05
    retry_max_s: float = 5.0
    #: how often the recorder asks for the flush status when no executor answer brought it
    flush_poll_s: float = 0.01
    #: on shutdown, time given to the recorder to write what is already executed
    drain_timeout_s: float = 10.0


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until `event` is set or `timeout_s` passes; True if it was set.

    Not `asyncio.wait_for(event.wait(), …)`: on Python 3.11 a cancellation that arrives just as the
    inner wait completes can be swallowed by wait_for, and a loop around it then never stops.
    """
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        done, _ = await asyncio.wait({waiter}, timeout=timeout_s)
    finally:
        waiter.cancel()
    return bool(done)


class Backoff:
    """Doubling delays with ±20 % jitter, from `initial_s` up to `max_s`."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.delay_s = initial_s
        self.attempts = 0

    async def wait(self) -> None:
        self.attempts += 1
        await asyncio.sleep(self.delay_s * random.uniform(0.8, 1.2))
        self.delay_s = min(self.delay_s * 2, self.max_s)


@dataclass(slots=True)
class OpenBatch:
    """The batch the finalizer is filling (in memory; the StateDB has it once its first block is written)."""

    number: int
    timestamp: int
    global_exit_root: bytes
    #: the state root before its first transaction
    start_root: bytes
    #: the previous batch's accInputHash
    old_acc_input_hash: bytes
    usage: BatchUsage = field(default_factory=BatchUsage)
    records: list[bytes] = field(default_factory=list)
    tx_roots: list[bytes] = field(default_factory=list)
    tx_hashes: list[bytes] = field(default_factory=list)
    #: monotonic time its first transaction was included (None while empty)
    started_at: float | None = None
    #: whether a block of it has been handed to the recorder (or it was found open in the StateDB)
    in_statedb: bool = False
    local_exit_root: bytes = ZERO_32

    @property
    def empty(self) -> bool:
        return self.usage.txs == 0

    @property
    def batch_l2_data(self) -> bytes:
        return b"".join(self.records)


@dataclass(slots=True)
class BlockJob:
    """An included transaction: write its block once its flush is stored."""

    batch_number: int
    #: the batch to open with this block (its first), or None
    opening: Batch | None
    parts: BlockParts
    sender: bytes
    nonce: int
    #: what was executed, to execute it again if the executor restarted before the flush was stored
    request: ExecRequest
    flush_id: int
    prover_id: str

    @property
    def tx_hash(self) -> bytes:
        return self.parts[1].hash

    @property
    def state_root(self) -> bytes:
        return self.parts[0].state_root


@dataclass(slots=True)
class CloseJob:
    """Close a batch: re-execute it whole (update_merkle_tree off), compare, write the roots."""

    number: int
    reason: CloseReason
    request: ExecRequest
    tx_roots: tuple[bytes, ...]
    tx_hashes: tuple[bytes, ...]
    state_root: bytes
    local_exit_root: bytes
    acc_input_hash: bytes
    #: the finalizer's estimate, compared with the exact counters in the logs
    usage: BatchUsage


@dataclass(slots=True)
class ForcedJob:
    """A forced batch executed in one call: write it, closed, once its flush is stored."""

    batch: Batch
    blocks: list[BlockParts]
    senders: list[tuple[bytes, int]]
    request: ExecRequest
    flush_id: int
    prover_id: str

    @property
    def state_root(self) -> bytes:
        assert self.batch.state_root is not None
        return self.batch.state_root


Job: TypeAlias = BlockJob | CloseJob | ForcedJob


class JobQueue:
    """An ordered queue with room for `capacity` jobs; the consumer may look at what is queued."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque[Job] = deque()
        self._changed = asyncio.Condition()

    def __len__(self) -> int:
        return len(self._items)

    def snapshot(self) -> Sequence[Job]:
        return tuple(self._items)

    async def put(self, job: Job) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._items) < self.capacity)
            self._items.append(job)
            self._changed.notify_all()

    async def peek(self) -> Job:
        """The first job, left in the queue (the recorder removes it once it is done)."""
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._items))
            return self._items[0]

    def head(self, limit: int) -> list[Job]:
        return [self._items[i] for i in range(min(limit, len(self._items)))]

    async def done(self, count: int) -> None:
        async with self._changed:
            for _ in range(count):
                self._items.popleft()
            self._changed.notify_all()

    async def empty(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: not self._items)

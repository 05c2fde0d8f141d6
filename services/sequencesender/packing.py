"""Which closed batches go into the next sequenceBatches call. Pure functions, no I/O.

    pack(batches, first=n, limits, l1_timestamp)  →  Packing(batches n..m, why it stopped there)

Batches are taken in order from `first` while every one of these holds (the contract's checks and
the L1 transaction size limit; zkevm-node's sequencesender stops at the same places):

  * batch numbers are consecutive (closed batches after n always are; a gap ends the sequence);
  * at most `max_batches` (the contract reverts above 1,000: ExceedMaxVerifyBatches);
  * the calldata fits in `max_calldata_bytes` (geth and most L1 nodes refuse transactions above
    128 KiB; the signed envelope adds ~120 bytes to the calldata, so the default leaves 1 KiB);
  * a batch's timestamp is not above the latest L1 block's: the contract requires
    timestamp ≤ block.timestamp, and the block that will include the transaction is newer than the
    latest one, so such a batch waits for L1 time to pass it (zkevm-node#936);
  * a non-forced batch holds at most 120,000 bytes (TransactionsLengthAboveMax); one that does not
    can never be sequenced, and stops everything behind it (the sequencer's limits prevent it).

The calldata of `sequenceBatches((bytes,bytes32,uint64,uint64)[],address)` is computed exactly
(ABI head and tail sizes), so packing never encodes a candidate to measure it:

    4 (selector) + 32 (array offset) + 32 (l2Coinbase) + 32 (array length)
    + per batch: 32 (tuple offset) + 4 × 32 (tuple head) + 32 (bytes length) + ⌈len / 32⌉ × 32
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from services.common.l1.rollup import MAX_BATCHES_PER_SEQUENCE, MAX_TRANSACTIONS_BYTE_LENGTH, BatchData

#: selector, the array's offset, l2Coinbase, the array's length
SEQUENCE_OVERHEAD_BYTES: Final = 4 + 3 * 32
#: per batch without its data: the tuple's offset, its four head words, the data's length word
BATCH_OVERHEAD_BYTES: Final = 32 + 4 * 32 + 32
#: 128 KiB (geth's txMaxSize) less 1 KiB for the signed transaction around the calldata
DEFAULT_MAX_CALLDATA_BYTES: Final = 131_072 - 1_024


def batch_calldata_bytes(transactions_length: int) -> int:
    """What one batch adds to sequenceBatches calldata."""
    return BATCH_OVERHEAD_BYTES + (transactions_length + 31) // 32 * 32


def sequence_calldata_bytes(transactions_lengths: Sequence[int]) -> int:
    """len(encode_sequence_batches(batches, coinbase)) for batches of these data lengths."""
    return SEQUENCE_OVERHEAD_BYTES + sum(batch_calldata_bytes(n) for n in transactions_lengths)


class StopReason(enum.StrEnum):
    """Why a packing ended where it did."""

    #: the batch-count limit was reached
    MAX_BATCHES = "max_batches"
    #: the next batch would not fit in the calldata limit
    MAX_CALLDATA = "max_calldata"
    #: every closed batch is in
    NO_MORE_BATCHES = "no_more_batches"
    #: the next batch's timestamp is above the latest L1 block's
    TIMESTAMP_AHEAD = "timestamp_ahead"
    #: the next batch number is not the one expected
    GAP = "gap"
    #: the next batch can never be sequenced (over 120,000 bytes, or alone above the calldata limit)
    BATCH_TOO_LARGE = "batch_too_large"


#: reasons after which sending now is as good as it gets (more batches would not fit anyway)
FULL_REASONS: Final = frozenset({StopReason.MAX_BATCHES, StopReason.MAX_CALLDATA})


@dataclass(frozen=True, slots=True)
class PackLimits:
    max_batches: int = MAX_BATCHES_PER_SEQUENCE
    max_calldata_bytes: int = DEFAULT_MAX_CALLDATA_BYTES

    def __post_init__(self) -> None:
        if not 1 <= self.max_batches <= MAX_BATCHES_PER_SEQUENCE:
            raise ValueError(
                f"max_batches must be in [1, {MAX_BATCHES_PER_SEQUENCE}], got {self.max_batches}"
            )
        smallest = SEQUENCE_OVERHEAD_BYTES + batch_calldata_bytes(0)
        if self.max_calldata_bytes < smallest:
            raise ValueError(f"max_calldata_bytes must be at least {smallest}, got {self.max_calldata_bytes}")


@dataclass(frozen=True, slots=True)
class NumberedBatch:
    number: int
    data: BatchData


@dataclass(frozen=True, slots=True)
class Packing:
    first: int
    batches: tuple[BatchData, ...]
    stop: StopReason
    calldata_bytes: int

    @property
    def last(self) -> int:
        return self.first + len(self.batches) - 1

    @property
    def full(self) -> bool:
        return self.stop in FULL_REASONS

    def prefix(self, count: int) -> Packing:
        """The first `count` batches, as if the limit had been reached after them (splitting)."""
        if not 1 <= count <= len(self.batches):
            raise ValueError(f"a prefix of 1..{len(self.batches)} batches, got {count}")
        kept = self.batches[:count]
        return Packing(
            self.first,
            kept,
            StopReason.MAX_CALLDATA if count < len(self.batches) else self.stop,
            sequence_calldata_bytes([len(b.transactions) for b in kept]),
        )


def pack(batches: Sequence[NumberedBatch], *, first: int, limits: PackLimits, l1_timestamp: int) -> Packing:
    """The longest run of `batches` from batch `first` on that one sequenceBatches call may carry."""
    taken: list[BatchData] = []
    size = SEQUENCE_OVERHEAD_BYTES
    stop = StopReason.NO_MORE_BATCHES
    for expected, batch in enumerate(batches, start=first):
        data = batch.data
        if batch.number != expected:
            stop = StopReason.GAP
            break
        if len(taken) == limits.max_batches:
            stop = StopReason.MAX_BATCHES
            break
        added = batch_calldata_bytes(len(data.transactions))
        too_long = not data.is_forced and len(data.transactions) > MAX_TRANSACTIONS_BYTE_LENGTH
        if too_long or SEQUENCE_OVERHEAD_BYTES + added > limits.max_calldata_bytes:
            stop = StopReason.BATCH_TOO_LARGE if not taken else StopReason.MAX_CALLDATA
            break
        if size + added > limits.max_calldata_bytes:
            stop = StopReason.MAX_CALLDATA
            break
        if data.timestamp > l1_timestamp:
            stop = StopReason.TIMESTAMP_AHEAD
            break
        taken.append(data)
        size += added
    else:
        if len(taken) == limits.max_batches:
            stop = StopReason.MAX_BATCHES
    return Packing(first, tuple(taken), stop, size)

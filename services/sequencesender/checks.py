"""Does L1's sequence agree with the batches zkseq built? Pure functions, no I/O.

L1 stores an accInputHash only at the last batch of each sequence (`sequencedBatches(last)`). The
watcher recomputes the hash of every batch in between from the sequencing transaction's calldata,
starting at the previous sequence's stored hash, with zkevm.batch's formula (the executor's):

    acc_n = keccak(acc_{n-1} ‖ keccak(transactions_n) ‖ globalExitRoot_n ‖ timestamp_n ‖ coinbase)

and compares each with the accInputHash the sequencer stored in the StateDB when it closed batch n.
The batches that agree become virtual; the first that does not raises the alarm, and it and every
batch after it stay non-virtual (they chain on a hash that is not ours, so none can agree).

When the calldata cannot be decoded (a sequence sent through a contract, say), the chain is
recomputed from zkseq's own batch contents instead; if that reaches L1's stored end hash, L1 hashed
exactly those contents (the end hash commits to every batch), so the recomputed hashes are L1's and
each is compared with the stored one as above. If it does not, some content differs and only the
end can be reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.common.statedb.models import Batch, VirtualBatch
from services.sequencesender.models import Alarm, AlarmKind
from zkevm.batch import Hash32, acc_input_hash, batch_hash_data
from zkevm.state_keys import Address


@dataclass(frozen=True, slots=True)
class L1BatchInput:
    """One batch's part of the accInputHash, as L1 hashed it."""

    transactions: bytes
    global_exit_root: Hash32
    timestamp: int


@dataclass(frozen=True, slots=True)
class L1Sequence:
    """A sequence as L1 recorded it: batches `first`..`last`, and what the contract stored."""

    first: int
    last: int
    #: sequencedBatches(last).accInputHash
    end_acc_input_hash: Hash32
    #: L1's hash after each batch, recomputed from the calldata or from zkseq's contents (both
    #: checked against the end hash); None when neither leads to the end hash
    acc_input_hashes: tuple[Hash32, ...] | None
    l1_block_number: int
    l1_tx_hash: Hash32
    #: the account that sent the sequencing transaction
    sender: Address

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"L1Sequence.last ({self.last}) is below first ({self.first})")
        if self.acc_input_hashes is not None and len(self.acc_input_hashes) != self.last - self.first + 1:
            raise ValueError("L1Sequence.acc_input_hashes must hold one hash per batch")


@dataclass(frozen=True, slots=True)
class SequenceCheck:
    #: the batches that agree, in order: a prefix of the sequence
    virtual: tuple[VirtualBatch, ...]
    #: the first disagreement, if any
    alarm: Alarm | None


def chain_acc_input_hashes(
    start: Hash32, batches: Sequence[L1BatchInput], coinbase: Address
) -> tuple[Hash32, ...]:
    """The accInputHash after each batch, starting from `start` (L1's hash before the sequence)."""
    hashes = []
    acc = start
    for batch in batches:
        acc = acc_input_hash(
            acc, batch_hash_data(batch.transactions), batch.global_exit_root, batch.timestamp, coinbase
        )
        hashes.append(acc)
    return tuple(hashes)


def acc_input_hashes_of_contents(
    start: Hash32, local: Sequence[Batch | None], end: Hash32
) -> tuple[Hash32, ...] | None:
    """The hash after each of zkseq's batches, chained from L1's `start` over their contents (data,
    global exit root, timestamp, coinbase); None unless every batch is closed here and the chain
    reaches L1's stored `end`."""
    hashes = []
    acc = start
    for batch in local:
        if batch is None or not batch.closed:
            return None
        acc = acc_input_hash(
            acc, batch_hash_data(batch.batch_l2_data), batch.global_exit_root, batch.timestamp, batch.coinbase
        )
        hashes.append(acc)
    return tuple(hashes) if hashes and hashes[-1] == end else None


def check_sequence(sequence: L1Sequence, local: Sequence[Batch | None], now: float) -> SequenceCheck:
    """Compare `sequence` with zkseq's batches `first`..`last` (`local[i]` is batch first + i, None
    when zkseq has no such batch)."""
    count = sequence.last - sequence.first + 1
    if len(local) != count:
        raise ValueError(f"expected {count} local batches, got {len(local)}")

    def alarm(kind: AlarmKind, number: int, mine: Hash32 | None, theirs: Hash32 | None, why: str) -> Alarm:
        return Alarm(
            kind=kind,
            batch_number=number,
            local_hash=mine,
            l1_hash=theirs,
            l1_block_number=sequence.l1_block_number,
            l1_tx_hash=sequence.l1_tx_hash,
            message=why,
            raised_at=now,
        )

    def row(number: int, acc: Hash32) -> VirtualBatch:
        return VirtualBatch(
            batch_number=number,
            l1_tx_hash=sequence.l1_tx_hash,
            l1_block_number=sequence.l1_block_number,
            sequencer=sequence.sender,
            acc_input_hash=acc,
        )

    def closed_acc(batch: Batch | None) -> Hash32 | None:
        return batch.acc_input_hash if batch is not None and batch.closed else None

    range_text = f"sequence {sequence.first}..{sequence.last} in L1 block {sequence.l1_block_number}"
    rows: list[VirtualBatch] = []
    if sequence.acc_input_hashes is not None:
        for offset, l1_acc in enumerate(sequence.acc_input_hashes):
            number = sequence.first + offset
            mine = closed_acc(local[offset])
            if mine is None:
                why = f"L1 sequenced batch {number} ({range_text}), which zkseq has not closed"
                return SequenceCheck(tuple(rows), alarm(AlarmKind.UNKNOWN_BATCH, number, None, l1_acc, why))
            if mine != l1_acc:
                why = f"accInputHash of batch {number} differs between L1 ({range_text}) and zkseq"
                return SequenceCheck(
                    tuple(rows), alarm(AlarmKind.ACC_INPUT_HASH_MISMATCH, number, mine, l1_acc, why)
                )
            rows.append(row(number, l1_acc))
        return SequenceCheck(tuple(rows), None)

    # no per-batch hashes: neither the calldata nor zkseq's contents lead to L1's end hash
    for offset, batch in enumerate(local):
        if closed_acc(batch) is None:
            number = sequence.first + offset
            why = f"L1 sequenced batch {number} ({range_text}), which zkseq has not closed"
            return SequenceCheck((), alarm(AlarmKind.UNKNOWN_BATCH, number, None, None, why))
    why = (
        f"L1's accInputHash at the end of {range_text} is not the hash of zkseq's batches (the "
        "calldata could not be decoded, so the first differing batch is unknown)"
    )
    return SequenceCheck(
        (),
        alarm(
            AlarmKind.ACC_INPUT_HASH_MISMATCH,
            sequence.last,
            closed_acc(local[-1]),
            sequence.end_acc_input_hash,
            why,
        ),
    )

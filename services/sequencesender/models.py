"""The values the sequence sender and its L1 watcher pass around: frozen, slotted, protobuf-free.

L1Header        an L1 block as the watcher needs it: number, hash, parent, timestamp
L1Tx            the sender and input of an L1 transaction (batch contents live in calldata)
SequencedState  the rollup's sequencing pointers, read at one L1 block
Alarm           why sequencing stopped: L1 disagrees with the batches zkseq built
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from zkevm.batch import Hash32
from zkevm.state_keys import Address

#: the idempotency-id prefix of every sequence this service hands to the EthTxManager
SEQUENCE_ID_PREFIX: Final = "sequence:"


@dataclass(frozen=True, slots=True)
class L1Header:
    number: int
    hash: Hash32
    parent_hash: Hash32
    timestamp: int


@dataclass(frozen=True, slots=True)
class L1Tx:
    hash: Hash32
    sender: Address
    #: the calldata (for sequenceBatches: the batches; for forceBatch: the forced transactions)
    input: bytes


@dataclass(frozen=True, slots=True)
class SequencedState:
    """`lastBatchSequenced`, `sequencedBatches(lastBatchSequenced).accInputHash`, `lastTimestamp` and
    `lastForceBatchSequenced`, all read at L1 block `block_number`."""

    block_number: int
    last_batch_sequenced: int
    acc_input_hash: Hash32
    last_timestamp: int
    last_force_batch_sequenced: int


class AlarmKind(enum.StrEnum):
    #: L1's accInputHash for a batch differs from the one zkseq computed and stored
    ACC_INPUT_HASH_MISMATCH = "acc_input_hash_mismatch"
    #: L1 sequenced a batch this node has not closed (someone ran sequenceForceBatches, say)
    UNKNOWN_BATCH = "unknown_batch"
    #: L1 verified a state root that differs from the one zkseq computed for that batch
    STATE_ROOT_MISMATCH = "state_root_mismatch"


@dataclass(frozen=True, slots=True)
class Alarm:
    """The first disagreement between L1 and the trusted state; sequencing stops while it stands."""

    kind: AlarmKind
    batch_number: int
    #: what zkseq has (None: it has no closed batch with that number)
    local_hash: Hash32 | None
    #: what L1 has (an accInputHash, or a state root for STATE_ROOT_MISMATCH)
    l1_hash: Hash32 | None
    l1_block_number: int
    l1_tx_hash: Hash32 | None
    message: str
    #: Unix seconds
    raised_at: float


@dataclass(frozen=True, slots=True)
class SequenceRange:
    """Batches `first`..`last` (inclusive) in one sequenceBatches call, under idempotency key `id`."""

    id: str
    first: int
    last: int

    @property
    def count(self) -> int:
        return self.last - self.first + 1


def sequence_id(first: int, last: int, attempt: int = 0) -> str:
    """`sequence:<first>-<last>`, and `…#<attempt>` for a range sent again after its transaction
    failed (a failed transaction sequenced nothing, so resending is not sending a batch twice)."""
    base = f"{SEQUENCE_ID_PREFIX}{first}-{last}"
    return base if attempt == 0 else f"{base}#{attempt}"


def parse_sequence_id(value: str) -> tuple[int, int, int] | None:
    """(first, last, attempt) of an id made by `sequence_id`, None for anything else."""
    if not value.startswith(SEQUENCE_ID_PREFIX):
        return None
    body, _, attempt_text = value.removeprefix(SEQUENCE_ID_PREFIX).partition("#")
    first_text, dash, last_text = body.partition("-")
    if not dash or not first_text.isdigit() or not last_text.isdigit():
        return None
    if attempt_text and not attempt_text.isdigit():
        return None
    first, last = int(first_text), int(last_text)
    if first < 1 or last < first:
        return None
    return first, last, int(attempt_text or 0)

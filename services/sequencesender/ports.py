"""What the sequence sender and its watcher need from L1, the EthTxManager and the StateDB,
declared here by the consumer (zkevm-node style): a handful of methods each, frozen values in and
out, no storage handles.

    L1Reader        the watcher's reads: head, headers, rollup events, a transaction, sequencedBatches
    L1Sequencing    the sender's reads: latest header, the rollup's sequencing pointers, gas estimates
    TxManager       Add / Result / List of ethtxmanager.v1 (ethtxmanager_client.GrpcTxManager)
    the StateDB     the repositories' own methods (services/common/statedb), synchronous: both
                    components call them through asyncio.to_thread

L1 implementations: `l1.Web3L1` (AsyncWeb3 over JSON-RPC). Unit tests use the twins in
tests/unit/test_sequencesender_twins.py.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from services.common.l1.rollup import RollupEvent, SequencedBatchData
from services.common.statedb.models import (
    Batch,
    ForcedBatch,
    L1Block,
    ReorgDeletion,
    VerifiedBatch,
    VirtualBatch,
)
from services.sequencesender.models import L1Header, L1Tx, SequencedState
from zkevm.batch import Hash32


class L1Unavailable(Exception):
    """The L1 node could not be reached or answered with an error that is not a revert."""


class GasEstimateFailed(Exception):
    """eth_estimateGas failed without a decodable revert (a node-side limit, say "gas required
    exceeds allowance" or "oversized data"); the message is the node's."""


# -- L1 ---------------------------------------------------------------------------------------------


class L1Reader(Protocol):
    async def head_number(self) -> int: ...
    async def header(self, number: int) -> L1Header | None:
        """The canonical block `number`, None if the chain is not that long (any more)."""
        ...

    async def rollup_events(self, from_block: int, to_block: int) -> list[RollupEvent]: ...
    async def transaction(self, tx_hash: Hash32) -> L1Tx: ...
    async def sequenced_batch(self, num_batch: int, block_number: int) -> SequencedBatchData: ...


class L1Sequencing(Protocol):
    async def latest_header(self) -> L1Header: ...
    async def sequenced_state(self) -> SequencedState:
        """The rollup's pointers, all read at the same (latest) block."""
        ...

    async def estimate_gas(self, data: bytes) -> int:
        """eth_estimateGas of a call to the rollup from the trusted sequencer. Raises the contract's
        revert as a `services.common.l1.errors.RollupRevert` subclass, or `GasEstimateFailed`."""
        ...


# -- EthTxManager ---------------------------------------------------------------------------------


class TxStatus(enum.StrEnum):
    CREATED = "created"
    SENT = "sent"
    MINED = "mined"
    CONFIRMED = "confirmed"
    FAILED = "failed"


#: the statuses of a transaction that is still on its way
IN_FLIGHT_STATUSES = frozenset({TxStatus.CREATED, TxStatus.SENT, TxStatus.MINED})


class AddOutcome(enum.StrEnum):
    #: stored by this call
    ADDED = "added"
    #: stored earlier with the same content; nothing changed
    ALREADY_ADDED = "already_added"
    #: not stored: its gas estimate reverted
    REVERTED = "reverted"


@dataclass(frozen=True, slots=True)
class AddResult:
    outcome: AddOutcome
    gas_limit: int = 0
    #: REVERTED: the contract's error name ("SequencedTimestampInvalid"), as in l1/errors.py
    revert_reason: str = ""


@dataclass(frozen=True, slots=True)
class TxResult:
    id: str
    status: TxStatus
    #: the attempt in a block (MINED, CONFIRMED, FAILED by a revert), else empty
    mined_tx_hash: bytes = b""
    block_number: int = 0
    gas_used: int = 0
    #: FAILED: the contract's error name, or why it was never mined
    revert_reason: str = ""
    error: str = ""


class TxManagerUnavailable(Exception):
    """The EthTxManager could not be reached, or did not answer in time: the outcome of the call
    is unknown (an Add may or may not have been stored)."""


class TxIdConflict(Exception):
    """An Add under an id that is stored with other content."""


class TxManager(Protocol):
    async def add(self, *, id: str, to: bytes, data: bytes, gas_limit: int | None) -> AddResult:
        """Store and send a transaction under `id`; idempotent for the same content."""
        ...

    async def result(self, id: str) -> TxResult | None:
        """None when the EthTxManager has no transaction with that id."""
        ...

    async def list(self, statuses: Sequence[TxStatus]) -> list[TxResult]:
        """This owner's transactions in any of `statuses`, oldest first."""
        ...


# -- StateDB (synchronous; the repositories of services/common/statedb satisfy these) -----------


class ClosedBatches(Protocol):
    def get_batch(self, number: int) -> Batch | None: ...
    def closed_batches_after(self, number: int, limit: int) -> list[Batch]: ...
    def last_closed_batch(self) -> Batch | None: ...


class ForcedBatches(Protocol):
    def get(self, forced_batch_number: int) -> ForcedBatch | None: ...


class L1Blocks(Protocol):
    def add(
        self,
        block: L1Block,
        *,
        virtual_batches: Sequence[VirtualBatch] = (),
        verified_batches: Sequence[VerifiedBatch] = (),
        forced_batches: Sequence[ForcedBatch] = (),
    ) -> None: ...
    def get(self, number: int) -> L1Block | None: ...
    def latest(self) -> L1Block | None: ...
    def delete_from(self, number: int) -> ReorgDeletion: ...


class VirtualBatches(Protocol):
    def last_virtual_batch_number(self) -> int | None: ...


class VerifiedBatches(Protocol):
    def last_verified_batch_number(self) -> int | None: ...

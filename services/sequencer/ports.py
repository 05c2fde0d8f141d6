"""What the sequencer needs from the other services, declared by the sequencer (zkevm-node style).

    Executor     ProcessBatch and GetFlushStatus of executor.v1            (grpc_ports.GrpcExecutor)
    Pool         the ready transactions and the Mark* outcomes of pool.v1   (grpc_ports.GrpcPool)
    AccountReader a sender's nonce at a durable root, from the HashDB       (grpc_ports.HashDBAccounts)
    Ledger       the StateDB: the chain so far, block and batch writes     (ledger.StateDBLedger)
    L1Clock      the latest L1 block timestamp                             (l1clock.py)

Each Protocol has a handful of methods, takes and returns the frozen values below, and raises
`Unavailable` (a subclass per port) when the service cannot be reached, so the sequencer can
retry with backoff. Protobuf stops in the adapters.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from services.common.statedb.models import Batch, ForcedBatch, L2Block, L2Tx, Log, Receipt
from services.sequencer.limits import ZkCounters
from zkevm.transaction import L2Transaction

#: one fork-6 L2 block as the StateDB stores it: the block, its transaction, receipt and logs
BlockParts = tuple[L2Block, L2Tx, Receipt, Sequence[Log]]


class Unavailable(Exception):
    """A service could not be reached or did not answer in time; the call may be retried."""


class ExecutorUnavailable(Unavailable):
    pass


class ExecutorFailed(Exception):
    """The executor answered with an error that retrying will not fix (a gRPC INTERNAL …)."""


class PoolUnavailable(Unavailable):
    pass


class StateDBUnavailable(Unavailable):
    pass


class HashDBUnavailable(Unavailable):
    pass


# -- executor -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExecRequest:
    """A ProcessBatch call (fork id 6)."""

    old_state_root: bytes
    batch_l2_data: bytes
    global_exit_root: bytes
    timestamp: int
    coinbase: bytes
    chain_id: int
    old_batch_number: int
    old_acc_input_hash: bytes
    #: keep the new state in the HashDB (the sequencer's own calls) or forget it (re-executions)
    update_merkle_tree: bool
    context_id: str = ""


@dataclass(frozen=True, slots=True)
class ExecLog:
    address: bytes
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True, slots=True)
class ExecTx:
    """The executor's outcome for one transaction (a ProcessTransactionResponse)."""

    tx_hash: bytes
    #: the standard signed encoding, RLP([nonce, gasPrice, gas, to, value, data, V, r, s])
    rlp_tx: bytes
    #: executor.v1 RomError
    rom_error: int
    gas_used: int
    state_root: bytes
    logs: tuple[ExecLog, ...]
    create_address: bytes | None
    effective_gas_price: int
    effective_percentage: int


@dataclass(frozen=True, slots=True)
class ExecResult:
    #: executor.v1 ExecutorError (EXECUTOR_ERROR_NO_ERROR when the batch was processed)
    error: int
    new_state_root: bytes
    new_acc_input_hash: bytes
    new_local_exit_root: bytes
    counters: ZkCounters
    cumulative_gas_used: int
    txs: tuple[ExecTx, ...]
    flush_id: int
    stored_flush_id: int
    prover_id: str


@dataclass(frozen=True, slots=True)
class FlushStatus:
    stored_flush_id: int
    #: changes when the executor restarts: flush ids of an earlier process mean nothing any more
    prover_id: str


class Executor(Protocol):
    async def process(self, request: ExecRequest) -> ExecResult: ...
    async def flush_status(self) -> FlushStatus: ...


# -- pool -----------------------------------------------------------------------------------------


class FailureKind(enum.StrEnum):
    NONCE = "nonce"
    BALANCE = "balance"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class PoolTx:
    """A ready transaction from the pool, its fork-6 record decoded."""

    hash: bytes
    #: the fork-6 batch record RLP(signing list) ‖ r ‖ s ‖ v ‖ ep
    record: bytes
    sender: bytes
    nonce: int
    gas_price: int
    tx: L2Transaction


class Pool(Protocol):
    async def ready(self, limit: int, *, followers: bool = False) -> list[PoolTx]:
        """The best ready transactions; with `followers`, then the pending ones right after a ready
        or claimed one of their sender, in nonce order (`select_many` claims those in order)."""
        ...

    async def select(self, tx_hash: bytes) -> bool:
        """Claim a ready transaction; False if the pool no longer offers it (replaced, gone)."""
        ...

    async def select_many(self, tx_hashes: Sequence[bytes]) -> set[bytes]:
        """Claim several transactions in one atomic call, in the order given: a ready one, or a
        follower whose sender's earlier nonces are all claimed; the ones claimed (the others are no
        longer offered)."""
        ...

    async def include(self, tx_hash: bytes) -> None: ...
    async def include_many(self, tx_hashes: Sequence[bytes]) -> None:
        """`include` each of `tx_hashes`, in order, in one call."""
        ...

    async def fail(self, tx_hash: bytes, kind: FailureKind, reason: str, state_nonce: int | None) -> None: ...
    async def invalidate(self, tx_hash: bytes, reason: str) -> None: ...
    async def release_selected(self) -> int: ...


class AccountReader(Protocol):
    async def nonce(self, state_root: bytes, address: bytes) -> int: ...


# -- StateDB --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainTip:
    """Where the trusted chain stands in the StateDB."""

    last_closed: Batch
    open_batch: Batch | None
    #: the blocks of the open batch with their transactions, in order
    open_blocks: tuple[tuple[L2Block, L2Tx], ...]
    #: the transactions of the latest closed batches, newest first, at least as many as asked for
    #: (or all): a crash can leave that many recorded but not yet marked included in the pool
    recent_tx_hashes: tuple[bytes, ...]
    latest_block: L2Block


class Ledger(Protocol):
    async def tip(self, recent_txs: int) -> ChainTip | None:
        """None when the StateDB has no batch at all (no genesis yet). `recent_txs`: how many
        transactions of the latest closed batches to list."""
        ...

    async def add_genesis(self, batch: Batch, block: L2Block) -> None: ...
    async def write_blocks(self, opening: Batch | None, blocks: Sequence[BlockParts]) -> None:
        """Open `opening` (if given) and store `blocks`, all in one database transaction."""
        ...

    async def close_batch(
        self, number: int, *, state_root: bytes, local_exit_root: bytes, acc_input_hash: bytes
    ) -> None: ...
    async def write_closed_batch(self, batch: Batch, blocks: Sequence[BlockParts]) -> None: ...
    async def block_hash(self, number: int) -> bytes | None: ...
    async def batch_closed(self, number: int) -> bool: ...
    async def due_forced_batches(self, finality_blocks: int) -> list[ForcedBatch]: ...


class L1Clock(Protocol):
    async def latest_block_timestamp(self) -> int:
        """The timestamp of the latest L1 block: a batch timestamp may not be above it."""
        ...

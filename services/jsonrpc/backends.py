"""What the JSON-RPC server needs from the rest of zkseq, declared here by the consumer.

    ChainReader   the trusted L2 chain in the StateDB: blocks, their transactions with receipts
                  and logs, eth_getLogs, and which block "safe" / "finalized" mean
    BatchReader   batches and what L1 said about them (virtual, verified), for zkevm_*
    StateReader   account leaves at a state root, from the HashDB: nonce, balance, code, storage
    TxPool        the pool service: add a raw transaction, pending nonce, pending transactions
    CallExecutor  the executor's unsigned call (ProcessBatch with `from`, tree not updated)

Implementations: `chain.StateDBChain` (both readers, over the StateDB repositories),
`grpc_backends` (HashDB, pool, executor over gRPC) and `memory` (in-memory twins for unit tests).
Every implementation answers a backend it cannot reach with `BackendUnavailable`, and a refusal
with the `RpcError` the caller should see (the pool's rejection is a -32000 with the pool's words),
so methods never see a gRPC or database exception.

Fork 6 has one transaction per L2 block (the StateDB enforces it: `transactions.l2_block_number` is
unique), so a mined transaction's index in its block is always 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.common.statedb.models import Batch, L2Block, L2Tx, Log, LogFilter, Receipt
from services.jsonrpc.params import BlockTag


@dataclass(frozen=True, slots=True)
class MinedTx:
    """A transaction of the trusted chain with what its JSON views need."""

    tx: L2Tx
    receipt: Receipt
    logs: tuple[Log, ...]
    block_hash: bytes


@dataclass(frozen=True, slots=True)
class MinedBlock:
    """A block of the trusted chain with its transactions (receipts and logs included), in order."""

    block: L2Block
    txs: tuple[MinedTx, ...]


@dataclass(frozen=True, slots=True)
class BlockLog:
    """A log with the hash of its block (logs are stored by block number)."""

    log: Log
    block_hash: bytes


class ChainReader(Protocol):
    async def latest_block_number(self) -> int | None:
        """The newest L2 block, None for an empty StateDB (no genesis yet)."""

    async def tagged_block_number(self, tag: BlockTag) -> int | None:
        """latest, earliest (0), safe (the last virtualized block) or finalized (the last verified
        block); None when there is no such block. `pending` is the caller's business."""

    async def block(self, number: int) -> L2Block | None: ...

    async def block_by_hash(self, block_hash: bytes) -> L2Block | None: ...

    async def mined_block(self, number: int | BlockTag) -> MinedBlock | None:
        """A block by number or tag (as `tagged_block_number`; `pending` reads as `latest`) with its
        transactions, receipts and logs, in one read."""

    async def mined_block_by_hash(self, block_hash: bytes) -> MinedBlock | None: ...

    async def mined_tx(self, tx_hash: bytes) -> MinedTx | None: ...

    async def logs(self, log_filter: LogFilter) -> list[BlockLog]:
        """eth_getLogs; a range or result over the configured bounds is InvalidParams."""


@dataclass(frozen=True, slots=True)
class BatchView:
    """A batch with what zkevm_getBatchByNumber shows about it."""

    batch: Batch
    blocks: tuple[L2Block, ...]
    txs: tuple[MinedTx, ...]
    #: the L1 transactions that sequenced and verified it, when they exist
    sequence_tx_hash: bytes | None
    verify_tx_hash: bytes | None


class BatchReader(Protocol):
    async def last_batch_number(self) -> int | None:
        """The newest trusted batch, open or closed."""

    async def last_virtual_batch_number(self) -> int | None: ...

    async def last_verified_batch_number(self) -> int | None: ...

    async def batch_number_of_block(self, block_number: int) -> int | None: ...

    async def is_block_virtualized(self, block_number: int) -> bool: ...

    async def is_block_verified(self, block_number: int) -> bool: ...

    async def batch(self, number: int) -> BatchView | None: ...


@dataclass(frozen=True, slots=True)
class Account:
    nonce: int
    balance: int


class StateReader(Protocol):
    """Leaves of the state tree at `root` (32 bytes); an absent leaf reads as zero."""

    async def account(self, root: bytes, address: bytes) -> Account: ...

    async def code(self, root: bytes, address: bytes) -> bytes: ...

    async def storage(self, root: bytes, address: bytes, slot: int) -> int: ...


@dataclass(frozen=True, slots=True)
class PoolTx:
    """A transaction waiting in the pool (pending or being sequenced)."""

    #: the signed legacy transaction as received
    raw: bytes
    sender: bytes


class TxPool(Protocol):
    async def add(self, raw: bytes) -> bytes:
        """Hand a raw signed transaction to the pool; returns its hash. A refusal raises
        `ServerError` whose message is the pool's ("nonce too low: …")."""

    async def pending_nonce(self, address: bytes) -> int:
        """The sender's next nonce counting the pool's contiguous transactions."""

    async def pending_tx(self, tx_hash: bytes) -> PoolTx | None:
        """A pending or selected transaction; None when unknown, failed or invalid."""

    async def pending_count(self) -> int: ...


@dataclass(frozen=True, slots=True)
class UnsignedCall:
    """One unsigned transaction run on a block's state without keeping anything."""

    state_root: bytes
    batch_number: int
    timestamp: int
    coinbase: bytes
    sender: bytes
    #: the sender's nonce at `state_root` (the executor checks it)
    nonce: int
    to: bytes | None
    gas: int
    gas_price: int
    value: int
    data: bytes


@dataclass(frozen=True, slots=True)
class CallOutcome:
    #: None when the transaction ran to the end, else the fork-6 RomError name without its
    #: prefix: "EXECUTION_REVERTED", "OUT_OF_GAS", "INTRINSIC_INVALID_BALANCE" …
    error: str | None
    gas_used: int
    gas_refunded: int
    #: what the call returned, or the revert data
    return_value: bytes


class CallExecutor(Protocol):
    async def run(self, call: UnsignedCall) -> CallOutcome: ...

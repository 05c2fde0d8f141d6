"""In-memory twins of the state reader and the pool, for unit tests of the server.

    MemoryState   accounts per state root in dicts; an unknown root is refused like the HashDB's
    MemoryPool    raw transactions by hash, decoded and checked for a signature; the pending nonce
                  counts each sender's contiguous nonces from a settable state nonce; a refusal hook
                  stands for the pool's admission rules

The chain readers need no twin: `StateDBChain` over `sqlite:///:memory:` is the StateDB's own
in-memory form. The executor's twin is scripted in the tests that use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from services.jsonrpc.backends import Account, PoolTx
from services.jsonrpc.codec import data
from services.jsonrpc.errors import BackendUnavailable, ServerError
from zkevm.errors import DecodeError, InvalidSignatureError
from zkevm.hashing import keccak256
from zkevm.transaction import decode_raw_transaction


@dataclass(slots=True)
class MemoryAccount:
    nonce: int = 0
    balance: int = 0
    code: bytes = b""
    storage: dict[int, int] = field(default_factory=dict)


class MemoryState:
    """`StateReader` over dicts: root → address → account."""

    def __init__(self, roots: Mapping[bytes, Mapping[bytes, MemoryAccount]] | None = None) -> None:
        self.roots: dict[bytes, dict[bytes, MemoryAccount]] = {
            root: dict(accounts) for root, accounts in (roots or {}).items()
        }

    def set_account(self, root: bytes, address: bytes, account: MemoryAccount) -> None:
        self.roots.setdefault(root, {})[address] = account

    def _get(self, root: bytes, address: bytes) -> MemoryAccount:
        accounts = self.roots.get(root)
        if accounts is None:
            raise ServerError(f"the state at root {data(root)} is not in the HashDB")
        return accounts.get(address) or MemoryAccount()

    async def account(self, root: bytes, address: bytes) -> Account:
        account = self._get(root, address)
        return Account(nonce=account.nonce, balance=account.balance)

    async def code(self, root: bytes, address: bytes) -> bytes:
        return self._get(root, address).code

    async def storage(self, root: bytes, address: bytes, slot: int) -> int:
        return self._get(root, address).storage.get(slot, 0)


class MemoryPool:
    """`TxPool` over dicts."""

    def __init__(self, refuse: Callable[[bytes], str | None] | None = None) -> None:
        #: returns the pool's message for a transaction it refuses, else None
        self.refuse = refuse
        self.txs: dict[bytes, PoolTx] = {}
        self.nonces: dict[bytes, set[int]] = {}
        self.state_nonces: dict[bytes, int] = {}
        #: set to make every call fail as an unreachable pool would
        self.down = False

    def _check_up(self) -> None:
        if self.down:
            raise BackendUnavailable("the transaction pool is unavailable (UNAVAILABLE): connection refused")

    async def add(self, raw: bytes) -> bytes:
        self._check_up()
        try:
            tx = decode_raw_transaction(raw)
            sender = tx.sender()
        except (DecodeError, InvalidSignatureError) as exc:
            raise ServerError(f"invalid transaction: {exc}") from exc
        message = self.refuse(raw) if self.refuse is not None else None
        if message is not None:
            raise ServerError(message)
        tx_hash = keccak256(raw)
        if tx_hash in self.txs:
            raise ServerError(f"already known: {data(tx_hash)}")
        self.txs[tx_hash] = PoolTx(raw=raw, sender=sender)
        self.nonces.setdefault(sender, set()).add(tx.nonce)
        return tx_hash

    async def pending_nonce(self, address: bytes) -> int:
        self._check_up()
        nonce = self.state_nonces.get(address, 0)
        held = self.nonces.get(address, set())
        while nonce in held:
            nonce += 1
        return nonce

    async def pending_tx(self, tx_hash: bytes) -> PoolTx | None:
        self._check_up()
        return self.txs.get(tx_hash)

    async def pending_count(self) -> int:
        self._check_up()
        return len(self.txs)

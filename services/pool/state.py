"""Where the pool reads a sender's nonce and balance: implementations of `AccountStateReader`.

    MemoryAccountState   a dict, for unit tests and in-process integration tests
    HashDBAccountState   the nonce and balance leaves of the state tree (spec §4.1), read with the
                         HashDB's GetMany at the root a `StateRootSource` names

The root should be the StateDB's latest L2 state root; until the StateDB exists, `__main__` wires a
`FixedStateRoot` from ZKSEQ_POOL_STATE_ROOT (the genesis root, say). The pool keeps its own next
nonce per sender (raised by MarkIncluded), so a state that lags behind the sequencer never lets a
stale nonce in; a lagging balance can only let a transaction in that the executor then refuses
(MarkFailed with BALANCE).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import grpc
from grpc import aio

from protos.hashdb.v1 import hashdb_pb2 as hashdb_pb
from services.common.errors import Unavailable
from services.common.grpc_client import UnaryMethod
from zkevm.field import H4
from zkevm.state_keys import Address, balance_key, nonce_key

HASHDB_SERVICE = "hashdb.v1.HashDBService"


class MemoryAccountState:
    """Accounts in a dict; an account never set has nonce 0 and balance 0."""

    def __init__(self, accounts: Mapping[bytes, tuple[int, int]] | None = None) -> None:
        """`accounts`: address → (nonce, balance)."""
        self._accounts: dict[bytes, tuple[int, int]] = dict(accounts or {})

    def set_account(self, address: bytes, *, nonce: int | None = None, balance: int | None = None) -> None:
        old_nonce, old_balance = self._accounts.get(address, (0, 0))
        self._accounts[address] = (
            old_nonce if nonce is None else nonce,
            old_balance if balance is None else balance,
        )

    async def get_nonce(self, address: Address) -> int:
        return self._accounts.get(address, (0, 0))[0]

    async def get_balance(self, address: Address) -> int:
        return self._accounts.get(address, (0, 0))[1]


class StateRootSource(Protocol):
    async def latest_state_root(self) -> H4: ...


@dataclass(frozen=True, slots=True)
class FixedStateRoot:
    """Always the same root: the seam until the StateDB's latest root is wired in."""

    root: H4

    async def latest_state_root(self) -> H4:
        return self.root


def _fea(h: H4) -> hashdb_pb.Fea:
    return hashdb_pb.Fea(fe0=h[0], fe1=h[1], fe2=h[2], fe3=h[3])


class HashDBAccountState:
    """Nonce and balance leaves read from the HashDB (`hashdb.v1` GetMany), one call per read."""

    def __init__(self, channel: aio.Channel, roots: StateRootSource, timeout_s: float = 5.0) -> None:
        self._roots = roots
        self._get_many = UnaryMethod[hashdb_pb.GetManyRequest, hashdb_pb.GetManyResponse](
            channel, f"/{HASHDB_SERVICE}/GetMany", hashdb_pb.GetManyResponse, timeout_s
        )

    async def _leaf(self, key: H4) -> int:
        root = await self._roots.latest_state_root()
        try:
            response = await self._get_many(hashdb_pb.GetManyRequest(root=_fea(root), keys=[_fea(key)]))
        except grpc.aio.AioRpcError as exc:
            raise Unavailable(
                f"the HashDB could not read the state: {exc.code().name}: {exc.details()}"
            ) from exc
        return int(response.values[0], 16)

    async def get_nonce(self, address: Address) -> int:
        return await self._leaf(nonce_key(address))

    async def get_balance(self, address: Address) -> int:
        return await self._leaf(balance_key(address))

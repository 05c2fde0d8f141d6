"""Where the pool reads a sender's nonce and balance: implementations of `AccountStateReader`.

    MemoryAccountState   a dict, for unit tests and in-process integration tests
    HashDBAccountState   the nonce and balance leaves of the state tree (spec §4.1), read with the
                         HashDB's GetMany at the root a `StateRootSource` names; concurrent reads
                         share calls (one GetMany for every account queued while calls are in
                         flight), so under load an admission costs a fraction of a call

The root is the StateDB's latest L2 state root (`StateDBLatestRoot`, with ZKSEQ_POOL_STATEDB_URL): the
sequencer writes a block only after the HashDB reports its nodes stored, so that root can always be
read. Before the first block exists it falls back to ZKSEQ_POOL_STATE_ROOT (the genesis root); with
no StateDB configured, `FixedStateRoot` reads at that root only. The pool keeps its own next
nonce per sender (raised by MarkIncluded), so a state that lags behind the sequencer never lets a
stale nonce in; a lagging balance can only let a transaction in that the executor then refuses
(MarkFailed with BALANCE).
"""

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import grpc
from grpc import aio

from protos.hashdb.v1 import hashdb_pb2 as hashdb_pb
from services.common.coalesce import Coalescer
from services.common.errors import Unavailable
from services.common.grpc_client import UnaryMethod
from zkevm.field import H4, bytes_to_h4
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

    async def account(self, address: Address) -> tuple[int, int]:
        return self._accounts.get(address, (0, 0))


class StateRootSource(Protocol):
    async def latest_state_root(self) -> H4: ...


@dataclass(frozen=True, slots=True)
class FixedStateRoot:
    """Always the same root: the seam until the StateDB's latest root is wired in."""

    root: H4

    async def latest_state_root(self) -> H4:
        return self.root


class _BlockWithRoot(Protocol):
    @property
    def state_root(self) -> bytes: ...


class LatestBlockReader(Protocol):
    """What `StateDBLatestRoot` needs of the StateDB's block repository (synchronous)."""

    def latest_block_number(self) -> int | None: ...
    def block_by_number(self, number: int) -> _BlockWithRoot | None: ...


class StateDBLatestRoot:
    """The state root of the latest L2 block in the StateDB, or `fallback` while there is none.

    The StateDB is read in a worker thread at most once per `cache_s`, so a burst of admissions
    costs one query.
    """

    def __init__(
        self,
        blocks: LatestBlockReader,
        fallback: H4 | None,
        cache_s: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._blocks = blocks
        self._fallback = fallback
        self._cache_s = cache_s
        self._clock = clock
        self._cached: tuple[float, H4] | None = None

    def _read(self) -> H4 | None:
        number = self._blocks.latest_block_number()
        if number is None:
            return None
        block = self._blocks.block_by_number(number)
        return None if block is None else bytes_to_h4(bytes(block.state_root))

    async def latest_state_root(self) -> H4:
        now = self._clock()
        if self._cached is not None and now - self._cached[0] < self._cache_s:
            return self._cached[1]
        root = await asyncio.to_thread(self._read)
        if root is None:
            if self._fallback is None:
                raise Unavailable("the StateDB has no L2 block yet and no ZKSEQ_POOL_STATE_ROOT is set")
            return self._fallback
        self._cached = (now, root)
        return root


def _fea(h: H4) -> hashdb_pb.Fea:
    return hashdb_pb.Fea(fe0=h[0], fe1=h[1], fe2=h[2], fe3=h[3])


class HashDBAccountState:
    """Nonce and balance leaves read from the HashDB (`hashdb.v1` GetMany).

    Both leaves of an account are fetched together and kept by (root, address): the state at a
    root never changes, so the cache is exact, and the pool's get_nonce-then-get_balance costs one
    read. A new root simply misses, and under load the root changes with every L2 block, so reads
    are coalesced (`services.common.coalesce`): a read goes out at once while fewer than
    `max_in_flight` GetMany calls are in flight; otherwise it waits, and when a call returns, the
    next one carries every account queued meanwhile at one root (nonce and balance keys for each,
    an account queued twice asked once). A call that fails fails all its readers with `Unavailable`.
    """

    def __init__(
        self,
        channel: aio.Channel,
        roots: StateRootSource,
        timeout_s: float = 5.0,
        cache_entries: int = 65_536,
        *,
        max_in_flight: int = 3,
        max_accounts_per_call: int = 256,
    ) -> None:
        self._roots = roots
        self._get_many = UnaryMethod[hashdb_pb.GetManyRequest, hashdb_pb.GetManyResponse](
            channel, f"/{HASHDB_SERVICE}/GetMany", hashdb_pb.GetManyResponse, timeout_s
        )
        self._cache: OrderedDict[tuple[H4, bytes], tuple[int, int]] = OrderedDict()
        self._cache_entries = cache_entries
        self._reads = Coalescer[H4, Address, tuple[int, int]](
            self._read, max_in_flight=max_in_flight, max_batch=max_accounts_per_call
        )

    @property
    def calls(self) -> int:
        """GetMany calls made so far."""
        return self._reads.calls

    async def account(self, address: Address) -> tuple[int, int]:
        """(nonce, balance) of `address` at the latest root."""
        root = await self._roots.latest_state_root()
        cached = self._cache.get((root, address))
        if cached is not None:
            self._cache.move_to_end((root, address))
            return cached
        return await self._reads.get(root, address)

    async def _read(self, root: H4, addresses: Sequence[Address]) -> list[tuple[int, int] | Exception]:
        """One GetMany at `root` for the nonce and balance of each of `addresses`."""
        keys: list[hashdb_pb.Fea] = []
        for address in addresses:
            keys += (_fea(nonce_key(address)), _fea(balance_key(address)))
        try:
            response = await self._get_many(hashdb_pb.GetManyRequest(root=_fea(root), keys=keys))
        except grpc.aio.AioRpcError as exc:
            raise Unavailable(
                f"the HashDB could not read the state: {exc.code().name}: {exc.details()}"
            ) from exc
        values = response.values
        if len(values) != len(keys):
            raise Unavailable(f"the HashDB answered {len(values)} values to {len(keys)} keys")
        pairs: list[tuple[int, int] | Exception] = []
        for i, address in enumerate(addresses):
            pair = (int(values[2 * i], 16), int(values[2 * i + 1], 16))
            self._cache[(root, address)] = pair
            pairs.append(pair)
        while len(self._cache) > self._cache_entries:
            self._cache.popitem(last=False)
        return pairs

    async def get_nonce(self, address: Address) -> int:
        return (await self.account(address))[0]

    async def get_balance(self, address: Address) -> int:
        return (await self.account(address))[1]

"""`HashDBAccountState` against a real HashDB server (in process, port 0): the nonce and balance
leaves at the root its source names, one GetMany per account and root, and UNAVAILABLE when the
HashDB cannot answer."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from protos.hashdb.v1 import hashdb_pb2 as hashdb_pb
from services.common.errors import Unavailable
from services.hashdb.app import RunningHashDB, start_hashdb
from services.hashdb.client import HashDBClient
from services.hashdb.config import HashDBConfig
from services.hashdb.stores.base import MemoryStore
from services.pool.state import HashDBAccountState
from tests.integration.pool_fixtures import account
from zkevm.field import H4, ZERO_H4
from zkevm.genesis import GenesisAccount, genesis_writes
from zkevm.state_keys import Address

pytestmark = pytest.mark.integration

ALICE = account("state-alice")
BOB = account("state-bob")


@dataclass
class MovableRoot:
    root: H4

    async def latest_state_root(self) -> H4:
        return self.root


def fea(h: H4) -> hashdb_pb.Fea:
    return hashdb_pb.Fea(fe0=h[0], fe1=h[1], fe2=h[2], fe3=h[3])


async def write(client: HashDBClient, root: H4, accounts: list[GenesisAccount]) -> H4:
    writes = [hashdb_pb.KeyValue(key=fea(k), value=format(v, "x")) for k, v in genesis_writes(accounts)]
    r = (await client.SetMany(hashdb_pb.SetManyRequest(old_root=fea(root), writes=writes))).new_root
    return (r.fe0, r.fe1, r.fe2, r.fe3)


@pytest.fixture
async def hashdb(tmp_path: Path) -> AsyncIterator[RunningHashDB]:
    config = HashDBConfig(grpc_host="127.0.0.1", grpc_port=0, metrics_enabled=False, shutdown_grace_s=0.5)
    running = await start_hashdb(config, store=MemoryStore())
    yield running
    await running.stop()


class CountingChannel:
    """How many GetMany calls the reader makes (wraps the real channel's unary_unary)."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._channel = channel
        self.calls = 0

    def unary_unary(self, *args: object, **kwargs: object) -> object:
        inner = self._channel.unary_unary(*args, **kwargs)  # type: ignore[arg-type]

        def call(*a: object, **k: object) -> object:
            self.calls += 1
            return inner(*a, **k)  # type: ignore[arg-type]

        return call


async def test_reads_follow_the_root_and_cost_one_call_per_account_and_root(hashdb: RunningHashDB) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{hashdb.port}") as channel:
        client = HashDBClient(channel)
        first = await write(client, ZERO_H4, [GenesisAccount(ALICE.address, balance=10**18, nonce=3)])
        second = await write(client, first, [GenesisAccount(ALICE.address, balance=5, nonce=4)])
        roots = MovableRoot(first)
        counting = CountingChannel(channel)
        state = HashDBAccountState(counting, roots)  # type: ignore[arg-type]
        assert (await state.get_nonce(ALICE.address), await state.get_balance(ALICE.address)) == (3, 10**18)
        assert counting.calls == 1
        assert await state.get_nonce(BOB.address) == 0 and await state.get_balance(BOB.address) == 0
        assert counting.calls == 2
        roots.root = second
        assert (await state.get_nonce(ALICE.address), await state.get_balance(ALICE.address)) == (4, 5)
        assert counting.calls == 3
        roots.root = first  # an older root still reads as it was
        assert await state.get_nonce(ALICE.address) == 3 and counting.calls == 3


async def test_an_unknown_root_or_no_hashdb_is_unavailable(hashdb: RunningHashDB) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{hashdb.port}") as channel:
        state = HashDBAccountState(channel, MovableRoot((1, 2, 3, 4)), timeout_s=5)
        with pytest.raises(Unavailable, match="the HashDB could not read the state: NOT_FOUND"):
            await state.get_nonce(Address(ALICE.address))
    async with grpc.aio.insecure_channel("127.0.0.1:1") as channel:
        state = HashDBAccountState(channel, MovableRoot(ZERO_H4), timeout_s=1)
        with pytest.raises(Unavailable, match="the HashDB could not read the state: UNAVAILABLE"):
            await state.get_balance(Address(ALICE.address))

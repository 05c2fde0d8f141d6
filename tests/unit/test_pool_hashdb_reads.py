"""`HashDBAccountState` over a fake HashDB GetMany: concurrent admissions share GetMany calls (one
root per call, nonce and balance keys per account), each reader gets its own account, the exact
cache still answers repeats, and a failed call fails its readers with `Unavailable`."""

import asyncio
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from protos.hashdb.v1 import hashdb_pb2 as hashdb_pb
from services.common.errors import Unavailable
from services.pool.state import HashDBAccountState
from zkevm.field import H4
from zkevm.state_keys import Address, balance_key, nonce_key

ROOT_A: H4 = (1, 2, 3, 4)
ROOT_B: H4 = (5, 6, 7, 8)


def address(i: int) -> Address:
    return Address(i.to_bytes(20, "big"))


def h4(fea: hashdb_pb.Fea) -> H4:
    return (fea.fe0, fea.fe1, fea.fe2, fea.fe3)


def expected(root: H4, i: int) -> tuple[int, int]:
    """Account i at a root: nonce i (+100 at ROOT_B), balance 1000 + i."""
    return (i + (100 if root == ROOT_B else 0), 1000 + i)


class FakeHashDB:
    """A channel whose GetMany answers `expected` for the first 1000 addresses, holding each call
    until `gate` is set; it records every call's root and keys."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.requests: list[hashdb_pb.GetManyRequest] = []
        self.error: grpc.StatusCode | None = None
        self.leaves: dict[tuple[H4, H4], int] = {}
        for root in (ROOT_A, ROOT_B):
            for i in range(1000):
                nonce, balance = expected(root, i)
                self.leaves[(root, nonce_key(address(i)))] = nonce
                self.leaves[(root, balance_key(address(i)))] = balance

    def unary_unary(self, path: str, **_: Any) -> Any:
        assert path == "/hashdb.v1.HashDBService/GetMany"

        async def call(request: hashdb_pb.GetManyRequest, timeout: float) -> hashdb_pb.GetManyResponse:
            self.requests.append(request)
            await self.gate.wait()
            if self.error is not None:
                raise grpc.aio.AioRpcError(
                    self.error, grpc.aio.Metadata(), grpc.aio.Metadata(), "it broke", None
                )
            root = h4(request.root)
            values = [format(self.leaves.get((root, h4(k)), 0), "x") for k in request.keys]
            return hashdb_pb.GetManyResponse(values=values)

        return call

    def keys_per_call(self) -> list[int]:
        return [len(r.keys) for r in self.requests]


@dataclass
class Root:
    root: H4 = ROOT_A

    async def latest_state_root(self) -> H4:
        return self.root


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def reader(hashdb: FakeHashDB, roots: Root, max_in_flight: int = 2) -> HashDBAccountState:
    return HashDBAccountState(hashdb, roots, max_in_flight=max_in_flight)  # type: ignore[arg-type]


async def test_concurrent_reads_share_calls_and_each_gets_its_own_account() -> None:
    hashdb = FakeHashDB()
    state = reader(hashdb, Root())
    n = 200
    reads = [asyncio.create_task(state.account(address(i))) for i in range(n)]
    await settle()
    assert hashdb.keys_per_call() == [2, 2]  # two went out alone at once; the rest wait
    hashdb.gate.set()
    assert await asyncio.gather(*reads) == [expected(ROOT_A, i) for i in range(n)]
    assert state.calls == len(hashdb.requests) == 3
    assert hashdb.keys_per_call() == [2, 2, 2 * (n - 2)]
    # the keys of the shared call: nonce then balance of each account, in the order they queued
    shared = [h4(k) for k in hashdb.requests[2].keys]
    assert shared[:4] == [
        nonce_key(address(2)),
        balance_key(address(2)),
        nonce_key(address(3)),
        balance_key(address(3)),
    ]
    # the exact cache answers both leaves of an account already read at this root
    assert (await state.get_nonce(address(7)), await state.get_balance(address(7))) == expected(ROOT_A, 7)
    assert state.calls == 3


async def test_reads_at_two_roots_go_in_separate_calls_and_a_repeated_account_is_asked_once() -> None:
    hashdb = FakeHashDB()
    roots = Root()
    state = reader(hashdb, roots, max_in_flight=1)
    first = asyncio.create_task(state.account(address(0)))
    await settle()
    at_a = [asyncio.create_task(state.account(address(i))) for i in (1, 2, 1)]
    await settle()
    roots.root = ROOT_B
    at_b = [asyncio.create_task(state.account(address(i))) for i in (1, 3)]
    await settle()
    hashdb.gate.set()
    assert await first == expected(ROOT_A, 0)
    assert await asyncio.gather(*at_a) == [expected(ROOT_A, 1), expected(ROOT_A, 2), expected(ROOT_A, 1)]
    assert await asyncio.gather(*at_b) == [expected(ROOT_B, 1), expected(ROOT_B, 3)]
    assert [h4(r.root) for r in hashdb.requests] == [ROOT_A, ROOT_A, ROOT_B]
    assert hashdb.keys_per_call() == [2, 4, 4]


async def test_a_failed_call_fails_every_reader_of_it_with_unavailable() -> None:
    hashdb = FakeHashDB()
    state = reader(hashdb, Root(), max_in_flight=1)
    reads = [asyncio.create_task(state.account(address(i))) for i in range(5)]
    await settle()
    hashdb.error = grpc.StatusCode.UNAVAILABLE
    hashdb.gate.set()
    results = await asyncio.gather(*reads, return_exceptions=True)
    assert len(hashdb.requests) == 2
    for result in results:
        assert isinstance(result, Unavailable)
        assert str(result) == "the HashDB could not read the state: UNAVAILABLE: it broke"
    hashdb.error = None  # nothing failed was cached: the next read asks again
    assert await state.account(address(3)) == expected(ROOT_A, 3)
    assert len(hashdb.requests) == 3


async def test_a_cancelled_reader_does_not_break_the_others() -> None:
    hashdb = FakeHashDB()
    state = reader(hashdb, Root(), max_in_flight=1)
    first = asyncio.create_task(state.account(address(0)))
    await settle()
    queued = [asyncio.create_task(state.account(address(i))) for i in (1, 2, 3)]
    await settle()
    first.cancel()
    queued[1].cancel()
    await settle()
    hashdb.gate.set()
    assert list(await asyncio.gather(queued[0], queued[2])) == [expected(ROOT_A, 1), expected(ROOT_A, 3)]
    for cancelled in (first, queued[1]):
        with pytest.raises(asyncio.CancelledError):
            await cancelled
    assert hashdb.keys_per_call() == [2, 4]  # account 2 had no reader left: not asked
    # the cancelled first reader's call still completed and filled the cache
    assert await state.account(address(0)) == expected(ROOT_A, 0) and len(hashdb.requests) == 2

"""jsonrpc's `GrpcPool.add` over a fake pool channel: concurrent sends share AddTransactions calls,
and each sender gets what AddTransaction alone would answer it (its hash, the pool's refusal as a
ServerError with the pool's message, BackendUnavailable when the pool cannot serve)."""

import asyncio
from typing import Any

import grpc
import pytest

from protos.pool.v1 import pool_pb2 as pool_pb
from services.jsonrpc.errors import BackendUnavailable, ServerError
from services.jsonrpc.grpc_backends import GrpcPool
from zkevm.hashing import keccak256

PATH = "/zkseq.pool.v1.PoolService/"


def rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details, None)


def refusal(raw: bytes) -> tuple[grpc.StatusCode, str] | None:
    """The fake pool's rule: b"low…" is refused with nonce too low, b"down…" finds Redis down."""
    if raw.startswith(b"low"):
        return grpc.StatusCode.FAILED_PRECONDITION, f"nonce too low: {raw.decode()}"
    if raw.startswith(b"down"):
        return grpc.StatusCode.UNAVAILABLE, "redis is down"
    return None


class FakePool:
    """A channel to a pool that answers AddTransactions (unless `batches` is off: UNIMPLEMENTED)
    and AddTransaction, holding each call until `gate` is set."""

    def __init__(self, batches: bool = True) -> None:
        self.gate = asyncio.Event()
        self.batches = batches
        self.batch_sizes: list[int] = []
        self.singles = 0
        self.call_error: grpc.aio.AioRpcError | None = None

    def unary_unary(self, path: str, **_: Any) -> Any:
        async def add_many(request: pool_pb.AddTransactionsRequest, timeout: float) -> Any:
            self.batch_sizes.append(len(request.raw))
            await self.gate.wait()
            if not self.batches:
                raise rpc_error(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
            if self.call_error is not None:
                raise self.call_error
            results = []
            for raw in request.raw:
                refused = refusal(raw)
                if refused is None:
                    results.append(pool_pb.AddTransactionResult(hash=keccak256(raw)))
                else:
                    results.append(pool_pb.AddTransactionResult(code=refused[0].value[0], message=refused[1]))
            return pool_pb.AddTransactionsResponse(results=results)

        async def add_one(request: pool_pb.AddTransactionRequest, timeout: float) -> Any:
            self.singles += 1
            await self.gate.wait()
            refused = refusal(request.raw)
            if refused is not None:
                raise rpc_error(*refused)
            return pool_pb.AddTransactionResponse(hash=keccak256(request.raw))

        async def unused(request: Any, timeout: float) -> Any:
            raise AssertionError(f"{path} is not expected")

        return {PATH + "AddTransactions": add_many, PATH + "AddTransaction": add_one}.get(path, unused)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def client(fake: FakePool) -> GrpcPool:
    return GrpcPool(fake, max_in_flight=2)  # type: ignore[arg-type]


async def outcomes(pool: GrpcPool, fake: FakePool, raws: list[bytes]) -> list[bytes | BaseException]:
    sends = [asyncio.create_task(pool.add(raw)) for raw in raws]
    await settle()
    fake.gate.set()
    return list(await asyncio.gather(*sends, return_exceptions=True))


def check(raws: list[bytes], results: list[bytes | BaseException]) -> None:
    """Each sender got its own answer, as AddTransaction alone would give it."""
    for raw, result in zip(raws, results, strict=True):
        if raw.startswith(b"low"):
            assert type(result) is ServerError and result.message == f"nonce too low: {raw.decode()}"
        elif raw.startswith(b"down"):
            assert type(result) is BackendUnavailable
            assert result.message == "the transaction pool is unavailable (UNAVAILABLE): redis is down"
        else:
            assert result == keccak256(raw)


RAWS = [b"low 1" if i % 7 == 3 else b"down" if i == 50 else f"tx {i}".encode() for i in range(120)]


async def test_concurrent_sends_share_calls_and_each_sender_gets_its_own_answer() -> None:
    fake = FakePool()
    pool = client(fake)
    results = await outcomes(pool, fake, RAWS)
    check(RAWS, results)
    assert fake.batch_sizes == [1, 1, 118] and fake.singles == 0 and pool.calls == 3
    # at low load a send goes out at once, alone
    assert await pool.add(b"tx alone") == keccak256(b"tx alone") and fake.batch_sizes[-1] == 1


async def test_a_failed_call_gives_each_of_its_senders_the_backend_error() -> None:
    fake = FakePool()
    fake.call_error = rpc_error(grpc.StatusCode.UNAVAILABLE, "connection refused")
    results = await outcomes(client(fake), fake, [b"tx 1", b"tx 2", b"tx 3", b"tx 4"])
    for result in results:
        assert isinstance(result, BackendUnavailable)
        assert result.message == "the transaction pool is unavailable (UNAVAILABLE): connection refused"


async def test_a_pool_without_add_transactions_is_sent_one_call_per_transaction() -> None:
    fake = FakePool(batches=False)
    pool = client(fake)
    results = await outcomes(pool, fake, RAWS)
    check(RAWS, results)
    assert fake.batch_sizes == [1, 1]  # the first calls found out, the rest went one by one
    assert fake.singles == len(RAWS)
    assert await pool.add(b"tx later") == keccak256(b"tx later") and fake.batch_sizes == [1, 1]


async def test_a_cancelled_sender_does_not_disturb_the_others() -> None:
    fake = FakePool()
    pool = client(fake)
    raws = [f"tx {i}".encode() for i in range(6)]
    sends = [asyncio.create_task(pool.add(raw)) for raw in raws]
    await settle()
    sends[0].cancel()  # in flight
    sends[4].cancel()  # queued: never sent
    await settle()
    fake.gate.set()
    for i in (1, 2, 3, 5):
        assert await sends[i] == keccak256(raws[i])
    for i in (0, 4):
        with pytest.raises(asyncio.CancelledError):
            await sends[i]
    assert fake.batch_sizes == [1, 1, 3]

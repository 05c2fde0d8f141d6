"""jsonrpc's pool client (`GrpcPool`) against the real pool service and Redis: concurrent sends
share AddTransactions calls, and each sender gets exactly what AddTransaction alone answers."""

import asyncio

import pytest

from protos.pool.v1 import pool_pb2 as pb
from services.jsonrpc.errors import BackendUnavailable, ServerError
from services.jsonrpc.grpc_backends import GrpcPool
from services.pool.state import MemoryAccountState
from tests.integration.pool_fixtures import (
    ETHER,
    GWEI,
    account,
    pool_config,
    require_redis,
    rpc_error,
    running_pool,
    tx_hash,
)

pytestmark = pytest.mark.integration

SENDERS = [account(f"coalesced-{i}") for i in range(40)]


@pytest.fixture(scope="module", autouse=True)
def _redis_is_up() -> None:
    require_redis()


async def test_concurrent_sends_share_calls_and_get_what_add_transaction_answers() -> None:
    state = MemoryAccountState()
    for sender in SENDERS:
        state.set_account(sender.address, nonce=0, balance=ETHER)
    async with running_pool(pool_config(), state) as harness:
        known = SENDERS[0].tx(0)
        await harness.client.AddTransaction(pb.AddTransactionRequest(raw=known))
        raws = [known, b"\xc3\x01\x02"]
        for i, sender in enumerate(SENDERS[1:], start=1):
            raws.append(
                sender.tx(0, GWEI - 1) if i % 5 == 0 else sender.tx(0, value=2 * ETHER if i % 7 == 0 else 1)
            )
        pool = GrpcPool(harness.channel, max_in_flight=2)
        results = await asyncio.gather(*(pool.add(raw) for raw in raws), return_exceptions=True)
        # two went out alone at once, every other send waited and went in the third call
        assert pool.calls == 3
        accepted = 0
        for raw, result in zip(raws, results, strict=True):
            if isinstance(result, bytes):
                assert result == tx_hash(raw)
                accepted += 1
                continue
            assert type(result) is ServerError, result
            # the refusal changed nothing: the single call now answers the same message
            error = await rpc_error(harness.client.AddTransaction(pb.AddTransactionRequest(raw=raw)))
            assert result.message == error.details()
        messages = [r.message for r in results if isinstance(r, ServerError)]
        assert sum(m.startswith("already known") for m in messages) == 1
        assert sum(m.startswith("invalid tx input") for m in messages) == 1
        assert sum(m.startswith("gas price too low") for m in messages) == 7
        assert sum(m.startswith("insufficient funds") for m in messages) == 4  # i = 7, 14, 21, 28
        assert accepted == len(raws) - 13
        stats = await harness.client.GetPoolStats(pb.GetPoolStatsRequest())
        assert stats.pending == accepted + 1


async def test_a_pool_that_cannot_be_reached_is_backend_unavailable_for_every_sender() -> None:
    async with running_pool(pool_config()) as harness:
        pool = GrpcPool(harness.channel, timeout_s=5, max_in_flight=1)
        await harness.running.stop()
        results = await asyncio.gather(*(pool.add(s.tx(0)) for s in SENDERS[:5]), return_exceptions=True)
    for result in results:
        assert type(result) is BackendUnavailable, result
        assert result.message.startswith("the transaction pool is unavailable (UNAVAILABLE)")

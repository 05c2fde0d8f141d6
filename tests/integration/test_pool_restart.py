"""Nothing is lost across restarts: of the pool, and of Redis itself (kill -9, append-only file).

Each test runs a redis-server of its own on a free port, with `appendonly yes` and
`appendfsync always`, the configuration under which an acknowledged write survives a crash.
The last test runs the pool as its own process (`python -m services.pool`), reading nonces and
balances from a HashDB process, as in production.
"""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2

from protos.hashdb.v1 import hashdb_pb2 as hashdb_pb
from protos.pool.v1 import pool_pb2 as pb
from services.common.process import ServiceStartError, spawn_service
from services.hashdb.client import HashDBClient
from services.pool.client import PoolClient
from services.pool.state import MemoryAccountState
from tests.integration.pool_fixtures import (
    ETHER,
    GWEI,
    FakeClock,
    PoolHarness,
    PrivateRedis,
    account,
    pool_config,
    rpc_error,
    running_pool,
    tx_hash,
)
from zkevm.field import ZERO_H4, h4_to_hex
from zkevm.genesis import GenesisAccount, genesis_writes

pytestmark = pytest.mark.integration

SENDERS = [account(f"restart-{i}") for i in range(5)]


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def snapshot(pool: PoolHarness, hashes: list[bytes]) -> tuple[object, ...]:
    """Everything a caller can see of the pool."""
    stats = await pool.client.GetPoolStats(pb.GetPoolStatsRequest())
    ready = await pool.client.GetReadyTransactions(pb.GetReadyTransactionsRequest(limit=100))
    txs = [await pool.client.GetTransaction(pb.GetTransactionRequest(hash=h)) for h in hashes]
    nonces = [
        await pool.client.GetPendingNonce(pb.GetPendingNonceRequest(address=a.address)) for a in SENDERS
    ]
    return stats, ready, txs, nonces


async def test_restarting_the_pool_and_killing_redis_loses_nothing(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    state = MemoryAccountState({a.address: (0, 10 * ETHER) for a in SENDERS})
    clock = FakeClock()
    config = pool_config(redis_url=private_redis.url)
    hashes: list[bytes] = []
    async with running_pool(config, state, clock, keep_keys=True) as pool:
        for nonce in range(4):
            for i, sender in enumerate(SENDERS):
                raw = sender.tx(nonce, (1 + (i * 7 + nonce) % 5) * GWEI)
                hashes.append((await pool.client.AddTransaction(pb.AddTransactionRequest(raw=raw))).hash)
                clock.advance(0.001)
        replacement = SENDERS[0].tx(3, 50 * GWEI)
        hashes.append((await pool.client.AddTransaction(pb.AddTransactionRequest(raw=replacement))).hash)
        await pool.client.MarkSelected(pb.MarkSelectedRequest(hash=hashes[1]))
        await pool.client.MarkIncluded(pb.MarkIncludedRequest(hash=hashes[2]))
        hashes.remove(hashes[2])
        await pool.client.MarkInvalid(pb.MarkInvalidRequest(hash=hashes[3], reason="out of counters"))
        before = await snapshot(pool, hashes)

        # Redis dies: calls fail with UNAVAILABLE and a reason, the pool keeps serving
        private_redis.kill()
        error = await rpc_error(pool.client.AddTransaction(pb.AddTransactionRequest(raw=SENDERS[4].tx(4))))
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert (error.details() or "").startswith("the pool's Redis is unreachable")
        error = await rpc_error(pool.client.GetPoolStats(pb.GetPoolStatsRequest()))
        assert error.code() == grpc.StatusCode.UNAVAILABLE

        # Redis is back from its append-only file: the same pool process finds everything
        private_redis.start()
        assert await snapshot(pool, hashes) == before

    # a new pool process on the same Redis: still everything, and it goes on where the old one stopped
    async with running_pool(config, state, clock) as pool:
        assert await snapshot(pool, hashes) == before
        late = SENDERS[4].tx(4, GWEI)  # nonce 3 of this sender is pending and not yet included
        await pool.client.AddTransaction(pb.AddTransactionRequest(raw=late))
        ready = await pool.client.GetReadyTransactions(pb.GetReadyTransactionsRequest(limit=100))
        assert tx_hash(late) not in [t.hash for t in ready.transactions]
        stats = await pool.client.GetPoolStats(pb.GetPoolStatsRequest())
        assert stats.pending == before[0].pending + 1  # type: ignore[attr-defined]


async def test_a_graceful_redis_restart_keeps_the_arrival_order(private_redis: PrivateRedis) -> None:
    state = MemoryAccountState({a.address: (0, 10 * ETHER) for a in SENDERS})
    config = pool_config(redis_url=private_redis.url)
    async with running_pool(config, state) as pool:
        await pool.client.AddTransaction(pb.AddTransactionRequest(raw=SENDERS[0].tx(0, 2 * GWEI)))
        private_redis.stop()  # SIGTERM: Redis finishes its AOF and exits
        private_redis.start()
        await pool.client.AddTransaction(pb.AddTransactionRequest(raw=SENDERS[1].tx(0, 2 * GWEI)))
        ready = await pool.client.GetReadyTransactions(pb.GetReadyTransactionsRequest())
        # same price: first come, first served, across the restart (the arrival counter survived)
        assert [t.sender for t in ready.transactions] == [SENDERS[0].address, SENDERS[1].address]


async def test_the_pool_process_reads_state_from_the_hashdb_and_restarts(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    alice, bob = SENDERS[0], SENDERS[1]
    hashdb = await spawn_service(
        "services.hashdb",
        {
            "ZKSEQ_HASHDB_GRPC_ADDRESS": "127.0.0.1:0",
            "ZKSEQ_HASHDB_METRICS_ENABLED": "false",
            "ZKSEQ_HASHDB_LMDB_PATH": str(tmp_path / "lmdb"),
            "ZKSEQ_HASHDB_LMDB_MAP_SIZE_BYTES": str(64 * 1024**2),
        },
        "hashdb_serving",
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{hashdb.ready['port']}") as channel:
            client = HashDBClient(channel)
            writes = genesis_writes([GenesisAccount(alice.address, balance=ETHER, nonce=3)])
            many = await client.SetMany(
                hashdb_pb.SetManyRequest(
                    old_root=hashdb_pb.Fea(),
                    writes=[
                        hashdb_pb.KeyValue(
                            key=hashdb_pb.Fea(fe0=k[0], fe1=k[1], fe2=k[2], fe3=k[3]), value=format(v, "x")
                        )
                        for k, v in writes
                    ],
                    persistence=hashdb_pb.PERSISTENCE_DATABASE,
                )
            )
            flush = await client.Flush(hashdb_pb.FlushRequest(persistence=hashdb_pb.PERSISTENCE_DATABASE))
            async with asyncio.timeout(10):
                while (await client.GetFlushStatus(empty_pb2.Empty())).stored_flush_id < flush.flush_id:
                    await asyncio.sleep(0.01)
        root = (many.new_root.fe0, many.new_root.fe1, many.new_root.fe2, many.new_root.fe3)
        assert root != ZERO_H4
        env = {
            "ZKSEQ_POOL_GRPC_ADDRESS": "127.0.0.1:0",
            "ZKSEQ_POOL_METRICS_ENABLED": "false",
            "ZKSEQ_POOL_REDIS_URL": private_redis.url,
            "ZKSEQ_POOL_HASHDB_URL": f"127.0.0.1:{hashdb.ready['port']}",
            "ZKSEQ_POOL_STATE_ROOT": h4_to_hex(root),
        }
        raw = alice.tx(3, GWEI, value=ETHER // 2)
        pool = await spawn_service("services.pool", env, "pool_serving")
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{pool.ready['port']}") as channel:
                pool_client = PoolClient(channel)
                await pool_client.AddTransaction(pb.AddTransactionRequest(raw=raw))
                for bad, message in (
                    (alice.tx(2), "nonce too low: next nonce 3, tx nonce 2"),
                    (alice.tx(4, value=ETHER), "insufficient funds for gas * price + value"),
                    (
                        bob.tx(0),
                        "insufficient funds for gas * price + value: "
                        f"address 0x{bob.address.hex()} have 0 want",
                    ),
                ):
                    error = await rpc_error(pool_client.AddTransaction(pb.AddTransactionRequest(raw=bad)))
                    assert (error.details() or "").startswith(message), error.details()
                nonce = await pool_client.GetPendingNonce(pb.GetPendingNonceRequest(address=alice.address))
                assert (nonce.pending_nonce, nonce.state_nonce) == (4, 3)
        finally:
            assert await pool.stop() == 0
        assert any('"pool_stopped"' in line for line in pool.log_lines)

        private_redis.kill()
        private_redis.start()
        pool = await spawn_service("services.pool", env, "pool_serving")
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{pool.ready['port']}") as channel:
                got = await PoolClient(channel).GetTransaction(pb.GetTransactionRequest(hash=tx_hash(raw)))
                assert got.status == pb.TX_STATUS_PENDING and got.ready and got.transaction.raw == raw
        finally:
            assert await pool.stop() == 0
    finally:
        await hashdb.stop()


async def test_a_pool_without_a_state_root_does_not_start(private_redis: PrivateRedis) -> None:
    with pytest.raises(ServiceStartError) as error:
        await spawn_service(
            "services.pool", {"ZKSEQ_POOL_REDIS_URL": private_redis.url}, "pool_serving", timeout_s=20
        )
    assert "ZKSEQ_POOL_STATE_ROOT: required" in str(error.value)
    assert "exited with 2" in str(error.value)

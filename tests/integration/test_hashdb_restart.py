"""A restart loses nothing reported stored: `python -m services.hashdb` is killed after a flush is
reported stored (SIGKILL), or stopped right after a Flush (SIGTERM, graceful: it stores what was
flushed before it exits), then started again on the same store, LMDB or PostgreSQL."""

import asyncio
import signal
import socket
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2

from protos.hashdb.v1 import hashdb_pb2 as pb
from services.common.process import ServiceProcess, ServiceStartError, spawn_service
from services.hashdb.client import HashDBClient
from services.hashdb.wire import format_hash, h4_to_fea
from zkevm.field import H4, ZERO_H4

DATABASE = pb.PERSISTENCE_DATABASE


@pytest.fixture(params=["lmdb", "rocksdb", "postgres"])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "lmdb":
        return {"ZKSEQ_HASHDB_STORE": "lmdb", "ZKSEQ_HASHDB_LMDB_PATH": str(tmp_path / "lmdb")}
    if request.param == "rocksdb":
        return {"ZKSEQ_HASHDB_STORE": "rocksdb", "ZKSEQ_HASHDB_ROCKSDB_PATH": str(tmp_path / "rocksdb")}
    return {
        "ZKSEQ_HASHDB_STORE": "postgres",
        "ZKSEQ_HASHDB_PG_DSN": request.getfixturevalue("pg_dsn"),
        "ZKSEQ_HASHDB_PG_SCHEMA": request.getfixturevalue("pg_schema"),
    }


async def start(store_env: dict[str, str]) -> ServiceProcess:
    return await spawn_service(
        "services.hashdb",
        {
            "ZKSEQ_HASHDB_GRPC_ADDRESS": "127.0.0.1:0",
            "ZKSEQ_HASHDB_METRICS_ADDRESS": "127.0.0.1:0",
            "ZKSEQ_HASHDB_LMDB_MAP_SIZE_BYTES": str(256 * 1024**2),
            **store_env,
        },
        "hashdb_serving",
    )


async def write_batch(client: HashDBClient, root: H4, first_key: int, uuid: str) -> tuple[H4, int]:
    """Two transactions of a batch session, flushed; returns the final root and the flush id."""
    for tx in range(2):
        writes = [
            pb.KeyValue(key=h4_to_fea((first_key + tx * 10 + i, 1, 2, 3)), value=format(first_key + i, "x"))
            for i in range(10)
        ]
        response = await client.SetMany(
            pb.SetManyRequest(
                old_root=h4_to_fea(root), writes=writes, batch_uuid=uuid, tx=tx, persistence=DATABASE
            )
        )
        root = (response.new_root.fe0, response.new_root.fe1, response.new_root.fe2, response.new_root.fe3)
        await client.SemiFlush(
            pb.SemiFlushRequest(batch_uuid=uuid, new_state_root=format_hash(root), persistence=DATABASE)
        )
    flush = await client.Flush(
        pb.FlushRequest(batch_uuid=uuid, new_state_root=format_hash(root), persistence=DATABASE)
    )
    return root, flush.flush_id


async def read_batch(client: HashDBClient, root: H4, first_key: int) -> list[int]:
    keys = [h4_to_fea((first_key + tx * 10 + i, 1, 2, 3)) for tx in range(2) for i in range(10)]
    response = await client.GetMany(pb.GetManyRequest(root=h4_to_fea(root), keys=keys))
    return [int(v, 16) for v in response.values]


EXPECTED = [100 + i for i in range(10)] * 2


async def test_killed_after_stored_then_restarted(store_env: dict[str, str]) -> None:
    server = await start(store_env)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.ready['port']}") as channel:
            client = HashDBClient(channel, timeout_s=10)
            root, flush_id = await write_batch(client, ZERO_H4, 100, "batch-a")
            async with asyncio.timeout(10):
                while (status := await client.GetFlushStatus(empty_pb2.Empty())).stored_flush_id < flush_id:
                    await asyncio.sleep(0.005)
            prover_id = status.prover_id
            # a later batch that is never flushed: lost with the process, as the protocol allows
            unflushed = await client.SetMany(
                pb.SetManyRequest(
                    old_root=h4_to_fea(root),
                    writes=[pb.KeyValue(key=h4_to_fea((9, 9, 9, 9)), value="1")],
                    batch_uuid="batch-b",
                )
            )
    finally:
        server.send(signal.SIGKILL)
        assert await server.wait(10) == -signal.SIGKILL

    again = await start(store_env)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{again.ready['port']}") as channel:
            client = HashDBClient(channel, timeout_s=10)
            status = await client.GetFlushStatus(empty_pb2.Empty())
            assert status.stored_flush_id == status.last_flush_id == flush_id  # ids continue, nothing pending
            assert status.prover_id != prover_id  # a client can tell that unflushed sessions are gone
            assert await read_batch(client, root, 100) == EXPECTED
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await client.Get(pb.GetRequest(root=unflushed.new_root))
            assert error.value.code() == grpc.StatusCode.NOT_FOUND
            # and it keeps working on top of the restored root
            root2, flush_id2 = await write_batch(client, root, 200, "batch-c")
            assert flush_id2 == flush_id + 1
            assert await read_batch(client, root2, 100) == EXPECTED
    finally:
        assert await again.stop() == 0


async def test_sigterm_right_after_a_flush_stores_it_before_exiting(store_env: dict[str, str]) -> None:
    server = await start(store_env)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.ready['port']}") as channel:
            client = HashDBClient(channel, timeout_s=10)
            root, flush_id = await write_batch(client, ZERO_H4, 100, "batch-a")
    finally:
        assert await server.stop() == 0  # SIGTERM: graceful
    assert any('"event": "hashdb_stopped"' in line for line in server.log_lines)

    again = await start(store_env)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{again.ready['port']}") as channel:
            client = HashDBClient(channel, timeout_s=10)
            assert (await client.GetFlushStatus(empty_pb2.Empty())).stored_flush_id == flush_id
            assert await read_batch(client, root, 100) == EXPECTED
    finally:
        await again.stop()


async def test_an_invalid_configuration_is_refused_with_every_problem(tmp_path: Path) -> None:
    with pytest.raises(ServiceStartError) as error:
        await spawn_service(
            "services.hashdb",
            {"ZKSEQ_HASHDB_STORE": "postgres", "ZKSEQ_HASHDB_NODE_CACHE_ENTRIES": "lots"},
            "hashdb_serving",
        )
    message = str(error.value)
    assert "exited with 2" in message
    assert "ZKSEQ_HASHDB_PG_DSN: required" in message and "ZKSEQ_HASHDB_NODE_CACHE_ENTRIES: 'lots'" in message


async def test_an_unreachable_store_is_reported_at_start(tmp_path: Path) -> None:
    with pytest.raises(ServiceStartError) as error:
        await spawn_service(
            "services.hashdb",
            {"ZKSEQ_HASHDB_STORE": "postgres", "ZKSEQ_HASHDB_PG_DSN": "postgresql://nobody@127.0.0.1:1/none"},
            "hashdb_serving",
        )
    assert "exited with 1" in str(error.value) and "hashdb_start_failed" in str(error.value)


async def test_a_busy_metrics_port_is_reported_at_start(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(ServiceStartError) as error:
            await spawn_service(
                "services.hashdb",
                {
                    "ZKSEQ_HASHDB_GRPC_ADDRESS": "127.0.0.1:0",
                    "ZKSEQ_HASHDB_METRICS_ADDRESS": f"127.0.0.1:{busy.getsockname()[1]}",
                    "ZKSEQ_HASHDB_LMDB_PATH": str(tmp_path / "lmdb"),
                },
                "hashdb_serving",
            )
    assert "exited with 1" in str(error.value) and "Address already in use" in str(error.value)

"""The HashDB as a real gRPC server on a free port, over LMDB and over a real PostgreSQL server."""

import asyncio
import random
import struct
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import cast

import grpc
import pytest
from google.protobuf import empty_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.hashdb.v1 import hashdb_pb2 as pb
from services.hashdb.app import RunningHashDB, start_hashdb
from services.hashdb.client import HashDBClient
from services.hashdb.config import HashDBConfig
from services.hashdb.stores.base import MemoryStore
from services.hashdb.wire import format_hash, h4_to_fea
from tests.conftest import load_vector
from zkevm.bytecode import bytecode_hash
from zkevm.field import H4, ZERO_H4, P, hex_to_h4, int_to_h4, parse_int
from zkevm.nodestore import MemoryNodeStore, OverlayNodeStore
from zkevm.smt import SparseMerkleTree

DATABASE = pb.PERSISTENCE_DATABASE
TEMPORARY = pb.PERSISTENCE_TEMPORARY
CACHE = pb.PERSISTENCE_CACHE_UNSPECIFIED


def base_config(tmp_path: Path) -> HashDBConfig:
    return HashDBConfig(
        grpc_host="127.0.0.1",
        grpc_port=0,
        metrics_host="127.0.0.1",
        metrics_port=0,
        lmdb_path=tmp_path / "lmdb",
        lmdb_map_size_bytes=256 * 1024**2,
        flush_data_wait_s=5,
        shutdown_grace_s=1,
        drain_timeout_s=10,
    )


@pytest.fixture(params=["lmdb", "rocksdb", "postgres"])
async def config(request: pytest.FixtureRequest, tmp_path: Path) -> HashDBConfig:
    if request.param == "lmdb":
        return base_config(tmp_path)
    if request.param == "rocksdb":
        return replace(base_config(tmp_path), store="rocksdb", rocksdb_path=tmp_path / "rocksdb")
    return replace(
        base_config(tmp_path),
        store="postgres",
        pg_dsn=request.getfixturevalue("pg_dsn"),
        pg_schema=request.getfixturevalue("pg_schema"),
    )


@pytest.fixture
async def server(config: HashDBConfig) -> AsyncIterator[RunningHashDB]:
    running = await start_hashdb(config)
    yield running
    await running.stop()


@pytest.fixture
async def client(server: RunningHashDB) -> AsyncIterator[HashDBClient]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield HashDBClient(channel, timeout_s=10)


def h4(fea: pb.Fea) -> H4:
    return (fea.fe0, fea.fe1, fea.fe2, fea.fe3)


def kv(key: H4, value: int) -> pb.KeyValue:
    return pb.KeyValue(key=h4_to_fea(key), value=format(value, "x"))


async def set_key(
    client: HashDBClient,
    root: H4,
    key: H4,
    value: int,
    *,
    uuid: str = "",
    tx: int = 0,
    p: pb.Persistence = DATABASE,
) -> H4:
    request = pb.SetRequest(
        old_root=h4_to_fea(root),
        key=h4_to_fea(key),
        value=format(value, "x"),
        persistence=p,
        batch_uuid=uuid,
        tx=tx,
    )
    return h4((await client.Set(request)).new_root)


async def get_key(client: HashDBClient, root: H4, key: H4, uuid: str = "") -> int:
    response = await client.Get(pb.GetRequest(root=h4_to_fea(root), key=h4_to_fea(key), batch_uuid=uuid))
    return int(response.value, 16)


async def flush_and_wait(
    client: HashDBClient, uuid: str, root: H4 | None, p: pb.Persistence = DATABASE
) -> int:
    request = pb.FlushRequest(
        batch_uuid=uuid, new_state_root="" if root is None else format_hash(root), persistence=p
    )
    flush_id = (await client.Flush(request)).flush_id
    async with asyncio.timeout(10):
        while (await client.GetFlushStatus(empty_pb2.Empty())).stored_flush_id < flush_id:
            await asyncio.sleep(0.005)
    return flush_id


async def expect_error(call: object, code: grpc.StatusCode, fragment: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call  # type: ignore[misc]
    assert error.value.code() == code, error.value.details()
    assert fragment in (error.value.details() or "")


async def test_the_fork6_flow_of_a_batch(client: HashDBClient, server: RunningHashDB) -> None:
    """Set per key with batch_uuid and tx, SemiFlush per tx, Flush, then read the flushed root."""
    keys = [(i, 7, 7, 7) for i in range(1, 6)]
    root = ZERO_H4
    tx_roots = []
    for tx, key in enumerate(keys):
        root = await set_key(client, root, key, 100 + tx, uuid="batch-1", tx=tx)
        root = await set_key(client, root, key, 200 + tx, uuid="batch-1", tx=tx)  # superseded within the tx
        await client.SemiFlush(
            pb.SemiFlushRequest(batch_uuid="batch-1", new_state_root=format_hash(root), persistence=DATABASE)
        )
        tx_roots.append(root)
    assert await get_key(client, root, keys[0], uuid="batch-1") == 200
    flush_id = await flush_and_wait(client, "batch-1", root)
    status = await client.GetFlushStatus(empty_pb2.Empty())
    assert status.stored_flush_id == status.last_flush_id == flush_id
    assert status.prover_id == server.hashdb.prover_id
    # every transaction's end root is readable outside the session, with that transaction's values
    for tx, tx_root in enumerate(tx_roots):
        assert [await get_key(client, tx_root, k) for k in keys] == [
            200 + i if i <= tx else 0 for i in range(5)
        ]
    # GetFlushData returns the nodes the flush stored, in the prover's string formats
    data = await client.GetFlushData(pb.GetFlushDataRequest(flush_id=flush_id - 1))
    assert data.stored_flush_id == flush_id and format_hash(root) in data.nodes
    assert all(len(v) == 192 for v in data.nodes.values())
    assert data.nodes_state_root.startswith(format_hash(root)[48:])  # root limb 0 first, 16 hex digits each


async def test_smt_vectors_through_set_and_set_many(client: HashDBClient) -> None:
    for i, case in enumerate(load_vector("merkle-tree/smt-raw.json")):
        writes = [
            (int_to_h4(parse_int(k)), parse_int(v)) for k, v in zip(case["keys"], case["values"], strict=True)
        ]
        root = ZERO_H4
        for key, value in writes:
            root = await set_key(client, root, key, value, uuid=f"raw-{i}")
        many = await client.SetMany(
            pb.SetManyRequest(
                old_root=h4_to_fea(ZERO_H4), writes=[kv(k, v) for k, v in writes], batch_uuid=f"many-{i}"
            )
        )
        assert root == h4(many.new_root) == hex_to_h4(case["expectedRoot"])


async def test_set_with_details_and_get_many(client: HashDBClient) -> None:
    r1 = await set_key(client, ZERO_H4, (1, 0, 0, 0), 1, uuid="d")
    response = await client.Set(
        pb.SetRequest(
            old_root=h4_to_fea(r1),
            key=h4_to_fea((2, 0, 0, 0)),
            value="2",
            batch_uuid="d",
            details=True,
            get_db_read_log=True,
        )
    )
    assert response.mode == "insertFound" and response.old_value == "0" and response.new_value == "2"
    assert not response.is_old0 and h4(response.ins_key) == (1, 0, 0, 0) and response.ins_value == "1"
    assert response.proof_hash_counter == 2 + 4 + 0  # a leaf found at the root, then split (spec §3.7)
    assert format_hash(r1) in response.db_read_log
    got = await client.GetMany(
        pb.GetManyRequest(
            root=response.new_root, keys=[h4_to_fea((k, 0, 0, 0)) for k in (1, 2, 3)], batch_uuid="d"
        )
    )
    assert [int(v, 16) for v in got.values] == [1, 2, 0] and all(len(v) == 64 for v in got.values)


async def test_temporary_is_never_stored_and_cache_stays_in_memory(
    client: HashDBClient, server: RunningHashDB
) -> None:
    touched = await set_key(client, ZERO_H4, (1, 1, 1, 1), 5, uuid="b", p=TEMPORARY)
    state = await set_key(client, ZERO_H4, (2, 2, 2, 2), 6, uuid="b", p=DATABASE)
    simulated = await set_key(client, ZERO_H4, (3, 3, 3, 3), 7, uuid="sim", p=CACHE)
    await flush_and_wait(client, "b", state)
    await flush_and_wait(client, "sim", None, p=CACHE)
    store = server.hashdb._db.store
    assert store.get_node(state) is not None
    assert store.get_node(touched) is None and store.get_node(simulated) is None
    assert await get_key(client, simulated, (3, 3, 3, 3)) == 7  # CACHE: readable from memory
    await expect_error(
        client.Get(pb.GetRequest(root=h4_to_fea(touched))), grpc.StatusCode.NOT_FOUND, "is unknown"
    )


async def test_programs_and_load_db(client: HashDBClient, server: RunningHashDB) -> None:
    code = bytes.fromhex("608060405234801561001057600080fd5b50")
    key = h4_to_fea(bytecode_hash(code))
    await client.SetProgram(pb.SetProgramRequest(key=key, data=code, persistent=True))
    assert (await client.GetProgram(pb.GetProgramRequest(key=key))).data == code
    vector = load_vector("prover-v3.0.2/batchProof/input_executor_0.json")
    await client.LoadDB(
        pb.LoadDBRequest(
            input_db={h: pb.FeList(fe=[int(x, 16) for x in fes]) for h, fes in vector["db"].items()},
            persistent=True,
        )
    )
    more = b"\x60\x00"
    await client.LoadProgramDB(
        pb.LoadProgramDBRequest(input_program_db={format_hash(bytecode_hash(more)): more}, persistent=True)
    )
    await flush_and_wait(client, "", None)
    root = hex_to_h4(vector["oldStateRoot"])
    assert server.hashdb._db.store.get_node(root) is not None
    assert server.hashdb._db.store.get_program(bytecode_hash(more)) == more
    # that root is a single leaf: its remaining key is the full key, and its value is readable
    leaf = [int(x, 16) for x in vector["db"][vector["oldStateRoot"]]]
    value_node = [int(x, 16) for x in vector["db"]["0x" + "".join(f"{x:016x}" for x in reversed(leaf[4:8]))]]
    expected = sum(limb << (32 * i) for i, limb in enumerate(value_node[:8]))
    assert expected and await get_key(client, root, (leaf[0], leaf[1], leaf[2], leaf[3])) == expected


async def test_load_nodes_packed(client: HashDBClient, server: RunningHashDB) -> None:
    """LoadNodes (zkseq extension) takes the nodes LoadDB takes, packed, and keys each by its hash."""
    vector = load_vector("prover-v3.0.2/batchProof/input_executor_1.json")
    nodes = [[int(x, 16) for x in fes] for fes in vector["db"].values()]
    packed = b"".join(struct.pack("<12Q", *(node + [0] * (12 - len(node)))) for node in nodes)
    await client.LoadNodes(pb.LoadNodesRequest(nodes=packed, persistent=True))
    await flush_and_wait(client, "", None)
    store = server.hashdb._db.store
    for text in vector["db"]:
        assert store.get_node(hex_to_h4(text)) is not None, text
    root = hex_to_h4(vector["oldStateRoot"])
    assert (await client.Get(pb.GetRequest(root=h4_to_fea(root), key=h4_to_fea(ZERO_H4)))).result.code == (
        pb.ResultCode.CODE_SUCCESS
    )


async def test_load_nodes_keeps_what_the_keep_roots_use(client: HashDBClient, server: RunningHashDB) -> None:
    """With keep_roots, LoadNodes stores the request's nodes the trees under those roots use, and
    drops the rest (the nodes of an intermediate root), walking down through the request only."""
    rng = random.Random(12)
    keys = [(rng.randrange(P), rng.randrange(P), rng.randrange(P), rng.randrange(P)) for _ in range(60)]
    base = MemoryNodeStore()
    old_root = SparseMerkleTree(base).set_many(ZERO_H4, [(k, rng.randrange(1, 2**100)) for k in keys])
    packed_base = b"".join(struct.pack("<12Q", *n) for _, n in base.items())
    await client.LoadNodes(pb.LoadNodesRequest(nodes=packed_base, persistent=True))
    overlay = OverlayNodeStore(base)
    tree = SparseMerkleTree(overlay)
    middle = tree.set_many(old_root, [(keys[0], 5), (keys[1], 0)])
    end = tree.set_many(middle, [(keys[0], 6)])
    packed = b"".join(struct.pack("<12Q", *n) for n in overlay.nodes.values())
    await client.LoadNodes(pb.LoadNodesRequest(nodes=packed, persistent=True, keep_roots=[h4_to_fea(end)]))
    await flush_and_wait(client, "", None)
    store = server.hashdb._db.store
    assert store.get_node(end) is not None and store.get_node(middle) is None
    kept = {h for h in overlay.nodes if store.get_node(h) is not None}
    assert kept and len(kept) < len(overlay.nodes)
    local = SparseMerkleTree(overlay)
    for key in keys[:10]:
        assert await get_key(client, end, key) == local.get(end, key)


async def test_get_paths_answers_the_read_logs_of_its_keys_packed(client: HashDBClient) -> None:
    """GetPaths (zkseq extension) gives, for many keys at once, the nodes Get's read log gives for
    each: every node once, as its hash and its 12 elements."""
    rng = random.Random(13)
    keys = [(rng.randrange(P), rng.randrange(P), rng.randrange(P), rng.randrange(P)) for _ in range(40)]
    writes = [kv(k, rng.randrange(1, 2**200)) for k in keys]
    root = h4((await client.SetMany(pb.SetManyRequest(old_root=h4_to_fea(ZERO_H4), writes=writes))).new_root)
    await flush_and_wait(client, "", root)
    absent = (rng.randrange(P), 1, 2, 3)
    asked = [keys[0], keys[7], keys[31], absent]
    expected: dict[H4, tuple[int, ...]] = {}
    for key in asked:
        get = pb.GetRequest(root=h4_to_fea(root), key=h4_to_fea(key), get_db_read_log=True)
        for text, fes in (await client.Get(get)).db_read_log.items():
            expected[hex_to_h4(text)] = tuple(fes.fe) + (0,) * (12 - len(fes.fe))
    answer = await client.GetPaths(
        pb.GetPathsRequest(root=h4_to_fea(root), keys=[h4_to_fea(k) for k in asked])
    )
    assert len(answer.nodes) % 128 == 0
    got = {v[:4]: v[4:] for v in struct.iter_unpack("<16Q", answer.nodes)}
    assert len(got) * 128 == len(answer.nodes), "a node was sent twice"
    assert got == expected and root in got
    # and what it sends is enough to read every key asked, in a tree of those nodes alone
    local = MemoryNodeStore()
    for node_hash, node in got.items():
        local.put_node(node_hash, node)
    values = dict((k, int(w.value, 16)) for k, w in zip(keys, writes, strict=True))
    assert [SparseMerkleTree(local).get(root, k) for k in asked] == [values.get(k, 0) for k in asked]


async def test_concurrent_sessions_on_different_roots(client: HashDBClient) -> None:
    rng = random.Random(11)
    bases = []
    for b in range(3):
        writes = [((rng.randrange(P), b, 0, 0), rng.randrange(1, 2**64)) for _ in range(30)]
        many = await client.SetMany(
            pb.SetManyRequest(old_root=h4_to_fea(ZERO_H4), writes=[kv(k, v) for k, v in writes])
        )
        bases.append((h4(many.new_root), dict(writes)))
    await flush_and_wait(client, "", None)

    async def session(i: int) -> tuple[H4, dict[H4, int]]:
        base_root, state = bases[i % len(bases)]
        state = dict(state)
        root = base_root
        for tx in range(8):
            writes = [
                ((rng.randrange(P), 9, i, tx), rng.randrange(0, 2**256)) for _ in range(rng.randrange(1, 30))
            ]
            writes += [(rng.choice(list(state)), 0)]  # a delete
            if tx % 2:
                for key, value in writes:
                    root = await set_key(client, root, key, value, uuid=f"s{i}", tx=tx)
            else:
                response = await client.SetMany(
                    pb.SetManyRequest(
                        old_root=h4_to_fea(root),
                        writes=[kv(k, v) for k, v in writes],
                        batch_uuid=f"s{i}",
                        tx=tx,
                        persistence=DATABASE,
                    )
                )
                root = h4(response.new_root)
            for key, value in writes:
                if value:
                    state[key] = value
                else:
                    state.pop(key, None)
            await client.SemiFlush(
                pb.SemiFlushRequest(
                    batch_uuid=f"s{i}", new_state_root=format_hash(root), persistence=DATABASE
                )
            )
        await flush_and_wait(client, f"s{i}", root)
        return root, state

    results = await asyncio.gather(*(session(i) for i in range(6)))
    for root, state in results:
        model = SparseMerkleTree(MemoryNodeStore()).set_many(ZERO_H4, list(state.items()))
        assert root == model
        keys = list(state)
        got = await client.GetMany(pb.GetManyRequest(root=h4_to_fea(root), keys=[h4_to_fea(k) for k in keys]))
        assert [int(v, 16) for v in got.values] == [state[k] for k in keys]


async def test_bad_requests_get_clear_errors_and_the_server_keeps_serving(
    client: HashDBClient, server: RunningHashDB
) -> None:
    root = await set_key(client, ZERO_H4, (1, 0, 0, 0), 1, uuid="ok")
    unknown = h4_to_fea((123, 0, 0, 0))
    cases = [
        (
            client.Get(pb.GetRequest(root=unknown, key=h4_to_fea((1, 0, 0, 0)))),
            grpc.StatusCode.NOT_FOUND,
            "root 0x",
        ),
        (
            client.Set(pb.SetRequest(old_root=unknown, value="1")),
            grpc.StatusCode.NOT_FOUND,
            "is unknown to this HashDB",
        ),
        (
            client.Set(pb.SetRequest(key=pb.Fea(fe1=P), value="1")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "key.fe1 = 0xffffffff00000001",
        ),
        (
            client.Set(pb.SetRequest(value="xyz")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "value 'xyz' is not hexadecimal",
        ),
        (
            client.Set(pb.SetRequest(value="1" + "0" * 64)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "more than 256 bits",
        ),
        (client.Set(pb.SetRequest(value="")), grpc.StatusCode.INVALID_ARGUMENT, "value is empty"),
        (
            client.Set(pb.SetRequest(value="1", persistence=cast(pb.Persistence, 7))),
            grpc.StatusCode.INVALID_ARGUMENT,
            "persistence = 7",
        ),
        (
            client.SetMany(pb.SetManyRequest(writes=[kv((1, 0, 0, 0), 1), pb.KeyValue(value="-5")])),
            grpc.StatusCode.INVALID_ARGUMENT,
            "writes[1].value",
        ),
        (
            client.GetFlushData(pb.GetFlushDataRequest(flush_id=10**6)),
            grpc.StatusCode.NOT_FOUND,
            "flush id 1000000 is unknown",
        ),
        (
            client.SemiFlush(
                pb.SemiFlushRequest(batch_uuid="ok", new_state_root="ab" * 16, persistence=DATABASE)
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "is not a root transaction 0",
        ),
        (
            client.Flush(pb.FlushRequest(new_state_root="zz", persistence=DATABASE)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "not hexadecimal",
        ),
        (
            client.GetProgram(pb.GetProgramRequest(key=unknown)),
            grpc.StatusCode.NOT_FOUND,
            "no program under hash",
        ),
        (
            client.SetProgram(pb.SetProgramRequest(key=unknown, data=b"\x00")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "not the bytecode hash",
        ),
        (
            client.LoadDB(pb.LoadDBRequest(input_db={"01": pb.FeList(fe=[1] * 12)})),
            grpc.StatusCode.INVALID_ARGUMENT,
            "hashes to",
        ),
        (
            client.LoadDB(pb.LoadDBRequest(input_db={"01": pb.FeList(fe=[1] * 5)})),
            grpc.StatusCode.INVALID_ARGUMENT,
            "has 5 elements",
        ),
        (
            client.LoadNodes(pb.LoadNodesRequest(nodes=bytes(95))),
            grpc.StatusCode.INVALID_ARGUMENT,
            "not a whole number of 96-byte nodes",
        ),
        (
            client.LoadNodes(pb.LoadNodesRequest(nodes=bytes(96) + struct.pack("<12Q", *[1] * 11, P))),
            grpc.StatusCode.INVALID_ARGUMENT,
            "node 1 element 11",
        ),
        (
            client.GetPaths(pb.GetPathsRequest(root=unknown, keys=[h4_to_fea(ZERO_H4)])),
            grpc.StatusCode.NOT_FOUND,
            "is unknown to this HashDB",
        ),
        (
            client.GetPaths(pb.GetPathsRequest(root=h4_to_fea(ZERO_H4), keys=[h4_to_fea(ZERO_H4)] * 4097)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "keys has 4097 entries: at most 4096",
        ),
        (client.ReadTree(pb.ReadTreeRequest()), grpc.StatusCode.UNIMPLEMENTED, "use GetMany"),
    ]
    for call, code, fragment in cases:
        await expect_error(call, code, fragment)
    # still serving, and the session that saw errors is intact
    assert await get_key(client, root, (1, 0, 0, 0), uuid="ok") == 1
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="hashdb.v1.HashDBService"), timeout=5
        )
    assert health.status == health_pb2.HealthCheckResponse.SERVING


async def test_metrics_are_served(client: HashDBClient, server: RunningHashDB) -> None:
    root = await set_key(client, ZERO_H4, (1, 0, 0, 0), 1, uuid="m")
    await flush_and_wait(client, "m", root)
    await expect_error(client.Get(pb.GetRequest(root=h4_to_fea((5, 0, 0, 0)))), grpc.StatusCode.NOT_FOUND, "")
    assert server.metrics_endpoint is not None
    url = f"http://127.0.0.1:{server.metrics_endpoint.port}/metrics"
    text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    for line in (
        'zkseq_hashdb_rpc_duration_seconds_count{method="Set"} 1.0',
        'zkseq_hashdb_rpc_errors_total{code="NOT_FOUND",method="Get"} 1.0',
        'zkseq_hashdb_call_keys_count{method="Set"} 1.0',
        "zkseq_hashdb_flush_nodes_count 1.0",
        "zkseq_hashdb_flush_duration_seconds_count 1.0",
        "zkseq_hashdb_stored_flush_id 1.0",
        "zkseq_hashdb_cache_hit_ratio",
    ):
        assert line in text, line


class _BrokenStore(MemoryStore):
    def get_program(self, code_hash: H4) -> bytes | None:
        raise RuntimeError("disk on fire")


async def test_an_unexpected_failure_is_internal_and_ends_only_that_call(tmp_path: Path) -> None:
    running = await start_hashdb(base_config(tmp_path), store=_BrokenStore())
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            client = HashDBClient(channel, timeout_s=10)
            await expect_error(
                client.GetProgram(pb.GetProgramRequest(key=h4_to_fea((1, 2, 3, 4)))),
                grpc.StatusCode.INTERNAL,
                "disk on fire",
            )
            assert await get_key(client, await set_key(client, ZERO_H4, (1, 0, 0, 0), 3), (1, 0, 0, 0)) == 3
    finally:
        await running.stop()


async def test_graceful_stop_finishes_calls_in_flight_and_stores_flushed_data(config: HashDBConfig) -> None:
    running = await start_hashdb(replace(config, shutdown_grace_s=30))
    writes = [((i, 5, 5, 5), i + 1) for i in range(3000)]  # long enough to still run when the stop begins
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        client = HashDBClient(channel, timeout_s=30)
        root = await set_key(client, ZERO_H4, (1, 0, 0, 0), 42, uuid="g")
        flush_id = (
            await client.Flush(
                pb.FlushRequest(batch_uuid="g", new_state_root=format_hash(root), persistence=DATABASE)
            )
        ).flush_id
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(), timeout=30)
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        in_flight = asyncio.create_task(
            client.SetMany(pb.SetManyRequest(writes=[kv(k, v) for k, v in writes]))
        )
        await asyncio.sleep(0.05)
        stopping = asyncio.create_task(running.stop())
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()  # an open stream would hold the stop for its whole grace period
        expected = SparseMerkleTree(MemoryNodeStore()).set_many(ZERO_H4, writes)
        assert h4((await in_flight).new_root) == expected  # the call in flight was answered
        await stopping
    again = await start_hashdb(config)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{again.port}") as channel:
            client = HashDBClient(channel, timeout_s=10)
            assert (await client.GetFlushStatus(empty_pb2.Empty())).stored_flush_id == flush_id
            assert await get_key(client, root, (1, 0, 0, 0)) == 42
    finally:
        await again.stop()

"""HashDB write throughput over gRPC, against the in-process tree measured in the same run.

One run prints:
  * key writes/s on a tree of --leaves leaves, the same --keys keys each time:
      in-process SMT, one `set` per key                 (the ceiling: no RPC, no session)
      in-process SMT, one `set_many` per 10 keys        (the ceiling for the batched path)
      gRPC, one Set RPC per key                         (the fork-6 protocol, in a batch session)
      gRPC, one SetMany RPC per 10 keys                 (zkseq's batched extension)
  * flush throughput: a session of --flush-keys keys from the empty tree is flushed, and the time
    from the Flush call until GetFlushStatus reports it stored is measured, for LMDB and PostgreSQL.

The HashDB runs as its own process (`python -m services.hashdb`), as in production; the client is
this process. Target (issue 3): batched gRPC at least half the in-process rate.

Usage: python bench/bench_hashdb.py [--leaves N] [--keys N] [--flush-keys N] [--pg-dsn DSN] [--seed S]
"""

import argparse
import asyncio
import os
import platform
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import psycopg
from google.protobuf import empty_pb2
from psycopg import sql

from protos.hashdb.v1 import hashdb_pb2 as pb
from services.common.process import ServiceProcess, spawn_service
from services.hashdb.client import HashDBClient
from services.hashdb.servicer import SERVICE_NAME
from services.hashdb.stores.base import StoreWrite
from services.hashdb.stores.lmdb_store import LmdbStore
from services.hashdb.wire import format_hash, h4_to_fea
from zkevm.field import H4, ZERO_H4, P
from zkevm.nodestore import MemoryNodeStore, OverlayNodeStore
from zkevm.smt import SparseMerkleTree

BATCH = 10
#: calls of an RPC that does no tree work (GetFlushStatus), to show the cost of a round trip itself
FLOOR_CALLS = 1000
DATABASE = pb.PERSISTENCE_DATABASE


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>10,.0f}/s"


def fea_h4(fea: pb.Fea) -> H4:
    return (fea.fe0, fea.fe1, fea.fe2, fea.fe3)


def kv(key: H4, value: int) -> pb.KeyValue:
    return pb.KeyValue(key=h4_to_fea(key), value=format(value, "x"))


async def timed(fn: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def start_server(env: dict[str, str]) -> tuple[ServiceProcess, HashDBClient, grpc.aio.Channel]:
    server = await spawn_service(
        "services.hashdb",
        {
            "ZKSEQ_HASHDB_GRPC_ADDRESS": "127.0.0.1:0",
            "ZKSEQ_HASHDB_METRICS_ENABLED": "false",
            "ZKSEQ_HASHDB_LOG_LEVEL": "info",
            **env,
        },
        "hashdb_serving",
    )
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{server.ready['port']}", options=[("grpc.max_receive_message_length", 256 * 1024**2)]
    )
    return server, HashDBClient(channel, timeout_s=60), channel


def local_writes(
    base_store: MemoryNodeStore, base_root: H4, writes: list[tuple[H4, int]]
) -> dict[str, float]:
    """Seconds for the writes in process, one `set` per key and one `set_many` per BATCH keys, each
    on a fresh overlay over the in-memory tree (as a batch session is)."""
    tree = SparseMerkleTree(OverlayNodeStore(base_store))
    start = time.perf_counter()
    root = base_root
    for key, value in writes:
        root = tree.set(root, key, value).new_root
    set_secs = time.perf_counter() - start
    tree = SparseMerkleTree(OverlayNodeStore(base_store))
    start = time.perf_counter()
    batched_root = base_root
    for i in range(0, len(writes), BATCH):
        batched_root = tree.set_many(batched_root, writes[i : i + BATCH])
    set_many_secs = time.perf_counter() - start
    if root != batched_root:
        raise SystemExit("set and set_many ended at different roots")
    return {"local_set": set_secs, "local_set_many": set_many_secs}


def grpc_writes(address: str, base_root: H4, writes: list[tuple[H4, int]]) -> dict[str, float]:
    """Seconds for the same writes as one Set per key, and as one SetMany per BATCH keys.

    The client is a blocking one, as the executor's HashDB client is (it runs batches on threads).
    """
    with grpc.insecure_channel(address) as channel:
        set_call = channel.unary_unary(
            f"/{SERVICE_NAME}/Set",
            request_serializer=pb.SetRequest.SerializeToString,
            response_deserializer=pb.SetResponse.FromString,
        )
        set_many_call = channel.unary_unary(
            f"/{SERVICE_NAME}/SetMany",
            request_serializer=pb.SetManyRequest.SerializeToString,
            response_deserializer=pb.SetManyResponse.FromString,
        )

        def one_per_key() -> H4:
            root = base_root
            for i, (key, value) in enumerate(writes):
                request = pb.SetRequest(
                    old_root=h4_to_fea(root),
                    key=h4_to_fea(key),
                    value=format(value, "x"),
                    persistence=DATABASE,
                    batch_uuid="bench-set",
                    tx=i // BATCH,
                )
                root = fea_h4(set_call(request, timeout=10).new_root)
            return root

        def batched() -> H4:
            root = base_root
            for i in range(0, len(writes), BATCH):
                request = pb.SetManyRequest(
                    old_root=h4_to_fea(root),
                    writes=[kv(k, v) for k, v in writes[i : i + BATCH]],
                    persistence=DATABASE,
                    batch_uuid="bench-setmany",
                    tx=i // BATCH,
                )
                root = fea_h4(set_many_call(request, timeout=10).new_root)
            return root

        status_call = channel.unary_unary(
            f"/{SERVICE_NAME}/GetFlushStatus",
            request_serializer=empty_pb2.Empty.SerializeToString,
            response_deserializer=pb.GetFlushStatusResponse.FromString,
        )
        start = time.perf_counter()
        for _ in range(FLOOR_CALLS):
            status_call(empty_pb2.Empty(), timeout=10)
        out: dict[str, float] = {"grpc_floor": time.perf_counter() - start}
        roots: list[H4] = []
        for mode, run in (("grpc_set", one_per_key), ("grpc_set_many", batched)):
            start = time.perf_counter()
            roots.append(run())
            out[mode] = time.perf_counter() - start
        if roots[0] != roots[1]:
            raise SystemExit("the per-key and the batched runs ended at different roots")
        cancel = channel.unary_unary(
            f"/{SERVICE_NAME}/CancelBatch",
            request_serializer=pb.CancelBatchRequest.SerializeToString,
            response_deserializer=pb.CancelBatchResponse.FromString,
        )
        for batch_uuid in ("bench-set", "bench-setmany"):
            cancel(pb.CancelBatchRequest(batch_uuid=batch_uuid), timeout=10)
    return out


async def flush_throughput(client: HashDBClient, writes: list[tuple[H4, int]]) -> tuple[int, float]:
    """Nodes flushed and the seconds from Flush until stored, for a session built from the empty tree."""
    root = ZERO_H4
    for i in range(0, len(writes), 1000):
        r = await client.SetMany(
            pb.SetManyRequest(
                old_root=h4_to_fea(root),
                writes=[kv(k, v) for k, v in writes[i : i + 1000]],
                persistence=DATABASE,
                batch_uuid="bench-flush",
            )
        )
        root = fea_h4(r.new_root)
    start = time.perf_counter()
    flush = await client.Flush(
        pb.FlushRequest(batch_uuid="bench-flush", new_state_root=format_hash(root), persistence=DATABASE)
    )
    while (await client.GetFlushStatus(empty_pb2.Empty())).stored_flush_id < flush.flush_id:
        await asyncio.sleep(0.002)
    seconds = time.perf_counter() - start
    data = await client.GetFlushData(pb.GetFlushDataRequest(flush_id=flush.flush_id - 1))
    return len(data.nodes), seconds


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--leaves", type=int, default=20_000, help="leaves of the tree written to")
    parser.add_argument("--keys", type=int, default=3_000, help="key writes per mode")
    parser.add_argument("--flush-keys", type=int, default=10_000, help="keys of the flushed session")
    parser.add_argument(
        "--pg-dsn",
        default=os.environ.get("ZKSEQ_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"),
        help="PostgreSQL for the flush measurement (empty: skip)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the write modes (best is kept)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    def writes(n: int) -> list[tuple[H4, int]]:
        return [
            (
                (rng.randrange(P), rng.randrange(P), rng.randrange(P), rng.randrange(P)),
                rng.randrange(1, 2**256),
            )
            for _ in range(n)
        ]

    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    base_store = MemoryNodeStore()
    base = writes(args.leaves)
    base_root = SparseMerkleTree(base_store).set_many(ZERO_H4, base)
    # half the writes update existing leaves, half insert new ones
    updates = [(k, rng.randrange(1, 2**256)) for k, _ in rng.sample(base, args.keys // 2)]
    work = updates + writes(args.keys - len(updates))
    rng.shuffle(work)
    print(f"tree of {args.leaves:,} leaves ({len(base_store):,} nodes); {len(work):,} key writes per mode")
    print("(half updates of existing leaves, half inserts of new keys; every write in a batch session)\n")

    # in-process and over gRPC, against a HashDB whose LMDB store holds the same tree; the modes take
    # turns, --rounds times, and each reports its best round (this kind of machine is noisy)
    best: dict[str, float] = {}

    def keep_best(seconds: dict[str, float]) -> None:
        for mode, secs in seconds.items():
            best[mode] = min(secs, best.get(mode, secs))

    with tempfile.TemporaryDirectory(prefix="zkseq-bench-") as tmp:
        lmdb_env = {"ZKSEQ_HASHDB_STORE": "lmdb", "ZKSEQ_HASHDB_LMDB_PATH": str(Path(tmp) / "lmdb")}
        seed = LmdbStore(Path(tmp) / "lmdb", 1 << 30)
        seed.write(StoreWrite(flush_id=0, nodes=dict(base_store.items())))
        seed.close()
        server, client, channel = await start_server(lmdb_env)
        address = f"127.0.0.1:{server.ready['port']}"
        try:
            # warm the server's node cache on the paths of these keys, as a running sequencer's would be
            await client.GetMany(
                pb.GetManyRequest(root=h4_to_fea(base_root), keys=[h4_to_fea(k) for k, _ in work])
            )
            for _ in range(args.rounds):
                keep_best(local_writes(base_store, base_root, work))
                keep_best(await asyncio.to_thread(grpc_writes, address, base_root, work))
            lmdb_flush = await flush_throughput(client, writes(args.flush_keys))
        finally:
            await channel.close(grace=None)
            await server.stop()

    pg_flush: tuple[int, float] | None = None
    if args.pg_dsn:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        server, client, channel = await start_server(
            {
                "ZKSEQ_HASHDB_STORE": "postgres",
                "ZKSEQ_HASHDB_PG_DSN": args.pg_dsn,
                "ZKSEQ_HASHDB_PG_SCHEMA": schema,
            }
        )
        try:
            pg_flush = await flush_throughput(client, writes(args.flush_keys))
        finally:
            await channel.close(grace=None)
            await server.stop()
            with psycopg.connect(args.pg_dsn, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    n = len(work)
    ceiling = n / min(best["local_set"], best["local_set_many"])
    rows = [
        ("in-process SMT, set per key", "local_set", 1),
        (f"in-process SMT, set_many per {BATCH} keys", "local_set_many", BATCH),
        ("gRPC, one Set RPC per key", "grpc_set", 1),
        (f"gRPC, one SetMany RPC per {BATCH} keys", "grpc_set_many", BATCH),
    ]
    print(f"key writes/s (best of {args.rounds} rounds); baseline = the faster in-process mode")
    for label, mode, per_call in rows:
        keys_per_s = n / best[mode]
        call_us = best[mode] / (n / per_call) * 1e6
        share = keys_per_s / ceiling
        print(f"  {label:<36} {keys_per_s:>9,.0f}/s  {share:5.0%} of baseline  {call_us:7.0f} us/call")
    met = n / best["grpc_set_many"] >= ceiling / 2
    print(f"  target: batched gRPC >= 50% of baseline -> {'met' if met else 'NOT met'}")
    floor_us = best["grpc_floor"] / FLOOR_CALLS * 1e6
    set_many_us = best["local_set_many"] / (n / BATCH) * 1e6
    limit = set_many_us / (set_many_us + floor_us)
    print(
        f"  (a round trip that does no tree work, GetFlushStatus, costs {floor_us:.0f} us: with {BATCH} keys"
        f" per call the batched rate cannot pass {limit:.0%} of baseline here)"
    )
    print(f"\nflush of a {args.flush_keys:,}-key session, from Flush until stored")
    for name, result in (("LMDB", lmdb_flush), ("PostgreSQL", pg_flush)):
        if result is None:
            print(f"  {name:<11} skipped (no --pg-dsn)")
            continue
        nodes, secs = result
        mb_per_s = nodes * 128 / secs / 1e6  # 32-byte hash + 96-byte node per row
        ms = secs * 1000
        print(
            f"  {name:<11} {nodes:>8,} nodes in {ms:5.0f} ms  {rate(nodes, secs)} nodes  {mb_per_s:5.1f} MB/s"
        )


if __name__ == "__main__":
    asyncio.run(main())

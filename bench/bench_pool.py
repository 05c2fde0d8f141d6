"""Pool admission throughput: accepted AddTransaction/s, next to Redis's own rate from the same client.

One run prints:
  * the baseline: Redis SET/s with redis.asyncio (the pool's client) from this process, one
    connection sequentially and --concurrency tasks at once — the most any Redis-backed service
    written with this client can do per process;
  * the pool's own costs on --senders × --nonces pre-signed transfers: the stateless rules alone
    (decode, sender recovery, hash, record: CPU), `Pool.add` in process (rules + one Lua script per
    transaction, no gRPC), gRPC's own ceiling (health Checks through the same server from the
    same client), and AddTransaction over gRPC from a second process with --concurrency calls in
    flight (the figure that matters), with its latency percentiles;
  * from the same run and process, as many other senders' transfers sent the way jsonrpc sends
    them: --concurrency senders at once through its coalescing pool client (AddTransactions, a few
    calls in flight, the sends queued meanwhile sharing the next call), with the transactions per
    call and the latency percentiles.

The pool serves from this process with an in-memory account state (every sender funded), on a
redis-server of its own (appendonly yes, appendfsync everysec: the production setting). Every
transaction must be accepted; the run fails otherwise.

Usage: python bench/bench_pool.py [--senders N] [--nonces N] [--concurrency N]
"""

import argparse
import asyncio
import dataclasses
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import grpc
import redis
import redis.asyncio as aioredis
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from protos.pool.v1 import pool_pb2 as pb
from services.common.logs import EventLogger
from services.jsonrpc.errors import RpcError
from services.jsonrpc.grpc_backends import GrpcPool
from services.pool.app import start_pool
from services.pool.client import PoolClient
from services.pool.config import PoolConfig
from services.pool.metrics import PoolMetrics
from services.pool.pool import Pool
from services.pool.state import MemoryAccountState
from services.pool.store import RedisPoolStore
from services.pool.validation import check_transaction
from zkevm.hashing import keccak256
from zkevm.transaction import sign_transaction

CHAIN_ID = 1001
GWEI = 10**9
RECIPIENT = b"\xaa" * 20


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>10,.0f}/s"


def sender_key(i: int) -> bytes:
    return keccak256(f"zkseq bench_pool sender {i}".encode())


def presigned(senders: int, nonces: int, first_sender: int = 0) -> list[bytes]:
    """Transfers interleaved by nonce (every sender's nonce 0, then every nonce 1 ...), prices varied."""
    keys = [sender_key(first_sender + i) for i in range(senders)]
    return [
        sign_transaction(
            nonce=nonce,
            gas_price=GWEI + (i * 7919 + nonce) % 1000,
            gas_limit=21_000,
            to=RECIPIENT,
            value=1,
            chain_id=CHAIN_ID,
            private_key=keys[i],
        ).to_raw()
        for nonce in range(nonces)
        for i in range(senders)
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(directory),
                "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no",
                "--logfile", str(directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.02)
        self.version = str(client.info("server")["redis_version"])
        client.close()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def flush(self) -> None:
        with redis.Redis(port=self.port) as client:
            client.flushall()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=10)


async def redis_set_rate(url: str, seconds: float, concurrency: int) -> tuple[int, float]:
    client = aioredis.Redis.from_url(url)
    count = 0
    deadline = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        nonlocal count
        i = 0
        while time.perf_counter() < deadline:
            await client.set(f"bench:{w}:{i % 1000}", b"x" * 64)
            i += 1
            count += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - start
    await client.aclose()
    return count, elapsed


def funded_state(senders: int) -> MemoryAccountState:
    """Senders 0 … `senders` - 1 at nonce 0, each with a million ether."""
    state = MemoryAccountState()
    for i in range(senders):
        address = sign_transaction(
            nonce=0, gas_price=0, gas_limit=0, to=None, value=0, chain_id=None, private_key=sender_key(i)
        ).sender()
        state.set_account(address, nonce=0, balance=10**24)
    return state


def bench_config(url: str) -> PoolConfig:
    return PoolConfig(
        grpc_host="127.0.0.1",
        grpc_port=0,
        metrics_enabled=False,
        redis_url=url,
        max_txs=10_000_000,
        shutdown_grace_s=1,
    )


async def pool_add_in_process(
    url: str, raws: list[bytes], state: MemoryAccountState, concurrency: int
) -> float:
    config = bench_config(url)
    client = aioredis.Redis.from_url(url)
    store = RedisPoolStore(client, config.key_prefix)
    pool = Pool(store, state, config.pool_settings(), PoolMetrics(CollectorRegistry()), EventLogger("bench"))
    queue = iter(raws)

    async def worker() -> None:
        for raw in queue:
            await pool.add(raw)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    counts = await pool.counts()
    await client.aclose()
    if counts.pending != len(raws):
        raise SystemExit(f"in process: {counts.pending} of {len(raws)} transactions are pending")
    return elapsed


@dataclass(frozen=True, slots=True)
class Sends:
    accepted: int
    rejected: int
    seconds: float
    latencies_ms: list[float]
    first_error: str
    #: calls the sends took
    calls: int


@dataclass(frozen=True, slots=True)
class ClientResult:
    #: gRPC's own ceiling: health Checks/s through the same server, channel and concurrency
    noop_per_s: float
    single: Sends
    coalesced: Sends


async def send_all(raws: list[bytes], concurrency: int, send: Callable[[bytes], Awaitable[object]]) -> Sends:
    """Every transaction of `raws` through `send`, `concurrency` senders at once, each awaiting its own."""
    latencies: list[float] = []
    accepted = rejected = 0
    first_error = ""
    queue = iter(raws)

    async def worker() -> None:
        nonlocal accepted, rejected, first_error
        for raw in queue:
            t0 = time.perf_counter()
            try:
                await send(raw)
                accepted += 1
            except (grpc.aio.AioRpcError, RpcError) as exc:
                rejected += 1
                first_error = first_error or repr(exc)
            latencies.append((time.perf_counter() - t0) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Sends(accepted, rejected, time.perf_counter() - start, latencies, first_error, calls=len(raws))


def client_process(port: int, senders: int, nonces: int, concurrency: int, out: Connection) -> None:
    """The load: sign everything first (not timed), then send `senders` × `nonces` transfers with
    `concurrency` AddTransaction calls in flight, then as many of `senders` other senders through
    jsonrpc's coalescing client with `concurrency` senders at once."""
    raws = presigned(senders, nonces)
    others = presigned(senders, nonces, first_sender=senders)
    out.send("signed")
    out.recv()  # go

    async def run() -> ClientResult:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            client = PoolClient(channel, timeout_s=30)
            health = health_pb2_grpc.HealthStub(channel)
            checks = iter(range(len(raws)))

            async def checker() -> None:
                for _ in checks:
                    await health.Check(health_pb2.HealthCheckRequest(), timeout=30)

            start = time.perf_counter()
            await asyncio.gather(*(checker() for _ in range(concurrency)))
            noop_per_s = len(raws) / (time.perf_counter() - start)

            single = await send_all(
                raws, concurrency, lambda raw: client.AddTransaction(pb.AddTransactionRequest(raw=raw))
            )
            coalescing = GrpcPool(channel, timeout_s=30)
            coalesced = await send_all(others, concurrency, coalescing.add)
            coalesced = dataclasses.replace(coalesced, calls=coalescing.calls)
        return ClientResult(noop_per_s, single, coalesced)

    out.send(asyncio.run(run()))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latency(sends: Sends) -> str:
    ms = sends.latencies_ms
    return (
        f"latency p50 {percentile(ms, 0.5):.2f} ms, p99 {percentile(ms, 0.99):.2f} ms, max {max(ms):.2f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--senders", type=int, default=300)
    parser.add_argument("--nonces", type=int, default=30, help="transactions per sender (at most 64)")
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight")
    parser.add_argument("--baseline-s", type=float, default=2.0, help="seconds of each Redis SET measurement")
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not on PATH")
    n = args.senders * args.nonces
    hiredis = "with hiredis" if redis.utils.HIREDIS_AVAILABLE else "no hiredis"
    machine = platform.processor() or platform.machine()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"machine: {machine}, {os.cpu_count()} CPUs, load average {load}, Python {platform.python_version()}"
    )

    with tempfile.TemporaryDirectory(prefix="zkseq-bench-pool-") as tmp:
        server = RedisServer(Path(tmp))
        try:
            print(
                f"redis-server {server.version} of its own (appendonly yes, appendfsync everysec); "
                f"redis-py {redis.__version__} ({hiredis})\n"
            )
            print("baseline, redis.asyncio from this process:")
            count, secs = await redis_set_rate(server.url, args.baseline_s, 1)
            print(f"  SET, 1 connection, sequential                         {rate(count, secs)}")
            count, secs = await redis_set_rate(server.url, args.baseline_s, args.concurrency)
            set_rate = count / secs
            print(
                f"  SET, {args.concurrency} tasks at once                                {rate(count, secs)}"
            )
            server.flush()

            raws = presigned(args.senders, args.nonces)
            state = funded_state(args.senders)
            print(f"\npool, {n:,} pre-signed transfers from {args.senders} senders × {args.nonces} nonces:")
            limits = bench_config(server.url).limits()
            start = time.perf_counter()
            for raw in raws:
                check_transaction(raw, limits)
            secs = time.perf_counter() - start
            print(f"  stateless rules only (decode, recover, hash; one core)  {rate(n, secs)}")
            secs = await pool_add_in_process(server.url, raws, state, args.concurrency)
            print(f"  Pool.add in process, {args.concurrency} at once (rules + Lua)       {rate(n, secs)}")
            server.flush()

            running = await start_pool(
                bench_config(server.url), funded_state(2 * args.senders), background=False
            )
            try:
                ctx = multiprocessing.get_context("spawn")
                parent, child = ctx.Pipe()
                proc = ctx.Process(
                    target=client_process,
                    args=(running.port, args.senders, args.nonces, args.concurrency, child),
                )
                proc.start()
                while not parent.poll():
                    await asyncio.sleep(0.05)
                parent.recv()
                parent.send("go")
                while not parent.poll():
                    await asyncio.sleep(0.01)
                result: ClientResult = parent.recv()
                proc.join(timeout=10)
                stats = await running.pool.counts()
            finally:
                await running.stop()
            single, coalesced = result.single, result.coalesced
            add_rate = single.accepted / single.seconds
            print(
                f"  gRPC's own ceiling: health Check from that process      "
                f"{result.noop_per_s:>10,.0f}/s   (no Redis, no validation)"
            )
            print(
                f"  AddTransaction over gRPC from a second process,\n"
                f"    {args.concurrency} in flight, accepted                              "
                f"{rate(single.accepted, single.seconds)}"
                f"   ({add_rate / set_rate:.0%} of Redis SET/s, "
                f"{add_rate / result.noop_per_s:.0%} of health Check/s)"
            )
            print(f"    {latency(single)}")
            coalesced_rate = coalesced.accepted / coalesced.seconds
            per_call = coalesced.accepted / max(coalesced.calls, 1)
            print(
                f"  AddTransactions, jsonrpc's coalescing client from that process,\n"
                f"    {args.concurrency} senders at once, accepted                        "
                f"{rate(coalesced.accepted, coalesced.seconds)}"
                f"   ({coalesced_rate / add_rate:.2f}× AddTransaction; "
                f"{coalesced.calls:,} calls, {per_call:.1f} transactions per call)"
            )
            print(f"    {latency(coalesced)}")
            for name, sends in (("AddTransaction", single), ("AddTransactions", coalesced)):
                if sends.rejected:
                    raise SystemExit(f"{name}: {sends.rejected} rejected; first error: {sends.first_error}")
            if stats.pending != 2 * n:
                raise SystemExit(f"{stats.pending} of {2 * n} transactions are pending")
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())

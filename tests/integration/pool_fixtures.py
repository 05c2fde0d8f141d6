"""Helpers for the pool's tests: signing accounts, a pool on a real Redis with its real gRPC server
on a free port, a fake clock, and private `redis-server` processes for restarts.

Each pool gets a key prefix of its own (`unique_prefix`) that `running_pool` deletes afterwards, so
tests share the Redis on 127.0.0.1:6379 (ZKSEQ_TEST_REDIS_URL) without seeing each other.
"""

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis
import redis.asyncio as aioredis

from services.pool.app import RunningPool, start_pool
from services.pool.client import PoolClient
from services.pool.config import PoolConfig
from services.pool.state import MemoryAccountState
from zkevm.hashing import keccak256
from zkevm.state_keys import Address
from zkevm.transaction import sign_transaction

REDIS_URL = os.environ.get("ZKSEQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CHAIN_ID = 1001
GWEI = 10**9
ETHER = 10**18
RECIPIENT = bytes.fromhex("00000000000000000000000000000000000000aa")


@dataclass(frozen=True, slots=True)
class Account:
    key: bytes
    address: Address

    def tx(
        self,
        nonce: int,
        gas_price: int = GWEI,
        *,
        value: int = 1,
        to: bytes | None = RECIPIENT,
        gas_limit: int = 21_000,
        data: bytes = b"",
        chain_id: int | None = CHAIN_ID,
    ) -> bytes:
        """A signed legacy transaction, raw (what eth_sendRawTransaction receives)."""
        signed = sign_transaction(
            nonce=nonce,
            gas_price=gas_price,
            gas_limit=gas_limit,
            to=to,
            value=value,
            data=data,
            chain_id=chain_id,
            private_key=self.key,
        )
        return signed.to_raw()


def account(seed: int | str) -> Account:
    key = keccak256(f"zkseq pool test account {seed}".encode())
    probe = sign_transaction(
        nonce=0, gas_price=0, gas_limit=0, to=None, value=0, chain_id=None, private_key=key
    )
    return Account(key, probe.sender())


def tx_hash(raw: bytes) -> bytes:
    return keccak256(raw)


class FakeClock:
    """A settable clock (seconds); the pool reads it for arrival, status and expiry times."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def unique_prefix() -> str:
    return f"zkseq:{{pooltest-{uuid.uuid4().hex[:12]}}}:"


def pool_config(redis_url: str = REDIS_URL, **overrides: Any) -> PoolConfig:
    base = PoolConfig(
        grpc_host="127.0.0.1",
        grpc_port=0,
        metrics_enabled=False,
        redis_url=redis_url,
        key_prefix=unique_prefix(),
        shutdown_grace_s=0.5,
    )
    return replace(base, **overrides)


async def delete_prefix(redis_url: str, prefix: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def require_redis(redis_url: str = REDIS_URL) -> None:
    """Fail (not skip) with the reason when the test Redis is not reachable."""
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {redis_url} is not reachable ({exc}); start it or set ZKSEQ_TEST_REDIS_URL")


@dataclass(slots=True)
class PoolHarness:
    running: RunningPool
    client: PoolClient
    channel: grpc.aio.Channel
    state: MemoryAccountState
    clock: FakeClock

    @property
    def config(self) -> PoolConfig:
        return self.running.config

    def new_client(self) -> tuple[grpc.aio.Channel, PoolClient]:
        """A second client on a connection of its own (to race the first one)."""
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.running.port}")
        return channel, PoolClient(channel, timeout_s=10)


@contextlib.asynccontextmanager
async def running_pool(
    config: PoolConfig,
    state: MemoryAccountState | None = None,
    clock: FakeClock | None = None,
    *,
    keep_keys: bool = False,
) -> AsyncIterator[PoolHarness]:
    """The pool service on a free port with its client; its keys are deleted afterwards."""
    state = state if state is not None else MemoryAccountState()
    clock = clock if clock is not None else FakeClock()
    running = await start_pool(config, state, clock=clock, background=False)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield PoolHarness(running, PoolClient(channel, timeout_s=10), channel, state, clock)
    finally:
        await running.stop()
        if not keep_keys:
            with contextlib.suppress(redis.RedisError):
                await delete_prefix(config.redis_url, config.key_prefix)


async def rpc_error(call: Any) -> grpc.aio.AioRpcError:
    """The status error `call` (an awaitable RPC) ends with; fails the test if it succeeds."""
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc
    pytest.fail("the call succeeded; an error was expected")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A redis-server of this test's own, with the append-only file fsynced on every write, so a
    kill -9 loses nothing that was acknowledged. Stopped by its PID."""

    def __init__(self, directory: Path) -> None:
        if shutil.which("redis-server") is None:
            pytest.fail("redis-server is not on PATH")
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.directory),
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--save", "",
                "--daemonize", "no",
                "--logfile", str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"redis-server on port {self.port} did not start; see {self.directory / 'redis.log'}"
                    ) from None
                time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no shutdown save, no AOF rewrite — only what was fsynced survives."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


async def wait_until(predicate: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.02)

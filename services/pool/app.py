"""Wiring of one pool process: Redis, the state reader, Pool, servicer, gRPC server, metrics, and
the background loops (expiry, size gauges).

`start_pool` is what `python -m services.pool` runs, and what the integration tests start in
process (with a `MemoryAccountState` and, for expiry, a clock of their own); `RunningPool.stop` is
the graceful shutdown (NOT_SERVING, calls in flight finish, loops stop, connections close).
"""

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
import redis.asyncio as aioredis
from grpc import aio
from prometheus_client import CollectorRegistry
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from protos.pool.v1 import pool_pb2 as pb
from services.common.grpc_server import (
    GrpcServerSettings,
    RunningGrpcServer,
    start_grpc_server,
    unary_service_handler,
)
from services.common.interceptors import ServiceInterceptor
from services.common.logs import EventLogger
from services.common.metrics import MetricsEndpoint, RpcMetrics, start_metrics_endpoint
from services.common.statedb import StateDB, open_statedb
from services.pool.config import PoolConfig
from services.pool.metrics import PoolMetrics
from services.pool.pool import Pool
from services.pool.servicer import SERVICE_NAME, PoolServicer
from services.pool.state import FixedStateRoot, HashDBAccountState, StateDBLatestRoot, StateRootSource
from services.pool.store import RedisPoolStore
from services.pool.validation import AccountStateReader

#: exceptions of libraries, and the status codes they are answered with
ERROR_CODES: dict[type[BaseException], grpc.StatusCode] = {
    RedisConnectionError: grpc.StatusCode.UNAVAILABLE,
    RedisTimeoutError: grpc.StatusCode.UNAVAILABLE,
}


@dataclass(slots=True)
class RunningPool:
    config: PoolConfig
    pool: Pool
    server: RunningGrpcServer
    metrics_endpoint: MetricsEndpoint | None
    registry: CollectorRegistry
    redis: aioredis.Redis
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    channel: aio.Channel | None = None
    statedb: StateDB | None = None

    @property
    def port(self) -> int:
        return self.server.port

    async def stop(self) -> None:
        await self.server.stop(self.config.shutdown_grace_s)
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.redis.aclose()
        if self.channel is not None:
            await self.channel.close(grace=None)
        if self.statedb is not None:
            self.statedb.close()
        if self.metrics_endpoint is not None:
            self.metrics_endpoint.close()


def connect_redis(config: PoolConfig) -> aioredis.Redis:
    """A client whose commands are retried (3 times, backing off up to 0.5 s) when the connection
    fails: after a Redis restart the first use of each pooled connection fails that way. A script
    that ran but whose reply was lost runs again; every script is safe to repeat (store.py).

    At most REDIS_MAX_CONNECTIONS connections; a command finding all of them busy waits up to
    REDIS_TIMEOUT_S for one (then UNAVAILABLE). redis-py's own pool fails at once past 100
    ("Too many connections"), which a burst of concurrent admissions reaches."""
    pool = aioredis.BlockingConnectionPool.from_url(
        config.redis_url,
        max_connections=config.redis_max_connections,
        timeout=config.redis_timeout_s,
        socket_timeout=config.redis_timeout_s,
        socket_connect_timeout=config.redis_timeout_s,
        retry=Retry(ExponentialWithJitterBackoff(base=0.008, cap=0.512), retries=3),
    )
    return aioredis.Redis.from_pool(pool)


async def start_pool(
    config: PoolConfig,
    state: AccountStateReader | None = None,
    clock: Callable[[], float] = time.time,
    background: bool = True,
) -> RunningPool:
    """Connect, start serving, start the background loops, and return the running service.

    Without `state`, nonces and balances are read from the HashDB at the StateDB's latest L2 state root
    (`config.statedb_url`), or at `config.state_root` before the first block and without a StateDB.
    `background=False` leaves the loops out (tests drive `pool.expire_once` themselves).
    """
    log = EventLogger("zkseq.pool")
    redis = connect_redis(config)
    channel: aio.Channel | None = None
    statedb: StateDB | None = None
    try:
        store = RedisPoolStore(redis, config.key_prefix, int(config.account_ttl_s * 1000))
        await store.ping()
        if state is None:
            roots: StateRootSource
            if config.statedb_url is not None:
                statedb = await asyncio.to_thread(open_statedb, config.statedb_url)
                roots = StateDBLatestRoot(statedb.blocks, config.state_root)
            elif config.state_root is not None:
                roots = FixedStateRoot(config.state_root)
            else:
                raise ValueError("no state reader, no ZKSEQ_POOL_STATEDB_URL and no ZKSEQ_POOL_STATE_ROOT")
            channel = aio.insecure_channel(config.hashdb_url)
            state = HashDBAccountState(channel, roots, config.hashdb_timeout_s)
        registry = CollectorRegistry()
        metrics = PoolMetrics(registry)
        pool = Pool(store, state, config.pool_settings(), metrics, log, clock=clock)
        interceptor = ServiceInterceptor(RpcMetrics("pool", registry), log, ERROR_CODES)
        servicer = PoolServicer(pool, interceptor.answer)
        handler = unary_service_handler(pb.DESCRIPTOR.services_by_name["PoolService"], servicer)
        server = await start_grpc_server(
            GrpcServerSettings(config.grpc_host, config.grpc_port, config.max_message_bytes),
            lambda s: s.add_generic_rpc_handlers((handler,)),
            [SERVICE_NAME],
            [interceptor],
        )
    except BaseException:
        await redis.aclose()
        if channel is not None:
            await channel.close(grace=None)
        if statedb is not None:
            statedb.close()
        raise
    try:
        endpoint = (
            start_metrics_endpoint(config.metrics_host, config.metrics_port, registry)
            if config.metrics_enabled
            else None
        )
    except BaseException:
        await server.stop(0)
        await redis.aclose()
        if channel is not None:
            await channel.close(grace=None)
        if statedb is not None:
            statedb.close()
        raise
    running = RunningPool(config, pool, server, endpoint, registry, redis, channel=channel, statedb=statedb)
    if background:
        running.tasks = [
            asyncio.create_task(pool.run_every(config.expiry_interval_s, pool.expire_once, "expiry")),
            asyncio.create_task(pool.run_every(config.stats_interval_s, pool.refresh_counts, "stats")),
        ]
    log.info(
        "pool_serving",
        port=server.port,
        metrics_port=None if endpoint is None else endpoint.port,
        key_prefix=config.key_prefix,
        chain_id=config.chain_id,
    )
    return running

"""Wiring of one JSON-RPC process: StateDB, gRPC channels, backends, methods, HTTP server, metrics.

`start_jsonrpc` is what `python -m services.jsonrpc` runs, and what the integration tests start in
process; `RunningJsonRpc.stop` is the graceful shutdown (the listener closes, requests in flight
get `shutdown_grace_s` to finish, then the channels and the database close).

The backends are reached lazily: the server starts, and answers what it can, while the pool, the
executor or the HashDB are still coming up; calls that need them get -32000 "… unavailable".
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import platform
from dataclasses import dataclass, field

from aiohttp import web
from grpc import aio
from prometheus_client import CollectorRegistry

from services.common.logs import EventLogger
from services.common.metrics import MetricsEndpoint, start_metrics_endpoint
from services.common.statedb import SqlBlockRepository, StateDB, open_statedb
from services.jsonrpc.api import ApiSettings, EthApi
from services.jsonrpc.calls import Calls
from services.jsonrpc.chain import StateDBChain
from services.jsonrpc.config import JsonRpcConfig
from services.jsonrpc.dispatch import Dispatcher, DispatchLimits, MethodRegistry
from services.jsonrpc.grpc_backends import GrpcExecutor, GrpcPool, HashDBState
from services.jsonrpc.metrics import JsonRpcMetrics
from services.jsonrpc.server import HttpSettings, JsonRpcHttp

#: gRPC messages from the executor can carry large return values
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]
#: eth_call and eth_estimateGas are independent calls: spread over every address the target
#: resolves to (dns:///executor…:50071, a headless Service: one per ready pod). gRPC's default,
#: pick_first, would send them all to one replica. gRPC resolves the name again when a connection
#: drops, so a replica that leaves is dropped at once, while one that joins is found at the next
#: re-resolution (README, "Known limits").
EXECUTOR_CHANNEL_OPTIONS = [*_CHANNEL_OPTIONS, ("grpc.lb_policy_name", "round_robin")]


def client_version() -> str:
    """web3_clientVersion: zkseq/v<version>/<os>/python<version>, like geth's Geth/v…/linux-amd64/go…"""
    try:
        version = importlib.metadata.version("zkseq")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return f"zkseq/v{version}/{platform.system().lower()}/python{platform.python_version()}"


@dataclass(slots=True)
class RunningJsonRpc:
    config: JsonRpcConfig
    runner: web.AppRunner
    port: int
    statedb: StateDB
    channels: list[aio.Channel]
    registry: MethodRegistry
    metrics_registry: CollectorRegistry
    metrics_endpoint: MetricsEndpoint | None = None
    log: EventLogger = field(default_factory=lambda: EventLogger("zkseq.jsonrpc"))

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.config.http_host in ("0.0.0.0", "") else self.config.http_host
        return f"http://{host}:{self.port}/"

    async def stop(self) -> None:
        await self.runner.cleanup()
        for channel in self.channels:
            await channel.close(grace=None)
        await asyncio.to_thread(self.statedb.close)
        if self.metrics_endpoint is not None:
            self.metrics_endpoint.close()


async def start_jsonrpc(config: JsonRpcConfig) -> RunningJsonRpc:
    """Open the StateDB, connect the backends, start serving HTTP; return the running service."""
    log = EventLogger("zkseq.jsonrpc")
    statedb = await asyncio.to_thread(open_statedb, config.statedb_url)
    channels: list[aio.Channel] = []
    runner: web.AppRunner | None = None
    try:
        blocks = SqlBlockRepository(
            statedb.database, max_logs=config.max_logs, max_block_range=config.max_logs_block_range
        )
        chain = StateDBChain(blocks, statedb.batches, statedb.virtual_batches, statedb.verified_batches)
        hashdb_channel = aio.insecure_channel(config.hashdb_url, options=_CHANNEL_OPTIONS)
        pool_channel = aio.insecure_channel(config.pool_url, options=_CHANNEL_OPTIONS)
        executor_channel = aio.insecure_channel(config.executor_url, options=EXECUTOR_CHANNEL_OPTIONS)
        channels = [hashdb_channel, pool_channel, executor_channel]
        state = HashDBState(hashdb_channel, config.hashdb_timeout_s, config.hashdb_cache_entries)
        api = EthApi(
            ApiSettings(config.chain_id, config.gas_price_wei, client_version()),
            chain=chain,
            batches=chain,
            state=state,
            pool=GrpcPool(pool_channel, config.pool_timeout_s),
            calls=Calls(
                GrpcExecutor(executor_channel, config.chain_id, config.executor_timeout_s),
                state,
                config.call_gas_cap,
            ),
        )
        registry = MethodRegistry()
        api.register(registry)
        metrics_registry = CollectorRegistry()
        metrics = JsonRpcMetrics(metrics_registry)
        dispatcher = Dispatcher(
            registry, DispatchLimits(config.max_batch_length, config.max_batch_response_bytes), metrics, log
        )
        http = JsonRpcHttp(dispatcher, HttpSettings(config.max_body_bytes, config.cors_origin), metrics)
        runner = web.AppRunner(http.application(), access_log=None, shutdown_timeout=config.shutdown_grace_s)
        await runner.setup()
        site = web.TCPSite(runner, config.http_host, config.http_port, reuse_address=True)
        await site.start()
        port = _bound_port(runner, config.http_port)
        endpoint = (
            start_metrics_endpoint(config.metrics_host, config.metrics_port, metrics_registry)
            if config.metrics_enabled
            else None
        )
    except BaseException:
        if runner is not None:
            await runner.cleanup()
        for channel in channels:
            await channel.close(grace=None)
        await asyncio.to_thread(statedb.close)
        raise
    log.info(
        "jsonrpc_serving",
        port=port,
        metrics_port=None if endpoint is None else endpoint.port,
        chain_id=config.chain_id,
        methods=len(registry.names()),
    )
    return RunningJsonRpc(
        config=config,
        runner=runner,
        port=port,
        statedb=statedb,
        channels=channels,
        registry=registry,
        metrics_registry=metrics_registry,
        metrics_endpoint=endpoint,
        log=log,
    )


def _bound_port(runner: web.AppRunner, requested: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return requested

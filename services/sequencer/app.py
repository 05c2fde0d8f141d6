"""Wiring of one sequencer process: channels to the executor, pool and HashDB, the StateDB, the
L1 clock, genesis, the `Sequencer`, its gRPC status server and its metrics.

The executor is a `ReplicatedExecutor` (executors.py) over one channel per replica, whether
EXECUTOR_URL names one executor, a list of them, or a dns:/// name.

`start_sequencer` is what `python -m services.sequencer` runs and what integration tests start in
process; `RunningSequencer.done` is the sequencer's own task (it ends with `SequencerHalted` if it
halts); `RunningSequencer.stop` is the graceful shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from grpc import aio
from grpc_health.v1 import health_pb2
from prometheus_client import CollectorRegistry

from protos.sequencer.v1 import sequencer_pb2 as pb
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
from services.sequencer.config import SequencerConfig
from services.sequencer.executors import (
    ReplicaPort,
    ReplicatedExecutor,
    parse_executor_targets,
    resolver_for,
)
from services.sequencer.genesis import StateDBGenesisStore, ensure_genesis, read_genesis_file
from services.sequencer.grpc_ports import GrpcExecutor, GrpcPool, HashDBAccounts
from services.sequencer.l1clock import JsonRpcL1Clock, WallClockL1
from services.sequencer.ledger import StateDBLedger
from services.sequencer.metrics import SequencerMetrics
from services.sequencer.ports import L1Clock
from services.sequencer.sequencer import Sequencer
from services.sequencer.servicer import SERVICE_NAME, SequencerServicer


@dataclass(slots=True)
class RunningSequencer:
    config: SequencerConfig
    sequencer: Sequencer
    server: RunningGrpcServer
    metrics_endpoint: MetricsEndpoint | None
    registry: CollectorRegistry
    statedb: StateDB
    channels: list[aio.Channel]
    l1_clock: L1Clock
    executor: ReplicatedExecutor
    #: the sequencer's task: recovery, then sequencing until stopped or halted
    done: asyncio.Task[None] = field(init=False)

    @property
    def port(self) -> int:
        return self.server.port

    async def stop(self) -> None:
        await self.server.stop(self.config.shutdown_grace_s)
        await self.sequencer.stop()
        if not self.done.done():
            self.done.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.done
        await self.close_connections()

    async def close_connections(self) -> None:
        await self.executor.close()
        for channel in self.channels:
            await channel.close(None)
        if isinstance(self.l1_clock, JsonRpcL1Clock):
            with contextlib.suppress(Exception):
                await self.l1_clock.close()
        await asyncio.to_thread(self.statedb.close)
        if self.metrics_endpoint is not None:
            self.metrics_endpoint.close()


def _channel(target: str, config: SequencerConfig) -> aio.Channel:
    return aio.insecure_channel(
        target,
        options=[
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.max_message_bytes),
            # reconnect soon after a restarted service is back (gRPC's own backoff grows to 120 s)
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", max(100, int(config.retry_max_s * 1000))),
        ],
    )


def _replicated_executor(config: SequencerConfig, log: EventLogger) -> ReplicatedExecutor:
    """One channel per replica: each replica's flush ids and prover_id are followed on their own
    (a round_robin channel would mix the replicas' flush ids)."""

    def replica(address: str) -> ReplicaPort:
        channel = _channel(address, config)
        return ReplicaPort(GrpcExecutor(channel, config.executor_timeout_s), lambda: channel.close(None))

    return ReplicatedExecutor(
        resolver_for(parse_executor_targets(config.executor_url)),
        replica,
        spread=config.executor_spread,
        refresh_s=config.executor_dns_refresh_s,
        lost_after_s=config.executor_lost_after_s,
        retry_down_s=config.retry_max_s,
        log=log,
    )


async def start_sequencer(config: SequencerConfig) -> RunningSequencer:
    """Connect, write or check the genesis, serve status and metrics, and start sequencing."""
    log = EventLogger("zkseq.sequencer")
    statedb = await asyncio.to_thread(open_statedb, config.statedb_url)
    executor = _replicated_executor(config, log)
    pool_channel = _channel(config.pool_url, config)
    hashdb_channel = _channel(config.hashdb_url, config)
    channels = [pool_channel, hashdb_channel]
    l1_clock: L1Clock = (
        JsonRpcL1Clock(config.l1_rpc_url, timeout_s=config.l1_timeout_s)
        if config.l1_rpc_url
        else WallClockL1()
    )
    try:
        await executor.refresh(force=True)
        if config.genesis_file is not None:
            genesis = read_genesis_file(config.genesis_file)
            await ensure_genesis(StateDBGenesisStore(statedb), hashdb_channel, genesis, config.coinbase, log)
        registry = CollectorRegistry()
        metrics = SequencerMetrics(registry)
        sequencer = Sequencer(
            config.settings(),
            executor=executor,
            pool=GrpcPool(pool_channel, config.pool_timeout_s),
            ledger=StateDBLedger(statedb),
            accounts=HashDBAccounts(hashdb_channel, config.hashdb_timeout_s),
            l1_clock=l1_clock,
            metrics=metrics,
            log=log,
        )
        handler = unary_service_handler(
            pb.DESCRIPTOR.services_by_name["SequencerService"], SequencerServicer(sequencer)
        )
        server = await start_grpc_server(
            GrpcServerSettings(config.grpc_host, config.grpc_port, config.max_message_bytes),
            lambda s: s.add_generic_rpc_handlers((handler,)),
            [SERVICE_NAME],
            [ServiceInterceptor(RpcMetrics("sequencer", registry), log)],
        )
        metrics.watch_last_closed_batch(lambda: sequencer.recorder.last_closed_batch)
        metrics.watch_executor_replicas(lambda: len(executor.addresses), executor.reachable)
        executor.on_generation = lambda reason: metrics.executor_flushes_lost.labels(reason).inc()
    except BaseException:
        await executor.close()
        for channel in channels:
            await channel.close(None)
        await asyncio.to_thread(statedb.close)
        raise
    try:
        endpoint = (
            start_metrics_endpoint(config.metrics_host, config.metrics_port, registry)
            if config.metrics_enabled
            else None
        )
    except BaseException:
        await server.stop(0)
        await executor.close()
        for channel in channels:
            await channel.close(None)
        await asyncio.to_thread(statedb.close)
        raise
    running = RunningSequencer(
        config, sequencer, server, endpoint, registry, statedb, channels, l1_clock, executor
    )

    async def sequence() -> None:
        try:
            await sequencer.run()
        finally:
            for name in ("", SERVICE_NAME):
                await server.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)

    running.done = asyncio.create_task(sequence(), name="sequencer")
    log.info(
        "sequencer_serving",
        port=server.port,
        metrics_port=None if endpoint is None else endpoint.port,
        chain_id=config.chain_id,
        coinbase="0x" + config.coinbase.hex(),
        executor=config.executor_url,
        executor_replicas=executor.addresses,
        executor_spread=config.executor_spread.value,
        pool=config.pool_url,
        statedb=statedb.database.url,
    )
    return running

"""Wiring of one sequence sender process: StateDB, L1 node, EthTxManager channel, the sender and
the watcher (one asyncio task each), the status gRPC server and /metrics.

`start_sequencesender` is what `python -m services.sequencesender` runs and what the integration
tests start in process; `RunningSequenceSender.stop` is the graceful shutdown (NOT_SERVING, status
calls in flight finish, both loops stop between two rounds, connections close).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from grpc import aio
from prometheus_client import CollectorRegistry
from web3 import Web3

from protos.sequencesender.v1 import sequencesender_pb2 as pb
from services.common.errors import FailedPrecondition
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
from services.sequencesender.alarms import AlarmBoard
from services.sequencesender.config import SequenceSenderConfig
from services.sequencesender.ethtxmanager_client import GrpcTxManager
from services.sequencesender.l1 import Web3L1
from services.sequencesender.metrics import SequenceSenderMetrics
from services.sequencesender.sender import SequenceSender
from services.sequencesender.servicer import SERVICE_NAME, SequenceSenderServicer
from services.sequencesender.watcher import L1Watcher


@dataclass(slots=True)
class RunningSequenceSender:
    config: SequenceSenderConfig
    sender: SequenceSender
    watcher: L1Watcher
    alarms: AlarmBoard
    server: RunningGrpcServer
    metrics_endpoint: MetricsEndpoint | None
    registry: CollectorRegistry
    statedb: StateDB
    l1: Web3L1
    channel: aio.Channel
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.server.port

    async def stop(self) -> None:
        await self.server.stop(self.config.shutdown_grace_s)
        self.stopping.set()
        _, pending = await asyncio.wait(self.tasks, timeout=self.config.shutdown_grace_s)
        for task in pending:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.close_connections()

    async def close_connections(self) -> None:
        await self.channel.close(grace=None)
        await self.l1.close()
        await asyncio.to_thread(self.statedb.close)
        if self.metrics_endpoint is not None:
            self.metrics_endpoint.close()


async def start_sequencesender(config: SequenceSenderConfig) -> RunningSequenceSender:
    """Connect, check the L1 addresses, start serving and both loops; return the running service."""
    log = EventLogger("zkseq.sequencesender")
    statedb = await asyncio.to_thread(open_statedb, config.statedb_url)
    l1 = Web3L1(config.l1_rpc_url, config.rollup_address, timeout_s=config.l1_timeout_s)
    channel = aio.insecure_channel(config.ethtxmanager_address)
    try:
        manager = await l1.global_exit_root_manager()
        expected = Web3.to_checksum_address(config.global_exit_root_manager_address)
        if manager != expected:
            raise FailedPrecondition(
                f"the rollup at {config.rollup_address} uses global exit root manager {manager}, "
                f"not the configured {expected}"
            )
        registry = CollectorRegistry()
        metrics = SequenceSenderMetrics(registry)
        alarms = AlarmBoard(metrics, log)
        watcher = L1Watcher(
            l1=l1,
            l1_blocks=statedb.l1_blocks,
            batches=statedb.batches,
            virtual_batches=statedb.virtual_batches,
            verified_batches=statedb.verified_batches,
            alarms=alarms,
            metrics=metrics,
            log=EventLogger("zkseq.sequencesender.watcher"),
            settings=config.watcher_settings(),
        )
        sender = SequenceSender(
            l1=l1,
            tx_manager=GrpcTxManager(channel, owner=config.owner, timeout_s=config.ethtxmanager_timeout_s),
            batches=statedb.batches,
            forced_batches=statedb.forced_batches,
            alarms=alarms,
            metrics=metrics,
            log=log,
            settings=config.sender_settings(),
        )
        servicer = SequenceSenderServicer(
            sender=sender,
            watcher=watcher,
            alarms=alarms,
            batches=statedb.batches,
            virtual_batches=statedb.virtual_batches,
            verified_batches=statedb.verified_batches,
        )
        handler = unary_service_handler(pb.DESCRIPTOR.services_by_name["SequenceSenderService"], servicer)
        server = await start_grpc_server(
            GrpcServerSettings(config.grpc_host, config.grpc_port),
            lambda s: s.add_generic_rpc_handlers((handler,)),
            [SERVICE_NAME],
            [ServiceInterceptor(RpcMetrics("sequencesender", registry), log)],
        )
    except BaseException:
        await channel.close(grace=None)
        await l1.close()
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
        await channel.close(grace=None)
        await l1.close()
        await asyncio.to_thread(statedb.close)
        raise
    running = RunningSequenceSender(
        config, sender, watcher, alarms, server, endpoint, registry, statedb, l1, channel
    )
    running.tasks = [
        asyncio.create_task(watcher.run(running.stopping), name="l1-watcher"),
        asyncio.create_task(sender.run(running.stopping), name="sequence-sender"),
    ]
    log.info(
        "sequencesender_serving",
        port=server.port,
        metrics_port=None if endpoint is None else endpoint.port,
        rollup=config.rollup_address,
        ethtxmanager=config.ethtxmanager_address,
        statedb=statedb.database.url,
        start_block=config.start_block,
    )
    return running

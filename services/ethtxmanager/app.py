"""Wiring of one EthTxManager process: StateDB, L1 client, signer, monitor, manager, servicer,
gRPC server, metrics, and the monitor's loop.

`start_ethtxmanager` is what `python -m services.ethtxmanager` runs, and what tests start in
process; `RunningEthTxManager.stop` is the graceful shutdown (NOT_SERVING, calls in flight finish,
the loop stops, connections close). The monitor recovers the transactions in flight from the
StateDB before the server accepts its first call.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import grpc
from prometheus_client import CollectorRegistry

from protos.ethtxmanager.v1 import ethtxmanager_pb2 as pb
from services.common.grpc_server import (
    GrpcServerSettings,
    RunningGrpcServer,
    start_grpc_server,
    unary_service_handler,
)
from services.common.interceptors import ServiceInterceptor
from services.common.logs import EventLogger
from services.common.metrics import MetricsEndpoint, RpcMetrics, start_metrics_endpoint
from services.common.statedb import DatabaseUnavailable, StateDB, open_statedb
from services.ethtxmanager.config import EthTxManagerConfig
from services.ethtxmanager.fees import FeeKind
from services.ethtxmanager.l1 import JsonRpcL1Client, L1Unavailable, RpcError
from services.ethtxmanager.manager import EthTxManager
from services.ethtxmanager.metrics import EthTxManagerMetrics
from services.ethtxmanager.monitor import Monitor, MonitorSettings
from services.ethtxmanager.servicer import SERVICE_NAME, EthTxManagerServicer
from services.ethtxmanager.signer import LocalSigner

#: exceptions of libraries, and the status codes they are answered with
ERROR_CODES: dict[type[BaseException], grpc.StatusCode] = {
    DatabaseUnavailable: grpc.StatusCode.UNAVAILABLE,
    L1Unavailable: grpc.StatusCode.UNAVAILABLE,
    RpcError: grpc.StatusCode.UNAVAILABLE,
}


class StartupError(Exception):
    """The L1 node or the StateDB is unreachable or not what the configuration says."""


@dataclass(slots=True)
class RunningEthTxManager:
    config: EthTxManagerConfig
    manager: EthTxManager
    monitor: Monitor
    server: RunningGrpcServer
    metrics_endpoint: MetricsEndpoint | None
    registry: CollectorRegistry
    statedb: StateDB
    l1: JsonRpcL1Client
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

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
        await self.l1.close()
        if self.metrics_endpoint is not None:
            self.metrics_endpoint.close()
        await asyncio.to_thread(self.statedb.close)


async def fee_kind_for(config: EthTxManagerConfig, l1: JsonRpcL1Client) -> FeeKind:
    """The fee kind of new transactions: FEE_MODE, where `auto` asks whether blocks have a base fee."""
    if config.fee_mode == "legacy":
        return FeeKind.LEGACY
    block = await l1.block("latest")
    has_base_fee = block is not None and block.base_fee is not None
    if config.fee_mode == "eip1559" and not has_base_fee:
        raise StartupError("FEE_MODE=eip1559, but the L1 node's blocks have no base fee")
    return FeeKind.EIP1559 if has_base_fee else FeeKind.LEGACY


async def start_ethtxmanager(config: EthTxManagerConfig, background: bool = True) -> RunningEthTxManager:
    """Connect, recover, start serving and monitoring; return the running service.

    `background=False` leaves the monitor's loop out (tests call `monitor.tick()` themselves).
    """
    log = EventLogger("zkseq.ethtxmanager")
    l1 = JsonRpcL1Client(config.l1_rpc_url, config.l1_timeout_s)
    statedb: StateDB | None = None
    try:
        try:
            chain_id = await l1.chain_id()
            fee_kind = await fee_kind_for(config, l1)
        except (L1Unavailable, RpcError) as exc:
            raise StartupError(f"the L1 node at {config.l1_rpc_url} does not answer: {exc}") from exc
        if chain_id != config.chain_id:
            raise StartupError(
                f"the L1 node at {config.l1_rpc_url} is chain {chain_id}, "
                f"the configuration says {config.chain_id}"
            )
        try:
            statedb = await asyncio.to_thread(open_statedb, config.statedb_url)
        except DatabaseUnavailable as exc:
            raise StartupError(f"the StateDB cannot be opened: {exc}") from exc
        signer = LocalSigner(config.private_key, config.chain_id)
        registry = CollectorRegistry()
        metrics = EthTxManagerMetrics(registry)
        settings = MonitorSettings(
            confirmations=config.confirmations,
            poll_interval_s=config.poll_interval_s,
            stuck_after_s=config.stuck_after_s,
            fee_bump_percent=config.fee_bump_percent,
            max_gas_price=config.max_gas_price,
            fee_kind=fee_kind,
        )
        monitor = Monitor(statedb.monitored_txs, l1, signer, settings, metrics=metrics, log=log)
        try:
            await monitor.recover()
        except (L1Unavailable, RpcError) as exc:
            raise StartupError(f"the L1 node at {config.l1_rpc_url} does not answer: {exc}") from exc
        manager = EthTxManager(
            statedb.monitored_txs, l1, monitor, log, gas_limit_margin_percent=config.gas_limit_margin_percent
        )
        handler = unary_service_handler(
            pb.DESCRIPTOR.services_by_name["EthTxManagerService"], EthTxManagerServicer(manager)
        )
        server = await start_grpc_server(
            GrpcServerSettings(config.grpc_host, config.grpc_port, config.max_message_bytes),
            lambda s: s.add_generic_rpc_handlers((handler,)),
            [SERVICE_NAME],
            [ServiceInterceptor(RpcMetrics("ethtxmanager", registry), log, ERROR_CODES)],
        )
    except BaseException:
        await l1.close()
        if statedb is not None:
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
        await l1.close()
        await asyncio.to_thread(statedb.close)
        raise
    running = RunningEthTxManager(config, manager, monitor, server, endpoint, registry, statedb, l1)
    if background:
        running.tasks.append(asyncio.create_task(monitor.run()))
    log.info(
        "ethtxmanager_serving",
        port=server.port,
        metrics_port=None if endpoint is None else endpoint.port,
        address="0x" + signer.address.hex(),
        chain_id=chain_id,
        fee_kind=fee_kind.value,
        confirmations=config.confirmations,
        next_nonce=monitor.next_nonce,
    )
    return running

"""Wiring of one executor process: state backend, engine, servicer, gRPC server, metrics.

`start_executor` is what `python -m services.executor` runs, and what the integration tests start
in process; `RunningExecutor.stop` is the graceful shutdown (NOT_SERVING, calls in flight finish,
the HashDB channel closes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
from prometheus_client import CollectorRegistry

from protos.executor.v1 import executor_pb2 as pb
from services.common.grpc_server import (
    GrpcServerSettings,
    RunningGrpcServer,
    start_grpc_server,
    unary_service_handler,
)
from services.common.interceptors import ServiceInterceptor
from services.common.logs import EventLogger
from services.common.metrics import MetricsEndpoint, RpcMetrics, start_metrics_endpoint
from services.executor.config import LOCAL_HASHDB, ExecutorConfig
from services.executor.hashdb_client import HashDBBackend
from services.executor.metrics import ExecutorMetrics, watch_write_set_memo
from services.executor.service import Executor, LocalBackend, StateBackend
from services.executor.servicer import SERVICE_NAME, ExecutorServicer
from zkevm.errors import EncodingError

#: exceptions of shared code and the status codes they are answered with
ERROR_CODES: Mapping[type[BaseException], grpc.StatusCode] = {EncodingError: grpc.StatusCode.INVALID_ARGUMENT}


def open_backend(config: ExecutorConfig) -> StateBackend:
    if config.hashdb_url == LOCAL_HASHDB:
        return LocalBackend()
    return HashDBBackend(
        config.hashdb_url,
        config.hashdb_timeout_s,
        node_cache_entries=config.node_cache_entries,
        root_wait_s=config.root_wait_s,
        max_message_bytes=config.max_message_bytes,
    )


@dataclass(slots=True)
class RunningExecutor:
    config: ExecutorConfig
    executor: Executor
    server: RunningGrpcServer
    metrics_endpoint: MetricsEndpoint | None
    registry: CollectorRegistry
    pool: ThreadPoolExecutor

    @property
    def port(self) -> int:
        return self.server.port

    async def stop(self) -> None:
        await self.server.stop(self.config.shutdown_grace_s)
        self.pool.shutdown(wait=True)
        backend = self.executor.backend
        if isinstance(backend, HashDBBackend):
            await asyncio.to_thread(backend.close, self.config.drain_timeout_s)
        if self.metrics_endpoint is not None:
            self.metrics_endpoint.close()


async def start_executor(config: ExecutorConfig, backend: StateBackend | None = None) -> RunningExecutor:
    """Connect the state backend (unless given), start serving, and return the running service."""
    log = EventLogger("zkseq.executor")
    backend = open_backend(config) if backend is None else backend
    registry = CollectorRegistry()
    metrics = ExecutorMetrics(registry)
    if isinstance(backend, HashDBBackend):
        watch_write_set_memo(registry, backend.write_sets)
    executor = Executor(backend, read_cache_entries=config.read_cache_entries)
    pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="executor-batch")
    servicer = ExecutorServicer(executor, metrics, log, pool)
    handler = unary_service_handler(pb.DESCRIPTOR.services_by_name["ExecutorService"], servicer)
    try:
        server = await start_grpc_server(
            GrpcServerSettings(
                config.grpc_host, config.grpc_port, config.max_message_bytes, config.max_connection_age_s
            ),
            lambda s: s.add_generic_rpc_handlers((handler,)),
            [SERVICE_NAME],
            [ServiceInterceptor(RpcMetrics("executor", registry), log, ERROR_CODES)],
        )
        endpoint = (
            start_metrics_endpoint(config.metrics_host, config.metrics_port, registry)
            if config.metrics_enabled
            else None
        )
    except BaseException:
        pool.shutdown(wait=False)
        raise
    log.info(
        "executor_serving",
        port=server.port,
        metrics_port=None if endpoint is None else endpoint.port,
        hashdb=config.hashdb_url,
        workers=config.workers,
        prover_id=executor.prover_id,
    )
    return RunningExecutor(config, executor, server, endpoint, registry, pool)

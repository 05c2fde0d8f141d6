"""Wiring of one HashDB process: store, caches, node database, HashDB, servicer, gRPC server, metrics.

`start_hashdb` is what `python -m services.hashdb` runs, and what the integration tests start in
process; `RunningHashDB.stop` is the graceful shutdown (NOT_SERVING, calls in flight finish, flushed
data is stored, the store is closed).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import grpc
from prometheus_client import CollectorRegistry

from protos.hashdb.v1 import hashdb_pb2 as pb
from services.common.grpc_server import (
    GrpcServerSettings,
    RunningGrpcServer,
    start_grpc_server,
    unary_service_handler,
)
from services.common.interceptors import ServiceInterceptor
from services.common.logs import EventLogger
from services.common.metrics import MetricsEndpoint, RpcMetrics, start_metrics_endpoint
from services.hashdb.config import HashDBConfig
from services.hashdb.database import NodeDatabase
from services.hashdb.metrics import HashDBMetrics
from services.hashdb.service import HashDB
from services.hashdb.servicer import SERVICE_NAME, HashDBServicer
from services.hashdb.stores.base import DurableStore, StoreError
from services.hashdb.stores.cache import LruCache
from services.hashdb.stores.lmdb_store import LmdbStore
from services.hashdb.stores.postgres import PostgresStore
from services.hashdb.stores.rocksdb_store import RocksStore
from zkevm.errors import EncodingError, MissingNodeError, TreeError

#: exceptions of shared code and stores, and the status codes they are answered with
ERROR_CODES = {
    MissingNodeError: grpc.StatusCode.NOT_FOUND,
    EncodingError: grpc.StatusCode.INVALID_ARGUMENT,
    TreeError: grpc.StatusCode.DATA_LOSS,
    StoreError: grpc.StatusCode.UNAVAILABLE,
}


def open_store(config: HashDBConfig) -> DurableStore:
    if config.store == "postgres":
        return PostgresStore(config.pg_dsn, config.pg_schema)
    if config.store == "rocksdb":
        return RocksStore(config.rocksdb_path, sync=config.rocksdb_sync)
    return LmdbStore(config.lmdb_path, config.lmdb_map_size_bytes, sync=config.lmdb_sync)


class _MethodCall(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


async def _intercepted(
    handler: grpc.GenericRpcHandler[Any, Any], interceptor: ServiceInterceptor
) -> grpc.GenericRpcHandler[Any, Any]:
    """The HashDB's methods, each wrapped once, at start, by the service interceptor (status codes
    for exceptions, latency and error metrics), instead of through the server's interceptor chain on
    every call: the same behaviour for ~45 µs less CPU per call (measured: an empty unary call costs
    the aio server ~610 µs of CPU with the interceptor installed, ~570 µs wrapped in advance). That
    matters on the hot path of small SetMany calls. The health service is not wrapped."""
    methods = pb.DESCRIPTOR.services_by_name["HashDBService"].methods
    wrapped = {}
    for method in methods:
        details = _MethodCall(f"/{SERVICE_NAME}/{method.name}")

        async def found(call: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any]:
            found_handler = handler.service(call)
            if found_handler is None:
                raise RuntimeError(f"no handler for {call.method}")
            return found_handler

        wrapped[method.name] = await interceptor.intercept_service(found, details)
    return grpc.method_handlers_generic_handler(SERVICE_NAME, wrapped)


@dataclass(slots=True)
class RunningHashDB:
    config: HashDBConfig
    hashdb: HashDB
    server: RunningGrpcServer
    metrics_endpoint: MetricsEndpoint | None
    registry: CollectorRegistry

    @property
    def port(self) -> int:
        return self.server.port

    async def stop(self) -> None:
        await self.server.stop(self.config.shutdown_grace_s)
        await self.hashdb.close(self.config.drain_timeout_s)
        if self.metrics_endpoint is not None:
            self.metrics_endpoint.close()


async def start_hashdb(config: HashDBConfig, store: DurableStore | None = None) -> RunningHashDB:
    """Open the store (unless given), start serving, and return the running service."""
    log = EventLogger("zkseq.hashdb")
    if store is None:
        store = await asyncio.to_thread(open_store, config)
    registry = CollectorRegistry()
    metrics = HashDBMetrics(registry)
    db = NodeDatabase(
        store,
        node_cache=LruCache(config.node_cache_entries),
        program_cache=LruCache(config.program_cache_bytes, weigh=len),
        history_flushes=config.flush_data_history,
    )
    hashdb = HashDB(db, config.hashdb_settings(), metrics, log)
    servicer = HashDBServicer(hashdb, metrics)
    handler = await _intercepted(
        unary_service_handler(pb.DESCRIPTOR.services_by_name["HashDBService"], servicer),
        ServiceInterceptor(RpcMetrics("hashdb", registry), log, ERROR_CODES),
    )
    hashdb.start()
    server: RunningGrpcServer | None = None
    try:
        server = await start_grpc_server(
            GrpcServerSettings(config.grpc_host, config.grpc_port, config.max_message_bytes),
            lambda s: s.add_generic_rpc_handlers((handler,)),
            [SERVICE_NAME],
        )
        endpoint = (
            start_metrics_endpoint(config.metrics_host, config.metrics_port, registry)
            if config.metrics_enabled
            else None
        )
    except BaseException:
        if server is not None:
            await server.stop(0)
        await hashdb.close(config.drain_timeout_s)
        raise
    log.info(
        "hashdb_serving",
        port=server.port,
        metrics_port=None if endpoint is None else endpoint.port,
        store=config.store,
        stored_flush_id=db.stored_flush_id,
        prover_id=hashdb.prover_id,
    )
    return RunningHashDB(config, hashdb, server, endpoint, registry)

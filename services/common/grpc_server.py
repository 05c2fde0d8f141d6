"""grpc.aio server bootstrap shared by the services: health checking, binding, graceful shutdown.

    server = await start_grpc_server(GrpcServerSettings(...), register, ["hashdb.v1.HashDBService"],
                                     interceptors=[...])
    signal_name = await wait_for_shutdown_signal()      # SIGTERM / SIGINT
    await server.stop(grace_s=10)                       # NOT_SERVING, finish calls in flight, close

Health: the standard `grpc.health.v1.Health` service reports SERVING for "" and for every name in
`service_names` once the server has started, and NOT_SERVING as soon as shutdown begins, so a load
balancer stops sending new calls while the ones in flight finish within the grace period.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message_factory import GetMessageClass
from grpc import aio
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc


@dataclass(frozen=True, slots=True)
class GrpcServerSettings:
    host: str
    #: 0 = any free port; the bound port is `RunningGrpcServer.port`
    port: int
    #: largest request or response message, in bytes (gRPC's own default is 4 MiB)
    max_message_bytes: int = 64 * 1024 * 1024
    #: close each client connection (after a GOAWAY and a grace period for calls in flight) once it
    #: is this old, so clients resolve the Service again and find new replicas; 0 = never
    max_connection_age_s: float = 0.0


@dataclass(slots=True)
class RunningGrpcServer:
    server: aio.Server
    health: health_aio.HealthServicer
    service_names: tuple[str, ...]
    port: int

    async def stop(self, grace_s: float) -> None:
        """Report NOT_SERVING, refuse new calls, let calls in flight finish for up to `grace_s`."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)


def unary_service_handler(service: ServiceDescriptor, servicer: object) -> grpc.GenericRpcHandler[Any, Any]:
    """Route every unary method of `service` (from a generated `_pb2` descriptor) to the servicer's
    coroutine of the same name. Typed code never needs the untyped generated `_pb2_grpc` module."""
    handlers = {}
    for method in service.methods:
        if method.client_streaming or method.server_streaming:
            raise TypeError(f"{service.full_name}/{method.name} is streaming; only unary methods are routed")
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            getattr(servicer, method.name),
            request_deserializer=GetMessageClass(method.input_type).FromString,
            response_serializer=GetMessageClass(method.output_type).SerializeToString,
        )
    return grpc.method_handlers_generic_handler(service.full_name, handlers)


async def start_grpc_server(
    settings: GrpcServerSettings,
    register: Callable[[aio.Server], None],
    service_names: Sequence[str],
    interceptors: Sequence[aio.ServerInterceptor[Any, Any]] = (),
) -> RunningGrpcServer:
    """Build, bind and start a server; `register` adds the service's servicers to it."""
    options = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.so_reuseport", 0),
    ]
    if settings.max_connection_age_s > 0:
        age_ms = int(settings.max_connection_age_s * 1000)
        options += [("grpc.max_connection_age_ms", age_ms), ("grpc.max_connection_age_grace_ms", age_ms)]
    server = aio.server(interceptors=list(interceptors), options=options)
    register(server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    port = server.add_insecure_port(f"{host}:{settings.port}")
    if port == 0:
        raise OSError(f"could not bind {host}:{settings.port}")
    await server.start()
    for name in ("", *service_names):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RunningGrpcServer(server, health, tuple(service_names), port)


async def wait_for_shutdown_signal() -> str:
    """Wait for SIGTERM or SIGINT and return its name."""
    loop = asyncio.get_running_loop()
    received: asyncio.Future[str] = loop.create_future()
    signals = (signal.SIGTERM, signal.SIGINT)

    def on_signal(sig: signal.Signals) -> None:
        if not received.done():
            received.set_result(sig.name)

    for sig in signals:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        return await received
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)

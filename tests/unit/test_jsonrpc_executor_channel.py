"""The JSON-RPC server's executor channel spreads calls over every address of its target.

Two executor.v1 stand-ins on loopback answer GetFlushStatus with their own prover id; a channel
made with the JSON-RPC server's executor options, on a target that resolves to both, must reach
both (gRPC's default, pick_first, would send every call to one)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import empty_pb2
from grpc import aio

from protos.executor.v1 import executor_pb2 as epb
from services.jsonrpc.app import EXECUTOR_CHANNEL_OPTIONS

METHOD = "/executor.v1.ExecutorService/GetFlushStatus"


async def _stand_in(name: str) -> tuple[aio.Server, int]:
    async def flush_status(
        request: empty_pb2.Empty,
        context: aio.ServicerContext,  # type: ignore[type-arg]
    ) -> epb.GetFlushStatusResponse:
        return epb.GetFlushStatusResponse(prover_id=name)

    handler = grpc.method_handlers_generic_handler(
        "executor.v1.ExecutorService",
        {
            "GetFlushStatus": grpc.unary_unary_rpc_method_handler(
                flush_status,
                request_deserializer=empty_pb2.Empty.FromString,
                response_serializer=epb.GetFlushStatusResponse.SerializeToString,
            )
        },
    )
    server = aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


@pytest.fixture
async def two_executors() -> AsyncIterator[list[int]]:
    servers = [await _stand_in(name) for name in ("replica-a", "replica-b")]
    try:
        yield [port for _, port in servers]
    finally:
        for server, _ in servers:
            await server.stop(None)


async def _answering(target: str, options: list[tuple[str, object]]) -> set[str]:
    async with aio.insecure_channel(target, options=options) as channel:
        call = channel.unary_unary(
            METHOD,
            request_serializer=empty_pb2.Empty.SerializeToString,
            response_deserializer=epb.GetFlushStatusResponse.FromString,
        )
        answers = [await call(empty_pb2.Empty(), timeout=5, wait_for_ready=True) for _ in range(20)]
    return {a.prover_id for a in answers}


async def test_calls_are_spread_over_every_resolved_executor(two_executors: list[int]) -> None:
    # gRPC's ipv4: resolver gives the channel two addresses, as DNS does for a headless Service
    target = "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in two_executors)
    assert await _answering(target, list(EXECUTOR_CHANNEL_OPTIONS)) == {"replica-a", "replica-b"}
    # without the option, one replica takes every call: the option is what spreads them
    default = [(k, v) for k, v in EXECUTOR_CHANNEL_OPTIONS if k != "grpc.lb_policy_name"]
    assert len(await _answering(target, default)) == 1

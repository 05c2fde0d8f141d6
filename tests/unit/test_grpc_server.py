"""The shared grpc.aio server bootstrap: a connection-age limit makes clients connect again."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.config import ConfigError
from services.common.grpc_server import GrpcServerSettings, start_grpc_server
from services.executor.config import ExecutorConfig


async def _serving(channel: aio.Channel) -> bool:
    stub = health_pb2_grpc.HealthStub(channel)
    answer = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


async def test_connections_older_than_the_age_limit_are_closed_and_clients_reconnect() -> None:
    server = await start_grpc_server(
        GrpcServerSettings("127.0.0.1", 0, max_connection_age_s=0.3), lambda s: None, ["zkseq.Test"]
    )
    channel = aio.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        assert await _serving(channel)
        assert channel.get_state() == grpc.ChannelConnectivity.READY
        # the server sends GOAWAY once the connection is 0.3 s old: the channel leaves READY
        # (a client over dns:/// would resolve the name again here)
        left_ready = False
        for _ in range(200):
            await asyncio.sleep(0.05)
            if channel.get_state() != grpc.ChannelConnectivity.READY:
                left_ready = True
                break
        assert left_ready, "the connection was never closed by the server"
        assert await _serving(channel)
    finally:
        await channel.close(grace=None)
        await server.server.stop(0)


def test_the_executor_reads_its_connection_age_limit_and_refuses_a_negative_one() -> None:
    assert ExecutorConfig.from_env({"ZKSEQ_EXECUTOR_MAX_CONNECTION_AGE_S": "60"}).max_connection_age_s == 60
    assert ExecutorConfig.from_env({"ZKSEQ_EXECUTOR_MAX_CONNECTION_AGE_S": "0"}).max_connection_age_s == 0
    with pytest.raises(ConfigError, match="MAX_CONNECTION_AGE_S"):
        ExecutorConfig.from_env({"ZKSEQ_EXECUTOR_MAX_CONNECTION_AGE_S": "-1"})

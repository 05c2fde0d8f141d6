"""The HTTP side on a real aiohttp server (in process, free port): the body-size limit with and
without Content-Length, status codes, CORS, notifications, and that it keeps serving."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from services.jsonrpc.codec import Json, parse_data
from services.jsonrpc.dispatch import Dispatcher, MethodRegistry, Param
from services.jsonrpc.metrics import JsonRpcMetrics
from services.jsonrpc.server import HttpSettings, JsonRpcHttp

LIMIT = 4096


async def length(value: bytes) -> Json:
    return len(value)


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, JsonRpcMetrics]]:
    registry = MethodRegistry()
    registry.add("test_length", length, Param("data", parse_data))
    metrics = JsonRpcMetrics(CollectorRegistry())
    http = JsonRpcHttp(Dispatcher(registry, metrics=metrics), HttpSettings(max_body_bytes=LIMIT), metrics)
    test_server = TestServer(http.application(), host="127.0.0.1")
    await test_server.start_server()
    try:
        yield str(test_server.make_url("/")), metrics
    finally:
        await test_server.close()


def call(payload: bytes) -> bytes:
    return orjson.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "test_length", "params": ["0x" + payload.hex()]}
    )


async def test_a_call_over_http(server: tuple[str, JsonRpcMetrics]) -> None:
    url, _ = server
    async with aiohttp.ClientSession() as session, session.post(url, data=call(b"abc")) as response:
        assert response.status == 200 and response.content_type == "application/json"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert await response.json() == {"jsonrpc": "2.0", "id": 1, "result": 3}


async def test_oversized_bodies_are_refused_and_the_server_keeps_serving(
    server: tuple[str, JsonRpcMetrics],
) -> None:
    url, metrics = server
    big = call(b"x" * LIMIT)
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=big) as response:  # with Content-Length
            assert response.status == 413
            body = await response.json()
        assert body["id"] is None and body["error"]["code"] == -32600
        assert f"the limit is {LIMIT} bytes" in body["error"]["message"]

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(big), 1000):
                yield big[i : i + 1000]

        async with session.post(url, data=chunks()) as response:  # chunked: no Content-Length
            assert response.status == 413
            assert (await response.json())["error"]["code"] == -32600
        async with session.post(url, data=call(b"y" * 100)) as response:
            assert (await response.json())["result"] == 100
    assert metrics.requests.labels("too_large")._value.get() == 2


async def test_bad_input_gets_json_rpc_errors_over_http(server: tuple[str, JsonRpcMetrics]) -> None:
    url, _ = server
    async with aiohttp.ClientSession() as session:
        for body, code in (
            (b"{oops", -32700),
            (b"[]", -32600),
            (b'{"jsonrpc":"2.0","id":2,"method":"x"}', -32601),
        ):
            async with session.post(url, data=body, headers={"Content-Type": "text/plain"}) as response:
                assert response.status == 200
                assert (await response.json())["error"]["code"] == code
        notification = b'{"jsonrpc":"2.0","method":"test_length","params":["0x00"]}'
        async with session.post(url, data=notification) as response:
            assert response.status == 204 and await response.read() == b""
        async with session.post(url, data=call(b"ok")) as response:
            assert (await response.json())["result"] == 2


async def test_other_http_methods(server: tuple[str, JsonRpcMetrics]) -> None:
    url, _ = server
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            assert response.status == 405 and response.headers["Allow"] == "POST, OPTIONS"
        async with session.get(url + "health") as response:
            assert response.status == 200 and await response.json() == {"status": "ok"}
        async with session.options(url) as response:
            assert response.status == 204
            assert response.headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
            assert response.headers["Access-Control-Allow-Headers"] == "Content-Type"

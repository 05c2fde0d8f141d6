"""JSON-RPC 2.0 dispatch without HTTP: parsing, request validation, parameter checks, batches,
notifications, error codes, and that nothing a client sends stops the next call from being served."""

from __future__ import annotations

from typing import Any

import grpc
import orjson
import pytest

from services.jsonrpc.codec import Json, parse_address, parse_bool, parse_uint64, quantity
from services.jsonrpc.dispatch import Dispatcher, DispatchLimits, MethodRegistry, Param, optional
from services.jsonrpc.errors import ServerError


class Recorder:
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.batches: list[int] = []
        self.calls: list[tuple[str, str]] = []

    def request(self, kind: str) -> None:
        self.requests.append(kind)

    def batch(self, calls: int) -> None:
        self.batches.append(calls)

    def call(self, method: str, outcome: str, seconds: float) -> None:
        assert seconds >= 0
        self.calls.append((method, outcome))


class FakeRpcError(grpc.aio.AioRpcError):
    def __init__(self) -> None:
        super().__init__(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "down", None)


def make_dispatcher(**limits: Any) -> tuple[Dispatcher, Recorder, list[object]]:
    seen: list[object] = []

    async def echo(value: int, flag: bool) -> Json:
        seen.append((value, flag))
        return {"value": quantity(value), "flag": flag}

    async def balance(address: bytes) -> Json:
        return "0x" + address.hex()

    async def boom() -> Json:
        raise RuntimeError("a bug")

    async def refuse() -> Json:
        raise ServerError("nope", data="0x01")

    async def grpc_down() -> Json:
        raise FakeRpcError()

    async def big() -> Json:
        return "x" * 1000

    registry = MethodRegistry()
    registry.add("test_echo", echo, Param("value", parse_uint64), optional("flag", parse_bool, False))
    registry.add("test_balance", balance, Param("address", parse_address))
    registry.add("test_boom", boom)
    registry.add("test_refuse", refuse)
    registry.add("test_grpc", grpc_down)
    registry.add("test_big", big)
    recorder = Recorder()
    return Dispatcher(registry, DispatchLimits(**limits), recorder), recorder, seen


async def answer(dispatcher: Dispatcher, body: bytes | object) -> Any:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    result = await dispatcher.handle(raw)
    return None if result is None else orjson.loads(result)


def req(method: str, params: list[Json] | None = None, request_id: Json = 1) -> dict[str, Json]:
    message: dict[str, Json] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


async def test_a_call_is_answered_with_its_id_and_result() -> None:
    dispatcher, recorder, seen = make_dispatcher()
    response = await answer(dispatcher, req("test_echo", ["0x2a", True], request_id="abc"))
    assert response == {"jsonrpc": "2.0", "id": "abc", "result": {"value": "0x2a", "flag": True}}
    assert seen == [(42, True)]
    assert recorder.requests == ["single"] and recorder.calls == [("test_echo", "ok")]


async def test_optional_params_take_their_defaults_when_missing_or_null() -> None:
    dispatcher, _, seen = make_dispatcher()
    await answer(dispatcher, req("test_echo", ["0x1"]))
    await answer(dispatcher, req("test_echo", ["0x2", None]))
    assert seen == [(1, False), (2, False)]


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (b"{not json", -32700, "parse error"),
        (b"", -32700, "parse error"),
        (b"\xff\xfe", -32700, "parse error"),
        (b"42", -32600, "got a number"),
        (b'"eth_chainId"', -32600, "got a string"),
        (b"null", -32600, "got null"),
        (b"[]", -32600, "empty batch"),
    ],
)
async def test_bodies_that_are_not_requests(body: bytes, code: int, message: str) -> None:
    dispatcher, recorder, _ = make_dispatcher()
    response = await answer(dispatcher, body)
    assert response["id"] is None and response["error"]["code"] == code
    assert message in response["error"]["message"]
    assert recorder.requests == ["invalid"]


@pytest.mark.parametrize(
    ("message", "text"),
    [
        ({"id": 1, "method": "test_echo", "params": ["0x1"]}, '"jsonrpc" must be "2.0"'),
        ({"jsonrpc": "1.0", "id": 1, "method": "test_echo"}, '"jsonrpc" must be "2.0"'),
        ({"jsonrpc": "2.0", "id": 1}, '"method" must be a non-empty string'),
        ({"jsonrpc": "2.0", "id": 1, "method": 7}, '"method" must be a non-empty string'),
        ({"jsonrpc": "2.0", "id": 1, "method": ""}, '"method" must be a non-empty string'),
        ({"jsonrpc": "2.0", "id": [1], "method": "test_echo"}, '"id" must be'),
        ({"jsonrpc": "2.0", "id": True, "method": "test_echo"}, '"id" must be'),
        ({"jsonrpc": "2.0", "method": 5}, '"method" must be'),  # not a notification: malformed
    ],
)
async def test_invalid_requests(message: dict[str, Json], text: str) -> None:
    dispatcher, recorder, _ = make_dispatcher()
    response = await answer(dispatcher, message)
    assert response["error"]["code"] == -32600 and text in response["error"]["message"]
    expected_id = message.get("id") if isinstance(message.get("id"), int | str) else None
    if isinstance(message.get("id"), bool):
        expected_id = None
    assert response["id"] == expected_id
    assert recorder.calls == [("unknown", "invalid_request")]


async def test_unknown_methods_are_method_not_found_with_geths_words() -> None:
    dispatcher, recorder, _ = make_dispatcher()
    response = await answer(dispatcher, req("eth_sendTransaction", []))
    assert response["error"] == {
        "code": -32601,
        "message": "the method eth_sendTransaction does not exist/is not available",
    }
    assert recorder.calls == [("unknown", "method_not_found")]


@pytest.mark.parametrize(
    ("params", "text"),
    [
        (["0x1", True, 3], "too many arguments, want at most 2"),
        ([], "missing value for required argument 0 (value)"),
        ([None], "missing value for required argument 0 (value)"),
        (["12"], "invalid argument 0 (value): hex string without 0x prefix"),
        (["0x"], 'invalid argument 0 (value): hex string "0x" has no digits'),
        (["0xzz"], "invalid argument 0 (value): invalid hex string"),
        (["0x1" + "0" * 16], "invalid argument 0 (value): hex number > 64 bits"),
        ([-1], "non-negative"),
        (["0x1", "yes"], "invalid argument 1 (flag): expected a boolean, got a string"),
    ],
)
async def test_parameters_are_checked_before_the_method_runs(params: list[Json], text: str) -> None:
    dispatcher, recorder, seen = make_dispatcher()
    response = await answer(dispatcher, req("test_echo", params))
    assert response["error"]["code"] == -32602 and text in response["error"]["message"]
    assert seen == [] and recorder.calls == [("test_echo", "invalid_params")]


async def test_named_params_are_refused() -> None:
    dispatcher, _, _ = make_dispatcher()
    message: dict[str, Json] = {"jsonrpc": "2.0", "id": 1, "method": "test_echo", "params": {"value": "0x1"}}
    response = await answer(dispatcher, message)
    assert response["error"]["code"] == -32602 and "non-array args" in response["error"]["message"]


async def test_addresses_must_be_20_bytes() -> None:
    dispatcher, _, _ = make_dispatcher()
    response = await answer(dispatcher, req("test_balance", ["0x" + "ab" * 19]))
    assert response["error"]["code"] == -32602 and "want 40 for 20 bytes" in response["error"]["message"]
    ok = await answer(dispatcher, req("test_balance", ["0x" + "AB" * 20]))
    assert ok["result"] == "0x" + "ab" * 20


async def test_method_errors_keep_code_message_and_data() -> None:
    dispatcher, recorder, _ = make_dispatcher()
    response = await answer(dispatcher, req("test_refuse"))
    assert response["error"] == {"code": -32000, "message": "nope", "data": "0x01"}
    assert recorder.calls == [("test_refuse", "server_error")]


async def test_a_bug_is_an_internal_error_and_the_next_call_is_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dispatcher, recorder, _ = make_dispatcher()
    response = await answer(dispatcher, req("test_boom"))
    assert response["error"] == {"code": -32603, "message": "internal error"}
    assert any(r.getMessage() == "jsonrpc_internal_error" and r.exc_info for r in caplog.records)
    again = await answer(dispatcher, req("test_echo", ["0x5"]))
    assert again["result"]["value"] == "0x5"
    assert recorder.calls[0] == ("test_boom", "internal_error")


async def test_an_untranslated_grpc_failure_is_a_server_error() -> None:
    dispatcher, _, _ = make_dispatcher()
    response = await answer(dispatcher, req("test_grpc"))
    assert response["error"]["code"] == -32000
    assert response["error"]["message"] == "a backend call failed: UNAVAILABLE: down"


async def test_notifications_run_but_get_no_answer() -> None:
    dispatcher, recorder, seen = make_dispatcher()
    notification = {"jsonrpc": "2.0", "method": "test_echo", "params": ["0x7"]}
    assert await answer(dispatcher, notification) is None
    assert seen == [(7, False)]
    assert await answer(dispatcher, {"jsonrpc": "2.0", "method": "nope"}) is None
    assert await answer(dispatcher, [notification, notification]) is None
    assert recorder.calls[-1] == ("test_echo", "ok")


async def test_a_batch_is_answered_in_order_with_errors_in_place() -> None:
    dispatcher, recorder, _ = make_dispatcher()
    batch: list[Json] = [
        req("test_echo", ["0x1"], request_id=1),
        {"jsonrpc": "2.0", "method": "test_echo", "params": ["0x9"]},  # notification: no answer
        req("nope", [], request_id=2),
        17,
        req("test_echo", ["bad"], request_id=3),
        req("test_echo", ["0x2"], request_id="four"),
    ]
    response = await answer(dispatcher, batch)
    assert [r["id"] for r in response] == [1, 2, None, 3, "four"]
    assert response[0]["result"]["value"] == "0x1"
    assert [r.get("error", {}).get("code") for r in response] == [None, -32601, -32600, -32602, None]
    assert response[4]["result"]["value"] == "0x2"
    assert recorder.requests == ["batch"] and recorder.batches == [6]


async def test_a_batch_over_the_limit_runs_nothing() -> None:
    dispatcher, recorder, seen = make_dispatcher(max_batch_length=3)
    batch: list[Json] = [17, *[req("test_echo", [quantity(i)], request_id=10 + i) for i in range(4)]]
    response = await answer(dispatcher, batch)
    assert response == [
        {
            "jsonrpc": "2.0",
            "id": 10,
            "error": {"code": -32600, "message": "batch too large: 5 calls, the limit is 3"},
        }
    ]
    assert seen == [] and recorder.requests == ["invalid"]
    ok = await answer(dispatcher, [req("test_echo", ["0x1"]) for _ in range(3)])
    assert len(ok) == 3


async def test_batch_answers_past_the_response_limit_become_errors() -> None:
    dispatcher, _, _ = make_dispatcher(max_batch_response_bytes=2500)
    response = await answer(dispatcher, [req("test_big", request_id=i) for i in range(4)])
    assert [r["id"] for r in response] == [0, 1, 2, 3]
    assert "result" in response[0] and "result" in response[1]
    assert response[2]["error"]["code"] == -32003 and response[3]["error"]["code"] == -32003


def test_registry_refuses_duplicates_and_required_after_optional() -> None:
    registry = MethodRegistry()

    async def handler() -> Json:
        return None

    registry.add("a", handler)
    with pytest.raises(ValueError, match="twice"):
        registry.add("a", handler)
    with pytest.raises(ValueError, match="after an optional"):
        registry.add("b", handler, optional("x", parse_bool), Param("y", parse_bool))
    assert registry.names() == ["a"]

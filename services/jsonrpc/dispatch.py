"""JSON-RPC 2.0 over one request body: parsing, batches, the method registry, error answers.

    body ──orjson──▶ object ──▶ one call ─────────────────────────▶ response object
                     array  ──▶ calls run concurrently, answered ──▶ array in request order
                     other  ──▶ -32600                                (notifications: no answer)

Per call: "jsonrpc" must be "2.0", "id" a string, number or null (absent: a notification, run but
not answered), "method" a non-empty string, "params" an array or absent. The method's parameters
are checked against its declaration before it runs: too many arguments, a missing required one, or
one that does not parse is -32602 naming the argument's position, as go-ethereum words it.

Nothing a client sends can break the server: a method that raises an `RpcError` is answered with
it; a backend failure it did not translate is -32000; any other exception is -32603 "internal
error" with the traceback in the log (event `jsonrpc_internal_error`), and the next request is
served as usual.

Batches follow go-ethereum: an empty batch is one -32600 "empty batch" object; a batch longer than
`max_batch_length` is answered with a one-element array holding -32600 "batch too large" (with the
id of its first call) and nothing in it runs; once the answers of a batch pass
`max_batch_response_bytes`, the remaining calls are answered -32003 "response too large".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Protocol

import grpc
import orjson

from services.common.logs import EventLogger
from services.jsonrpc.codec import Json, ParamError, describe
from services.jsonrpc.errors import (
    BackendUnavailable,
    InternalError,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    ParseError,
    ResponseTooLarge,
    RpcError,
)

JSONRPC_VERSION: Final = "2.0"
#: the metrics label of calls to methods that do not exist (keeps the label set bounded)
UNKNOWN_METHOD: Final = "unknown"

Handler = Callable[..., Awaitable[Json]]


@dataclass(frozen=True, slots=True)
class Param:
    """One positional parameter: its parser, and whether it may be left out (or null)."""

    name: str
    parse: Callable[[object], object]
    required: bool = True
    default: object = None


def optional(name: str, parse: Callable[[object], object], default: object = None) -> Param:
    return Param(name, parse, required=False, default=default)


@dataclass(frozen=True, slots=True)
class Method:
    name: str
    handler: Handler
    params: tuple[Param, ...] = ()

    def bind(self, params: list[Json]) -> list[object]:
        """The handler's arguments parsed from the request's `params`, or InvalidParams."""
        if len(params) > len(self.params):
            raise InvalidParams(f"too many arguments, want at most {len(self.params)}")
        args: list[object] = []
        for position, spec in enumerate(self.params):
            value = params[position] if position < len(params) else None
            if value is None:
                if spec.required:
                    raise InvalidParams(f"missing value for required argument {position} ({spec.name})")
                args.append(spec.default)
                continue
            try:
                args.append(spec.parse(value))
            except ParamError as exc:
                raise InvalidParams(f"invalid argument {position} ({spec.name}): {exc}") from None
        return args


class MethodRegistry:
    """The methods a server answers, by name."""

    def __init__(self) -> None:
        self._methods: dict[str, Method] = {}

    def add(self, name: str, handler: Handler, *params: Param) -> None:
        if name in self._methods:
            raise ValueError(f"method {name} is registered twice")
        seen_optional = False
        for spec in params:
            if spec.required and seen_optional:
                raise ValueError(f"{name}: required parameter {spec.name} after an optional one")
            seen_optional = seen_optional or not spec.required
        self._methods[name] = Method(name, handler, tuple(params))

    def get(self, name: str) -> Method | None:
        return self._methods.get(name)

    def names(self) -> list[str]:
        return sorted(self._methods)


class DispatchMetrics(Protocol):
    def request(self, kind: str) -> None:
        """One HTTP body: kind is single, batch or invalid."""

    def batch(self, calls: int) -> None:
        """The length of one batch that runs."""

    def call(self, method: str, outcome: str, seconds: float) -> None:
        """One call: its method (or "unknown"), "ok" or the error's outcome label, its duration."""


class NoMetrics:
    def request(self, kind: str) -> None:
        pass

    def batch(self, calls: int) -> None:
        pass

    def call(self, method: str, outcome: str, seconds: float) -> None:
        pass


@dataclass(frozen=True, slots=True)
class DispatchLimits:
    max_batch_length: int = 1000
    max_batch_response_bytes: int = 25 * 1024 * 1024


def _error(request_id: Json, error: RpcError) -> dict[str, Json]:
    body: dict[str, Json] = {"code": error.code, "message": error.message}
    if error.data is not None:
        body["data"] = error.data
    return {"jsonrpc": JSONRPC_VERSION, "id": request_id, "error": body}


def _valid_id(value: object) -> bool:
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


#: the notification marker: a call that must not be answered
_NO_ANSWER: Final = None


class Dispatcher:
    """Answers request bodies with response bodies, using a `MethodRegistry`."""

    def __init__(
        self,
        registry: MethodRegistry,
        limits: DispatchLimits | None = None,
        metrics: DispatchMetrics | None = None,
        log: EventLogger | None = None,
    ) -> None:
        self.registry = registry
        self.limits = limits or DispatchLimits()
        self.metrics: DispatchMetrics = metrics or NoMetrics()
        self.log = log or EventLogger("zkseq.jsonrpc")

    async def handle(self, body: bytes) -> bytes | None:
        """The response body for `body`, or None when nothing is to be answered (notifications)."""
        try:
            message: Any = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            self.metrics.request("invalid")
            return orjson.dumps(_error(None, ParseError(f"parse error: {exc}")))
        if isinstance(message, list):
            return await self._batch(message)
        if isinstance(message, dict):
            self.metrics.request("single")
            answer = await self.call(message)
            return None if answer is None else orjson.dumps(answer)
        self.metrics.request("invalid")
        error = InvalidRequest(
            f"invalid request: expected a request object or an array, got {describe(message)}"
        )
        return orjson.dumps(_error(None, error))

    async def _batch(self, calls: list[Json]) -> bytes | None:
        if not calls:
            self.metrics.request("invalid")
            return orjson.dumps(_error(None, InvalidRequest("empty batch")))
        if len(calls) > self.limits.max_batch_length:
            self.metrics.request("invalid")
            first_id = next(
                (c.get("id") for c in calls if isinstance(c, dict) and _valid_id(c.get("id"))), None
            )
            error = InvalidRequest(
                f"batch too large: {len(calls)} calls, the limit is {self.limits.max_batch_length}"
            )
            return orjson.dumps([_error(first_id, error)])
        self.metrics.request("batch")
        self.metrics.batch(len(calls))
        answers = await asyncio.gather(*(self._batch_item(c) for c in calls))
        return self._join([a for a in answers if a is not None])

    async def _batch_item(self, item: Json) -> dict[str, Json] | None:
        if not isinstance(item, dict):
            error = InvalidRequest(f"invalid request: expected a request object, got {describe(item)}")
            return _error(None, error)
        return await self.call(item)

    def _join(self, answers: Iterable[dict[str, Json]]) -> bytes | None:
        parts: list[bytes] = []
        total = 0
        for answer in answers:
            encoded = orjson.dumps(answer)
            total += len(encoded)
            if total > self.limits.max_batch_response_bytes:
                error = ResponseTooLarge(
                    f"response too large: the answers of this batch exceed "
                    f"{self.limits.max_batch_response_bytes} bytes"
                )
                encoded = orjson.dumps(_error(answer.get("id"), error))
            parts.append(encoded)
        if not parts:
            return None
        return b"[" + b",".join(parts) + b"]"

    async def call(self, request: dict[str, Json]) -> dict[str, Json] | None:
        """Run one call; its response object, or None for a notification."""
        start = time.perf_counter()
        is_notification = "id" not in request
        request_id = request.get("id")
        label = UNKNOWN_METHOD
        try:
            if not _valid_id(request_id):
                request_id = None
                raise InvalidRequest('invalid request: "id" must be a string, a number or null')
            if request.get("jsonrpc") != JSONRPC_VERSION:
                raise InvalidRequest(f'invalid request: "jsonrpc" must be "{JSONRPC_VERSION}"')
            name = request.get("method")
            if not isinstance(name, str) or not name:
                raise InvalidRequest('invalid request: "method" must be a non-empty string')
            method = self.registry.get(name)
            if method is None:
                raise MethodNotFound(f"the method {name} does not exist/is not available")
            label = name
            params = request.get("params")
            if params is None:
                params = []
            elif not isinstance(params, list):
                raise InvalidParams(
                    "non-array args: params must be an array (named parameters are not supported)"
                )
            result = await method.handler(*method.bind(params))
        except RpcError as exc:
            self.metrics.call(label, exc.outcome, time.perf_counter() - start)
            return (
                _NO_ANSWER if is_notification and exc.code != InvalidRequest.code else _error(request_id, exc)
            )
        except grpc.aio.AioRpcError as exc:  # a backend call the method did not translate
            error = BackendUnavailable(f"a backend call failed: {exc.code().name}: {exc.details()}")
            self.metrics.call(label, error.outcome, time.perf_counter() - start)
            return _NO_ANSWER if is_notification else _error(request_id, error)
        except Exception:
            self.log.exception("jsonrpc_internal_error", method=label)
            self.metrics.call(label, InternalError.outcome, time.perf_counter() - start)
            return _NO_ANSWER if is_notification else _error(request_id, InternalError("internal error"))
        self.metrics.call(label, "ok", time.perf_counter() - start)
        if is_notification:
            return _NO_ANSWER
        return {"jsonrpc": JSONRPC_VERSION, "id": request_id, "result": result}

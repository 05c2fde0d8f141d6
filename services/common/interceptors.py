"""The server interceptor every zkseq gRPC service installs.

For each unary RPC it
  * answers a `ServiceError` (or an exception type the service maps) with its status code and
    message, so servicers and domain code just raise;
  * answers any other exception with INTERNAL, logging the traceback under `rpc_internal_error`;
  * records the call's latency and, when it failed, its status code (`RpcMetrics`).

The server keeps serving after any of these: an exception ends one call, never the process.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import grpc
from grpc import aio

from services.common.errors import ServiceError
from services.common.logs import EventLogger
from services.common.metrics import RpcMetrics

_UnaryHandler: TypeAlias = "Callable[[Any, aio.ServicerContext[Any, Any]], Awaitable[Any]]"

if TYPE_CHECKING:
    _InterceptorBase = aio.ServerInterceptor[Any, Any]
else:  # the runtime class is not generic
    _InterceptorBase = aio.ServerInterceptor


class ServiceInterceptor(_InterceptorBase):
    """Maps typed exceptions to status codes and measures every unary RPC."""

    def __init__(
        self,
        metrics: RpcMetrics,
        log: EventLogger,
        extra_codes: Mapping[type[BaseException], grpc.StatusCode] | None = None,
    ) -> None:
        """`extra_codes` maps exception types raised by shared code (say `zkevm.errors.EncodingError`)
        to a status code; the first matching entry in order wins."""
        self._metrics = metrics
        self._log = log
        self._extra = tuple((extra_codes or {}).items())
        self._wrapped: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        method_path = handler_call_details.method
        cached = self._wrapped.get(method_path)
        if cached is not None:
            return cached
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler  # streaming (health Watch) or unknown method: leave as it is
        wrapped = grpc.unary_unary_rpc_method_handler(
            self._wrap(method_path.rsplit("/", 1)[-1], cast(_UnaryHandler, handler.unary_unary)),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self._wrapped[method_path] = wrapped
        return wrapped

    def _code_for(self, exc: BaseException) -> grpc.StatusCode | None:
        if isinstance(exc, ServiceError):
            return exc.code
        for exc_type, code in self._extra:
            if isinstance(exc, exc_type):
                return code
        return None

    def answer(self, method: str, exc: Exception) -> tuple[grpc.StatusCode, str]:
        """The status code and message a call of `method` that raised `exc` is answered with (and
        the log line it gets). Also for a batch method answering each of its items as the single
        method would."""
        code = self._code_for(exc)
        if code is None:
            self._log.exception("rpc_internal_error", method=method, error=repr(exc))
            return grpc.StatusCode.INTERNAL, f"internal error in {method}: {exc!r}"
        self._log.debug("rpc_rejected", method=method, code=code.name, error=str(exc))
        return code, str(exc)

    def _wrap(self, method: str, behavior: _UnaryHandler) -> _UnaryHandler:
        metrics = self._metrics

        async def serve(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
            start = time.perf_counter()
            try:
                return await behavior(request, context)
            except aio.AbortError:  # the servicer aborted the call itself
                code = context.code()
                metrics.failed(method, code.name if isinstance(code, grpc.StatusCode) else str(code))
                raise
            except Exception as exc:
                code, message = self.answer(method, exc)
                metrics.failed(method, code.name)
                await context.abort(code, message)
            finally:
                metrics.observe(method, time.perf_counter() - start)

        return serve

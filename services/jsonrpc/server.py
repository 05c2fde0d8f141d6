"""The HTTP side: an aiohttp application that hands JSON-RPC bodies to the `Dispatcher`.

    POST /          a JSON-RPC 2.0 request or batch; 200 with the answer (204 for notifications
                    only). Any Content-Type is accepted, as go-ethereum does for compatibility.
    OPTIONS /       CORS preflight (when CORS_ORIGIN is set)
    GET /health     200 {"status": "ok"} while the process serves (liveness)
    GET /           405: JSON-RPC is POST only

The body is read in chunks and refused as soon as it passes `max_body_bytes` (also when the
Content-Length says so up front): HTTP 413 with a JSON-RPC -32600 error object, and the
connection is closed. Everything else a client can send — bad JSON, bad requests, unknown methods
— is answered by the dispatcher, and the server keeps serving.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from aiohttp import web

from services.jsonrpc.dispatch import Dispatcher, DispatchMetrics, NoMetrics
from services.jsonrpc.errors import INVALID_REQUEST

_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class HttpSettings:
    max_body_bytes: int = 5 * 1024 * 1024
    #: Access-Control-Allow-Origin; empty: no CORS headers
    cors_origin: str = "*"


class JsonRpcHttp:
    def __init__(
        self, dispatcher: Dispatcher, settings: HttpSettings, metrics: DispatchMetrics | None = None
    ) -> None:
        self.dispatcher = dispatcher
        self.settings = settings
        self.metrics: DispatchMetrics = metrics or NoMetrics()

    def application(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_body_bytes)
        app.router.add_post("/", self.post)
        app.router.add_route("OPTIONS", "/", self.options)
        app.router.add_get("/", self.get)
        app.router.add_get("/health", self.health)
        return app

    def _cors(self, response: web.StreamResponse) -> web.StreamResponse:
        if self.settings.cors_origin:
            response.headers["Access-Control-Allow-Origin"] = self.settings.cors_origin
        return response

    def _too_large(self, length: int | None) -> web.Response:
        self.metrics.request("too_large")
        limit = self.settings.max_body_bytes
        size = f"{length} bytes" if length is not None else f"more than {limit} bytes"
        error = {
            "jsonrpc": "2.0",
            "id": None,
            "error": {
                "code": INVALID_REQUEST,
                "message": f"request body too large: {size}, the limit is {limit} bytes",
            },
        }
        response = web.Response(status=413, body=orjson.dumps(error), content_type=_JSON)
        response.force_close()
        self._cors(response)
        return response

    async def post(self, request: web.Request) -> web.StreamResponse:
        limit = self.settings.max_body_bytes
        length = request.content_length
        if length is not None and length > limit:
            return self._too_large(length)
        body = bytearray()
        async for chunk in request.content.iter_any():
            body += chunk
            if len(body) > limit:
                return self._too_large(None)
        answer = await self.dispatcher.handle(bytes(body))
        if answer is None:
            return self._cors(web.Response(status=204))
        return self._cors(web.Response(body=answer, content_type=_JSON))

    async def options(self, request: web.Request) -> web.StreamResponse:
        response = web.Response(status=204)
        if self.settings.cors_origin:
            response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            response.headers["Access-Control-Max-Age"] = "600"
        return self._cors(response)

    async def get(self, request: web.Request) -> web.StreamResponse:
        response = web.Response(
            status=405, text="zkseq JSON-RPC: send POST requests with a JSON-RPC 2.0 body\n"
        )
        response.headers["Allow"] = "POST, OPTIONS"
        return self._cors(response)

    async def health(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "ok"})

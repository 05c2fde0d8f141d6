"""Prometheus metrics: the /metrics endpoint and the metrics every gRPC service has.

Names follow `zkseq_<service>_<what>_<unit>`; labels are bounded (method names, status codes).
Each service instance registers into its own `CollectorRegistry`, so several instances can live in
one process (tests) without clashing.
"""

from dataclasses import dataclass
from socketserver import ThreadingMixIn
from threading import Thread
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app

#: latency buckets for RPCs that take from tens of microseconds to seconds
LATENCY_BUCKETS_S = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class RpcMetrics:
    """Latency of every RPC by method, and failed RPCs by method and status code."""

    def __init__(self, service: str, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            f"zkseq_{service}_rpc_duration_seconds",
            "Time to serve one RPC, by method",
            ["method"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.errors = Counter(
            f"zkseq_{service}_rpc_errors_total",
            "RPCs answered with a status other than OK, by method and status code",
            ["method", "code"],
            registry=registry,
        )
        self._duration_by_method: dict[str, Histogram] = {}

    def observe(self, method: str, seconds: float) -> None:
        child = self._duration_by_method.get(method)
        if child is None:
            child = self._duration_by_method[method] = self.duration.labels(method)
        child.observe(seconds)

    def failed(self, method: str, code: str) -> None:
        self.errors.labels(method, code).inc()


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # scrapes are not worth a log line each


@dataclass(slots=True)
class MetricsEndpoint:
    """A running /metrics HTTP server (a daemon thread)."""

    server: WSGIServer
    thread: Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_metrics_endpoint(host: str, port: int, registry: CollectorRegistry) -> MetricsEndpoint:
    """Serve `registry` on http://host:port/metrics (port 0 = a free port), from a daemon thread."""
    server = make_server(
        host, port, make_wsgi_app(registry), _ThreadingWSGIServer, handler_class=_QuietHandler
    )
    # a short poll interval, so that close() returns at once
    thread = Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="metrics", daemon=True)
    thread.start()
    return MetricsEndpoint(server, thread)

"""Prometheus metrics of the JSON-RPC server (names `zkseq_jsonrpc_<what>_<unit>`).

zkseq_jsonrpc_requests_total{kind}                HTTP request bodies: single, batch, invalid
                                                  (not JSON, not a request, bad batch), too_large
zkseq_jsonrpc_calls_total{method,outcome}         calls by method ("unknown" for methods that do
                                                  not exist) and outcome: ok, invalid_params,
                                                  method_not_found, invalid_request, reverted,
                                                  server_error, unavailable, internal_error …
zkseq_jsonrpc_call_duration_seconds{method}       time to answer one call
zkseq_jsonrpc_batch_calls                         calls per batch request

Labels stay bounded: methods are the registry's names plus "unknown", outcomes a fixed set.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from services.common.metrics import LATENCY_BUCKETS_S

_BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


class JsonRpcMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "zkseq_jsonrpc_requests", "HTTP request bodies by kind", ["kind"], registry=registry
        )
        self.calls = Counter(
            "zkseq_jsonrpc_calls",
            "JSON-RPC calls by method and outcome",
            ["method", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "zkseq_jsonrpc_call_duration_seconds",
            "Time to answer one JSON-RPC call, by method",
            ["method"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.batch_calls = Histogram(
            "zkseq_jsonrpc_batch_calls", "Calls per batch request", buckets=_BATCH_BUCKETS, registry=registry
        )

    def request(self, kind: str) -> None:
        self.requests.labels(kind).inc()

    def batch(self, calls: int) -> None:
        self.batch_calls.observe(calls)

    def call(self, method: str, outcome: str, seconds: float) -> None:
        self.calls.labels(method, outcome).inc()
        self.duration.labels(method).observe(seconds)

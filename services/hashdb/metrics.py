"""Prometheus metrics of the HashDB (names `zkseq_hashdb_<what>_<unit>`).

    zkseq_hashdb_rpc_duration_seconds{method}        latency of every RPC       (services.common)
    zkseq_hashdb_rpc_errors_total{method,code}       RPCs that failed            (services.common)
    zkseq_hashdb_call_keys{method}                   keys read or written per call
    zkseq_hashdb_flush_nodes / _flush_bytes          what one Flush hands to the store
    zkseq_hashdb_flush_duration_seconds              from Flush until the data is durable
    zkseq_hashdb_store_write_duration_seconds        one atomic store write (one or more flushes)
    zkseq_hashdb_cache_hits_total / _misses_total    node cache lookups; _cache_hit_ratio = hits / lookups
    zkseq_hashdb_cache_nodes, _sessions, _stored_flush_id, _last_flush_id     gauges, read at scrape

Per-node counts are plain integers kept by the cache and read at scrape time: a Prometheus counter
increment per node read would cost more than a tenth of a tree write.
"""

from collections.abc import Iterator, Sized
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.common.metrics import LATENCY_BUCKETS_S

if TYPE_CHECKING:
    from services.hashdb.database import NodeDatabase

_KEY_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 20000, 100000)
_NODE_BUCKETS = (0, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000, 100000, 1000000)
_BYTE_BUCKETS = tuple(128 * n for n in _NODE_BUCKETS)


class HashDBMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.call_keys = Histogram(
            "zkseq_hashdb_call_keys",
            "Keys read or written by one call, by method",
            ["method"],
            buckets=_KEY_BUCKETS,
            registry=registry,
        )
        self.flush_nodes = Histogram(
            "zkseq_hashdb_flush_nodes",
            "Tree nodes one Flush hands to the store",
            buckets=_NODE_BUCKETS,
            registry=registry,
        )
        self.flush_bytes = Histogram(
            "zkseq_hashdb_flush_bytes",
            "Bytes (hashes, nodes, bytecode) one Flush hands to the store",
            buckets=_BYTE_BUCKETS,
            registry=registry,
        )
        self.flush_duration = Histogram(
            "zkseq_hashdb_flush_duration_seconds",
            "Time from a Flush call until its data is durable in the store",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.store_write_duration = Histogram(
            "zkseq_hashdb_store_write_duration_seconds",
            "Time of one atomic store write of sealed flushes",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self._keys_by_method: dict[str, Histogram] = {}

    def keys(self, method: str, count: int) -> None:
        child = self._keys_by_method.get(method)
        if child is None:
            child = self._keys_by_method[method] = self.call_keys.labels(method)
        child.observe(count)

    def sealed(self, nodes: int, size_bytes: int) -> None:
        self.flush_nodes.observe(nodes)
        self.flush_bytes.observe(size_bytes)

    def stored(self, write_seconds: float, flush_latencies_s: list[float]) -> None:
        self.store_write_duration.observe(write_seconds)
        for latency in flush_latencies_s:
            self.flush_duration.observe(latency)

    def watch(self, db: "NodeDatabase", sessions: Sized) -> None:
        """Read the cache counters and the pipeline ids of `db`, and the session count, at each scrape."""
        self.registry.register(_StateCollector(db, sessions))


class _StateCollector(Collector):
    def __init__(self, db: "NodeDatabase", sessions: Sized) -> None:
        self._db = db
        self._sessions = sessions

    def collect(self) -> Iterator[Metric]:
        cache = self._db.node_cache
        hits, misses = cache.hits, cache.misses
        yield CounterMetricFamily("zkseq_hashdb_cache_hits", "Node cache lookups that hit", value=hits)
        yield CounterMetricFamily("zkseq_hashdb_cache_misses", "Node cache lookups that missed", value=misses)
        yield GaugeMetricFamily(
            "zkseq_hashdb_cache_hit_ratio",
            "Node cache hits / lookups since start",
            value=hits / (hits + misses) if hits + misses else 0.0,
        )
        yield GaugeMetricFamily("zkseq_hashdb_cache_nodes", "Nodes in the node cache", value=len(cache))
        yield GaugeMetricFamily("zkseq_hashdb_sessions", "Open batch sessions", value=len(self._sessions))
        yield GaugeMetricFamily(
            "zkseq_hashdb_stored_flush_id",
            "Every flush up to this id is durable",
            value=self._db.stored_flush_id,
        )
        yield GaugeMetricFamily(
            "zkseq_hashdb_last_flush_id", "The id of the last Flush", value=self._db.last_flush_id
        )

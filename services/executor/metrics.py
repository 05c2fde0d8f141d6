"""Prometheus metrics of the executor (names `zkseq_executor_<what>_<unit>`).

    zkseq_executor_rpc_duration_seconds{method}          latency of every RPC         (services.common)
    zkseq_executor_rpc_errors_total{method,code}         RPCs that failed              (services.common)
    zkseq_executor_process_batch_duration_seconds        one ProcessBatch, decode to response
    zkseq_executor_batch_txs                             transactions per call
    zkseq_executor_txs_total{outcome}                    executed / evm_failed / skipped / out_of_counters
                                                         / invalid_rlp
    zkseq_executor_gas_used_total                        gas of included transactions
    zkseq_executor_gas_per_second                        gas / s of the last call
    zkseq_executor_batch_counter_usage_ratio{counter}    ZK counters used / fork-6 budget, per call
    zkseq_executor_hashdb_calls_per_batch                backend round trips per call
    zkseq_executor_hashdb_seconds_per_batch              time spent waiting on the backend per call
    zkseq_executor_rejected_total{error}                 calls answered with an ExecutorError
    zkseq_executor_tree_update_memo_total{result}        tree updates found in the memo (hit) or
                                                         computed (miss); a closed batch's
                                                         re-execution should hit (hashdb_client)

Labels are bounded (counter names, outcomes, ExecutorError names).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from services.common.metrics import LATENCY_BUCKETS_S
from services.executor import counters
from services.executor.errors import ExecutorError, RomError
from services.executor.processor import BatchResult
from services.executor.service import BatchStats

_TX_BUCKETS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 300, 500, 1000)
_CALL_BUCKETS = (0, 1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
_RATIO_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)


def _outcome(error: RomError) -> str:
    if error is RomError.NO_ERROR:
        return "executed"
    if error is RomError.INVALID_RLP:
        return "invalid_rlp"
    if error.is_out_of_counters:
        return "out_of_counters"
    if error.is_intrinsic:
        return "skipped"
    return "evm_failed"


class _MemoCounts(Protocol):
    hits: int
    misses: int


class _MemoCollector(Collector):
    """The memo's own counts, read when Prometheus scrapes."""

    def __init__(self, memo: _MemoCounts) -> None:
        self._memo = memo

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "zkseq_executor_tree_update_memo",
            "Tree updates found in the memo of (root, write set) (hit) or computed (miss)",
            labels=["result"],
        )
        family.add_metric(["hit"], self._memo.hits)
        family.add_metric(["miss"], self._memo.misses)
        yield family


def watch_write_set_memo(registry: CollectorRegistry, memo: _MemoCounts) -> None:
    registry.register(_MemoCollector(memo))


class ExecutorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.duration = Histogram(
            "zkseq_executor_process_batch_duration_seconds",
            "Time to serve one ProcessBatch, from request to response",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.batch_txs = Histogram(
            "zkseq_executor_batch_txs",
            "Transactions in one ProcessBatch",
            buckets=_TX_BUCKETS,
            registry=registry,
        )
        self.txs = Counter(
            "zkseq_executor_txs_total", "Transactions processed, by outcome", ["outcome"], registry=registry
        )
        self.gas = Counter(
            "zkseq_executor_gas_used_total", "Gas used by included transactions", registry=registry
        )
        self.gas_rate = Gauge(
            "zkseq_executor_gas_per_second", "Gas per second of the last ProcessBatch", registry=registry
        )
        self.counter_usage = Histogram(
            "zkseq_executor_batch_counter_usage_ratio",
            "ZK counters one ProcessBatch used, as a fraction of the fork-6 budget",
            ["counter"],
            buckets=_RATIO_BUCKETS,
            registry=registry,
        )
        self.hashdb_calls = Histogram(
            "zkseq_executor_hashdb_calls_per_batch",
            "State backend (HashDB) round trips of one ProcessBatch",
            buckets=_CALL_BUCKETS,
            registry=registry,
        )
        self.hashdb_seconds = Histogram(
            "zkseq_executor_hashdb_seconds_per_batch",
            "Time one ProcessBatch spent waiting on the state backend (HashDB)",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.rejected = Counter(
            "zkseq_executor_rejected_total",
            "ProcessBatch calls answered with an ExecutorError, by error",
            ["error"],
            registry=registry,
        )
        self._outcomes = {name: self.txs.labels(name) for name in (
            "executed", "evm_failed", "skipped", "out_of_counters", "invalid_rlp"
        )}  # fmt: skip
        self._usage = {name: self.counter_usage.labels(name) for name in counters.FIELDS}

    def batch_done(self, result: BatchResult, stats: BatchStats) -> None:
        self.duration.observe(stats.seconds)
        self.batch_txs.observe(len(result.txs))
        for tx in result.txs:
            self._outcomes[_outcome(tx.error)].inc()
        self.gas.inc(result.cumulative_gas_used)
        if stats.seconds > 0:
            self.gas_rate.set(result.cumulative_gas_used / stats.seconds)
        used, budget = result.counters.vector(), counters.FORK6_BUDGET.vector()
        for name, u, b in zip(counters.FIELDS, used, budget, strict=True):
            self._usage[name].observe(u / b)
        self.hashdb_calls.observe(stats.backend_calls)
        self.hashdb_seconds.observe(stats.backend_seconds)

    def batch_rejected(self, error: ExecutorError, seconds: float) -> None:
        self.duration.observe(seconds)
        self.rejected.labels(error.name).inc()

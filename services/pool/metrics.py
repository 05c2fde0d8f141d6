"""Prometheus metrics of the pool (names `zkseq_pool_<what>_<unit>`).

zkseq_pool_rpc_duration_seconds{method}       latency of every RPC                (services.common)
zkseq_pool_rpc_errors_total{method,code}      RPCs that failed                     (services.common)
zkseq_pool_transactions{status}               pool size by status: pending, selected, failed,
                                              invalid, and ready (pending and next in line);
                                              refreshed every STATS_INTERVAL_S
zkseq_pool_added_total{kind}                  accepted transactions: new, replacement
zkseq_pool_rejected_total{reason}             rejected transactions by rule (validation.Rule)
zkseq_pool_add_duration_seconds               one transaction's admission (AddTransaction, or an
                                              item of AddTransactions): validation, state
                                              read, store
zkseq_pool_marked_total{outcome}              sequencer reports: selected, included, failed,
                                              requeued (failed for nonce / balance), invalid
zkseq_pool_expired_total                      live transactions failed as expired
zkseq_pool_purged_total                       failed / invalid records deleted after retention
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.common.metrics import LATENCY_BUCKETS_S
from services.pool.store import PoolCounts
from services.pool.validation import Rule


class PoolMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.transactions = Gauge(
            "zkseq_pool_transactions",
            "Transactions in the pool by status (ready: pending and next in line)",
            ["status"],
            registry=registry,
        )
        self.added = Counter(
            "zkseq_pool_added_total",
            "Transactions accepted, as new ones or as replacements",
            ["kind"],
            registry=registry,
        )
        self.rejected = Counter(
            "zkseq_pool_rejected_total",
            "Transactions rejected, by rule",
            ["reason"],
            registry=registry,
        )
        self.add_duration = Histogram(
            "zkseq_pool_add_duration_seconds",
            "Time to validate and store one transaction",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.marked = Counter(
            "zkseq_pool_marked_total",
            "Outcomes reported by the sequencer",
            ["outcome"],
            registry=registry,
        )
        self.expired = Counter("zkseq_pool_expired", "Live transactions failed as expired", registry=registry)
        self.purged = Counter(
            "zkseq_pool_purged", "Failed / invalid transactions deleted after retention", registry=registry
        )
        # children made once: a labelled lookup per transaction is measurable at thousands per second
        self._added_new = self.added.labels("new")
        self._added_replacement = self.added.labels("replacement")
        self._rejected = {rule: self.rejected.labels(rule.value) for rule in Rule}

    def accepted(self, replacement: bool) -> None:
        (self._added_replacement if replacement else self._added_new).inc()

    def refused(self, rule: Rule) -> None:
        self._rejected[rule].inc()

    def counts(self, counts: PoolCounts) -> None:
        for status in ("pending", "selected", "failed", "invalid", "ready"):
            self.transactions.labels(status).set(getattr(counts, status))

"""The sequencer's Prometheus metrics: the hot path in detail.

zkseq_sequencer_stage_duration_seconds{stage}   pool_fetch, pool_select, executor_call,
                                                flush_wait, statedb_write, pool_mark,
                                                batch_reexecution, batch_close
zkseq_sequencer_txs_total{outcome}              every transaction taken, by outcome (included,
                                                reverted, nonce, balance, failed,
                                                out_of_counters, invalid); rate() = txs/s
zkseq_sequencer_txs_recorded_total              transactions written to the StateDB
zkseq_sequencer_batches_closed_total{reason}    tx_count, bytes, gas, counters, time,
                                                forced_batch, forced
zkseq_sequencer_batch_fill_ratio{resource}      at close: each resource / its limit (txs, bytes,
                                                gas and the seven ZK counters, exact figures
                                                from the batch's re-execution)
zkseq_sequencer_open_batch_age_seconds          age of the open batch (0 when none)
zkseq_sequencer_txs_in_flight                   executed, waiting for flush and StateDB write
zkseq_sequencer_executor_retries_total{reason}  unavailable, db_error
zkseq_sequencer_replays_total                   transactions executed again because the
                                                executor restarted before their flush was stored
zkseq_sequencer_halted                          1 once the sequencer has halted
zkseq_sequencer_last_closed_batch               the trusted batch number: the last batch closed in
                                                the StateDB (with the sequencesender's
                                                zkseq_sequencesender_last_virtual_batch, the L1 lag)
zkseq_sequencer_executor_replicas               executor replicas known, and answering (state)
zkseq_sequencer_executor_flushes_lost_total{reason}  times a replica restarted or was lost with
                                                unstored flushes (replica_restarted, replica_lost,
                                                replica_gone): the transactions not yet recorded
                                                are executed again
zkseq_sequencer_group_txs                       transactions pre-executed per ProcessBatch call
                                                that were kept (1: the one-transaction path)
zkseq_sequencer_group_retries_total{reason}     groups not kept whole: misfit (re-run shorter),
                                                not_included (re-run the prefix before it),
                                                anomaly (its first transaction alone)
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.common.metrics import LATENCY_BUCKETS_S

FILL_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


class SequencerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.stage = Histogram(
            "zkseq_sequencer_stage_duration_seconds",
            "Time spent in each stage of the hot path",
            ["stage"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.txs = Counter(
            "zkseq_sequencer_txs_total",
            "Transactions taken from the pool, by outcome",
            ["outcome"],
            registry=registry,
        )
        self.recorded = Counter(
            "zkseq_sequencer_txs_recorded_total", "Transactions written to the StateDB", registry=registry
        )
        self.closed = Counter(
            "zkseq_sequencer_batches_closed_total", "Batches closed, by reason", ["reason"], registry=registry
        )
        self.fill = Histogram(
            "zkseq_sequencer_batch_fill_ratio",
            "How full each closed batch was, per resource (fraction of its limit)",
            ["resource"],
            buckets=FILL_BUCKETS,
            registry=registry,
        )
        self.open_batch_age = Gauge(
            "zkseq_sequencer_open_batch_age_seconds", "Age of the open batch (0 when none)", registry=registry
        )
        self.in_flight = Gauge(
            "zkseq_sequencer_txs_in_flight",
            "Executed transactions waiting for their flush and StateDB write",
            registry=registry,
        )
        self.executor_retries = Counter(
            "zkseq_sequencer_executor_retries_total",
            "Executor calls retried, by reason",
            ["reason"],
            registry=registry,
        )
        self.replays = Counter(
            "zkseq_sequencer_replays_total",
            "Transactions executed again because the executor restarted before their flush was stored",
            registry=registry,
        )
        self.flush_polls = Counter(
            "zkseq_sequencer_flush_status_polls_total",
            "GetFlushStatus calls made while waiting for a flush",
            registry=registry,
        )
        self.group_txs = Histogram(
            "zkseq_sequencer_group_txs",
            "Transactions pre-executed in one ProcessBatch call and kept",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=registry,
        )
        self.group_retries = Counter(
            "zkseq_sequencer_group_retries_total",
            "Groups of transactions not kept whole, by reason",
            ["reason"],
            registry=registry,
        )
        self.halted = Gauge("zkseq_sequencer_halted", "1 once the sequencer has halted", registry=registry)
        self.last_closed_batch = Gauge(
            "zkseq_sequencer_last_closed_batch",
            "The trusted batch number: the last batch closed in the StateDB",
            registry=registry,
        )
        self.executor_replicas = Gauge(
            "zkseq_sequencer_executor_replicas",
            "Executor replicas the sequencer knows (state=known) and that answer (state=answering)",
            ["state"],
            registry=registry,
        )
        self.executor_flushes_lost = Counter(
            "zkseq_sequencer_executor_flushes_lost_total",
            "Times an executor replica restarted or was lost with unstored flushes, by reason",
            ["reason"],
            registry=registry,
        )
        self._stages: dict[str, Histogram] = {}

    def observe(self, stage: str, seconds: float) -> None:
        child = self._stages.get(stage)
        if child is None:
            child = self._stages[stage] = self.stage.labels(stage)
        child.observe(seconds)

    def watch_open_batch_age(self, age_s: Callable[[], float]) -> None:
        self.open_batch_age.set_function(age_s)

    def watch_last_closed_batch(self, number: Callable[[], float]) -> None:
        self.last_closed_batch.set_function(number)

    def watch_executor_replicas(self, known: Callable[[], float], answering: Callable[[], float]) -> None:
        self.executor_replicas.labels("known").set_function(known)
        self.executor_replicas.labels("answering").set_function(answering)

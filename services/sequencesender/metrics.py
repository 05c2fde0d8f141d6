"""Prometheus metrics of the sequence sender and its L1 watcher (names `zkseq_sequencesender_<what>`).

zkseq_sequencesender_rpc_duration_seconds{method}     latency of every status RPC       (services.common)
zkseq_sequencesender_rpc_errors_total{method,code}    status RPCs that failed            (services.common)
zkseq_sequencesender_acc_input_hash_mismatch          1 once L1's accInputHash chain disagrees with
                                                      zkseq's (a different hash, or a batch L1 sequenced
                                                      that zkseq never closed), else 0
zkseq_sequencesender_sequencing_stopped               1 while any alarm stops sequencing (the above, or
                                                      a verified state root that differs), else 0
zkseq_sequencesender_alarms_total{kind}               alarms raised (the first one stands)
zkseq_sequencesender_sequences_sent_total             sequences handed to the EthTxManager
zkseq_sequencesender_batches_sent_total               batches in those sequences
zkseq_sequencesender_sequence_batches                 batches per sequence (histogram)
zkseq_sequencesender_sequence_calldata_bytes          sequenceBatches calldata per sequence (histogram)
zkseq_sequencesender_sequence_gas                     gas limit given per sequence (estimate + margin)
zkseq_sequencesender_sequences_failed_total           sequences whose L1 transaction failed
zkseq_sequencesender_in_flight_sequences              sequences sent and not yet confirmed or failed
zkseq_sequencesender_waits_total{reason}              ticks that sent nothing, by reason (bounded set:
                                                      see sender.WaitReason)
zkseq_sequencesender_estimate_reverts_total{error}    gas estimates that reverted, by fork-6 error name
                                                      (the contract's errors are a fixed set)
zkseq_sequencesender_last_virtual_batch               the newest batch the watcher marked virtual
zkseq_sequencesender_last_verified_batch              the newest batch the watcher marked verified
zkseq_sequencesender_last_l1_block                    the newest L1 block the watcher recorded
zkseq_sequencesender_l1_reorgs_total                  L1 reorganisations of the watcher's view
zkseq_sequencesender_l1_events_total{event}           rollup events read: sequence, force, verify
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
BYTES_BUCKETS = (1_000, 5_000, 10_000, 20_000, 50_000, 80_000, 100_000, 120_000, 131_072)
GAS_BUCKETS = (100_000, 200_000, 500_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000, 30_000_000)


class SequenceSenderMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.acc_input_hash_mismatch = Gauge(
            "zkseq_sequencesender_acc_input_hash_mismatch",
            "1 once L1's accInputHash chain disagrees with the one zkseq computed",
            registry=r,
        )
        self.stopped = Gauge(
            "zkseq_sequencesender_sequencing_stopped",
            "1 while an alarm (L1 disagrees with the trusted state) stops sequencing",
            registry=r,
        )
        self.alarms = Counter("zkseq_sequencesender_alarms", "Alarms raised, by kind", ["kind"], registry=r)
        self.sequences_sent = Counter(
            "zkseq_sequencesender_sequences_sent", "Sequences handed to the EthTxManager", registry=r
        )
        self.batches_sent = Counter(
            "zkseq_sequencesender_batches_sent", "Batches in the sequences sent", registry=r
        )
        self.sequence_batches = Histogram(
            "zkseq_sequencesender_sequence_batches", "Batches per sequence", buckets=BATCH_BUCKETS, registry=r
        )
        self.sequence_bytes = Histogram(
            "zkseq_sequencesender_sequence_calldata_bytes",
            "sequenceBatches calldata bytes per sequence",
            buckets=BYTES_BUCKETS,
            registry=r,
        )
        self.sequence_gas = Histogram(
            "zkseq_sequencesender_sequence_gas",
            "Gas limit given per sequence (estimate plus margin)",
            buckets=GAS_BUCKETS,
            registry=r,
        )
        self.sequences_failed = Counter(
            "zkseq_sequencesender_sequences_failed", "Sequences whose L1 transaction failed", registry=r
        )
        self.in_flight = Gauge(
            "zkseq_sequencesender_in_flight_sequences",
            "Sequences sent and not yet confirmed or failed",
            registry=r,
        )
        self.waits = Counter(
            "zkseq_sequencesender_waits", "Ticks that sent nothing, by reason", ["reason"], registry=r
        )
        self.estimate_reverts = Counter(
            "zkseq_sequencesender_estimate_reverts",
            "Gas estimates that reverted, by error",
            ["error"],
            registry=r,
        )
        self.last_virtual_batch = Gauge(
            "zkseq_sequencesender_last_virtual_batch", "The newest batch marked virtual", registry=r
        )
        self.last_verified_batch = Gauge(
            "zkseq_sequencesender_last_verified_batch", "The newest batch marked verified", registry=r
        )
        self.last_l1_block = Gauge(
            "zkseq_sequencesender_last_l1_block", "The newest L1 block the watcher recorded", registry=r
        )
        self.l1_reorgs = Counter(
            "zkseq_sequencesender_l1_reorgs", "L1 reorganisations of the watcher's view", registry=r
        )
        self.l1_events = Counter(
            "zkseq_sequencesender_l1_events", "Rollup events read from L1", ["event"], registry=r
        )

"""Prometheus metrics of the EthTxManager (names `zkseq_ethtxmanager_<what>_<unit>`).

zkseq_ethtxmanager_rpc_duration_seconds{method}      latency of every RPC                (services.common)
zkseq_ethtxmanager_rpc_errors_total{method,code}     RPCs that failed                     (services.common)
zkseq_ethtxmanager_pending_txs{status}               L1 transactions in flight: created, sent, mined
zkseq_ethtxmanager_broadcasts_total                  eth_sendRawTransaction calls made
zkseq_ethtxmanager_resends_total{reason}             new attempts or re-broadcasts after the first:
                                                     stuck (fees bumped), underpriced (the node
                                                     wanted more), dropped (gone from the mempool)
zkseq_ethtxmanager_send_errors_total{kind}           broadcasts the node refused, by l1.Rejection
zkseq_ethtxmanager_reorgs_total                      mined transactions whose block left the chain
zkseq_ethtxmanager_finished_total{status}            transactions that became confirmed / failed
zkseq_ethtxmanager_confirmation_latency_seconds      from Add to confirmed
zkseq_ethtxmanager_gas_used_total                    gas used by finished transactions
zkseq_ethtxmanager_gas_spent_wei_total               gas used × effective gas price of finished ones
zkseq_ethtxmanager_gas_price_wei                     the fee (gas price / max fee) of the latest attempt
zkseq_ethtxmanager_l1_errors_total                   monitor ticks cut short by an unreachable L1 node
                                                     or StateDB
zkseq_ethtxmanager_l1_head_block                     the latest L1 block number seen
zkseq_ethtxmanager_l1_balance_wei                    the key's balance on L1 (every tick)
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.common.statedb import MonitoredTxStatus

#: confirmation latency: from a second (anvil) to an hour (a congested L1)
CONFIRMATION_BUCKETS_S = (0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
RESEND_REASONS = ("stuck", "underpriced", "dropped")


class EthTxManagerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.pending = Gauge(
            "zkseq_ethtxmanager_pending_txs",
            "L1 transactions in flight, by status (created, sent, mined)",
            ["status"],
            registry=registry,
        )
        self.broadcasts = Counter(
            "zkseq_ethtxmanager_broadcasts_total", "eth_sendRawTransaction calls made", registry=registry
        )
        self.resends = Counter(
            "zkseq_ethtxmanager_resends_total",
            "Attempts sent after the first: stuck (fees bumped), underpriced, dropped (re-broadcast)",
            ["reason"],
            registry=registry,
        )
        self.send_errors = Counter(
            "zkseq_ethtxmanager_send_errors_total",
            "Broadcasts the L1 node refused, by kind",
            ["kind"],
            registry=registry,
        )
        self.reorgs = Counter(
            "zkseq_ethtxmanager_reorgs_total",
            "Mined transactions whose block left the canonical chain",
            registry=registry,
        )
        self.finished = Counter(
            "zkseq_ethtxmanager_finished_total",
            "Transactions that became confirmed or failed",
            ["status"],
            registry=registry,
        )
        self.confirmation_latency = Histogram(
            "zkseq_ethtxmanager_confirmation_latency_seconds",
            "Time from Add to confirmed",
            buckets=CONFIRMATION_BUCKETS_S,
            registry=registry,
        )
        self.gas_used = Counter(
            "zkseq_ethtxmanager_gas_used_total", "Gas used by finished transactions", registry=registry
        )
        self.gas_spent = Counter(
            "zkseq_ethtxmanager_gas_spent_wei_total",
            "Wei paid for gas by finished transactions (gas used × effective gas price)",
            registry=registry,
        )
        self.gas_price = Gauge(
            "zkseq_ethtxmanager_gas_price_wei",
            "The fee of the latest attempt signed (gas price, or max fee per gas)",
            registry=registry,
        )
        self.l1_errors = Counter(
            "zkseq_ethtxmanager_l1_errors_total",
            "Monitor ticks cut short because the L1 node or the StateDB could not be reached",
            registry=registry,
        )
        self.head = Gauge(
            "zkseq_ethtxmanager_l1_head_block", "The latest L1 block number seen", registry=registry
        )
        self.balance = Gauge(
            "zkseq_ethtxmanager_l1_balance_wei",
            "The balance of the manager's L1 account, read every tick",
            registry=registry,
        )
        for reason in RESEND_REASONS:
            self.resends.labels(reason)
        for status in (MonitoredTxStatus.CONFIRMED, MonitoredTxStatus.FAILED):
            self.finished.labels(status.value)

    def counts(self, by_status: dict[MonitoredTxStatus, int]) -> None:
        for status in (MonitoredTxStatus.CREATED, MonitoredTxStatus.SENT, MonitoredTxStatus.MINED):
            self.pending.labels(status.value).set(by_status.get(status, 0))

"""Sequence sender settings: every default in one place, read from ZKSEQ_SEQUENCESENDER_* at start-up.

Variables (each with the prefix ZKSEQ_SEQUENCESENDER_), their defaults, and what they mean:

    GRPC_ADDRESS                 0.0.0.0:50111          status and health (gRPC); port 0: any free port
    METRICS_ADDRESS              0.0.0.0:9096           Prometheus /metrics listen address
    METRICS_ENABLED              true                   serve /metrics at all
    L1_RPC_URL                   http://127.0.0.1:8545  the L1 node's JSON-RPC endpoint (http/https)
    L1_TIMEOUT_S                 10                     deadline of one L1 JSON-RPC call
    ROLLUP_ADDRESS               (required)             the ZkEVMRollup contract, 0x + 40 hex
    GLOBAL_EXIT_ROOT_MANAGER_ADDRESS  (required)        its global exit root manager; checked against
                                                        the rollup's at start-up
    STATEDB_URL                  sqlite:///data/statedb.db  sqlite:///… or postgresql://…?schema=…
    ETHTXMANAGER_ADDRESS         127.0.0.1:50101        the EthTxManager's gRPC address
    ETHTXMANAGER_TIMEOUT_S       10                     deadline of every EthTxManager call
    OWNER                        sequencesender         the EthTxManager owner of the sequences
    L2_COINBASE                  (required)             l2Coinbase of every sequence, 0x + 40 hex: the
                                                        sequencer address in every accInputHash, so it
                                                        must be the coinbase the sequencer closes
                                                        batches with
    MAX_BATCHES_PER_SEQUENCE     1000                   batches per sequenceBatches (the contract's
                                                        _MAX_VERIFY_BATCHES is 1000)
    MAX_CALLDATA_BYTES           130048                 sequenceBatches calldata per transaction
                                                        (geth's 128 KiB transaction limit less 1 KiB
                                                        for the signed envelope; zkevm-node MaxTxSizeForL1)
    MAX_IN_FLIGHT                2                      sequences sent and not yet confirmed or failed
                                                        (zkevm-node: 1; see sender.py for the trade-off)
    GAS_MARGIN_PERCENT           10                     added to eth_estimateGas's answer …
    GAS_OFFSET                   80000                  … and then this (zkevm-node GasOffset)
    MAX_SEQUENCE_GAS             15000000               a sequence needing more gas is split
    PARTIAL_SEQUENCE_WAIT_S      5                      a sequence that is not full is sent once its
                                                        first batch has waited this long
                                                        (zkevm-node LastBatchVirtualizationTimeMaxWaitPeriod)
    SEND_INTERVAL_S              1                      how often the sender looks for closed batches
                                                        (zkevm-node WaitPeriodSendSequence is 5 s)
    WATCH_INTERVAL_S             1                      how often the watcher reads L1
    START_BLOCK                  0                      the first L1 block the watcher reads (the
                                                        rollup's deployment block)
    CONFIRMATIONS                0                      blocks the watcher stays under the L1 head;
                                                        0 reads up to the head (reorgs are undone)
    MAX_BLOCKS_PER_READ          1000                   L1 blocks per eth_getLogs
    MAX_REORG_DEPTH              256                    how deep a fork point is looked for before the
                                                        watcher re-reads L1 from START_BLOCK
    SHUTDOWN_GRACE_S             10                     on SIGTERM, time given to status calls in flight
    LOG_LEVEL                    info                   debug, info, warning, error
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from services.common.config import EnvReader
from services.common.l1.rollup import MAX_BATCHES_PER_SEQUENCE
from services.sequencesender.packing import (
    BATCH_OVERHEAD_BYTES,
    DEFAULT_MAX_CALLDATA_BYTES,
    SEQUENCE_OVERHEAD_BYTES,
    PackLimits,
)
from services.sequencesender.sender import MAX_L1_GAS, SenderSettings
from services.sequencesender.watcher import WatcherSettings
from zkevm.state_keys import Address

PREFIX: Final = "ZKSEQ_SEQUENCESENDER_"
_ADDRESS: Final = re.compile(r"0x[0-9a-fA-F]{40}")
#: the most calldata one L1 transaction may carry on geth (txMaxSize, 128 KiB)
MAX_L1_TX_BYTES: Final = 131_072


@dataclass(frozen=True, slots=True)
class SequenceSenderConfig:
    grpc_host: str = "0.0.0.0"
    grpc_port: int = 50111
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9096
    metrics_enabled: bool = True
    l1_rpc_url: str = "http://127.0.0.1:8545"
    l1_timeout_s: float = 10.0
    rollup_address: str = ""
    global_exit_root_manager_address: str = ""
    statedb_url: str = "sqlite:///data/statedb.db"
    ethtxmanager_address: str = "127.0.0.1:50101"
    ethtxmanager_timeout_s: float = 10.0
    owner: str = "sequencesender"
    l2_coinbase: str = ""
    max_batches_per_sequence: int = MAX_BATCHES_PER_SEQUENCE
    max_calldata_bytes: int = DEFAULT_MAX_CALLDATA_BYTES
    max_in_flight: int = 2
    gas_margin_percent: int = 10
    gas_offset: int = 80_000
    max_sequence_gas: int = 15_000_000
    partial_sequence_wait_s: float = 5.0
    send_interval_s: float = 1.0
    watch_interval_s: float = 1.0
    start_block: int = 0
    confirmations: int = 0
    max_blocks_per_read: int = 1_000
    max_reorg_depth: int = 256
    shutdown_grace_s: float = 10.0
    log_level: str = "info"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SequenceSenderConfig:
        """Read and validate every ZKSEQ_SEQUENCESENDER_* variable; `ConfigError` lists all problems."""
        d = cls()
        env = EnvReader(PREFIX, environ)
        grpc_host, grpc_port = env.address("GRPC_ADDRESS", f"{d.grpc_host}:{d.grpc_port}")
        metrics_host, metrics_port = env.address("METRICS_ADDRESS", f"{d.metrics_host}:{d.metrics_port}")
        txm_host, txm_port = env.address("ETHTXMANAGER_ADDRESS", d.ethtxmanager_address)
        smallest = SEQUENCE_OVERHEAD_BYTES + BATCH_OVERHEAD_BYTES
        config = cls(
            grpc_host=grpc_host,
            grpc_port=grpc_port,
            metrics_host=metrics_host,
            metrics_port=metrics_port,
            metrics_enabled=env.boolean("METRICS_ENABLED", d.metrics_enabled),
            l1_rpc_url=env.string("L1_RPC_URL", d.l1_rpc_url),
            l1_timeout_s=env.number("L1_TIMEOUT_S", d.l1_timeout_s, minimum=0.1),
            rollup_address=_address(env, "ROLLUP_ADDRESS"),
            global_exit_root_manager_address=_address(env, "GLOBAL_EXIT_ROOT_MANAGER_ADDRESS"),
            statedb_url=env.string("STATEDB_URL", d.statedb_url),
            ethtxmanager_address=f"{txm_host}:{txm_port}",
            ethtxmanager_timeout_s=env.number(
                "ETHTXMANAGER_TIMEOUT_S", d.ethtxmanager_timeout_s, minimum=0.1
            ),
            owner=env.string("OWNER", d.owner),
            l2_coinbase=_address(env, "L2_COINBASE"),
            max_batches_per_sequence=env.integer(
                "MAX_BATCHES_PER_SEQUENCE",
                d.max_batches_per_sequence,
                minimum=1,
                maximum=MAX_BATCHES_PER_SEQUENCE,
            ),
            max_calldata_bytes=env.integer(
                "MAX_CALLDATA_BYTES", d.max_calldata_bytes, minimum=smallest, maximum=MAX_L1_TX_BYTES
            ),
            max_in_flight=env.integer("MAX_IN_FLIGHT", d.max_in_flight, minimum=1, maximum=64),
            gas_margin_percent=env.integer(
                "GAS_MARGIN_PERCENT", d.gas_margin_percent, minimum=0, maximum=1000
            ),
            gas_offset=env.integer("GAS_OFFSET", d.gas_offset, minimum=0, maximum=MAX_L1_GAS),
            max_sequence_gas=env.integer(
                "MAX_SEQUENCE_GAS", d.max_sequence_gas, minimum=21_000, maximum=MAX_L1_GAS
            ),
            partial_sequence_wait_s=env.number(
                "PARTIAL_SEQUENCE_WAIT_S", d.partial_sequence_wait_s, minimum=0, maximum=86_400
            ),
            send_interval_s=env.number("SEND_INTERVAL_S", d.send_interval_s, minimum=0.01, maximum=3600),
            watch_interval_s=env.number("WATCH_INTERVAL_S", d.watch_interval_s, minimum=0.01, maximum=3600),
            start_block=env.integer("START_BLOCK", d.start_block, minimum=0),
            confirmations=env.integer("CONFIRMATIONS", d.confirmations, minimum=0, maximum=10_000),
            max_blocks_per_read=env.integer(
                "MAX_BLOCKS_PER_READ", d.max_blocks_per_read, minimum=1, maximum=100_000
            ),
            max_reorg_depth=env.integer("MAX_REORG_DEPTH", d.max_reorg_depth, minimum=1, maximum=100_000),
            shutdown_grace_s=env.number("SHUTDOWN_GRACE_S", d.shutdown_grace_s, minimum=0),
            log_level=env.choice("LOG_LEVEL", d.log_level, ("debug", "info", "warning", "error")),
        )
        if not config.l1_rpc_url.startswith(("http://", "https://")):
            env.problem("L1_RPC_URL", f"{config.l1_rpc_url!r} is not an http:// or https:// URL")
        if not config.statedb_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            env.problem("STATEDB_URL", f"{config.statedb_url!r} is neither sqlite:///… nor postgresql://…")
        if not config.owner or len(config.owner) > 200 or not config.owner.isprintable():
            env.problem("OWNER", "must be 1..200 printable characters")
        env.finish()
        return config

    def sender_settings(self) -> SenderSettings:
        return SenderSettings(
            l2_coinbase=Address(bytes.fromhex(self.l2_coinbase[2:])),
            rollup_address=bytes.fromhex(self.rollup_address[2:]),
            limits=PackLimits(self.max_batches_per_sequence, self.max_calldata_bytes),
            max_in_flight=self.max_in_flight,
            gas_margin_percent=self.gas_margin_percent,
            gas_offset=self.gas_offset,
            max_sequence_gas=self.max_sequence_gas,
            partial_sequence_wait_s=self.partial_sequence_wait_s,
            interval_s=self.send_interval_s,
        )

    def watcher_settings(self) -> WatcherSettings:
        return WatcherSettings(
            start_block=self.start_block,
            confirmations=self.confirmations,
            max_blocks_per_read=self.max_blocks_per_read,
            max_reorg_depth=self.max_reorg_depth,
            poll_interval_s=self.watch_interval_s,
        )


def _address(env: EnvReader, name: str) -> str:
    raw = env.string(name, "")
    if not raw:
        env.problem(name, "required: an L1 address, 0x followed by 40 hex digits")
        return "0x" + "00" * 20
    if not _ADDRESS.fullmatch(raw):
        env.problem(name, f"{raw!r} is not 0x followed by 40 hex digits")
        return "0x" + "00" * 20
    return raw

"""Sequencer settings: every default in one place, read from ZKSEQ_SEQUENCER_* at start-up.

Variables (each with the prefix ZKSEQ_SEQUENCER_), their defaults, and what they mean:

    GRPC_ADDRESS                0.0.0.0:50091          status and health (gRPC); port 0: any free port
    METRICS_ADDRESS             0.0.0.0:9095           Prometheus /metrics listen address
    METRICS_ENABLED             true                   serve /metrics at all
    EXECUTOR_URL                127.0.0.1:50071        the executor: host:port, a comma-separated list
                                                       of host:port (replicas), or dns:///name:port
                                                       (every address of a headless Service)
    EXECUTOR_SPREAD             primary                primary: every call to one replica while it
                                                       answers, the others stand by; affinity: batch
                                                       re-executions go to another replica;
                                                       round_robin: every call to the next replica
                                                       (executors.py; measured by bench_replicas.py)
    EXECUTOR_DNS_REFRESH_S      30                     a dns:/// target is resolved again this often
                                                       (and soon after a replica fails)
    EXECUTOR_LOST_AFTER_S       5                      a replica unreachable this long with unstored
                                                       flushes counts as lost: its transactions are
                                                       executed again elsewhere
    EXECUTOR_TIMEOUT_S          60                     deadline of every executor call (a whole batch
                                                       is re-executed in one call)
    POOL_URL                    127.0.0.1:50081        the pool service
    POOL_TIMEOUT_S              10                     deadline of every pool call
    HASHDB_URL                  127.0.0.1:50061        the HashDB (genesis, and a sender's nonce after a
                                                       nonce error)
    HASHDB_TIMEOUT_S            30                     deadline of every HashDB call
    STATEDB_URL                 sqlite:///data/statedb.db   sqlite:///… or postgresql://…?schema=…
    CHAIN_ID                    1001                   the L2 chain id
    COINBASE                    (required)             the L2 address that receives the fees; also the
                                                       l2Coinbase of the L1 sequences (20 bytes hex)
    GLOBAL_EXIT_ROOT            0x00…00                the GER every batch carries, until the L1
                                                       watcher provides them (must be known on L1,
                                                       or zero)
    GENESIS_FILE                (none)                 a genesis JSON (genesis.py): written into the
                                                       HashDB and StateDB if the StateDB is empty,
                                                       checked against batch 0 otherwise
    L1_RPC_URL                  (none)                 an L1 JSON-RPC node: batch timestamps stay at
                                                       or below its latest block's; none = this
                                                       machine's clock
    L1_TIMEOUT_S                5                      deadline of an L1 call
    BATCH_TIME_LIMIT_S          10                     a non-empty batch closes once it is this old
                                                       (zkevm-node TimestampResolution)
    MAX_TXS_PER_BATCH           300                    zkevm-node MaxTxsPerBatch
    MAX_BATCH_BYTES             120000                 MaxBatchBytesSize (the L1 contract's limit)
    MAX_BATCH_GAS               30000000               MaxCumulativeGasUsed
    MAX_KECCAK_HASHES           2145                   the §7.2 ZK-counter limits (zkevm-node v0.4.x
    MAX_POSEIDON_HASHES         252357                 State.Batch.Constraints, about 90 % of the
    MAX_POSEIDON_PADDINGS       135191                 circuit sizes)
    MAX_MEM_ALIGNS              236585
    MAX_ARITHMETICS             236585
    MAX_BINARIES                473170
    MAX_STEPS                   7570538
    POLL_INTERVAL_S             0.1                    wait when the pool has nothing ready
                                                       (zkevm-node SleepDuration)
    FETCH_LIMIT                 64                     ready transactions read per pool call
    MAX_GROUP_TXS               32                     transactions pre-executed in one ProcessBatch
                                                       call at most (1: one at a time)
    MAX_TXS_IN_FLIGHT           1024                   executed transactions not yet in the StateDB
    MAX_BLOCKS_PER_WRITE        64                     L2 blocks written per StateDB transaction
    BALANCE_RETRY_S             5                      a transaction refused for its balance waits this
                                                       long before it is tried again
    FORCED_BATCH_CHECK_S        10                     how often due forced batches are looked for
    FORCED_BATCH_FINALITY_BLOCKS 64                    L1 blocks a forced batch must be under the head
    RETRY_INITIAL_S             0.05                   first backoff of a retried call (doubling)
    RETRY_MAX_S                 5                      longest backoff
    FLUSH_POLL_S                0.01                   first flush-status poll while waiting for a flush
                                                       (then doubling, at most 8×)
    DRAIN_TIMEOUT_S             10                     on SIGTERM, time to write what is executed
    SHUTDOWN_GRACE_S            5                      on SIGTERM, time given to status calls in flight
    MAX_MESSAGE_BYTES           67108864               largest gRPC message
    LOG_LEVEL                   info                   debug, info, warning, error
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.common.config import EnvReader
from services.sequencer.executors import Spread, TargetError, parse_executor_targets
from services.sequencer.limits import NODE_COUNTER_LIMITS, BatchLimits, ZkCounters
from services.sequencer.work import SequencerSettings
from zkevm.errors import EncodingError
from zkevm.field import hex_to_bytes

PREFIX = "ZKSEQ_SEQUENCER_"
#: the engine's tuning defaults live in `SequencerSettings` (work.py); the process takes them from there
_ENGINE = SequencerSettings(chain_id=1, coinbase=bytes(20))


@dataclass(frozen=True, slots=True)
class SequencerConfig:
    grpc_host: str = "0.0.0.0"
    grpc_port: int = 50091
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9095
    metrics_enabled: bool = True
    executor_url: str = "127.0.0.1:50071"
    executor_timeout_s: float = 60.0
    executor_spread: Spread = Spread.PRIMARY
    executor_dns_refresh_s: float = 30.0
    executor_lost_after_s: float = 5.0
    pool_url: str = "127.0.0.1:50081"
    pool_timeout_s: float = 10.0
    hashdb_url: str = "127.0.0.1:50061"
    hashdb_timeout_s: float = 30.0
    statedb_url: str = "sqlite:///data/statedb.db"
    chain_id: int = 1001
    coinbase: bytes = bytes(20)
    global_exit_root: bytes = bytes(32)
    genesis_file: Path | None = None
    l1_rpc_url: str = ""
    l1_timeout_s: float = 5.0
    batch_time_limit_s: float = _ENGINE.batch_time_limit_s
    limits: BatchLimits = field(default_factory=BatchLimits)
    poll_interval_s: float = _ENGINE.poll_interval_s
    fetch_limit: int = _ENGINE.fetch_limit
    max_group_txs: int = _ENGINE.max_group_txs
    max_txs_in_flight: int = _ENGINE.max_in_flight
    max_blocks_per_write: int = _ENGINE.max_blocks_per_write
    balance_retry_s: float = _ENGINE.balance_retry_s
    forced_batch_check_s: float = _ENGINE.forced_batch_check_s
    forced_batch_finality_blocks: int = _ENGINE.forced_batch_finality_blocks
    retry_initial_s: float = _ENGINE.retry_initial_s
    retry_max_s: float = _ENGINE.retry_max_s
    flush_poll_s: float = _ENGINE.flush_poll_s
    drain_timeout_s: float = _ENGINE.drain_timeout_s
    shutdown_grace_s: float = 5.0
    max_message_bytes: int = 64 * 1024**2
    log_level: str = "info"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SequencerConfig:
        """Read and validate every ZKSEQ_SEQUENCER_* variable; `ConfigError` lists all problems."""
        d = cls()
        env = EnvReader(PREFIX, environ)
        grpc_host, grpc_port = env.address("GRPC_ADDRESS", f"{d.grpc_host}:{d.grpc_port}")
        metrics_host, metrics_port = env.address("METRICS_ADDRESS", f"{d.metrics_host}:{d.metrics_port}")
        executor_url = env.string("EXECUTOR_URL", d.executor_url)
        try:
            executor_url = parse_executor_targets(executor_url).describe()
        except TargetError as exc:
            env.problem("EXECUTOR_URL", str(exc))
        pool = env.address("POOL_URL", d.pool_url)
        hashdb = env.address("HASHDB_URL", d.hashdb_url)
        coinbase = _hex(env, "COINBASE", "", 20, required=True)
        ger = _hex(env, "GLOBAL_EXIT_ROOT", "0x" + "00" * 32, 32, required=False)
        genesis_text = env.string("GENESIS_FILE", "")
        l1_url = env.string("L1_RPC_URL", "")
        if l1_url and not l1_url.startswith(("http://", "https://")):
            env.problem("L1_RPC_URL", f"{l1_url!r} is not an http:// or https:// URL")
        dl = d.limits
        limits = BatchLimits(
            max_txs=env.integer("MAX_TXS_PER_BATCH", dl.max_txs, minimum=1),
            max_bytes=env.integer("MAX_BATCH_BYTES", dl.max_bytes, minimum=1, maximum=120_000),
            max_gas=env.integer("MAX_BATCH_GAS", dl.max_gas, minimum=21_000),
            counters=ZkCounters(
                keccak_hashes=env.integer("MAX_KECCAK_HASHES", NODE_COUNTER_LIMITS.keccak_hashes, minimum=1),
                poseidon_hashes=env.integer(
                    "MAX_POSEIDON_HASHES", NODE_COUNTER_LIMITS.poseidon_hashes, minimum=1
                ),
                poseidon_paddings=env.integer(
                    "MAX_POSEIDON_PADDINGS", NODE_COUNTER_LIMITS.poseidon_paddings, minimum=1
                ),
                mem_aligns=env.integer("MAX_MEM_ALIGNS", NODE_COUNTER_LIMITS.mem_aligns, minimum=1),
                arithmetics=env.integer("MAX_ARITHMETICS", NODE_COUNTER_LIMITS.arithmetics, minimum=1),
                binaries=env.integer("MAX_BINARIES", NODE_COUNTER_LIMITS.binaries, minimum=1),
                steps=env.integer("MAX_STEPS", NODE_COUNTER_LIMITS.steps, minimum=1),
            ),
        )
        config = cls(
            grpc_host=grpc_host,
            grpc_port=grpc_port,
            metrics_host=metrics_host,
            metrics_port=metrics_port,
            metrics_enabled=env.boolean("METRICS_ENABLED", d.metrics_enabled),
            executor_url=executor_url,
            executor_timeout_s=env.number("EXECUTOR_TIMEOUT_S", d.executor_timeout_s, minimum=0.1),
            executor_spread=Spread(
                env.choice("EXECUTOR_SPREAD", d.executor_spread.value, tuple(s.value for s in Spread))
            ),
            executor_dns_refresh_s=env.number(
                "EXECUTOR_DNS_REFRESH_S", d.executor_dns_refresh_s, minimum=0.1
            ),
            executor_lost_after_s=env.number("EXECUTOR_LOST_AFTER_S", d.executor_lost_after_s, minimum=0.1),
            pool_url=f"{pool[0]}:{pool[1]}",
            pool_timeout_s=env.number("POOL_TIMEOUT_S", d.pool_timeout_s, minimum=0.1),
            hashdb_url=f"{hashdb[0]}:{hashdb[1]}",
            hashdb_timeout_s=env.number("HASHDB_TIMEOUT_S", d.hashdb_timeout_s, minimum=0.1),
            statedb_url=env.string("STATEDB_URL", d.statedb_url),
            chain_id=env.integer("CHAIN_ID", d.chain_id, minimum=1, maximum=2**64 - 1),
            coinbase=coinbase,
            global_exit_root=ger,
            genesis_file=Path(genesis_text) if genesis_text else None,
            l1_rpc_url=l1_url,
            l1_timeout_s=env.number("L1_TIMEOUT_S", d.l1_timeout_s, minimum=0.1),
            batch_time_limit_s=env.number("BATCH_TIME_LIMIT_S", d.batch_time_limit_s, minimum=0.01),
            limits=limits,
            poll_interval_s=env.number("POLL_INTERVAL_S", d.poll_interval_s, minimum=0.001),
            fetch_limit=env.integer("FETCH_LIMIT", d.fetch_limit, minimum=1, maximum=10_000),
            max_group_txs=env.integer("MAX_GROUP_TXS", d.max_group_txs, minimum=1, maximum=1_000),
            max_txs_in_flight=env.integer("MAX_TXS_IN_FLIGHT", d.max_txs_in_flight, minimum=1),
            max_blocks_per_write=env.integer("MAX_BLOCKS_PER_WRITE", d.max_blocks_per_write, minimum=1),
            balance_retry_s=env.number("BALANCE_RETRY_S", d.balance_retry_s, minimum=0),
            forced_batch_check_s=env.number("FORCED_BATCH_CHECK_S", d.forced_batch_check_s, minimum=0.01),
            forced_batch_finality_blocks=env.integer(
                "FORCED_BATCH_FINALITY_BLOCKS", d.forced_batch_finality_blocks, minimum=0
            ),
            retry_initial_s=env.number("RETRY_INITIAL_S", d.retry_initial_s, minimum=0.001),
            retry_max_s=env.number("RETRY_MAX_S", d.retry_max_s, minimum=0.001),
            flush_poll_s=env.number("FLUSH_POLL_S", d.flush_poll_s, minimum=0.0005),
            drain_timeout_s=env.number("DRAIN_TIMEOUT_S", d.drain_timeout_s, minimum=0),
            shutdown_grace_s=env.number("SHUTDOWN_GRACE_S", d.shutdown_grace_s, minimum=0),
            max_message_bytes=env.integer(
                "MAX_MESSAGE_BYTES", d.max_message_bytes, minimum=4 * 1024**2, maximum=2**31 - 1
            ),
            log_level=env.choice("LOG_LEVEL", d.log_level, ("debug", "info", "warning", "error")),
        )
        if not config.statedb_url.startswith(("sqlite://", "postgresql://", "postgres://")):
            env.problem("STATEDB_URL", f"{config.statedb_url!r} is neither sqlite:///… nor postgresql://…")
        if config.retry_max_s < config.retry_initial_s:
            env.problem("RETRY_MAX_S", "must not be below RETRY_INITIAL_S")
        env.finish()
        return config

    def settings(self) -> SequencerSettings:
        return SequencerSettings(
            chain_id=self.chain_id,
            coinbase=self.coinbase,
            global_exit_root=self.global_exit_root,
            limits=self.limits,
            batch_time_limit_s=self.batch_time_limit_s,
            poll_interval_s=self.poll_interval_s,
            fetch_limit=self.fetch_limit,
            max_group_txs=self.max_group_txs,
            max_in_flight=self.max_txs_in_flight,
            max_blocks_per_write=self.max_blocks_per_write,
            balance_retry_s=self.balance_retry_s,
            forced_batch_check_s=self.forced_batch_check_s,
            forced_batch_finality_blocks=self.forced_batch_finality_blocks,
            retry_initial_s=self.retry_initial_s,
            retry_max_s=self.retry_max_s,
            flush_poll_s=self.flush_poll_s,
            drain_timeout_s=self.drain_timeout_s,
        )


def _hex(env: EnvReader, name: str, default: str, size: int, *, required: bool) -> bytes:
    text = env.string(name, default)
    if not text:
        if required:
            env.problem(name, f"required: {size} bytes as 0x-prefixed hex")
        return bytes(size)
    try:
        return hex_to_bytes(text, size)
    except (EncodingError, ValueError) as exc:
        env.problem(name, f"{text!r} is not {size} bytes of hex: {exc}")
        return bytes(size)

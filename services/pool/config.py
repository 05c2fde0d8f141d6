"""Pool settings: every default in one place, read from ZKSEQ_POOL_* at start-up.

Variables (each with the prefix ZKSEQ_POOL_), their defaults, and what they mean:

    GRPC_ADDRESS             0.0.0.0:50081            gRPC listen address (port 0: any free port)
    METRICS_ADDRESS          0.0.0.0:9093             Prometheus /metrics listen address
    METRICS_ENABLED          true                     serve /metrics at all
    REDIS_URL                redis://127.0.0.1:6379/0 the Redis that holds the pool (run it with
                                                      appendonly yes: the pool is only as durable
                                                      as Redis's AOF)
    REDIS_TIMEOUT_S          5                        socket timeout of every Redis call, and the
                                                      longest wait for a free connection
    REDIS_MAX_CONNECTIONS    64                       connections to Redis at most; more commands
                                                      at once wait for one
    KEY_PREFIX               zkseq:{pool}:            prefix of every key (keep a {hash tag} in it
                                                      for Redis Cluster: one pool = one slot)
    CHAIN_ID                 1001                     the L2 chain id EIP-155 transactions must carry
    MIN_GAS_PRICE_WEI        1000000000               zkevm-node DefaultMinGasPriceAllowed (1 gwei)
    NONCE_WINDOW             64                       zkevm-node AccountQueue: nonces accepted from
                                                      the sender's next nonce on
    MAX_TXS                  1024                     zkevm-node GlobalQueue: live transactions
    MAX_TXS_PER_ACCOUNT      64                       live transactions per sender
    MAX_TXS_WITH_GAP         MAX_TXS / 2              a transaction behind a nonce gap (a nonce
                                                      from its sender's next one up to its own is
                                                      not waiting) is accepted only while fewer live
                                                      transactions wait: the rest of the pool stays
                                                      for transactions that can run
    MAX_TX_BYTES             100132                   zkevm-node MaxTxBytesSize
    MAX_TX_DATA_BYTES        100000                   zkevm-node MaxTxDataBytesSize
    MAX_TX_GAS               30000000                 largest gasLimit (the batch gas limit, spec §6.1)
    TX_LIFETIME_S            10800                    zkevm-node MaxTxLifetime (3 h): older live
                                                      transactions fail as "transaction expired"
    FINISHED_RETENTION_S     1400                     failed / invalid transactions stay answerable
                                                      this long (100 L1 blocks × 14 s), then go
    ACCOUNT_TTL_S            3600                     a sender without live transactions is forgotten
                                                      (its next nonce) after this long
    EXPIRY_INTERVAL_S        60                       how often expiry runs
    STATS_INTERVAL_S         5                        how often the size gauges are refreshed
    READY_LIMIT              300                      GetReadyTransactions without a limit returns
                                                      this many (zkevm-node MaxTxsPerBatch)
    HASHDB_URL               127.0.0.1:50061          the HashDB the sender's nonce and balance are
                                                      read from
    HASHDB_TIMEOUT_S         5                        deadline of every HashDB call
    STATEDB_URL              (none)                   the StateDB whose latest L2 block's state root
                                                      those reads use (the sequencer's StateDB URL)
    STATE_ROOT               (none)                   the root used while the StateDB has no block,
                                                      or always without STATEDB_URL; 32 bytes hex.
                                                      One of the two is required
    SHUTDOWN_GRACE_S         10                       on SIGTERM, time given to calls in flight
    MAX_MESSAGE_BYTES        67108864                 largest gRPC message
    LOG_LEVEL                info                     debug, info, warning, error
"""

from collections.abc import Mapping
from dataclasses import dataclass

from services.common.config import EnvReader
from services.pool.pool import PoolSettings
from services.pool.store import DEFAULT_PREFIX
from services.pool.validation import PoolLimits
from zkevm.errors import EncodingError
from zkevm.field import H4, hex_to_h4, is_field_h4
from zkevm.transaction import MAX_TX_GAS_LIMIT

PREFIX = "ZKSEQ_POOL_"


@dataclass(frozen=True, slots=True)
class PoolConfig:
    grpc_host: str = "0.0.0.0"
    grpc_port: int = 50081
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9093
    metrics_enabled: bool = True
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_timeout_s: float = 5.0
    redis_max_connections: int = 64
    key_prefix: str = DEFAULT_PREFIX
    chain_id: int = 1001
    min_gas_price_wei: int = 1_000_000_000
    nonce_window: int = 64
    max_txs: int = 1024
    max_txs_per_account: int = 64
    #: None: half of max_txs
    max_txs_with_gap: int | None = None
    max_tx_bytes: int = 100_132
    max_tx_data_bytes: int = 100_000
    max_tx_gas: int = MAX_TX_GAS_LIMIT
    tx_lifetime_s: float = 3 * 3600.0
    finished_retention_s: float = 1400.0
    account_ttl_s: float = 3600.0
    expiry_interval_s: float = 60.0
    stats_interval_s: float = 5.0
    ready_limit: int = 300
    hashdb_url: str = "127.0.0.1:50061"
    hashdb_timeout_s: float = 5.0
    #: the StateDB whose latest block names the state root (None: always `state_root`)
    statedb_url: str | None = None
    #: the root before the StateDB has a block, or always without a StateDB; `from_env` needs one of them
    state_root: H4 | None = None
    shutdown_grace_s: float = 10.0
    max_message_bytes: int = 64 * 1024**2
    log_level: str = "info"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "PoolConfig":
        """Read and validate every ZKSEQ_POOL_* variable; `ConfigError` lists all problems."""
        d = cls()
        env = EnvReader(PREFIX, environ)
        grpc_host, grpc_port = env.address("GRPC_ADDRESS", f"{d.grpc_host}:{d.grpc_port}")
        metrics_host, metrics_port = env.address("METRICS_ADDRESS", f"{d.metrics_host}:{d.metrics_port}")
        hashdb_host, hashdb_port = env.address("HASHDB_URL", d.hashdb_url)
        root_text = env.string("STATE_ROOT", "")
        statedb_url = env.string("STATEDB_URL", "") or None
        state_root: H4 | None = None
        if not root_text:
            if statedb_url is None:
                env.problem(
                    "STATE_ROOT",
                    "required without STATEDB_URL: the state root nonces and balances are read at "
                    "(32 bytes hex)",
                )
        else:
            try:
                state_root = hex_to_h4(root_text)
            except EncodingError as exc:
                env.problem("STATE_ROOT", f"{root_text!r} is not a 32-byte hex root: {exc}")
            else:
                if not is_field_h4(state_root):
                    env.problem("STATE_ROOT", f"{root_text} has a limb that is not a Goldilocks element")
        max_txs = env.integer("MAX_TXS", d.max_txs, minimum=1)
        max_txs_with_gap = env.integer("MAX_TXS_WITH_GAP", -1, minimum=0, maximum=max_txs)  # -1: unset
        config = cls(
            grpc_host=grpc_host,
            grpc_port=grpc_port,
            metrics_host=metrics_host,
            metrics_port=metrics_port,
            metrics_enabled=env.boolean("METRICS_ENABLED", d.metrics_enabled),
            redis_url=env.string("REDIS_URL", d.redis_url),
            redis_timeout_s=env.number("REDIS_TIMEOUT_S", d.redis_timeout_s, minimum=0.01),
            redis_max_connections=env.integer(
                "REDIS_MAX_CONNECTIONS", d.redis_max_connections, minimum=1, maximum=10_000
            ),
            key_prefix=env.string("KEY_PREFIX", d.key_prefix),
            chain_id=env.integer("CHAIN_ID", d.chain_id, minimum=1, maximum=2**64 - 1),
            min_gas_price_wei=env.integer("MIN_GAS_PRICE_WEI", d.min_gas_price_wei, minimum=0),
            nonce_window=env.integer("NONCE_WINDOW", d.nonce_window, minimum=1, maximum=1_000_000),
            max_txs=max_txs,
            max_txs_per_account=env.integer("MAX_TXS_PER_ACCOUNT", d.max_txs_per_account, minimum=1),
            max_txs_with_gap=max_txs_with_gap if max_txs_with_gap >= 0 else None,
            max_tx_bytes=env.integer("MAX_TX_BYTES", d.max_tx_bytes, minimum=1),
            max_tx_data_bytes=env.integer("MAX_TX_DATA_BYTES", d.max_tx_data_bytes, minimum=0),
            max_tx_gas=env.integer("MAX_TX_GAS", d.max_tx_gas, minimum=21_000, maximum=MAX_TX_GAS_LIMIT),
            tx_lifetime_s=env.number("TX_LIFETIME_S", d.tx_lifetime_s, minimum=1),
            finished_retention_s=env.number("FINISHED_RETENTION_S", d.finished_retention_s, minimum=0),
            account_ttl_s=env.number("ACCOUNT_TTL_S", d.account_ttl_s, minimum=1),
            expiry_interval_s=env.number("EXPIRY_INTERVAL_S", d.expiry_interval_s, minimum=0.01),
            stats_interval_s=env.number("STATS_INTERVAL_S", d.stats_interval_s, minimum=0.01),
            ready_limit=env.integer("READY_LIMIT", d.ready_limit, minimum=1, maximum=10_000),
            hashdb_url=f"{hashdb_host}:{hashdb_port}",
            hashdb_timeout_s=env.number("HASHDB_TIMEOUT_S", d.hashdb_timeout_s, minimum=0.01),
            statedb_url=statedb_url,
            state_root=state_root,
            shutdown_grace_s=env.number("SHUTDOWN_GRACE_S", d.shutdown_grace_s, minimum=0),
            max_message_bytes=env.integer(
                "MAX_MESSAGE_BYTES", d.max_message_bytes, minimum=4 * 1024**2, maximum=2**31 - 1
            ),
            log_level=env.choice("LOG_LEVEL", d.log_level, ("debug", "info", "warning", "error")),
        )
        if not config.redis_url.startswith(("redis://", "rediss://", "unix://")):
            env.problem("REDIS_URL", f"{config.redis_url!r} is not a redis://, rediss:// or unix:// URL")
        if not config.key_prefix:
            env.problem("KEY_PREFIX", "must not be empty")
        env.finish()
        return config

    def limits(self) -> PoolLimits:
        return PoolLimits(
            chain_id=self.chain_id,
            min_gas_price_wei=self.min_gas_price_wei,
            nonce_window=self.nonce_window,
            max_txs=self.max_txs,
            max_txs_per_account=self.max_txs_per_account,
            max_txs_with_gap=self.max_txs // 2 if self.max_txs_with_gap is None else self.max_txs_with_gap,
            max_tx_bytes=self.max_tx_bytes,
            max_tx_data_bytes=self.max_tx_data_bytes,
            max_tx_gas=self.max_tx_gas,
        )

    def pool_settings(self) -> PoolSettings:
        return PoolSettings(
            limits=self.limits(),
            default_ready_limit=self.ready_limit,
            tx_lifetime_s=self.tx_lifetime_s,
            finished_retention_s=self.finished_retention_s,
            expiry_interval_s=self.expiry_interval_s,
            stats_interval_s=self.stats_interval_s,
        )

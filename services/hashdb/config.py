"""HashDB settings: every default in one place, read from ZKSEQ_HASHDB_* at start-up.

Variables (each with the prefix ZKSEQ_HASHDB_), their defaults, and what they mean:

    GRPC_ADDRESS           0.0.0.0:50061  gRPC listen address (port 0: any free port; 50061 is the prover's)
    METRICS_ADDRESS        0.0.0.0:9091   Prometheus /metrics listen address
    METRICS_ENABLED        true           serve /metrics at all
    STORE                  lmdb           node store: lmdb or rocksdb (embedded), or postgres
    LMDB_PATH              data/hashdb    LMDB environment directory
    LMDB_MAP_SIZE_BYTES    17179869184    LMDB map size: the most the store can ever hold (data.mdb is
                                          a sparse file of this size)
    LMDB_SYNC              true           fsync every flush (off = faster, a crash may lose the last flushes)
    ROCKSDB_PATH           data/hashdb-rocksdb  RocksDB directory (STORE=rocksdb)
    ROCKSDB_SYNC           true           fsync the write-ahead log on every flush
    PG_DSN                 (none)         PostgreSQL connection string; required with STORE=postgres
    PG_SCHEMA              state          schema of the nodes / program tables (the prover's)
    NODE_CACHE_ENTRIES     262144         nodes kept in the in-memory cache (about 1 KiB each)
    PROGRAM_CACHE_BYTES    67108864       bytecode kept in the in-memory cache
    INLINE_MAX_KEYS        16             calls with more keys run on the tree thread, not the event loop
    FLUSH_DATA_HISTORY     64             stored flushes kept in memory for GetFlushData
    FLUSH_DATA_WAIT_S      60             longest GetFlushData long poll
    SESSION_TTL_S          3600           an unused batch session is dropped after this long
    WRITE_RETRY_S          1              wait before retrying a failed store write
    SHUTDOWN_GRACE_S       10             on SIGTERM, time given to calls in flight
    DRAIN_TIMEOUT_S        30             on SIGTERM, time given to storing flushed data
    MAX_MESSAGE_BYTES      134217728      largest gRPC message (LoadDB of a genesis can be big)
    LOG_LEVEL              info           debug, info, warning, error
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.common.config import EnvReader
from services.hashdb.service import HashDBSettings

PREFIX = "ZKSEQ_HASHDB_"
_SQL_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True, slots=True)
class HashDBConfig:
    grpc_host: str = "0.0.0.0"
    grpc_port: int = 50061
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9091
    metrics_enabled: bool = True
    store: str = "lmdb"
    lmdb_path: Path = Path("data/hashdb")
    lmdb_map_size_bytes: int = 16 * 1024**3
    lmdb_sync: bool = True
    rocksdb_path: Path = Path("data/hashdb-rocksdb")
    rocksdb_sync: bool = True
    pg_dsn: str = ""
    pg_schema: str = "state"
    node_cache_entries: int = 262_144
    program_cache_bytes: int = 64 * 1024**2
    inline_max_keys: int = 16
    flush_data_history: int = 64
    flush_data_wait_s: float = 60.0
    session_ttl_s: float = 3600.0
    write_retry_s: float = 1.0
    shutdown_grace_s: float = 10.0
    drain_timeout_s: float = 30.0
    max_message_bytes: int = 128 * 1024**2
    log_level: str = "info"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "HashDBConfig":
        """Read and validate every ZKSEQ_HASHDB_* variable; `ConfigError` lists all problems."""
        d = cls()
        env = EnvReader(PREFIX, environ)
        grpc_host, grpc_port = env.address("GRPC_ADDRESS", f"{d.grpc_host}:{d.grpc_port}")
        metrics_host, metrics_port = env.address("METRICS_ADDRESS", f"{d.metrics_host}:{d.metrics_port}")
        config = cls(
            grpc_host=grpc_host,
            grpc_port=grpc_port,
            metrics_host=metrics_host,
            metrics_port=metrics_port,
            metrics_enabled=env.boolean("METRICS_ENABLED", d.metrics_enabled),
            store=env.choice("STORE", d.store, ("lmdb", "rocksdb", "postgres")),
            lmdb_path=Path(env.string("LMDB_PATH", str(d.lmdb_path))),
            lmdb_map_size_bytes=env.integer(
                "LMDB_MAP_SIZE_BYTES", d.lmdb_map_size_bytes, minimum=1024**2, maximum=2**46
            ),
            lmdb_sync=env.boolean("LMDB_SYNC", d.lmdb_sync),
            rocksdb_path=Path(env.string("ROCKSDB_PATH", str(d.rocksdb_path))),
            rocksdb_sync=env.boolean("ROCKSDB_SYNC", d.rocksdb_sync),
            pg_dsn=env.string("PG_DSN", d.pg_dsn),
            pg_schema=env.string("PG_SCHEMA", d.pg_schema),
            node_cache_entries=env.integer("NODE_CACHE_ENTRIES", d.node_cache_entries, minimum=0),
            program_cache_bytes=env.integer("PROGRAM_CACHE_BYTES", d.program_cache_bytes, minimum=0),
            inline_max_keys=env.integer("INLINE_MAX_KEYS", d.inline_max_keys, minimum=0),
            flush_data_history=env.integer("FLUSH_DATA_HISTORY", d.flush_data_history, minimum=1),
            flush_data_wait_s=env.number("FLUSH_DATA_WAIT_S", d.flush_data_wait_s, minimum=0),
            session_ttl_s=env.number("SESSION_TTL_S", d.session_ttl_s, minimum=1),
            write_retry_s=env.number("WRITE_RETRY_S", d.write_retry_s, minimum=0.01),
            shutdown_grace_s=env.number("SHUTDOWN_GRACE_S", d.shutdown_grace_s, minimum=0),
            drain_timeout_s=env.number("DRAIN_TIMEOUT_S", d.drain_timeout_s, minimum=0),
            max_message_bytes=env.integer(
                "MAX_MESSAGE_BYTES", d.max_message_bytes, minimum=4 * 1024**2, maximum=2**31 - 1
            ),
            log_level=env.choice("LOG_LEVEL", d.log_level, ("debug", "info", "warning", "error")),
        )
        if config.store == "postgres" and not config.pg_dsn:
            env.problem(
                "PG_DSN", "required when ZKSEQ_HASHDB_STORE=postgres (e.g. postgresql://user@host/db)"
            )
        if not _SQL_NAME.fullmatch(config.pg_schema):
            env.problem("PG_SCHEMA", f"{config.pg_schema!r} is not a plain lower-case SQL name")
        if config.store == "lmdb" and config.lmdb_path.exists() and not config.lmdb_path.is_dir():
            env.problem("LMDB_PATH", f"{config.lmdb_path} exists and is not a directory")
        if config.store == "rocksdb" and config.rocksdb_path.exists() and not config.rocksdb_path.is_dir():
            env.problem("ROCKSDB_PATH", f"{config.rocksdb_path} exists and is not a directory")
        env.finish()
        return config

    def hashdb_settings(self) -> HashDBSettings:
        return HashDBSettings(
            inline_max_keys=self.inline_max_keys,
            flush_data_wait_s=self.flush_data_wait_s,
            session_ttl_s=self.session_ttl_s,
            write_retry_s=self.write_retry_s,
        )

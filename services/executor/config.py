"""Executor settings: every default in one place, read from ZKSEQ_EXECUTOR_* at start-up.

Variables (each with the prefix ZKSEQ_EXECUTOR_), their defaults, and what they mean:

    GRPC_ADDRESS         0.0.0.0:50071    gRPC listen address (port 0: any free port; 50071 is the prover's)
    METRICS_ADDRESS      0.0.0.0:9092     Prometheus /metrics listen address
    METRICS_ENABLED      true             serve /metrics at all
    HASHDB_URL           127.0.0.1:50061  the HashDB service (host:port), or `local` for an in-memory
                                          tree in this process (tests, experiments; nothing is stored)
    HASHDB_TIMEOUT_S     30               deadline of every HashDB call
    WORKERS              2                threads running batches (the EVM is CPU-bound Python: more
                                          executor processes, not threads, add throughput)
    READ_CACHE_ENTRIES   200000           leaf values kept from the last batch for the next one
    NODE_CACHE_ENTRIES   400000           tree nodes kept between batches (about 0.7 KB each)
    ROOT_WAIT_S          5                how long to wait for a root another executor is still flushing
    DRAIN_TIMEOUT_S      30               on SIGTERM, time given to handing kept batches to the HashDB
    SHUTDOWN_GRACE_S     10               on SIGTERM, time given to calls in flight
    MAX_MESSAGE_BYTES    67108864         largest gRPC message
    MAX_CONNECTION_AGE_S 300              a client connection is closed (gracefully) at this age, so
                                          round_robin clients over a headless Service re-resolve it
                                          and spread to replicas that joined; 0 = never
    LOG_LEVEL            info             debug, info, warning, error
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.common.config import EnvReader

PREFIX = "ZKSEQ_EXECUTOR_"
LOCAL_HASHDB = "local"


@dataclass(frozen=True, slots=True)
class ExecutorConfig:
    grpc_host: str = "0.0.0.0"
    grpc_port: int = 50071
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9092
    metrics_enabled: bool = True
    hashdb_url: str = "127.0.0.1:50061"
    hashdb_timeout_s: float = 30.0
    workers: int = 2
    read_cache_entries: int = 200_000
    node_cache_entries: int = 400_000
    root_wait_s: float = 5.0
    drain_timeout_s: float = 30.0
    shutdown_grace_s: float = 10.0
    max_connection_age_s: float = 300.0
    max_message_bytes: int = 64 * 1024**2
    log_level: str = "info"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ExecutorConfig:
        """Read and validate every ZKSEQ_EXECUTOR_* variable; `ConfigError` lists all problems."""
        d = cls()
        env = EnvReader(PREFIX, environ)
        grpc_host, grpc_port = env.address("GRPC_ADDRESS", f"{d.grpc_host}:{d.grpc_port}")
        metrics_host, metrics_port = env.address("METRICS_ADDRESS", f"{d.metrics_host}:{d.metrics_port}")
        hashdb_url = env.string("HASHDB_URL", d.hashdb_url)
        if hashdb_url != LOCAL_HASHDB:
            host, sep, port = hashdb_url.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
                env.problem("HASHDB_URL", f"{hashdb_url!r} is neither host:port nor {LOCAL_HASHDB!r}")
        config = cls(
            grpc_host=grpc_host,
            grpc_port=grpc_port,
            metrics_host=metrics_host,
            metrics_port=metrics_port,
            metrics_enabled=env.boolean("METRICS_ENABLED", d.metrics_enabled),
            hashdb_url=hashdb_url,
            hashdb_timeout_s=env.number("HASHDB_TIMEOUT_S", d.hashdb_timeout_s, minimum=0.1),
            workers=env.integer("WORKERS", d.workers, minimum=1, maximum=64),
            read_cache_entries=env.integer("READ_CACHE_ENTRIES", d.read_cache_entries, minimum=0),
            node_cache_entries=env.integer("NODE_CACHE_ENTRIES", d.node_cache_entries, minimum=1000),
            root_wait_s=env.number("ROOT_WAIT_S", d.root_wait_s, minimum=0),
            drain_timeout_s=env.number("DRAIN_TIMEOUT_S", d.drain_timeout_s, minimum=0),
            shutdown_grace_s=env.number("SHUTDOWN_GRACE_S", d.shutdown_grace_s, minimum=0),
            max_message_bytes=env.integer(
                "MAX_MESSAGE_BYTES", d.max_message_bytes, minimum=4 * 1024**2, maximum=2**31 - 1
            ),
            max_connection_age_s=env.number("MAX_CONNECTION_AGE_S", d.max_connection_age_s, minimum=0),
            log_level=env.choice("LOG_LEVEL", d.log_level, ("debug", "info", "warning", "error")),
        )
        env.finish()
        return config

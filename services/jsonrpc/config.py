"""JSON-RPC settings: every default in one place, read from ZKSEQ_JSONRPC_* at start-up.

Variables (each with the prefix ZKSEQ_JSONRPC_), their defaults, and what they mean:

    HTTP_ADDRESS              0.0.0.0:8123              JSON-RPC listen address (8123 is zkevm-node's;
                                                        port 0: any free port)
    METRICS_ADDRESS           0.0.0.0:9094              Prometheus /metrics listen address
    METRICS_ENABLED           true                      serve /metrics at all
    CHAIN_ID                  1001                      the L2 chain id (eth_chainId, net_version,
                                                        the chain id of eth_call's unsigned tx)
    STATEDB_URL               sqlite:///data/statedb.db the StateDB (sqlite:///… or postgresql://…)
    POOL_URL                  127.0.0.1:50081           the pool service
    EXECUTOR_URL              127.0.0.1:50071           the executor service (eth_call, estimateGas):
                                                        host:port, or dns:///name:port for every
                                                        replica behind a headless Service (gRPC's
                                                        round_robin spreads the calls over them)
    HASHDB_URL                127.0.0.1:50061           the HashDB service (balances, nonces, code,
                                                        storage)
    POOL_TIMEOUT_S            10                        deadline of every pool call
    HASHDB_TIMEOUT_S          5                         deadline of every HashDB call
    EXECUTOR_TIMEOUT_S        30                        deadline of every executor call
    GAS_PRICE_WEI             1000000000                what eth_gasPrice answers (keep it at or
                                                        above the pool's MIN_GAS_PRICE_WEI)
    CALL_GAS_CAP              30000000                  gas of eth_call / eth_estimateGas without a
                                                        `gas`, and the most they may use
    MAX_BODY_BYTES            5242880                   largest request body (go-ethereum: 5 MB);
                                                        larger is HTTP 413 with a -32600 error
    MAX_BATCH_LENGTH          1000                      most calls in one batch (go-ethereum)
    MAX_BATCH_RESPONSE_BYTES  26214400                  most bytes of a batch's answers (go-ethereum)
    MAX_LOGS                  10000                     most logs one eth_getLogs returns (zkevm-node)
    MAX_LOGS_BLOCK_RANGE      10000                     widest eth_getLogs block range (zkevm-node)
    HASHDB_CACHE_ENTRIES      65536                     state leaves kept by (root, key)
    CORS_ORIGIN               *                         Access-Control-Allow-Origin for browsers;
                                                        empty: no CORS headers
    SHUTDOWN_GRACE_S          10                        on SIGTERM, time given to requests in flight
    LOG_LEVEL                 info                      debug, info, warning, error
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.common.config import EnvReader

PREFIX = "ZKSEQ_JSONRPC_"


@dataclass(frozen=True, slots=True)
class JsonRpcConfig:
    http_host: str = "0.0.0.0"
    http_port: int = 8123
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9094
    metrics_enabled: bool = True
    chain_id: int = 1001
    statedb_url: str = "sqlite:///data/statedb.db"
    pool_url: str = "127.0.0.1:50081"
    executor_url: str = "127.0.0.1:50071"
    hashdb_url: str = "127.0.0.1:50061"
    pool_timeout_s: float = 10.0
    hashdb_timeout_s: float = 5.0
    executor_timeout_s: float = 30.0
    gas_price_wei: int = 1_000_000_000
    call_gas_cap: int = 30_000_000
    max_body_bytes: int = 5 * 1024 * 1024
    max_batch_length: int = 1000
    max_batch_response_bytes: int = 25 * 1024 * 1024
    max_logs: int = 10_000
    max_logs_block_range: int = 10_000
    hashdb_cache_entries: int = 65_536
    cors_origin: str = "*"
    shutdown_grace_s: float = 10.0
    log_level: str = "info"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> JsonRpcConfig:
        """Read and validate every ZKSEQ_JSONRPC_* variable; `ConfigError` lists all problems."""
        d = cls()
        env = EnvReader(PREFIX, environ)
        http_host, http_port = env.address("HTTP_ADDRESS", f"{d.http_host}:{d.http_port}")
        metrics_host, metrics_port = env.address("METRICS_ADDRESS", f"{d.metrics_host}:{d.metrics_port}")
        urls = {}
        for name, default in (
            ("POOL_URL", d.pool_url),
            ("EXECUTOR_URL", d.executor_url),
            ("HASHDB_URL", d.hashdb_url),
        ):
            raw = env.string(name, default)
            if name == "EXECUTOR_URL" and raw.startswith(DNS_SCHEME):
                urls[name] = _dns_target(env, name, raw)
                continue
            host, port = env.address(name, default)
            if port == 0:
                env.problem(name, "the port of a backend cannot be 0")
            urls[name] = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        statedb_url = env.string("STATEDB_URL", d.statedb_url)
        if not statedb_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            env.problem("STATEDB_URL", f"{statedb_url!r} is neither sqlite:///… nor postgresql://…")
        config = cls(
            http_host=http_host,
            http_port=http_port,
            metrics_host=metrics_host,
            metrics_port=metrics_port,
            metrics_enabled=env.boolean("METRICS_ENABLED", d.metrics_enabled),
            chain_id=env.integer("CHAIN_ID", d.chain_id, minimum=1, maximum=2**64 - 1),
            statedb_url=statedb_url,
            pool_url=urls["POOL_URL"],
            executor_url=urls["EXECUTOR_URL"],
            hashdb_url=urls["HASHDB_URL"],
            pool_timeout_s=env.number("POOL_TIMEOUT_S", d.pool_timeout_s, minimum=0.01),
            hashdb_timeout_s=env.number("HASHDB_TIMEOUT_S", d.hashdb_timeout_s, minimum=0.01),
            executor_timeout_s=env.number("EXECUTOR_TIMEOUT_S", d.executor_timeout_s, minimum=0.01),
            gas_price_wei=env.integer("GAS_PRICE_WEI", d.gas_price_wei, minimum=0, maximum=2**256 - 1),
            call_gas_cap=env.integer("CALL_GAS_CAP", d.call_gas_cap, minimum=21_000, maximum=30_000_000),
            max_body_bytes=env.integer("MAX_BODY_BYTES", d.max_body_bytes, minimum=1024),
            max_batch_length=env.integer("MAX_BATCH_LENGTH", d.max_batch_length, minimum=1),
            max_batch_response_bytes=env.integer(
                "MAX_BATCH_RESPONSE_BYTES", d.max_batch_response_bytes, minimum=1024
            ),
            max_logs=env.integer("MAX_LOGS", d.max_logs, minimum=1),
            max_logs_block_range=env.integer("MAX_LOGS_BLOCK_RANGE", d.max_logs_block_range, minimum=1),
            hashdb_cache_entries=env.integer("HASHDB_CACHE_ENTRIES", d.hashdb_cache_entries, minimum=0),
            cors_origin=env.string("CORS_ORIGIN", d.cors_origin),
            shutdown_grace_s=env.number("SHUTDOWN_GRACE_S", d.shutdown_grace_s, minimum=0),
            log_level=env.choice("LOG_LEVEL", d.log_level, ("debug", "info", "warning", "error")),
        )
        env.finish()
        return config


#: gRPC's DNS resolver: every address of the name (a headless Service), balanced round_robin
DNS_SCHEME = "dns:///"


def _dns_target(env: EnvReader, name: str, raw: str) -> str:
    host, sep, port_text = raw[len(DNS_SCHEME) :].rpartition(":")
    if not sep or not host or "/" in host or not port_text.isdigit() or not 0 < int(port_text) <= 65535:
        env.problem(name, f"{raw!r} is not dns:///name:port with a port in 1..65535")
    return raw

"""EthTxManager settings: every default in one place, read from ZKSEQ_ETHTXMANAGER_* at start-up.

Variables (each with the prefix ZKSEQ_ETHTXMANAGER_), their defaults, and what they mean:

    GRPC_ADDRESS               0.0.0.0:50101             gRPC listen address (port 0: any free port)
    METRICS_ADDRESS            0.0.0.0:9097              Prometheus /metrics listen address
    METRICS_ENABLED            true                      serve /metrics at all
    L1_RPC_URL                 http://127.0.0.1:8545     the L1 node's JSON-RPC endpoint (http/https)
    L1_TIMEOUT_S               10                        deadline of one L1 JSON-RPC call
    CHAIN_ID                   (required)                the L1 chain id; checked against the node
                                                         at start-up and signed into every transaction
    PRIVATE_KEY                (one of the two required) the sequencer's L1 key, 32 bytes hex
    PRIVATE_KEY_FILE                                     a file holding it (a mounted k8s Secret);
                                                         never both. The key is never logged.
    STATEDB_URL                sqlite:///data/statedb.db sqlite:///… or postgresql://…?schema=…
    CONFIRMATIONS              1                         blocks (its own included) a mined transaction
                                                         needs before it is `confirmed`; a reorg deeper
                                                         than this is not undone (1 suits anvil; use
                                                         ~64 or the finalized depth on a real L1)
    POLL_INTERVAL_S            1                         how often every transaction in flight is
                                                         looked at (zkevm-node FrequencyToMonitorTxs)
    STUCK_AFTER_S              60                        a sent transaction not mined this long after
                                                         its fees were last set is re-sent with higher
                                                         fees; also how long a nonce used by somebody
                                                         else is waited on before `failed`
    FEE_BUMP_PERCENT           20                        each re-send raises the fees by at least this
                                                         much (>= 10: geth refuses smaller replacements)
    MAX_GAS_PRICE_WEI          1000000000000             cap on the gas price / max fee per gas
                                                         (1000 gwei); 0 = no cap (zkevm-node
                                                         MaxGasPriceLimit)
    GAS_LIMIT_MARGIN_PERCENT   20                        added to eth_estimateGas's answer when Add
                                                         names no gas limit
    FEE_MODE                   auto                      auto (EIP-1559 when L1 blocks have a base fee,
                                                         else legacy), eip1559, legacy
    SHUTDOWN_GRACE_S           10                        on SIGTERM, time given to calls in flight
    LOG_LEVEL                  info                      debug, info, warning, error

Run exactly one EthTxManager per key: it is the only owner of the key's nonce (k8s: one replica,
strategy Recreate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from eth_account import Account

from services.common.config import EnvReader

PREFIX: Final = "ZKSEQ_ETHTXMANAGER_"
#: geth's minimum fee increase for a replacement transaction (txpool.pricebump)
MIN_FEE_BUMP_PERCENT: Final = 10
FEE_MODES: Final = ("auto", "eip1559", "legacy")


@dataclass(frozen=True, slots=True)
class EthTxManagerConfig:
    grpc_host: str = "0.0.0.0"
    grpc_port: int = 50101
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9097
    metrics_enabled: bool = True
    l1_rpc_url: str = "http://127.0.0.1:8545"
    l1_timeout_s: float = 10.0
    #: 0 until configured; `from_env` requires it
    chain_id: int = 0
    #: 0x-prefixed hex; never printed (repr=False)
    private_key: str = field(default="", repr=False)
    statedb_url: str = "sqlite:///data/statedb.db"
    confirmations: int = 1
    poll_interval_s: float = 1.0
    stuck_after_s: float = 60.0
    fee_bump_percent: int = 20
    max_gas_price_wei: int = 1000 * 10**9
    gas_limit_margin_percent: int = 20
    fee_mode: str = "auto"
    shutdown_grace_s: float = 10.0
    max_message_bytes: int = 64 * 1024**2
    log_level: str = "info"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> EthTxManagerConfig:
        """Read and validate every ZKSEQ_ETHTXMANAGER_* variable; `ConfigError` lists all problems
        (a problem with the key never quotes the key)."""
        d = cls()
        env = EnvReader(PREFIX, environ)
        grpc_host, grpc_port = env.address("GRPC_ADDRESS", f"{d.grpc_host}:{d.grpc_port}")
        metrics_host, metrics_port = env.address("METRICS_ADDRESS", f"{d.metrics_host}:{d.metrics_port}")
        chain_id = env.integer("CHAIN_ID", 0, minimum=0, maximum=2**64 - 1)
        if chain_id == 0:
            env.problem("CHAIN_ID", "required: the L1 chain id (e.g. 1 for Ethereum, 31337 for anvil)")
        config = cls(
            grpc_host=grpc_host,
            grpc_port=grpc_port,
            metrics_host=metrics_host,
            metrics_port=metrics_port,
            metrics_enabled=env.boolean("METRICS_ENABLED", d.metrics_enabled),
            l1_rpc_url=env.string("L1_RPC_URL", d.l1_rpc_url),
            l1_timeout_s=env.number("L1_TIMEOUT_S", d.l1_timeout_s, minimum=0.01),
            chain_id=chain_id,
            private_key=_read_key(env),
            statedb_url=env.string("STATEDB_URL", d.statedb_url),
            confirmations=env.integer("CONFIRMATIONS", d.confirmations, minimum=1, maximum=10_000),
            poll_interval_s=env.number("POLL_INTERVAL_S", d.poll_interval_s, minimum=0.01),
            stuck_after_s=env.number("STUCK_AFTER_S", d.stuck_after_s, minimum=0.01),
            fee_bump_percent=env.integer(
                "FEE_BUMP_PERCENT", d.fee_bump_percent, minimum=MIN_FEE_BUMP_PERCENT, maximum=1000
            ),
            max_gas_price_wei=env.integer("MAX_GAS_PRICE_WEI", d.max_gas_price_wei, minimum=0),
            gas_limit_margin_percent=env.integer(
                "GAS_LIMIT_MARGIN_PERCENT", d.gas_limit_margin_percent, minimum=0, maximum=1000
            ),
            fee_mode=env.choice("FEE_MODE", d.fee_mode, FEE_MODES),
            shutdown_grace_s=env.number("SHUTDOWN_GRACE_S", d.shutdown_grace_s, minimum=0),
            max_message_bytes=env.integer(
                "MAX_MESSAGE_BYTES", d.max_message_bytes, minimum=4 * 1024**2, maximum=2**31 - 1
            ),
            log_level=env.choice("LOG_LEVEL", d.log_level, ("debug", "info", "warning", "error")),
        )
        if not config.l1_rpc_url.startswith(("http://", "https://")):
            env.problem("L1_RPC_URL", f"{config.l1_rpc_url!r} is not an http:// or https:// URL")
        if not config.statedb_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            env.problem("STATEDB_URL", f"{config.statedb_url!r} is neither sqlite:///… nor postgresql://…")
        env.finish()
        return config

    @property
    def max_gas_price(self) -> int | None:
        """The fee cap in wei, None when there is none."""
        return self.max_gas_price_wei or None


def _read_key(env: EnvReader) -> str:
    """The key from PRIVATE_KEY or the file PRIVATE_KEY_FILE names; problems never quote it."""
    inline = env.string("PRIVATE_KEY", "")
    path = env.string("PRIVATE_KEY_FILE", "")
    if inline and path:
        env.problem("PRIVATE_KEY", "set either PRIVATE_KEY or PRIVATE_KEY_FILE, not both")
        return ""
    if not inline and not path:
        env.problem("PRIVATE_KEY", "required: the L1 key, in PRIVATE_KEY or in the file PRIVATE_KEY_FILE")
        return ""
    name = "PRIVATE_KEY"
    if path:
        name = "PRIVATE_KEY_FILE"
        try:
            inline = Path(path).read_text().strip()
        except OSError as exc:
            env.problem(name, f"cannot read {path}: {exc.strerror or exc}")
            return ""
    text = inline.removeprefix("0x").removeprefix("0X")
    if len(text) != 64:
        env.problem(name, f"the key must be 32 bytes hex (64 hex digits), got {len(text)} characters")
        return ""
    try:
        Account.from_key(bytes.fromhex(text))
    except ValueError:
        env.problem(name, "the key is not a valid secp256k1 private key in hex")
        return ""
    return "0x" + text.lower()

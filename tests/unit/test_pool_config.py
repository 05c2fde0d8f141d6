"""ZKSEQ_POOL_* settings: defaults in one place, every problem reported at once."""

import dataclasses

import pytest

from services.common.config import ConfigError
from services.pool.config import PoolConfig
from services.pool.pool import PoolSettings
from services.pool.validation import PoolLimits
from zkevm.field import hex_to_h4

ROOT = "0x" + "00" * 31 + "07"


def test_defaults_are_the_reference_ones() -> None:
    config = PoolConfig.from_env({"ZKSEQ_POOL_STATE_ROOT": ROOT})
    assert config == dataclasses.replace(PoolConfig(), state_root=hex_to_h4(ROOT))
    assert config.limits() == PoolLimits()
    limits = config.limits()
    assert (limits.nonce_window, limits.max_txs, limits.max_tx_bytes, limits.max_tx_data_bytes) == (
        64,
        1024,
        100_132,
        100_000,
    )
    assert limits.min_gas_price_wei == 10**9 and limits.max_tx_gas == 30_000_000
    assert limits.max_txs_with_gap == 512  # half of MAX_TXS
    assert config.pool_settings() == PoolSettings()


def test_settings_are_read() -> None:
    config = PoolConfig.from_env(
        {
            "ZKSEQ_POOL_STATE_ROOT": ROOT,
            "ZKSEQ_POOL_GRPC_ADDRESS": "127.0.0.1:0",
            "ZKSEQ_POOL_REDIS_URL": "redis://redis:6380/2",
            "ZKSEQ_POOL_CHAIN_ID": "1442",
            "ZKSEQ_POOL_MIN_GAS_PRICE_WEI": "0",
            "ZKSEQ_POOL_NONCE_WINDOW": "16",
            "ZKSEQ_POOL_MAX_TXS": "100_000",
            "ZKSEQ_POOL_TX_LIFETIME_S": "60",
            "ZKSEQ_POOL_READY_LIMIT": "50",
        }
    )
    assert (config.grpc_host, config.grpc_port) == ("127.0.0.1", 0)
    assert config.redis_url == "redis://redis:6380/2"
    limits = config.limits()
    assert (limits.chain_id, limits.min_gas_price_wei, limits.nonce_window, limits.max_txs) == (
        1442,
        0,
        16,
        100_000,
    )
    settings = config.pool_settings()
    assert (settings.tx_lifetime_s, settings.default_ready_limit) == (60, 50)


def test_the_gap_limit_follows_max_txs_unless_set() -> None:
    env = {"ZKSEQ_POOL_STATE_ROOT": ROOT, "ZKSEQ_POOL_MAX_TXS": "100"}
    assert PoolConfig.from_env(env).limits().max_txs_with_gap == 50
    assert PoolConfig.from_env({**env, "ZKSEQ_POOL_MAX_TXS_WITH_GAP": "0"}).limits().max_txs_with_gap == 0
    with pytest.raises(ConfigError) as error:
        PoolConfig.from_env({**env, "ZKSEQ_POOL_MAX_TXS_WITH_GAP": "101"})
    assert "ZKSEQ_POOL_MAX_TXS_WITH_GAP" in str(error.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        PoolConfig.from_env(
            {
                "ZKSEQ_POOL_MAX_TX_GAS": "30000001",
                "ZKSEQ_POOL_NONCE_WINDOW": "0",
                "ZKSEQ_POOL_REDIS_URL": "http://localhost:6379",
                "ZKSEQ_POOL_KEY_PREFIX": "",
                "ZKSEQ_POOL_MAX_TXS_PER_ACOUNT": "5",
            }
        )
    text = str(error.value)
    for fragment in (
        "ZKSEQ_POOL_STATE_ROOT: required",
        "ZKSEQ_POOL_MAX_TX_GAS: 30000001 is above the maximum 30000000",
        "ZKSEQ_POOL_NONCE_WINDOW: 0 is below the minimum 1",
        "ZKSEQ_POOL_REDIS_URL: 'http://localhost:6379' is not a redis://",
        "ZKSEQ_POOL_KEY_PREFIX: must not be empty",
        "ZKSEQ_POOL_MAX_TXS_PER_ACOUNT: not a known setting",
    ):
        assert fragment in text, text


def test_a_bad_state_root_is_reported() -> None:
    for text, fragment in (
        ("0x1234", "is not a 32-byte hex root"),
        ("0x" + "ff" * 32, "not a Goldilocks element"),
    ):
        with pytest.raises(ConfigError) as error:
            PoolConfig.from_env({"ZKSEQ_POOL_STATE_ROOT": text})
        assert fragment in str(error.value)

"""ZKSEQ_ETHTXMANAGER_* settings: defaults, the key from the environment or a file (never echoed),
and every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.config import ConfigError
from services.ethtxmanager.config import EthTxManagerConfig

KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # TEST-ONLY anvil key 1
P = "ZKSEQ_ETHTXMANAGER_"


def config(**env: str) -> EthTxManagerConfig:
    return EthTxManagerConfig.from_env({P + k: v for k, v in env.items()})


def problems(**env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        config(**env)
    return str(caught.value)


def test_defaults_with_the_required_settings() -> None:
    c = config(CHAIN_ID="31337", PRIVATE_KEY=KEY)
    assert (c.chain_id, c.confirmations, c.fee_bump_percent, c.fee_mode) == (31337, 1, 20, "auto")
    assert c.private_key == KEY
    assert c.max_gas_price == 1000 * 10**9
    assert config(CHAIN_ID="1", PRIVATE_KEY=KEY, MAX_GAS_PRICE_WEI="0").max_gas_price is None


def test_the_key_never_appears_in_repr_or_errors() -> None:
    c = config(CHAIN_ID="1", PRIVATE_KEY=KEY)
    assert KEY[2:] not in repr(c)
    bad = "0x" + "ff" * 32  # above the curve order
    message = problems(CHAIN_ID="1", PRIVATE_KEY=bad)
    assert "not a valid secp256k1 private key" in message and "ff" * 32 not in message
    assert "got 6 characters" in problems(CHAIN_ID="1", PRIVATE_KEY="0xabcdef")


def test_the_key_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text(KEY[2:] + "\n")
    assert config(CHAIN_ID="1", PRIVATE_KEY_FILE=str(secret)).private_key == KEY
    assert "cannot read" in problems(CHAIN_ID="1", PRIVATE_KEY_FILE=str(tmp_path / "missing"))
    assert "not both" in problems(CHAIN_ID="1", PRIVATE_KEY=KEY, PRIVATE_KEY_FILE=str(secret))


def test_every_problem_at_once() -> None:
    message = problems(
        FEE_BUMP_PERCENT="5",
        CONFIRMATIONS="0",
        L1_RPC_URL="ws://node",
        STATEDB_URL="mysql://x",
        FEE_MODE="cheap",
        CONFIRMATINS="3",
    )
    for expected in (
        "CHAIN_ID: required",
        "PRIVATE_KEY: required",
        "FEE_BUMP_PERCENT: 5 is below the minimum 10",
        "CONFIRMATIONS: 0 is below the minimum 1",
        "L1_RPC_URL",
        "STATEDB_URL",
        "FEE_MODE",
        "CONFIRMATINS: not a known setting",
    ):
        assert expected in message

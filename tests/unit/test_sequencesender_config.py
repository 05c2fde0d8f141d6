"""ZKSEQ_SEQUENCESENDER_* configuration: defaults, required settings, bounds, unknown variables."""

from __future__ import annotations

import pytest

from services.common.config import ConfigError
from services.sequencesender.config import SequenceSenderConfig

ROLLUP = "0x" + "70" * 20
MANAGER = "0x" + "6e" * 20
COINBASE = "0x" + "0c" * 20
REQUIRED = {
    "ZKSEQ_SEQUENCESENDER_ROLLUP_ADDRESS": ROLLUP,
    "ZKSEQ_SEQUENCESENDER_GLOBAL_EXIT_ROOT_MANAGER_ADDRESS": MANAGER,
    "ZKSEQ_SEQUENCESENDER_L2_COINBASE": COINBASE,
}


def test_defaults_with_the_required_settings() -> None:
    config = SequenceSenderConfig.from_env(REQUIRED)
    assert (config.grpc_port, config.metrics_port) == (50111, 9096)
    assert config.max_batches_per_sequence == 1000
    assert config.max_calldata_bytes == 130_048
    sender = config.sender_settings()
    assert sender.l2_coinbase == bytes.fromhex("0c" * 20)
    assert sender.rollup_address == bytes.fromhex("70" * 20)
    assert (sender.limits.max_batches, sender.max_in_flight) == (1000, 2)
    watcher = config.watcher_settings()
    assert (watcher.start_block, watcher.confirmations) == (0, 0)


def test_every_setting_is_read() -> None:
    env = {
        **REQUIRED,
        "ZKSEQ_SEQUENCESENDER_GRPC_ADDRESS": "127.0.0.1:0",
        "ZKSEQ_SEQUENCESENDER_L1_RPC_URL": "http://10.0.0.1:8545",
        "ZKSEQ_SEQUENCESENDER_STATEDB_URL": "postgresql://u@h/db?schema=s",
        "ZKSEQ_SEQUENCESENDER_ETHTXMANAGER_ADDRESS": "txm:50101",
        "ZKSEQ_SEQUENCESENDER_MAX_BATCHES_PER_SEQUENCE": "300",
        "ZKSEQ_SEQUENCESENDER_MAX_CALLDATA_BYTES": "60000",
        "ZKSEQ_SEQUENCESENDER_MAX_IN_FLIGHT": "1",
        "ZKSEQ_SEQUENCESENDER_PARTIAL_SEQUENCE_WAIT_S": "0.5",
        "ZKSEQ_SEQUENCESENDER_START_BLOCK": "17",
        "ZKSEQ_SEQUENCESENDER_CONFIRMATIONS": "2",
    }
    config = SequenceSenderConfig.from_env(env)
    assert (config.grpc_host, config.grpc_port) == ("127.0.0.1", 0)
    assert config.ethtxmanager_address == "txm:50101"
    sender = config.sender_settings()
    assert (sender.limits.max_batches, sender.limits.max_calldata_bytes, sender.max_in_flight) == (
        300,
        60_000,
        1,
    )
    assert sender.partial_sequence_wait_s == 0.5
    assert (config.watcher_settings().start_block, config.watcher_settings().confirmations) == (17, 2)


def test_every_problem_is_reported_at_once() -> None:
    env = {
        "ZKSEQ_SEQUENCESENDER_ROLLUP_ADDRESS": "0x1234",
        "ZKSEQ_SEQUENCESENDER_MAX_BATCHES_PER_SEQUENCE": "1001",
        "ZKSEQ_SEQUENCESENDER_MAX_CALLDATA_BYTES": "200000",
        "ZKSEQ_SEQUENCESENDER_L1_RPC_URL": "ws://x",
        "ZKSEQ_SEQUENCESENDER_MAX_INFLIGHT": "3",
    }
    with pytest.raises(ConfigError) as raised:
        SequenceSenderConfig.from_env(env)
    text = "\n".join(raised.value.problems)
    for name in (
        "ROLLUP_ADDRESS",
        "GLOBAL_EXIT_ROOT_MANAGER_ADDRESS",
        "L2_COINBASE",
        "MAX_BATCHES_PER_SEQUENCE",
        "MAX_CALLDATA_BYTES",
        "L1_RPC_URL",
        "MAX_INFLIGHT: not a known setting",
    ):
        assert name in text

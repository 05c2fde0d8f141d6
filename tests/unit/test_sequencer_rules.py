"""The sequencer's pure rules: closing decisions and the counter estimate, failure classification,
batch timestamps, block hashes, configuration and the genesis file."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from eth_bloom.bloom import BloomFilter
from hypothesis import given, settings
from hypothesis import strategies as st

from protos.executor.v1 import executor_pb2 as epb
from services.common.config import ConfigError
from services.common.statedb.models import Log, Receipt
from services.executor.processor import BatchRequest
from services.executor.service import Executor, LocalBackend
from services.executor.wire import ProcessCall
from services.jsonrpc.headers import Header, ordered_trie_root
from services.jsonrpc.headers import receipt_rlp as jsonrpc_receipt_rlp
from services.sequencer.blocks import EMPTY_TRIE_ROOT, build_block, genesis_block, logs_bloom
from services.sequencer.config import SequencerConfig
from services.sequencer.genesis import GenesisError, parse_genesis, read_genesis_file
from services.sequencer.l1clock import JsonRpcL1Clock, L1Unavailable, WallClockL1, batch_timestamp
from services.sequencer.limits import (
    COUNTER_NAMES,
    NODE_COUNTER_LIMITS,
    BatchLimits,
    BatchUsage,
    CloseReason,
    ZkCounters,
    batch_counters,
    bytes_misfit,
    executed_misfit,
)
from services.sequencer.outcomes import CallOutcome, TxOutcome, call_outcome, tx_outcome
from services.sequencer.ports import ExecLog, ExecTx, PoolTx
from zkevm.field import h4_to_bytes
from zkevm.genesis import GenesisAccount, build_genesis
from zkevm.hashing import keccak256
from zkevm.nodestore import MemoryNodeStore
from zkevm.transaction import L2Transaction, encode_batch_l2_data, sign_transaction

CHAIN_ID = 1001
COINBASE = bytes.fromhex("c0ffee0000000000000000000000000000c0ffee")


def key(i: int) -> bytes:
    return keccak256(b"rules sender %d" % i)


def signed(
    i: int, nonce: int = 0, data: bytes = b"", gas: int = 21_000, to: bytes | None = None
) -> L2Transaction:
    return sign_transaction(
        nonce=nonce,
        gas_price=10**9,
        gas_limit=gas,
        to=to or keccak256(b"to %d" % i)[12:],
        value=1,
        data=data,
        chain_id=CHAIN_ID,
        private_key=key(i),
    )


# -- closing decisions -------------------------------------------------------------------------------


def test_bytes_are_checked_before_executing() -> None:
    limits = BatchLimits(max_bytes=300)
    assert bytes_misfit(BatchUsage(bytes=100), 150, limits) is None
    misfit = bytes_misfit(BatchUsage(txs=1, bytes=200), 150, limits)
    assert misfit is not None and misfit.reason is CloseReason.BYTES and not misfit.alone
    alone = bytes_misfit(BatchUsage(), 301, limits)
    assert alone is not None and alone.alone


def test_gas_and_counters_are_checked_after_executing() -> None:
    limits = BatchLimits(max_gas=100_000, counters=replace(NODE_COUNTER_LIMITS, keccak_hashes=20))
    usage = BatchUsage(txs=2, bytes=200, gas=60_000, counters=ZkCounters(keccak_hashes=12))
    small = ZkCounters(keccak_hashes=5)
    assert executed_misfit(usage, gas=21_000, counters=small, alone_counters=small, limits=limits) is None
    gas = executed_misfit(usage, gas=50_000, counters=small, alone_counters=small, limits=limits)
    assert gas is not None and gas.reason is CloseReason.GAS and not gas.alone
    big = ZkCounters(keccak_hashes=10)
    counters = executed_misfit(usage, gas=21_000, counters=big, alone_counters=big, limits=limits)
    assert (
        counters is not None
        and counters.reason is CloseReason.COUNTERS
        and counters.resource == "keccak_hashes"
    )
    huge = ZkCounters(keccak_hashes=21)
    alone = executed_misfit(BatchUsage(), gas=21_000, counters=huge, alone_counters=huge, limits=limits)
    assert alone is not None and alone.alone
    # counters are the first thing that cannot fit alone, then gas
    gas_alone = executed_misfit(
        BatchUsage(), gas=100_001, counters=small, alone_counters=small, limits=limits
    )
    assert gas_alone is not None and gas_alone.reason is CloseReason.GAS and gas_alone.alone


def test_fill_is_each_resource_over_its_limit() -> None:
    fill = BatchUsage(txs=30, bytes=12_000, gas=3_000_000, counters=ZkCounters(steps=757_053)).fill(
        BatchLimits()
    )
    assert fill["txs"] == 0.1 and fill["bytes"] == 0.1 and fill["gas"] == 0.1
    assert fill["steps"] == pytest.approx(0.1, abs=1e-6)
    assert fill["keccak_hashes"] == 0.0


def test_the_first_transaction_carries_the_batch_overhead_the_others_one_keccak_for_the_data() -> None:
    call = ZkCounters(keccak_hashes=6, steps=9_000)
    baseline = ZkCounters(keccak_hashes=4, steps=500)
    assert batch_counters(BatchUsage(), call, baseline) == call
    assert batch_counters(BatchUsage(txs=1), call, baseline) == ZkCounters(keccak_hashes=3, steps=8_500)


def _engine() -> tuple[Executor, bytes]:
    store = MemoryNodeStore()
    accounts = [GenesisAccount(signed(i).sender(), balance=10**21) for i in range(8)]
    return Executor(LocalBackend(store)), h4_to_bytes(build_genesis(accounts, store))


def _counters(executor: Executor, root: bytes, data: bytes, keep: bool) -> tuple[ZkCounters, bytes]:
    result, _, _ = executor.process(
        ProcessCall(BatchRequest(root, data, bytes(32), 1, COINBASE, CHAIN_ID), update_merkle_tree=keep)
    )
    return ZkCounters(*result.counters.vector()), result.new_state_root


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=600), min_size=1, max_size=8))
def test_the_estimate_is_never_below_what_the_whole_batch_uses(data_sizes: list[int]) -> None:
    """One transaction per call, counted as limits.py counts them, against the same transactions
    executed as one batch by the executor's own processor."""
    executor, genesis = _engine()
    baseline, _ = _counters(executor, genesis, b"", keep=False)
    txs = [signed(i, data=b"\x01" * size, gas=21_000 + 16 * size) for i, size in enumerate(data_sizes)]
    usage = BatchUsage()
    root = genesis
    for tx in txs:
        call, root = _counters(executor, root, tx.encode(), keep=True)
        usage = usage.plus(tx_bytes=len(tx.encode()), gas=0, counters=batch_counters(usage, call, baseline))
    exact, final = _counters(executor, genesis, encode_batch_l2_data(txs), keep=False)
    assert final == root
    for name in COUNTER_NAMES:
        assert getattr(usage.counters, name) >= getattr(exact, name), name


# -- failure classification --------------------------------------------------------------------------


def test_every_rom_error_has_an_outcome() -> None:
    expected = {
        epb.ROM_ERROR_NO_ERROR: TxOutcome.INCLUDED,
        epb.ROM_ERROR_OUT_OF_GAS: TxOutcome.REVERTED,
        epb.ROM_ERROR_EXECUTION_REVERTED: TxOutcome.REVERTED,
        epb.ROM_ERROR_INVALID_JUMP: TxOutcome.REVERTED,
        epb.ROM_ERROR_OUT_OF_COUNTERS_KECCAK: TxOutcome.OUT_OF_COUNTERS,
        epb.ROM_ERROR_OUT_OF_COUNTERS_STEP: TxOutcome.OUT_OF_COUNTERS,
        epb.ROM_ERROR_INTRINSIC_INVALID_NONCE: TxOutcome.NONCE,
        epb.ROM_ERROR_INTRINSIC_INVALID_BALANCE: TxOutcome.BALANCE,
        epb.ROM_ERROR_INTRINSIC_INVALID_SIGNATURE: TxOutcome.FAILED,
        epb.ROM_ERROR_INTRINSIC_INVALID_CHAIN_ID: TxOutcome.FAILED,
        epb.ROM_ERROR_INTRINSIC_INVALID_GAS_LIMIT: TxOutcome.FAILED,
        epb.ROM_ERROR_INVALID_RLP: TxOutcome.FAILED,
        epb.ROM_ERROR_BATCH_DATA_TOO_BIG: TxOutcome.INVALID,
        epb.ROM_ERROR_UNSPECIFIED: TxOutcome.INVALID,
    }
    for error, outcome in expected.items():
        assert tx_outcome(error) is outcome, epb.RomError.Name(error)
    for value in epb.RomError.values():
        outcome = tx_outcome(value)
        # included means the state root moved (zkevm-node's IsStateRootChanged)
        assert outcome.included == (value == 1 or 2 <= value <= 7 or 15 <= value <= 18)


def test_executor_errors_retry_halt_or_invalidate() -> None:
    assert call_outcome(epb.EXECUTOR_ERROR_NO_ERROR) is None
    assert call_outcome(epb.EXECUTOR_ERROR_DB_ERROR) is CallOutcome.RETRY
    for error in (epb.EXECUTOR_ERROR_INVALID_CHAIN_ID, epb.EXECUTOR_ERROR_UNSUPPORTED_FORK_ID):
        assert call_outcome(error) is CallOutcome.HALT
    for error in (
        epb.EXECUTOR_ERROR_INVALID_BATCH_L2_DATA,
        epb.EXECUTOR_ERROR_SM_MAIN_COUNTERS_OVERFLOW_KECCAK,
    ):
        assert call_outcome(error) is CallOutcome.INVALID_TX


# -- timestamps --------------------------------------------------------------------------------------


def test_a_batch_timestamp_follows_l1_and_never_goes_back() -> None:
    assert batch_timestamp(previous_timestamp=100, l1_timestamp=160) == 160
    assert batch_timestamp(previous_timestamp=200, l1_timestamp=160) == 200  # L1 node behind: stay put
    assert batch_timestamp(previous_timestamp=100, l1_timestamp=160, min_timestamp=170) == 170  # forced batch


async def test_the_l1_clocks() -> None:
    assert await WallClockL1(lambda: 1234.9).latest_block_timestamp() == 1234
    clock = JsonRpcL1Clock("http://127.0.0.1:9", timeout_s=0.5)
    with pytest.raises(L1Unavailable, match=r"127\.0\.0\.1:9"):
        await clock.latest_block_timestamp()
    await clock.close()


# -- blocks ------------------------------------------------------------------------------------------


def test_the_block_hash_is_the_geth_header_hash_jsonrpc_shows() -> None:
    tx = signed(1)
    logs = (ExecLog(address=b"\x11" * 20, topics=(b"\x22" * 32, b"\x33" * 32), data=b"payload"),)
    executed = ExecTx(
        tx_hash=tx.tx_hash(),
        rlp_tx=tx.to_raw(),
        rom_error=epb.ROM_ERROR_NO_ERROR,
        gas_used=21_000,
        state_root=b"\x44" * 32,
        logs=logs,
        create_address=None,
        effective_gas_price=10**9,
        effective_percentage=255,
    )
    pool_tx = PoolTx(tx.tx_hash(), tx.encode(), tx.sender(), 0, 10**9, tx)
    block, l2tx, receipt, block_logs = build_block(
        tx=pool_tx,
        executed=executed,
        number=7,
        parent_hash=b"\x55" * 32,
        batch_number=3,
        index_in_batch=2,
        timestamp=1_700_000_000,
        coinbase=COINBASE,
    )
    header = Header(
        parent_hash=block.parent_hash,
        coinbase=block.coinbase,
        state_root=block.state_root,
        transactions_root=ordered_trie_root([tx.to_raw()]),
        receipts_root=ordered_trie_root([jsonrpc_receipt_rlp(receipt, block_logs)]),
        logs_bloom=receipt.logs_bloom,
        number=block.number,
        gas_limit=block.gas_limit,
        gas_used=block.gas_used,
        timestamp=block.timestamp,
    )
    assert block.hash == header.hash()
    assert l2tx.encoded == tx.encode() and l2tx.index_in_batch == 2 and l2tx.l2_block_number == 7
    assert receipt.status == 1 and receipt.cumulative_gas_used == 21_000
    assert [log.log_index for log in block_logs] == [0] and block_logs[0].topics == logs[0].topics
    assert isinstance(block_logs[0], Log) and isinstance(receipt, Receipt)


def test_the_logs_bloom_is_ethereums() -> None:
    logs = [ExecLog(b"\x01" * 20, (b"\x02" * 32,), b""), ExecLog(b"\x03" * 20, (), b"")]
    bloom = BloomFilter()
    for item in (b"\x01" * 20, b"\x02" * 32, b"\x03" * 20):
        bloom.add(item)
    assert logs_bloom(logs) == int(bloom).to_bytes(256, "big")
    assert logs_bloom([]) == bytes(256)


def test_the_genesis_block_has_empty_tries() -> None:
    block = genesis_block(state_root=b"\x01" * 32, timestamp=5, coinbase=COINBASE)
    header = Header(
        parent_hash=bytes(32),
        coinbase=COINBASE,
        state_root=b"\x01" * 32,
        transactions_root=EMPTY_TRIE_ROOT,
        receipts_root=EMPTY_TRIE_ROOT,
        logs_bloom=bytes(256),
        number=0,
        gas_limit=30_000_000,
        gas_used=0,
        timestamp=5,
    )
    assert block.hash == header.hash() and block.tx_hash is None


# -- configuration -----------------------------------------------------------------------------------


def test_config_defaults_and_limits_from_the_environment() -> None:
    config = SequencerConfig.from_env(
        {"ZKSEQ_SEQUENCER_COINBASE": "0x" + COINBASE.hex(), "ZKSEQ_SEQUENCER_MAX_KECCAK_HASHES": "100"}
    )
    assert config.coinbase == COINBASE and config.chain_id == 1001
    assert (
        config.limits.max_txs == 300
        and config.limits.max_bytes == 120_000
        and config.limits.max_gas == 30_000_000
    )
    assert config.limits.counters == replace(NODE_COUNTER_LIMITS, keccak_hashes=100)
    assert config.batch_time_limit_s == 10.0 and config.global_exit_root == bytes(32)
    assert config.settings().coinbase == COINBASE


def test_config_reports_every_problem() -> None:
    with pytest.raises(ConfigError) as exc:
        SequencerConfig.from_env(
            {
                "ZKSEQ_SEQUENCER_MAX_BATCH_BYTES": "200000",
                "ZKSEQ_SEQUENCER_GLOBAL_EXIT_ROOT": "0x12",
                "ZKSEQ_SEQUENCER_L1_RPC_URL": "ws://l1",
                "ZKSEQ_SEQUENCER_BATCH_TIMELIMIT_S": "3",
            }
        )
    text = str(exc.value)
    for name in (
        "COINBASE: required",
        "MAX_BATCH_BYTES",
        "GLOBAL_EXIT_ROOT",
        "L1_RPC_URL",
        "BATCH_TIMELIMIT_S",
    ):
        assert name in text, name


# -- genesis -----------------------------------------------------------------------------------------


def test_genesis_files_in_both_shapes(tmp_path: Path) -> None:
    entries = [
        {"address": "0x" + "11" * 20, "balance": "100", "nonce": "0x2"},
        {"address": "0x" + "22" * 20, "balance": 0, "bytecode": "0x60006000fd", "storage": {"0x01": "0x05"}},
    ]
    as_object = parse_genesis({"timestamp": "7", "accounts": entries})
    as_list = parse_genesis(entries)
    assert as_object.accounts == as_list.accounts and as_object.timestamp == 7 and as_list.timestamp == 0
    assert as_object.accounts[0] == GenesisAccount(b"\x11" * 20, balance=100, nonce=2)
    assert as_object.accounts[1].storage == {1: 5} and as_object.accounts[1].bytecode == bytes.fromhex(
        "60006000fd"
    )
    assert as_object.state_root() == h4_to_bytes(build_genesis(as_object.accounts, MemoryNodeStore()))
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(entries))
    assert read_genesis_file(path).accounts == as_list.accounts


@pytest.mark.parametrize(
    "data",
    [
        {"accounts": "none"},
        [{"balance": "1"}],
        [{"address": "0x12", "balance": "1"}],
        [{"address": "0x" + "11" * 20, "balance": "x"}],
    ],
)
def test_a_bad_genesis_says_which_account(data: object) -> None:
    with pytest.raises(GenesisError):
        parse_genesis(data)


def test_an_unreadable_genesis_file(tmp_path: Path) -> None:
    (tmp_path / "g.json").write_text("{")
    with pytest.raises(GenesisError, match="cannot read"):
        read_genesis_file(tmp_path / "g.json")
    with pytest.raises(GenesisError, match="cannot read"):
        read_genesis_file(tmp_path / "missing.json")

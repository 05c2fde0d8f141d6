"""The batch processor against the fork-6 vectors, and its batch-level rules (spec §5.4, §6, §6.10).

Vectors are read at run time (tests/conftest.py); nothing expected is pasted here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from services.cli.conformance import _executor_input_store, _genesis_accounts
from services.executor import counters
from services.executor.errors import BatchRejected, ExecutorError, RomError
from services.executor.processor import BatchProcessor, BatchRequest, process_batch
from services.executor.state import LocalStateTree
from tests.conftest import load_vector
from tests.unit.test_executor_evm import ALICE, BOB, C1, COUNTER, Chain, with_code
from zkevm.field import bytes_to_h4, h4_to_bytes, hex_to_bytes, parse_int
from zkevm.genesis import build_genesis
from zkevm.nodestore import MemoryNodeStore

#: the vectors' rejection reasons and the RomError the ROM reports for them
REASONS = {
    "": None,  # processed: NO_ERROR or an EVM failure
    "TX INVALID: Not enough funds to pay total transaction cost": RomError.INTRINSIC_INVALID_BALANCE,
    "TX INVALID: Invalid nonce": RomError.INTRINSIC_INVALID_NONCE,
    "TX INVALID: Chain ID does not match": RomError.INTRINSIC_INVALID_CHAIN_ID,
    "TX INVALID: Failed signature": RomError.INTRINSIC_INVALID_SIGNATURE,
}


def _processor_request(v: dict[str, Any], root: bytes, missing_ep: bool = False) -> BatchRequest:
    return BatchRequest(
        old_state_root=root,
        batch_l2_data=hex_to_bytes(v["batchL2Data"]),
        global_exit_root=hex_to_bytes(v["globalExitRoot"], 32),
        timestamp=parse_int(v["timestamp"]),
        coinbase=hex_to_bytes(v["sequencerAddress"], 20),
        chain_id=v["chainID"],
        old_acc_input_hash=hex_to_bytes(v["oldAccInputHash"], 32),
        allow_missing_last_ep=missing_ep,
    )


def _genesis(v: dict[str, Any]) -> tuple[LocalStateTree, bytes]:
    store = MemoryNodeStore()
    root = build_genesis(_genesis_accounts(v["genesis"]), store)
    return LocalStateTree(store), h4_to_bytes(root)


@pytest.mark.parametrize("index", range(14))
def test_processor_vectors(index: int) -> None:
    v = load_vector("processor/state-transition.json")[index]
    tree, root = _genesis(v)
    result = process_batch(_processor_request(v, root), tree)
    assert "0x" + result.new_acc_input_hash.hex() == v["expectedNewAccInputHash"]
    assert "0x" + result.new_local_exit_root.hex() == v["newLocalExitRoot"]
    if result.txs and result.txs[0].error is RomError.INVALID_RLP and any(not t["reason"] for t in v["txs"]):
        # §6.10 quirks 1–2: the ROM runs nothing of a batch that does not parse; the GER write stays
        assert result.new_state_root == result.batch_state_root
        assert result.new_state_root != root
        tree, root = _genesis(v)
        result = process_batch(_processor_request(v, root, missing_ep=True), tree)
    assert "0x" + result.new_state_root.hex() == v["expectedNewRoot"]
    in_batch = [t for t in v["txs"] if "customRawTx" in t]
    if result.txs and result.txs[0].error is RomError.INVALID_RLP:
        assert all(t["reason"] for t in in_batch)  # vector 4: a truncated record
        return
    assert len(result.txs) == len(in_batch)
    previous_root = result.batch_state_root
    for got, want in zip(result.txs, in_batch, strict=True):
        expected = REASONS[want["reason"]]
        if expected is None:
            assert got.included
            assert got.sender == hex_to_bytes(want["from"], 20)
        else:
            assert got.error is expected
            assert got.state_root == previous_root  # skipped without trace
        previous_root = got.state_root


def test_prover_batches_chain_on_one_store() -> None:
    """The four ROM-generated fork-6 inputs, run one after the other on one node store."""
    store = MemoryNodeStore()
    previous: bytes | None = None
    for i in range(4):
        data = load_vector(f"prover-v3.0.2/batchProof/input_executor_{i}.json")
        loaded = _executor_input_store(data)
        store.nodes.update(loaded.nodes)
        old_root = hex_to_bytes(data["oldStateRoot"], 32)
        if previous is not None:
            assert old_root == previous
        request = BatchRequest(
            old_state_root=old_root,
            batch_l2_data=hex_to_bytes(data["batchL2Data"]),
            global_exit_root=hex_to_bytes(data["globalExitRoot"], 32),
            timestamp=data["timestamp"],
            coinbase=hex_to_bytes(data["sequencerAddr"], 20),
            chain_id=data["chainID"],
            fork_id=data["forkID"],
            old_acc_input_hash=hex_to_bytes(data["oldAccInputHash"], 32),
            old_batch_num=data["oldNumBatch"],
        )
        tree = LocalStateTree(store)
        result = process_batch(request, tree)
        assert "0x" + result.new_state_root.hex() == data["newStateRoot"]
        assert "0x" + result.new_acc_input_hash.hex() == data["newAccInputHash"]
        assert "0x" + result.new_local_exit_root.hex() == data["newLocalExitRoot"]
        assert result.new_batch_num == data["newNumBatch"]
        assert all(tx.succeeded for tx in result.txs)
        store.nodes.update(tree.overlay.nodes)
        previous = result.new_state_root


def test_end_to_end_bridge_writes_the_local_exit_root() -> None:
    v = load_vector("end-to-end/state-transition.json")[0]
    tree, root = _genesis(v)
    result = process_batch(_processor_request(v, root), tree)
    assert "0x" + result.new_state_root.hex() == v["expectedNewRoot"]
    assert result.new_local_exit_root != bytes(32)
    assert "0x" + result.new_local_exit_root.hex() == v["newLocalExitRoot"]
    assert all(tx.succeeded for tx in result.txs)
    assert any(tx.logs for tx in result.txs)  # claimAsset / bridgeAsset emit events


# -- request validation: the fork-6 ExecutorError codes -------------------------------------------


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"fork_id": 7}, ExecutorError.UNSUPPORTED_FORK_ID),
        ({"fork_id": 5}, ExecutorError.UNSUPPORTED_FORK_ID),
        ({"batch_l2_data": bytes(120_001)}, ExecutorError.INVALID_BATCH_L2_DATA),
        ({"old_state_root": bytes(31)}, ExecutorError.INVALID_OLD_STATE_ROOT),
        ({"old_state_root": b"\xff" * 32}, ExecutorError.INVALID_OLD_STATE_ROOT),  # limbs >= p
        ({"old_acc_input_hash": bytes(33)}, ExecutorError.INVALID_OLD_ACC_INPUT_HASH),
        ({"chain_id": 0}, ExecutorError.INVALID_CHAIN_ID),
        ({"global_exit_root": bytes(20)}, ExecutorError.INVALID_GLOBAL_EXIT_ROOT),
        ({"coinbase": bytes(32)}, ExecutorError.INVALID_COINBASE),
        ({"from_address": bytes(3)}, ExecutorError.INVALID_FROM),
        ({"old_state_root": (1).to_bytes(32, "big")}, ExecutorError.DB_ERROR),  # unknown root
    ],
)
def test_rejected_requests(change: dict[str, Any], error: ExecutorError) -> None:
    chain = Chain.funded()
    with pytest.raises(BatchRejected) as info:
        process_batch(replace(chain.request([ALICE.tx(0, BOB.address)]), **change), chain.tree)
    assert info.value.error is error
    assert info.value.message


def test_malformed_batch_runs_nothing_but_keeps_the_ger() -> None:
    chain = Chain.funded()
    good = chain.request([ALICE.tx(0, BOB.address)]).batch_l2_data
    result = chain.run(good + b"\xc1")  # a trailing byte that is not a record
    assert [tx.error for tx in result.txs] == [RomError.INVALID_RLP]
    assert result.new_state_root == result.batch_state_root
    assert chain.nonce(ALICE.address) == 0
    # the accInputHash covers the bytes as they are
    assert result.new_acc_input_hash != bytes(32)


def test_empty_batch_with_a_new_ger_changes_the_root_once() -> None:
    chain = Chain.funded()
    genesis = chain.root
    first = chain.run(b"")
    assert first.txs == ()
    assert bytes_to_h4(first.new_state_root) != genesis
    again = chain.run(b"", timestamp=5)  # same GER: its first timestamp is kept
    assert again.new_state_root == first.new_state_root
    none = chain.run(b"", global_exit_root=bytes(32))
    assert none.new_state_root == first.new_state_root


# -- intrinsic checks (§6.3) in the ROM's order ------------------------------------------------


def test_intrinsic_failures_leave_no_trace() -> None:
    chain = Chain.funded(with_code(ALICE.address, b"\x00"))  # ALICE has code: EIP-3607
    cases = [
        (ALICE.tx(0, BOB.address), RomError.INTRINSIC_INVALID_SENDER_CODE),
        (BOB.tx(0, C1, chain_id=1), RomError.INTRINSIC_INVALID_CHAIN_ID),
        (BOB.tx(1, C1), RomError.INTRINSIC_INVALID_NONCE),
        (BOB.tx(0, C1, gas_limit=30_000_001), RomError.INTRINSIC_INVALID_BATCH_GAS_LIMIT),
        (BOB.tx(0, C1, gas_limit=20_999), RomError.INTRINSIC_INVALID_GAS_LIMIT),
        (BOB.tx(0, None, data=b"\x01", gas_limit=53_015), RomError.INTRINSIC_INVALID_GAS_LIMIT),
        (BOB.tx(0, C1, value=100 * 10**18), RomError.INTRINSIC_INVALID_BALANCE),
        (BOB.tx(0, C1, gas_price=2**250), RomError.INTRINSIC_TX_GAS_OVERFLOW),
    ]
    genesis = chain.root
    result = chain.run([tx for tx, _ in cases])
    assert [tx.error for tx in result.txs] == [error for _, error in cases]
    assert all(not tx.included and tx.write_set == () for tx in result.txs)
    assert chain.nonce(BOB.address) == 0
    # only the GER write happened
    assert result.new_state_root == result.batch_state_root
    assert bytes_to_h4(result.batch_state_root) != genesis


def test_a_pre_eip155_transaction_skips_the_chain_id_check() -> None:
    chain = Chain.funded()
    result = chain.run([ALICE.tx(0, BOB.address, value=1, chain_id=None)])
    assert result.txs[0].succeeded
    assert chain.balance(BOB.address) == 100 * 10**18 + 1


def test_upfront_cost_uses_the_effective_gas_price() -> None:
    """§6.10 quirk 4: balance >= gasLimit·egp + value is enough (the ROM), not gasLimit·gasPrice."""
    poor = Chain.funded()
    balance = poor.balance(ALICE.address)
    gas_price = balance // 21_000  # the full price would cost the whole balance
    tx = ALICE.tx(0, BOB.address, value=1, gas_limit=21_000, gas_price=gas_price, effective_percentage=0x7F)
    result = poor.run([tx])
    assert result.txs[0].succeeded
    assert result.txs[0].effective_gas_price == gas_price * 128 // 256
    assert poor.balance(ALICE.address) == balance - 1 - 21_000 * (gas_price * 128 // 256)


# -- out of counters (§6.10 quirk 3) --------------------------------------------------------------


def test_out_of_counters_ends_the_batch_at_its_start() -> None:
    chain = Chain.funded(with_code(C1, COUNTER))
    transfer = chain.request([ALICE.tx(0, BOB.address)])
    one_tx = process_batch(transfer, LocalStateTree(chain.store))
    # a budget that fits the batch overhead and one transfer, not two
    budget = replace(counters.FORK6_BUDGET, steps=one_tx.counters.steps + 100)
    processor = BatchProcessor(chain.tree, budget=budget)
    request = chain.request([ALICE.tx(0, BOB.address), ALICE.tx(1, BOB.address), ALICE.tx(2, BOB.address)])
    result = processor.process(request)
    assert [tx.error for tx in result.txs] == [RomError.NO_ERROR, RomError.OUT_OF_COUNTERS_STEP]
    assert result.out_of_counters
    assert result.new_state_root == result.batch_state_root
    # the same batch without counters (eth_call) runs all three
    unlimited = processor.process(replace(request, no_counters=True))
    assert [tx.error for tx in unlimited.txs] == [RomError.NO_ERROR] * 3


def test_counters_add_up() -> None:
    chain = Chain.funded(with_code(C1, COUNTER))
    result = chain.run([ALICE.tx(0, BOB.address), ALICE.tx(1, C1)])
    transfer, call = result.txs
    batch_only = counters.Counters.from_vector(
        counters.batch_cost(len(chain.request([]).batch_l2_data), True)
    )
    assert batch_only.keccak_hashes >= 1
    # a call that runs code, stores and logs costs more than a plain transfer on every counter it uses
    assert call.counters.steps > transfer.counters.steps
    assert call.counters.poseidon_hashes > transfer.counters.poseidon_hashes
    assert call.counters.poseidon_paddings > transfer.counters.poseidon_paddings
    assert transfer.counters.keccak_hashes >= 2  # the record and the system-contract slot
    total = result.counters
    assert total.steps > transfer.counters.steps + call.counters.steps
    assert total.first_exceeded(counters.FORK6_BUDGET) is None
    assert counters.NODE_BATCH_CONSTRAINTS.steps < counters.FORK6_BUDGET.steps < counters.FORK6_LIMITS.steps

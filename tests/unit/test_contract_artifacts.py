"""The committed contract artifacts (contracts/artifacts) against the committed sources, and the ABI
surface against fork 6.

A stale artifact fails here with "run `make contracts`": its `sourceHash` no longer matches
contracts/src + compile.js, or (when node and contracts/node_modules are present) a fresh compile
gives other bytecode. The fork-6 selectors and topics below are the reference contract's
(0xPolygonHermez/zkevm-contracts v3.0.0-fork.6), so a changed signature cannot pass by changing
both sides of a comparison.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from services.common.l1 import errors
from services.common.l1.artifacts import (
    CONTRACT_NAMES,
    CONTRACTS_DIR,
    GLOBAL_EXIT_ROOT_MANAGER,
    ROLLUP,
    load_artifact,
    source_hash,
)
from services.common.l1.rollup import (
    FORCE_BATCH_SELECTOR,
    FORCE_BATCH_TOPIC,
    ROLLUP_EVENT_TOPICS,
    SEQUENCE_BATCHES_SELECTOR,
    SEQUENCE_BATCHES_TOPIC,
    SEQUENCE_FORCE_BATCHES_SELECTOR,
    SEQUENCE_FORCE_BATCHES_TOPIC,
    UPDATE_EXIT_ROOT_SELECTOR,
    UPDATE_GLOBAL_EXIT_ROOT_TOPIC,
    UPDATE_ZKEVM_VERSION_TOPIC,
    VERIFY_BATCHES_TRUSTED_AGGREGATOR_SELECTOR,
    VERIFY_BATCHES_TRUSTED_AGGREGATOR_TOPIC,
    BatchData,
    CalldataError,
    ForcedBatchData,
    VerifyBatchesTrustedAggregatorEvent,
    decode_force_batch,
    decode_rollup_log,
    decode_sequence_batches,
    decode_sequence_force_batches,
    encode_force_batch,
    encode_sequence_batches,
    encode_sequence_force_batches,
    encode_verify_batches_trusted_aggregator,
)
from zkevm.batch import Hash32
from zkevm.hashing import keccak256
from zkevm.state_keys import Address

STALE = "contracts/artifacts is stale: run `make contracts` and commit contracts/artifacts"


def abi_signature(item: dict[str, Any]) -> str:
    def canonical(param: dict[str, Any]) -> str:
        kind = str(param["type"])
        if kind.startswith("tuple"):
            return "(" + ",".join(canonical(c) for c in param["components"]) + ")" + kind[len("tuple") :]
        return kind

    return f"{item['name']}({','.join(canonical(p) for p in item['inputs'])})"


def abi_items(name: str, kind: str) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in load_artifact(name).abi if item["type"] == kind}


# ---------------------------------------------------------------------------------------------
# freshness


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_artifact_was_built_from_the_committed_sources(name: str) -> None:
    assert load_artifact(name).source_hash == source_hash(), STALE


def test_artifacts_were_built_by_the_pinned_solc() -> None:
    pinned = json.loads((CONTRACTS_DIR / "package.json").read_text())["devDependencies"]["solc"]
    for name in CONTRACT_NAMES:
        assert load_artifact(name).compiler.startswith(f"solc-js {pinned}+"), STALE


def test_a_fresh_compile_gives_the_committed_bytecode(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not (CONTRACTS_DIR / "node_modules" / "solc").is_dir():
        pytest.skip(
            "node or contracts/node_modules/solc missing (npm ci in contracts/): source hash checked only"
        )
    subprocess.run(
        [node, "compile.js", "--out", str(tmp_path)], cwd=CONTRACTS_DIR, check=True, capture_output=True
    )
    for name in CONTRACT_NAMES:
        fresh = json.loads((tmp_path / f"{name}.json").read_text())
        committed = json.loads((CONTRACTS_DIR / "artifacts" / f"{name}.json").read_text())
        assert fresh == committed, f"{name}: {STALE}"


# ---------------------------------------------------------------------------------------------
# the fork-6 surface


def test_fork6_function_selectors() -> None:
    functions = {
        abi_signature(f): keccak256(abi_signature(f).encode())[:4]
        for f in abi_items(ROLLUP, "function").values()
    }
    expected = {
        "sequenceBatches((bytes,bytes32,uint64,uint64)[],address)": "5e9145c9",
        "forceBatch(bytes,uint256)": "eaeb077b",
        "sequenceForceBatches((bytes,bytes32,uint64)[])": "d8d1091b",
        "verifyBatchesTrustedAggregator(uint64,uint64,uint64,bytes32,bytes32,bytes32[24])": "2b0006fa",
    }
    for signature, selector in expected.items():
        assert functions[signature].hex() == selector
    assert SEQUENCE_BATCHES_SELECTOR.hex() == "5e9145c9"
    assert FORCE_BATCH_SELECTOR.hex() == "eaeb077b"
    assert SEQUENCE_FORCE_BATCHES_SELECTOR.hex() == "d8d1091b"
    assert VERIFY_BATCHES_TRUSTED_AGGREGATOR_SELECTOR.hex() == "2b0006fa"

    manager = {
        abi_signature(f): keccak256(abi_signature(f).encode())[:4].hex()
        for f in abi_items(GLOBAL_EXIT_ROOT_MANAGER, "function").values()
    }
    assert manager["globalExitRootMap(bytes32)"] == "257b3632"
    assert manager["getLastGlobalExitRoot()"] == "3ed691ef"
    assert manager["updateExitRoot(bytes32)"] == "33d6247d" == UPDATE_EXIT_ROOT_SELECTOR.hex()


def test_the_getters_the_node_reads() -> None:
    functions = abi_items(ROLLUP, "function")
    outputs = {name: [o["type"] for o in item["outputs"]] for name, item in functions.items()}
    inputs = {name: [i["type"] for i in item["inputs"]] for name, item in functions.items()}
    for getter in (
        "lastBatchSequenced",
        "lastForceBatch",
        "lastForceBatchSequenced",
        "lastTimestamp",
        "lastVerifiedBatch",
        "forceBatchTimeout",
        "chainID",
        "forkID",
    ):
        assert (inputs[getter], outputs[getter]) == ([], ["uint64"]), getter
    assert (inputs["sequencedBatches"], outputs["sequencedBatches"]) == (
        ["uint64"],
        ["bytes32", "uint64", "uint64"],
    )
    assert [o["name"] for o in functions["sequencedBatches"]["outputs"]] == [
        "accInputHash",
        "sequencedTimestamp",
        "previousLastBatchSequenced",
    ]
    assert (inputs["batchNumToStateRoot"], outputs["batchNumToStateRoot"]) == (["uint64"], ["bytes32"])
    assert (inputs["forcedBatches"], outputs["forcedBatches"]) == (["uint64"], ["bytes32"])
    assert outputs["trustedSequencer"] == outputs["globalExitRootManager"] == ["address"]
    assert outputs["isForcedBatchDisallowed"] == ["bool"]


def test_fork6_event_topics() -> None:
    reference = {
        "SequenceBatches": "303446e6a8cb73c83dff421c0b1d5e5ce0719dab1bff13660fc254e58cc17fce",
        "ForceBatch": "f94bb37db835f1ab585ee00041849a09b12cd081d77fa15ca070757619cbc931",
        "SequenceForceBatches": "648a61dd2438f072f5a1960939abd30f37aea80d2e94c9792ad142d3e0a490a4",
        "VerifyBatchesTrustedAggregator": "cb339b570a7f0b25afa7333371ff11192092a0aeace12b671f4c212f2815c6fe",
        "UpdateZkEVMVersion": "ed7be53c9f1a96a481223b15568a5b1a475e01a74b347d6ca187c8bf0c078cd6",
    }
    events = abi_items(ROLLUP, "event")
    for name, topic in reference.items():
        assert keccak256(abi_signature(events[name]).encode()).hex() == topic, name
    assert [i["indexed"] for i in events["VerifyBatchesTrustedAggregator"]["inputs"]] == [True, False, True]
    assert [i["indexed"] for i in events["ForceBatch"]["inputs"]] == [True, False, False, False]
    ours = (
        SEQUENCE_BATCHES_TOPIC,
        FORCE_BATCH_TOPIC,
        SEQUENCE_FORCE_BATCHES_TOPIC,
        VERIFY_BATCHES_TRUSTED_AGGREGATOR_TOPIC,
        UPDATE_ZKEVM_VERSION_TOPIC,
    )
    assert [t.hex() for t in ours] == list(reference.values())
    assert set(ROLLUP_EVENT_TOPICS) == set(ours)
    manager_events = abi_items(GLOBAL_EXIT_ROOT_MANAGER, "event")
    assert (
        keccak256(abi_signature(manager_events["UpdateGlobalExitRoot"]).encode())
        == UPDATE_GLOBAL_EXIT_ROOT_TOPIC
    )


def test_every_contract_error_has_its_python_exception() -> None:
    in_abi = {
        abi_signature(e) for name in CONTRACT_NAMES for e in load_artifact(name).abi if e["type"] == "error"
    }
    assert in_abi == {cls.signature for cls in errors.CUSTOM_ERRORS.values()}
    for cls in errors.CUSTOM_ERRORS.values():
        revert = errors.decode_revert(keccak256(cls.signature.encode())[:4])
        assert type(revert) is cls
        assert revert.name == cls.__name__


def test_other_reverts_decode_too() -> None:
    error_string = keccak256(b"Error(string)")[:4] + bytes.fromhex(
        "0000000000000000000000000000000000000000000000000000000000000020"
        "0000000000000000000000000000000000000000000000000000000000000004"
        "6e6f706500000000000000000000000000000000000000000000000000000000"
    )
    decoded = errors.decode_revert(error_string)
    assert isinstance(decoded, errors.ErrorStringRevert)
    assert decoded.reason == "nope"
    panic = errors.decode_revert(keccak256(b"Panic(uint256)")[:4] + (0x11).to_bytes(32, "big"))
    assert isinstance(panic, errors.PanicRevert)
    assert panic.code == 0x11
    assert isinstance(errors.decode_revert(b"\xde\xad\xbe\xef"), errors.UnknownRevert)
    assert isinstance(errors.decode_revert(b""), errors.UnknownRevert)


# ---------------------------------------------------------------------------------------------
# calldata, checked against web3.py's own ABI encoder over the artifact


def test_calldata_matches_web3_and_round_trips() -> None:
    contract = Web3().eth.contract(abi=load_artifact(ROLLUP).abi)
    coinbase = Address(b"\xc0" * 20)
    ger = Hash32(b"\x01" * 32)
    batches = [
        BatchData(b"\x01\x02\x03", ger, 1_700_000_000),
        BatchData(b"", Hash32(bytes(32)), 1_700_000_001, 1_699_999_999),
    ]
    ours = encode_sequence_batches(batches, coinbase)
    theirs = contract.encode_abi(
        "sequenceBatches",
        [
            [(b.transactions, b.global_exit_root, b.timestamp, b.min_forced_timestamp) for b in batches],
            Web3.to_checksum_address(coinbase),
        ],
    )
    assert "0x" + ours.hex() == theirs
    assert decode_sequence_batches(ours) == (batches, coinbase)

    forced = [ForcedBatchData(b"\xaa" * 70, ger, 1_699_999_999)]
    ours = encode_sequence_force_batches(forced)
    assert "0x" + ours.hex() == contract.encode_abi(
        "sequenceForceBatches", [[(b"\xaa" * 70, ger, 1_699_999_999)]]
    )
    assert decode_sequence_force_batches(ours) == forced

    ours = encode_force_batch(b"\x05" * 33, 7)
    assert "0x" + ours.hex() == contract.encode_abi("forceBatch", [b"\x05" * 33, 7])
    assert decode_force_batch(ours) == (b"\x05" * 33, 7)

    proof = [bytes([i]) * 32 for i in range(24)]
    ours = encode_verify_batches_trusted_aggregator(
        init_num_batch=3,
        final_new_batch=9,
        new_local_exit_root=b"\x02" * 32,
        new_state_root=b"\x03" * 32,
        proof=proof,
    )
    assert "0x" + ours.hex() == contract.encode_abi(
        "verifyBatchesTrustedAggregator", [0, 3, 9, b"\x02" * 32, b"\x03" * 32, proof]
    )

    with pytest.raises(CalldataError):
        decode_sequence_batches(encode_force_batch(b""))


def test_bad_values_are_refused_before_encoding() -> None:
    with pytest.raises(ValueError, match=r"BatchData\.global_exit_root must be 32 bytes"):
        BatchData(b"", Hash32(b"\x01"), 0)
    with pytest.raises(ValueError, match=r"BatchData\.timestamp"):
        BatchData(b"", Hash32(bytes(32)), 1 << 64)
    with pytest.raises(ValueError, match="proof must be 24 words"):
        encode_verify_batches_trusted_aggregator(
            init_num_batch=0,
            final_new_batch=1,
            new_local_exit_root=bytes(32),
            new_state_root=bytes(32),
            proof=[],
        )


def test_logs_decode_from_raw_json_rpc() -> None:
    """A raw eth_getLogs entry (hex strings), as an L1 watcher without web3.py would see it."""
    aggregator = b"\xab" * 20
    log = {
        "topics": [
            "0x" + VERIFY_BATCHES_TRUSTED_AGGREGATOR_TOPIC.hex(),
            "0x" + (42).to_bytes(32, "big").hex(),
            "0x" + (bytes(12) + aggregator).hex(),
        ],
        "data": "0x" + ("11" * 32),
        "blockNumber": "0x10",
        "blockHash": "0x" + "22" * 32,
        "transactionHash": "0x" + "33" * 32,
        "logIndex": "0x1",
    }
    event = decode_rollup_log(log)
    assert isinstance(event, VerifyBatchesTrustedAggregatorEvent)
    assert (event.num_batch, event.state_root, event.aggregator) == (42, b"\x11" * 32, aggregator)
    assert event.position.block_number == 16
    assert event.position.log_index == 1
    assert decode_rollup_log({**log, "topics": ["0x" + "00" * 32]}) is None

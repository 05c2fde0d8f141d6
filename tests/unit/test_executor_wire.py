"""executor.v1 at the boundary: request decoding and its error codes, response encoding, the servicer
on an in-process tree, its metrics, and ZKSEQ_EXECUTOR_* configuration."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import empty_pb2
from grpc import aio

from protos.executor.v1 import executor_pb2 as pb
from services.common.config import ConfigError
from services.common.grpc_client import UnaryMethod
from services.executor.app import start_executor
from services.executor.config import ExecutorConfig
from services.executor.errors import BatchRejected, ExecutorError
from services.executor.processor import process_batch
from services.executor.wire import FlushInfo, call_from_proto, result_to_proto
from tests.unit.test_executor_evm import ALICE, BOB, C1, CHAIN_ID, COUNTER, GER, SEQUENCER, Chain, with_code
from zkevm.field import h4_to_bytes
from zkevm.transaction import encode_batch_l2_data


def proto_request(**fields: Any) -> pb.ProcessBatchRequest:
    base: dict[str, Any] = {
        "old_state_root": bytes(32),
        "chain_id": CHAIN_ID,
        "fork_id": 6,
        "global_exit_root": GER,
        "coinbase": "0x" + SEQUENCER.hex(),
        "eth_timestamp": 7,
    }
    base.update(fields)
    return pb.ProcessBatchRequest(**base)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"old_state_root": bytes(33)}, ExecutorError.INVALID_OLD_STATE_ROOT),
        ({"old_acc_input_hash": bytes(33)}, ExecutorError.INVALID_OLD_ACC_INPUT_HASH),
        ({"global_exit_root": bytes(33)}, ExecutorError.INVALID_GLOBAL_EXIT_ROOT),
        ({"coinbase": "0x" + "11" * 21}, ExecutorError.INVALID_COINBASE),
        ({"coinbase": "0xzz"}, ExecutorError.INVALID_COINBASE),
        ({"db": {"xyz": "00" * 96}}, ExecutorError.INVALID_DB_KEY),
        ({"db": {"01": "00" * 7}}, ExecutorError.INVALID_DB_VALUE),
        ({"db": {"01": "ff" * 96}}, ExecutorError.INVALID_DB_VALUE),  # words >= p
        ({"contracts_bytecode": {"": "00"}}, ExecutorError.INVALID_CONTRACTS_BYTECODE_KEY),
        ({"contracts_bytecode": {"01": "xx"}}, ExecutorError.INVALID_CONTRACTS_BYTECODE_VALUE),
        ({"get_keys": 1, "fork_id": 4}, ExecutorError.INVALID_GET_KEY),
    ],
)
def test_bad_fields_get_their_executor_error(fields: dict[str, Any], error: ExecutorError) -> None:
    with pytest.raises(BatchRejected) as info:
        call_from_proto(proto_request(**fields))
    assert info.value.error is error


def test_bad_from_is_invalid_from() -> None:
    request = proto_request()
    setattr(request, "from", "0x" + "aa" * 21)  # `from` is a Python keyword
    with pytest.raises(BatchRejected) as info:
        call_from_proto(request)
    assert info.value.error is ExecutorError.INVALID_FROM


def test_decoding() -> None:
    request = proto_request(
        old_state_root=b"\x05",
        global_exit_root=b"",
        coinbase=SEQUENCER.hex(),  # without 0x
        update_merkle_tree=1,
        no_counters=1,
        db={"0x01": "01" * 8 * 8},
        contracts_bytecode={"02": "0x6001"},
        context_id="abc",
    )
    setattr(request, "from", "0x" + BOB.address.hex())
    call = call_from_proto(request)
    assert call.batch.old_state_root == bytes(31) + b"\x05"  # a short byte string is a number
    assert call.batch.global_exit_root == bytes(32)
    assert call.batch.coinbase == SEQUENCER
    assert call.batch.from_address == BOB.address
    assert call.batch.no_counters and call.update_merkle_tree
    assert call.preload_nodes == {(1, 0, 0, 0): (0x0101010101010101,) * 8 + (0, 0, 0, 0)}
    assert call.preload_programs == {(2, 0, 0, 0): b"\x60\x01"}
    assert call.context_id == "abc"
    assert call_from_proto(proto_request()).batch.from_address is None


def test_encoding_of_a_processed_batch() -> None:
    chain = Chain.funded(with_code(C1, COUNTER))
    request = chain.request([ALICE.tx(0, C1), ALICE.tx(7, BOB.address), ALICE.tx(1, None, data=b"\x00")])
    result = process_batch(request, chain.tree)
    response = result_to_proto(result, request.batch_l2_data, FlushInfo(5, 4), "prover-1")
    assert response.error == pb.EXECUTOR_ERROR_NO_ERROR
    assert (response.flush_id, response.stored_flush_id, response.prover_id) == (5, 4, "prover-1")
    assert response.new_state_root == result.new_state_root
    assert response.new_batch_num == 1
    assert response.cnt_steps == result.counters.steps
    call, skipped, deploy = response.responses
    assert [r.error for r in response.responses] == [int(t.error) for t in result.txs]
    assert skipped.error == pb.ROM_ERROR_INTRINSIC_INVALID_NONCE
    assert call.logs[0].address == "0x" + C1.hex()
    assert call.logs[0].tx_index == 0 and call.logs[0].index == 0 and call.logs[0].batch_number == 1
    assert deploy.create_address.startswith("0x") and len(deploy.create_address) == 42
    assert call.create_address == ""
    assert call.effective_gas_price == str(10**9)
    assert response.read_write_addresses["0x" + ALICE.address.hex()].nonce == "2"
    assert response.cumulative_gas_used == result.cumulative_gas_used


async def test_servicer_on_an_in_process_tree_and_its_metrics() -> None:
    running = await start_executor(
        ExecutorConfig(grpc_host="127.0.0.1", grpc_port=0, metrics_enabled=False, hashdb_url="local")
    )
    try:
        chain = Chain.funded()  # the same genesis, written into the executor's own tree
        store = running.executor.backend.store  # type: ignore[attr-defined]
        for node_hash, node in chain.store.nodes.items():
            store.put_node(node_hash, node)
        async with aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            process = UnaryMethod[pb.ProcessBatchRequest, pb.ProcessBatchResponse](
                channel, "/executor.v1.ExecutorService/ProcessBatch", pb.ProcessBatchResponse, 30
            )
            status = UnaryMethod[empty_pb2.Empty, pb.GetFlushStatusResponse](
                channel, "/executor.v1.ExecutorService/GetFlushStatus", pb.GetFlushStatusResponse, 30
            )
            txs = encode_batch_l2_data([ALICE.tx(0, BOB.address, value=1), ALICE.tx(0, BOB.address)])
            ok = await process(
                proto_request(old_state_root=h4_to_bytes(chain.root), batch_l2_data=txs, update_merkle_tree=1)
            )
            assert [r.error for r in ok.responses] == [
                pb.ROM_ERROR_NO_ERROR,
                pb.ROM_ERROR_INTRINSIC_INVALID_NONCE,
            ]
            assert ok.flush_id == 1
            bad = await process(proto_request(fork_id=5))
            assert bad.error == pb.EXECUTOR_ERROR_UNSUPPORTED_FORK_ID
            assert bad.prover_id == ok.prover_id
            flush = await status(empty_pb2.Empty())
            assert flush.stored_flush_id == 1 and flush.prover_id == ok.prover_id
        registry = running.registry
        assert registry.get_sample_value("zkseq_executor_txs_total", {"outcome": "executed"}) == 1
        assert registry.get_sample_value("zkseq_executor_txs_total", {"outcome": "skipped"}) == 1
        assert registry.get_sample_value("zkseq_executor_gas_used_total") == 21_000
        assert (
            registry.get_sample_value("zkseq_executor_rejected_total", {"error": "UNSUPPORTED_FORK_ID"}) == 1
        )
        assert registry.get_sample_value("zkseq_executor_process_batch_duration_seconds_count") == 2
        assert registry.get_sample_value("zkseq_executor_hashdb_calls_per_batch_count") == 1
        usage = registry.get_sample_value(
            "zkseq_executor_batch_counter_usage_ratio_sum", {"counter": "steps"}
        )
        assert usage is not None and 0 < usage < 0.01
        assert (
            registry.get_sample_value("zkseq_executor_rpc_duration_seconds_count", {"method": "ProcessBatch"})
            == 2
        )
    finally:
        await running.stop()


def test_config_from_environment() -> None:
    config = ExecutorConfig.from_env(
        {"ZKSEQ_EXECUTOR_GRPC_ADDRESS": "127.0.0.1:0", "ZKSEQ_EXECUTOR_HASHDB_URL": "hashdb:50061"}
    )
    assert (config.grpc_host, config.grpc_port, config.hashdb_url) == ("127.0.0.1", 0, "hashdb:50061")
    assert ExecutorConfig.from_env({"ZKSEQ_EXECUTOR_HASHDB_URL": "local"}).hashdb_url == "local"
    with pytest.raises(ConfigError) as info:
        ExecutorConfig.from_env(
            {
                "ZKSEQ_EXECUTOR_HASHDB_URL": "nowhere",
                "ZKSEQ_EXECUTOR_WORKERS": "0",
                "ZKSEQ_EXECUTOR_WORKRES": "2",  # a typo is an error too
            }
        )
    problems = "\n".join(info.value.problems)
    assert "HASHDB_URL" in problems and "WORKERS" in problems and "WORKRES" in problems

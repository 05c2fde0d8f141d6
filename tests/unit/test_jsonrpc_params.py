"""Parameter parsing: hex quantities and data, block identifiers, call objects, log filters, and
the ZKSEQ_JSONRPC_* configuration."""

from __future__ import annotations

import pytest

from services.common.config import ConfigError
from services.jsonrpc.codec import (
    ParamError,
    data,
    parse_address,
    parse_bool,
    parse_data,
    parse_quantity,
    parse_storage_slot,
    parse_uint64,
    quantity,
    word,
)
from services.jsonrpc.config import JsonRpcConfig
from services.jsonrpc.params import (
    BlockHashRef,
    BlockTag,
    CallArgs,
    LogQuery,
    parse_block_id,
    parse_block_number,
    parse_call_args,
    parse_log_query,
)

A = "0x" + "ab" * 20
H = "0x" + "cd" * 32


def test_output_encodings() -> None:
    assert quantity(0) == "0x0" and quantity(255) == "0xff"
    assert data(b"") == "0x" and data(b"\x00\x01") == "0x0001"
    assert word(1) == "0x" + "00" * 31 + "01"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0x0", 0), ("0x1b4", 436), ("0X01", 1), ("0x" + "f" * 64, 2**256 - 1), (7, 7), ("0x00000", 0)],
)
def test_quantities(value: object, expected: int) -> None:
    assert parse_quantity(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1b4", "without 0x prefix"),
        ("0x", "no digits"),
        ("0xg1", "invalid hex string"),
        ("0x1" + "0" * 64, "> 256 bits"),
        (-1, "non-negative"),
        (True, "boolean"),
        (1.5, "got a number"),
        (None, "got null"),
        ([], "got an array"),
    ],
)
def test_bad_quantities(value: object, message: str) -> None:
    with pytest.raises(ParamError, match=message):
        parse_quantity(value)


def test_uint64_and_bytes() -> None:
    assert parse_uint64("0x" + "f" * 16) == 2**64 - 1
    with pytest.raises(ParamError, match="> 64 bits"):
        parse_uint64("0x1" + "0" * 16)
    assert parse_data("0x") == b"" and parse_data("0xAbCd") == b"\xab\xcd"
    with pytest.raises(ParamError, match="odd length"):
        parse_data("0xabc")
    assert parse_address(A) == bytes.fromhex("ab" * 20)
    with pytest.raises(ParamError, match="want 40 for 20 bytes"):
        parse_address("0x1234")
    assert parse_bool(False) is False
    with pytest.raises(ParamError):
        parse_bool(0)
    assert parse_storage_slot("0x0") == 0 and parse_storage_slot(H) == int("cd" * 32, 16)
    with pytest.raises(ParamError, match="longer than 32 bytes"):
        parse_storage_slot("0x1" + "0" * 64)


def test_block_numbers_and_ids() -> None:
    assert parse_block_number("latest") is BlockTag.LATEST
    assert parse_block_number("safe") is BlockTag.SAFE
    assert parse_block_number("0x10") == 16
    with pytest.raises(ParamError, match="'finalized'"):
        parse_block_number("newest")
    assert parse_block_id("pending") is BlockTag.PENDING
    assert parse_block_id(H) == BlockHashRef(bytes.fromhex("cd" * 32))
    assert parse_block_id({"blockHash": H, "requireCanonical": True}) == BlockHashRef(
        bytes.fromhex("cd" * 32), True
    )
    assert parse_block_id({"blockNumber": "earliest"}) is BlockTag.EARLIEST
    with pytest.raises(ParamError, match="both"):
        parse_block_id({"blockHash": H, "blockNumber": "0x1"})
    with pytest.raises(ParamError, match="needs blockNumber or blockHash"):
        parse_block_id({})


def test_call_objects() -> None:
    assert parse_call_args({}) == CallArgs()
    args = parse_call_args(
        {
            "from": A,
            "to": None,
            "gas": "0x5208",
            "gasPrice": "0x1",
            "value": "0x2",
            "input": "0x01",
            "data": "0x01",
            "nonce": "0x9",
            "maxFeePerGas": "0x5",
            "type": "0x0",
            "chainId": "0x3e9",
            "extra": 1,
        }
    )
    assert args == CallArgs(bytes.fromhex("ab" * 20), None, 21_000, 1, 2, b"\x01")
    assert parse_call_args({"data": "0x02"}).data == b"\x02"
    with pytest.raises(ParamError, match="not equal"):
        parse_call_args({"data": "0x01", "input": "0x02"})
    with pytest.raises(ParamError, match=r"^gas: "):
        parse_call_args({"gas": "0x1" + "0" * 16})
    with pytest.raises(ParamError, match="transaction call object"):
        parse_call_args([A])


def test_log_filters() -> None:
    assert parse_log_query({}) == LogQuery()
    query = parse_log_query(
        {
            "fromBlock": "0x1",
            "toBlock": "latest",
            "address": A,
            "topics": [H, None, [H, None], [], [H, H]][:4],
        }
    )
    assert query.from_block == 1 and query.to_block is BlockTag.LATEST
    assert query.addresses == (bytes.fromhex("ab" * 20),)
    h = bytes.fromhex("cd" * 32)
    assert query.topics == ((h,), None, None, None)
    assert parse_log_query({"topics": [[H, H]]}).topics == ((h, h),)
    assert parse_log_query({"address": [A, A]}).addresses == (bytes.fromhex("ab" * 20),) * 2
    assert parse_log_query({"blockHash": H}).block_hash == h
    with pytest.raises(ParamError, match="topics: at most 4"):
        parse_log_query({"topics": [None] * 5})
    with pytest.raises(ParamError, match=r"topics\[0\]"):
        parse_log_query({"topics": ["0x12"]})
    with pytest.raises(ParamError, match=r"address\[1\]"):
        parse_log_query({"address": [A, "0x12"]})
    with pytest.raises(ParamError, match="filter object"):
        parse_log_query("latest")


def test_config_defaults_and_overrides() -> None:
    assert JsonRpcConfig.from_env({}) == JsonRpcConfig()
    assert JsonRpcConfig().http_port == 8123
    config = JsonRpcConfig.from_env(
        {
            "ZKSEQ_JSONRPC_HTTP_ADDRESS": "127.0.0.1:0",
            "ZKSEQ_JSONRPC_CHAIN_ID": "1442",
            "ZKSEQ_JSONRPC_POOL_URL": "pool:50081",
            "ZKSEQ_JSONRPC_STATEDB_URL": "postgresql://u@db/zk",
            "ZKSEQ_JSONRPC_MAX_BODY_BYTES": "2048",
            "ZKSEQ_JSONRPC_MAX_BATCH_LENGTH": "10",
            "ZKSEQ_JSONRPC_CORS_ORIGIN": "",
        }
    )
    assert (config.http_host, config.http_port, config.chain_id) == ("127.0.0.1", 0, 1442)
    assert config.pool_url == "pool:50081" and config.statedb_url == "postgresql://u@db/zk"
    assert config.max_body_bytes == 2048 and config.max_batch_length == 10 and config.cors_origin == ""


def test_the_executor_may_be_a_dns_target_for_round_robin() -> None:
    target = "dns:///executor.zkseq.svc.cluster.local:50071"
    assert JsonRpcConfig.from_env({"ZKSEQ_JSONRPC_EXECUTOR_URL": target}).executor_url == target
    for bad in ("dns:///executor", "dns:///executor:0", "dns:///a/b:1"):
        with pytest.raises(ConfigError, match=r"ZKSEQ_JSONRPC_EXECUTOR_URL: .* is not dns:///name:port"):
            JsonRpcConfig.from_env({"ZKSEQ_JSONRPC_EXECUTOR_URL": bad})


def test_config_reports_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        JsonRpcConfig.from_env(
            {
                "ZKSEQ_JSONRPC_CHAIN_ID": "0",
                "ZKSEQ_JSONRPC_POOL_URL": "pool",
                "ZKSEQ_JSONRPC_EXECUTOR_URL": "exec:0",
                "ZKSEQ_JSONRPC_STATEDB_URL": "mysql://x",
                "ZKSEQ_JSONRPC_CALL_GAS_CAP": "40000000",
                "ZKSEQ_JSONRPC_MAX_BATCH_LEN": "5",
            }
        )
    text = str(info.value)
    for name in ("CHAIN_ID", "POOL_URL", "EXECUTOR_URL", "STATEDB_URL", "CALL_GAS_CAP", "MAX_BATCH_LEN"):
        assert f"ZKSEQ_JSONRPC_{name}" in text

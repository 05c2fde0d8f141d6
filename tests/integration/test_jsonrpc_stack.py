"""The JSON-RPC server over the real backends, spoken to over HTTP.

`JsonRpcStack` (also used by test_jsonrpc_clients.py) runs, in process on free ports, on an event
loop of its own thread so that blocking clients (web3.py, node, cast) can talk to it:

    HashDB (LMDB in a temp dir) ◀── executor ◀──┐
        ▲                                       │ eth_call / eth_estimateGas
        │ state leaves at a block's root         │
    JSON-RPC (aiohttp) ──────────────────────────┤
        │ blocks, txs, receipts, logs            │ eth_sendRawTransaction, pending nonce
        ▼                                       ▼
    StateDB (SQLite file)                      pool (Redis on 127.0.0.1:6379, a key prefix of its own)

There is no sequencer yet, so the chain is built the way one would build it: a genesis written to
the HashDB, batches of signed transactions run by the real executor (update_merkle_tree on), and
the blocks, receipts and logs it reports stored in the StateDB through the repositories. A
transaction sent through the server stays in the pool.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import pytest
from google.protobuf import empty_pb2
from grpc import aio

from protos.executor.v1 import executor_pb2 as executor_pb
from protos.hashdb.v1 import hashdb_pb2 as hashdb_pb
from protos.pool.v1 import pool_pb2 as pool_pb
from services.common.grpc_client import UnaryMethod
from services.common.process import spawn_service
from services.common.statedb import StateDB, open_statedb
from services.executor.app import RunningExecutor, start_executor
from services.executor.config import ExecutorConfig
from services.hashdb.app import RunningHashDB, start_hashdb
from services.hashdb.config import HashDBConfig
from services.jsonrpc.app import RunningJsonRpc, start_jsonrpc
from services.jsonrpc.config import JsonRpcConfig
from services.pool.app import RunningPool, start_pool
from services.pool.client import PoolClient
from services.pool.config import PoolConfig
from tests.integration.pool_fixtures import REDIS_URL, delete_prefix, require_redis, unique_prefix
from tests.unit.test_jsonrpc_api import ChainWriter, Mined
from zkevm.bytecode import bytecode_hash
from zkevm.field import ZERO_H4, bytes_to_h4, h4_to_bytes
from zkevm.genesis import GenesisAccount, genesis_writes
from zkevm.hashing import keccak256
from zkevm.transaction import L2Transaction, sign_transaction

pytestmark = pytest.mark.integration

_T = TypeVar("_T")

CHAIN_ID: Final = 1001
GWEI: Final = 10**9
ETHER: Final = 10**18
GENESIS_TIME: Final = 1_700_000_000
COINBASE: Final = bytes.fromhex("c0ffee0000000000000000000000000000c0ffee")
LOGGER: Final = bytes.fromhex("00000000000000000000000000000000000001ee")
STORED_TOPIC: Final = keccak256(b"Stored(uint256)")


# -- a contract, assembled ------------------------------------------------------------------------

_OPCODES: Final = {
    "STOP": 0x00,
    "EQ": 0x14,
    "CALLDATALOAD": 0x35,
    "CODECOPY": 0x39,
    "MSTORE": 0x52,
    "SSTORE": 0x55,
    "JUMPI": 0x57,
    "JUMPDEST": 0x5B,
    "DUP1": 0x80,
    "LOG1": 0xA1,
    "RETURN": 0xF3,
    "REVERT": 0xFD,
}


def assemble(*items: str | int | bytes) -> bytes:
    """Opcode names, PUSHes of ints (shortest width) or bytes, and labels: "@name" marks a
    JUMPDEST, ">name" pushes its offset (one byte)."""
    labels: dict[str, int] = {}
    for final in (False, True):
        code = bytearray()
        for item in items:
            if isinstance(item, str) and item.startswith("@"):
                labels[item[1:]] = len(code)
                code.append(_OPCODES["JUMPDEST"])
            elif isinstance(item, str) and item.startswith(">"):
                code += bytes((0x60, labels.get(item[1:], 0) if final else 0))
            elif isinstance(item, str):
                code.append(_OPCODES[item])
            else:
                raw = (
                    item
                    if isinstance(item, bytes)
                    else item.to_bytes(max(1, (item.bit_length() + 7) // 8), "big")
                )
                code += bytes((0x5F + len(raw),)) + raw
    return bytes(code)


#: call data = one word x. x == 0xdead: revert with Error("nope"). Else: storage[0] = x,
#: emit Stored(x) (LOG1, topic keccak("Stored(uint256)"), data x) and return x.
LOGGER_CODE: Final = assemble(
    0,
    "CALLDATALOAD",
    "DUP1",
    0xDEAD,
    "EQ",
    ">nope",
    "JUMPI",
    "DUP1",
    0,
    "SSTORE",
    "DUP1",
    0,
    "MSTORE",
    STORED_TOPIC,
    32,
    0,
    "LOG1",
    32,
    0,
    "RETURN",
    "@nope",
    bytes.fromhex("08c379a0") + bytes(28),
    0,
    "MSTORE",
    32,
    4,
    "MSTORE",
    4,
    0x24,
    "MSTORE",
    b"nope" + bytes(28),
    0x44,
    "MSTORE",
    0x64,
    0,
    "REVERT",
)


def deployment(runtime: bytes) -> bytes:
    """Init code that returns `runtime`."""
    init = assemble(len(runtime), "DUP1", 11, 0, "CODECOPY", 0, "RETURN")
    assert len(init) == 11
    return init + runtime


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


# -- accounts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    key: bytes
    address: bytes

    @property
    def key_hex(self) -> str:
        return "0x" + self.key.hex()

    @property
    def hex(self) -> str:
        return "0x" + self.address.hex()

    def tx(
        self,
        nonce: int,
        to: bytes | None,
        *,
        value: int = 0,
        data: bytes = b"",
        gas: int = 21_000,
        gas_price: int = GWEI,
    ) -> L2Transaction:
        return sign_transaction(
            nonce=nonce,
            gas_price=gas_price,
            gas_limit=gas,
            to=to,
            value=value,
            data=data,
            chain_id=CHAIN_ID,
            private_key=self.key,
        )


def account(name: str) -> Account:
    key = keccak256(f"zkseq jsonrpc stack {name}".encode())
    probe = sign_transaction(
        nonce=0, gas_price=0, gas_limit=0, to=None, value=0, chain_id=None, private_key=key
    )
    return Account(key, probe.sender())


ALICE, BOB = account("alice"), account("bob")
#: one funded sender per client, so their nonces never interfere
CAROL, DAVE, ERIN, FRANK = account("carol"), account("dave"), account("erin"), account("frank")
FUNDED: Final = (CAROL, DAVE, ERIN, FRANK)


@dataclass
class Chain:
    """What the stack's chain holds, for the tests to check against."""

    blocks: list[Any] = field(default_factory=list)
    #: name → signed transaction of the pre-mined blocks
    txs: dict[str, L2Transaction] = field(default_factory=dict)
    created: bytes = b""
    latest_root: bytes = b""


class JsonRpcStack:
    """HashDB, executor, pool and JSON-RPC on a loop of their own thread; see the module notes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="jsonrpc-stack", daemon=True)
        self.chain = Chain()
        self.key_prefix = unique_prefix()
        self.statedb_url = f"sqlite:///{directory / 'statedb.db'}"
        self.hashdb: RunningHashDB | None = None
        self.executor: RunningExecutor | None = None
        self.pool: RunningPool | None = None
        self.jsonrpc: RunningJsonRpc | None = None
        self.channels: list[aio.Channel] = []
        self.statedb: StateDB | None = None

    def run(self, coro: Coroutine[Any, Any, _T], timeout_s: float = 60) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    @property
    def url(self) -> str:
        assert self.jsonrpc is not None
        return self.jsonrpc.url

    def config(self, **overrides: Any) -> JsonRpcConfig:
        assert self.hashdb and self.executor and self.pool
        base: dict[str, Any] = {
            "http_host": "127.0.0.1",
            "http_port": 0,
            "metrics_host": "127.0.0.1",
            "metrics_port": 0,
            "chain_id": CHAIN_ID,
            "statedb_url": self.statedb_url,
            "pool_url": f"127.0.0.1:{self.pool.port}",
            "executor_url": f"127.0.0.1:{self.executor.port}",
            "hashdb_url": f"127.0.0.1:{self.hashdb.port}",
            "shutdown_grace_s": 1.0,
        }
        base.update(overrides)
        return JsonRpcConfig(**base)

    # -- start and stop ---------------------------------------------------------------------------

    def start(self) -> None:
        require_redis()
        self.thread.start()
        self.run(self._start_backends())
        self.statedb = open_statedb(self.statedb_url)
        self._build_chain()
        self.run(self._start_front())

    async def _start_backends(self) -> None:
        self.hashdb = await start_hashdb(
            HashDBConfig(
                grpc_host="127.0.0.1",
                grpc_port=0,
                metrics_enabled=False,
                lmdb_path=self.directory / "hashdb",
                lmdb_map_size_bytes=256 * 1024**2,
                lmdb_sync=False,
                shutdown_grace_s=0.5,
                drain_timeout_s=5,
            )
        )
        self.executor = await start_executor(
            ExecutorConfig(
                grpc_host="127.0.0.1",
                grpc_port=0,
                metrics_enabled=False,
                hashdb_url=f"127.0.0.1:{self.hashdb.port}",
                hashdb_timeout_s=10,
                root_wait_s=0.5,
                shutdown_grace_s=0.5,
                drain_timeout_s=5,
            )
        )
        hashdb_channel = aio.insecure_channel(f"127.0.0.1:{self.hashdb.port}")
        executor_channel = aio.insecure_channel(f"127.0.0.1:{self.executor.port}")
        self.channels = [hashdb_channel, executor_channel]
        path = "/hashdb.v1.HashDBService/"
        self.set_program = UnaryMethod[hashdb_pb.SetProgramRequest, hashdb_pb.SetProgramResponse](
            hashdb_channel, path + "SetProgram", hashdb_pb.SetProgramResponse, 10
        )
        self.set_many = UnaryMethod[hashdb_pb.SetManyRequest, hashdb_pb.SetManyResponse](
            hashdb_channel, path + "SetMany", hashdb_pb.SetManyResponse, 10
        )
        self.flush = UnaryMethod[hashdb_pb.FlushRequest, hashdb_pb.FlushResponse](
            hashdb_channel, path + "Flush", hashdb_pb.FlushResponse, 10
        )
        self.process = UnaryMethod[executor_pb.ProcessBatchRequest, executor_pb.ProcessBatchResponse](
            executor_channel,
            "/executor.v1.ExecutorService/ProcessBatch",
            executor_pb.ProcessBatchResponse,
            60,
        )
        self.flush_status = UnaryMethod[empty_pb2.Empty, executor_pb.GetFlushStatusResponse](
            executor_channel,
            "/executor.v1.ExecutorService/GetFlushStatus",
            executor_pb.GetFlushStatusResponse,
            10,
        )

    async def _start_front(self) -> None:
        assert self.hashdb is not None
        pool_config = PoolConfig(
            grpc_host="127.0.0.1",
            grpc_port=0,
            metrics_enabled=False,
            redis_url=REDIS_URL,
            key_prefix=self.key_prefix,
            chain_id=CHAIN_ID,
            hashdb_url=f"127.0.0.1:{self.hashdb.port}",
            state_root=bytes_to_h4(self.chain.latest_root),
            shutdown_grace_s=0.5,
        )
        self.pool = await start_pool(pool_config, background=False)
        pool_channel = aio.insecure_channel(f"127.0.0.1:{self.pool.port}")
        self.channels.append(pool_channel)
        self.pool_client = PoolClient(pool_channel)
        self.jsonrpc = await start_jsonrpc(self.config())

    def stop(self) -> None:
        try:
            self.run(self._stop())
        finally:
            if self.statedb is not None:
                self.statedb.close()
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    async def _stop(self) -> None:
        for service in (self.jsonrpc, self.pool, self.executor, self.hashdb):
            if service is not None:
                await service.stop()
        for channel in self.channels:
            await channel.close(None)
        await delete_prefix(REDIS_URL, self.key_prefix)

    # -- the chain --------------------------------------------------------------------------------

    async def _genesis(self, accounts: Sequence[GenesisAccount]) -> bytes:
        for acc in accounts:
            if acc.bytecode:
                h = bytecode_hash(acc.bytecode)
                await self.set_program(
                    hashdb_pb.SetProgramRequest(
                        key=hashdb_pb.Fea(fe0=h[0], fe1=h[1], fe2=h[2], fe3=h[3]),
                        data=acc.bytecode,
                        persistent=True,
                    )
                )
        writes = [
            hashdb_pb.KeyValue(key=hashdb_pb.Fea(fe0=k[0], fe1=k[1], fe2=k[2], fe3=k[3]), value=f"{v:x}")
            for k, v in genesis_writes(accounts)
        ]
        zero = hashdb_pb.Fea(fe0=ZERO_H4[0], fe1=ZERO_H4[1], fe2=ZERO_H4[2], fe3=ZERO_H4[3])
        response = await self.set_many(
            hashdb_pb.SetManyRequest(old_root=zero, writes=writes, persistence=hashdb_pb.PERSISTENCE_DATABASE)
        )
        root = (response.new_root.fe0, response.new_root.fe1, response.new_root.fe2, response.new_root.fe3)
        await self.flush(
            hashdb_pb.FlushRequest(new_state_root="", persistence=hashdb_pb.PERSISTENCE_DATABASE)
        )
        return h4_to_bytes(root)

    async def _execute(
        self, root: bytes, batch_number: int, timestamp: int, txs: Sequence[L2Transaction]
    ) -> list[Mined]:
        request = executor_pb.ProcessBatchRequest(
            old_state_root=root,
            old_acc_input_hash=bytes(32),
            old_batch_num=batch_number - 1,
            chain_id=CHAIN_ID,
            fork_id=6,
            batch_l2_data=b"".join(tx.encode() for tx in txs),
            global_exit_root=bytes(32),
            eth_timestamp=timestamp,
            coinbase="0x" + COINBASE.hex(),
            update_merkle_tree=1,
        )
        response = await self.process(request)
        assert response.error == executor_pb.EXECUTOR_ERROR_NO_ERROR
        # as a sequencer must: store the blocks only once the HashDB holds their state (the executor
        # hands a batch's nodes to the HashDB in the background)
        deadline = asyncio.get_running_loop().time() + 30
        while (await self.flush_status(empty_pb2.Empty())).stored_flush_id < response.flush_id:
            assert asyncio.get_running_loop().time() < deadline, "the executor's flush was not stored in time"
            await asyncio.sleep(0.01)
        mined = []
        for tx, result in zip(txs, response.responses, strict=True):
            assert result.error in (executor_pb.ROM_ERROR_NO_ERROR, executor_pb.ROM_ERROR_EXECUTION_REVERTED)
            logs = tuple((bytes.fromhex(log.address[2:]), tuple(log.topics), log.data) for log in result.logs)
            mined.append(
                Mined(
                    tx,
                    result.state_root,
                    status=1 if result.error == executor_pb.ROM_ERROR_NO_ERROR else 0,
                    gas_used=result.gas_used,
                    logs=logs,
                    contract_address=bytes.fromhex(result.create_address[2:])
                    if result.create_address
                    else None,
                )
            )
        return mined

    def _build_chain(self) -> None:
        assert self.statedb is not None
        accounts = [
            GenesisAccount(ALICE.address, 1000 * ETHER),
            *(GenesisAccount(a.address, 10 * ETHER) for a in FUNDED),
            GenesisAccount(LOGGER, bytecode=LOGGER_CODE),
        ]
        root = self.run(self._genesis(accounts))
        writer = ChainWriter(self.statedb, coinbase=COINBASE)
        writer.genesis(root, GENESIS_TIME)
        txs = self.chain.txs
        txs["transfer"] = ALICE.tx(0, BOB.address, value=ETHER)
        txs["store"] = ALICE.tx(1, LOGGER, data=word(7), gas=100_000)
        txs["deploy"] = ALICE.tx(2, None, data=deployment(LOGGER_CODE), gas=200_000)
        txs["revert"] = ALICE.tx(3, LOGGER, data=word(0xDEAD), gas=100_000)
        txs["bob"] = BOB.tx(0, ALICE.address, value=ETHER // 2)
        batches = [
            (GENESIS_TIME + 10, [txs["transfer"], txs["store"], txs["deploy"]]),
            (GENESIS_TIME + 20, [txs["revert"]]),
            (GENESIS_TIME + 30, [txs["bob"]]),
        ]
        for number, (timestamp, batch_txs) in enumerate(batches, start=1):
            mined = self.run(self._execute(root, number, timestamp, batch_txs))
            writer.batch(timestamp, mined)
            root = mined[-1].state_root
            if number == 1:
                assert mined[2].contract_address is not None
                self.chain.created = mined[2].contract_address
        writer.l1(virtual=[1])
        writer.l1(virtual=[2], verified=[1])
        self.chain.blocks = writer.blocks
        self.chain.latest_root = root


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JsonRpcStack]:
    running = JsonRpcStack(tmp_path_factory.mktemp("jsonrpc"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


# -- HTTP helpers -----------------------------------------------------------------------------------


def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def rpc(url: str, method: str, *params: Any) -> Any:
    status, answer = post(
        url, json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    )
    assert status == 200, answer
    if "error" in answer:
        raise RpcError(answer["error"])
    return answer["result"]


class RpcError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error)
        self.error = error


def rpc_error(url: str, method: str, *params: Any) -> dict[str, Any]:
    with pytest.raises(RpcError) as info:
        rpc(url, method, *params)
    return info.value.error


def hx(value: bytes) -> str:
    return "0x" + value.hex()


# -- tests ------------------------------------------------------------------------------------------


def test_blocks_transactions_receipts_and_logs_of_the_executed_chain(stack: JsonRpcStack) -> None:
    url, chain = stack.url, stack.chain
    assert rpc(url, "eth_chainId") == hex(CHAIN_ID) and rpc(url, "eth_blockNumber") == "0x5"
    store = chain.txs["store"]
    receipt = rpc(url, "eth_getTransactionReceipt", hx(store.tx_hash()))
    assert receipt["status"] == "0x1" and receipt["blockNumber"] == "0x2"
    (log,) = receipt["logs"]
    assert log["address"] == hx(LOGGER) and log["topics"] == [hx(STORED_TOPIC)] and log["data"] == hx(word(7))
    block = rpc(url, "eth_getBlockByNumber", "0x2", True)
    assert block["hash"] == receipt["blockHash"] == log["blockHash"]
    assert block["transactions"][0]["hash"] == hx(store.tx_hash()) and block["stateRoot"] == hx(
        chain.blocks[2].state_root
    )
    assert block["logsBloom"] == receipt["logsBloom"] != hx(bytes(256))
    deploy = rpc(url, "eth_getTransactionReceipt", hx(chain.txs["deploy"].tx_hash()))
    assert deploy["contractAddress"] == hx(chain.created)
    reverted = rpc(url, "eth_getTransactionReceipt", hx(chain.txs["revert"].tx_hash()))
    assert reverted["status"] == "0x0" and reverted["logs"] == []
    logs = rpc(url, "eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest", "topics": [hx(STORED_TOPIC)]})
    assert [entry["transactionHash"] for entry in logs] == [hx(store.tx_hash())]
    assert rpc(url, "eth_getBlockByNumber", "safe", False)["number"] == "0x4"
    assert rpc(url, "eth_getBlockByNumber", "finalized", False)["number"] == "0x3"
    assert rpc(url, "zkevm_batchNumber") == "0x3" and rpc(url, "zkevm_virtualBatchNumber") == "0x2"
    assert (
        rpc(url, "zkevm_isBlockVirtualized", "0x4") is True
        and rpc(url, "zkevm_isBlockConsolidated", "0x4") is False
    )
    batch = rpc(url, "zkevm_getBatchByNumber", "0x1")
    assert batch["transactions"] == [hx(chain.txs[n].tx_hash()) for n in ("transfer", "store", "deploy")]


def test_state_reads_come_from_the_hashdb_at_the_blocks_root(stack: JsonRpcStack) -> None:
    url, chain = stack.url, stack.chain
    fee = 21_000 * GWEI
    assert rpc(url, "eth_getBalance", BOB.hex, "0x0") == "0x0"
    assert rpc(url, "eth_getBalance", BOB.hex, "0x1") == hex(ETHER)
    assert rpc(url, "eth_getBalance", BOB.hex, "latest") == hex(ETHER - ETHER // 2 - fee)
    assert rpc(url, "eth_getBalance", BOB.hex, {"blockHash": hx(chain.blocks[4].hash)}) == hex(ETHER)
    assert rpc(url, "eth_getTransactionCount", ALICE.hex, "latest") == "0x4"
    assert rpc(url, "eth_getTransactionCount", ALICE.hex, "0x2") == "0x2"
    assert rpc(url, "eth_getCode", hx(LOGGER), "latest") == hx(LOGGER_CODE)
    assert rpc(url, "eth_getCode", hx(chain.created), "latest") == hx(LOGGER_CODE)
    assert rpc(url, "eth_getCode", hx(chain.created), "0x2") == "0x"
    assert rpc(url, "eth_getStorageAt", hx(LOGGER), "0x0", "latest") == hx(word(7))
    assert rpc(url, "eth_getStorageAt", hx(LOGGER), "0x0", "0x1") == hx(word(0))
    coinbase = int(rpc(url, "eth_getBalance", hx(COINBASE), "latest"), 16)
    assert coinbase > 0 and coinbase % GWEI == 0  # the fees, at 1 gwei a gas


def test_call_and_estimate_gas_run_on_the_executor(stack: JsonRpcStack) -> None:
    url = stack.url
    call = {"from": ALICE.hex, "to": hx(LOGGER), "data": hx(word(42))}
    assert rpc(url, "eth_call", call, "latest") == hx(word(42))
    assert rpc(url, "eth_getStorageAt", hx(LOGGER), "0x0", "latest") == hx(word(7))  # nothing kept
    error = rpc_error(url, "eth_call", {"to": hx(LOGGER), "data": hx(word(0xDEAD))}, "latest")
    assert error["code"] == 3 and error["message"] == "execution reverted: nope"
    assert error["data"].startswith("0x08c379a0")
    assert rpc(url, "eth_estimateGas", {"from": CAROL.hex, "to": BOB.hex, "value": "0x1"}) == hex(21_000)
    gas = int(rpc(url, "eth_estimateGas", call), 16)
    assert 21_000 + 2_900 < gas < 40_000  # an SSTORE of a set slot, a LOG1
    too_little = {**call, "gas": hex(gas - 5_000)}
    assert rpc(url, "eth_call", {**call, "gas": hex(gas)}) == hx(word(42))
    assert rpc_error(url, "eth_call", too_little)["message"] == "out of gas"
    error = rpc_error(url, "eth_estimateGas", {**call, "gas": hex(25_000)})
    assert error == {"code": -32000, "message": "gas required exceeds allowance (25000)"}
    # at an older block the contract created in block 3 has no code: the call just returns nothing
    assert rpc(url, "eth_call", {"to": hx(stack.chain.created), "data": hx(word(1))}, "0x2") == "0x"


def test_a_sent_transaction_lands_in_the_pool(stack: JsonRpcStack) -> None:
    url = stack.url
    raw = FRANK.tx(0, BOB.address, value=123).to_raw()
    tx_hash = rpc(url, "eth_sendRawTransaction", hx(raw))
    assert tx_hash == hx(keccak256(raw))
    stored = stack.run(stack.pool_client.GetTransaction(pool_pb.GetTransactionRequest(hash=keccak256(raw))))
    assert stored.status == pool_pb.TX_STATUS_PENDING and stored.transaction.raw == raw
    view = rpc(url, "eth_getTransactionByHash", tx_hash)
    assert view["blockNumber"] is None and view["from"] == FRANK.hex and view["value"] == hex(123)
    assert rpc(url, "eth_getTransactionReceipt", tx_hash) is None
    assert rpc(url, "eth_getTransactionCount", FRANK.hex, "pending") == "0x1"
    assert rpc(url, "eth_getTransactionCount", FRANK.hex, "latest") == "0x0"
    assert int(rpc(url, "eth_getBlockTransactionCountByNumber", "pending"), 16) >= 1
    # the pool's refusals, in its words, as -32000
    error = rpc_error(url, "eth_sendRawTransaction", hx(raw))
    assert error["code"] == -32000 and error["message"].startswith("already known")
    error = rpc_error(url, "eth_sendRawTransaction", hx(ALICE.tx(0, BOB.address).to_raw()))
    assert error["code"] == -32000 and error["message"].startswith("nonce too low")
    broke = account("nobody")
    error = rpc_error(url, "eth_sendRawTransaction", hx(broke.tx(0, BOB.address, value=1).to_raw()))
    assert error["code"] == -32000 and error["message"].startswith("insufficient funds")
    error = rpc_error(url, "eth_sendRawTransaction", "0x01020304")
    assert error["code"] == -32000


def test_bad_requests_get_json_rpc_errors_and_the_server_keeps_serving(stack: JsonRpcStack) -> None:
    url = stack.url
    status, answer = post(url, b'{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"')
    assert status == 200 and answer["error"]["code"] == -32700 and answer["id"] is None
    status, answer = post(url, b'{"jsonrpc": "2.0", "id": 2, "method": "eth_sign", "params": []}')
    assert answer["error"]["code"] == -32601 and answer["id"] == 2
    status, answer = post(url, b'{"jsonrpc": "2.0", "id": 3, "method": "eth_getBalance", "params": ["0x12"]}')
    assert answer["error"]["code"] == -32602
    oversized = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "eth_sendRawTransaction",
            "params": ["0x" + "00" * (3 * 1024 * 1024)],
        }
    ).encode()
    status, answer = post(url, oversized)
    assert status == 413 and answer["error"]["code"] == -32600 and "too large" in answer["error"]["message"]
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(1001)]
    status, answer = post(url, json.dumps(batch).encode())
    assert answer == [
        {
            "jsonrpc": "2.0",
            "id": 0,
            "error": {"code": -32600, "message": "batch too large: 1001 calls, the limit is 1000"},
        }
    ]
    status, answer = post(
        url, json.dumps([*batch[:3], {"jsonrpc": "2.0", "id": "x", "method": "nope"}]).encode()
    )
    assert [a.get("result") for a in answer] == [hex(CHAIN_ID)] * 3 + [None]
    assert rpc(url, "eth_chainId") == hex(CHAIN_ID)
    assert stack.jsonrpc is not None and stack.jsonrpc.metrics_endpoint is not None
    with urllib.request.urlopen(
        f"http://127.0.0.1:{stack.jsonrpc.metrics_endpoint.port}/metrics"
    ) as response:
        text = response.read().decode()
    assert 'zkseq_jsonrpc_calls_total{method="unknown",outcome="method_not_found"}' in text
    assert 'zkseq_jsonrpc_requests_total{kind="too_large"} 1.0' in text


def test_unreachable_backends_are_server_errors(stack: JsonRpcStack) -> None:
    dead = "127.0.0.1:1"
    config = stack.config(
        executor_url=dead,
        pool_url=dead,
        hashdb_url=dead,
        metrics_enabled=False,
        pool_timeout_s=2,
        hashdb_timeout_s=2,
        executor_timeout_s=2,
    )
    other = stack.run(start_jsonrpc(config))
    try:
        assert rpc(other.url, "eth_blockNumber") == "0x5"  # the StateDB still answers
        for method, params in (
            ("eth_getBalance", [BOB.hex, "latest"]),
            ("eth_sendRawTransaction", [hx(FRANK.tx(5, BOB.address).to_raw())]),
            ("eth_call", [{"to": hx(LOGGER), "data": hx(word(1))}]),
        ):
            error = rpc_error(other.url, method, *params)
            assert error["code"] == -32000 and "unavailable" in error["message"], error
    finally:
        stack.run(other.stop())


async def test_the_process_serves_and_stops_on_sigterm(stack: JsonRpcStack) -> None:
    env = {
        "ZKSEQ_JSONRPC_HTTP_ADDRESS": "127.0.0.1:0",
        "ZKSEQ_JSONRPC_METRICS_ENABLED": "false",
        "ZKSEQ_JSONRPC_STATEDB_URL": stack.statedb_url,
        "ZKSEQ_JSONRPC_CHAIN_ID": str(CHAIN_ID),
    }
    process = await spawn_service("services.jsonrpc", env, "jsonrpc_serving")
    try:
        url = f"http://127.0.0.1:{process.ready['port']}/"
        assert await asyncio.to_thread(rpc, url, "eth_blockNumber") == "0x5"
        process.send(signal.SIGTERM)
        assert await process.wait(15) == 0
        assert any('"jsonrpc_stopped"' in line for line in process.log_lines)
    finally:
        await process.stop()


def test_bad_configuration_exits_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.jsonrpc"],
        env={"ZKSEQ_JSONRPC_CHAIN_ID": "zero", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and b"ZKSEQ_JSONRPC_CHAIN_ID" in result.stderr

"""The eth_* / net_* / web3_* / zkevm_* methods through the dispatcher, over the StateDB's in-memory
form (`sqlite:///:memory:`, written through the repositories) and the in-memory twins of the HashDB
reader and the pool. Also home of `ChainWriter`, which the integration tests use to store blocks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from eth_bloom.bloom import BloomFilter

from services.common.statedb import (
    Address,
    Batch,
    BlockContents,
    DatabaseUnavailable,
    Hash32,
    L1Block,
    L2Block,
    L2Tx,
    Log,
    LogFilter,
    Receipt,
    SqlBlockRepository,
    StateDB,
    StateRoot,
    VerifiedBatch,
    VirtualBatch,
    open_statedb,
)
from services.jsonrpc.api import ApiSettings, EthApi
from services.jsonrpc.backends import CallOutcome, MinedTx, UnsignedCall
from services.jsonrpc.calls import Calls
from services.jsonrpc.chain import StateDBChain
from services.jsonrpc.codec import Json
from services.jsonrpc.dispatch import Dispatcher, MethodRegistry
from services.jsonrpc.headers import Header, ordered_trie_root, receipt_rlp
from services.jsonrpc.memory import MemoryAccount, MemoryPool, MemoryState
from services.jsonrpc.views import block_view
from zkevm.batch import acc_input_hash, batch_hash_data
from zkevm.hashing import keccak256
from zkevm.rlp import encode_bytes, encode_list, encode_uint
from zkevm.transaction import L2Transaction, sign_transaction

CHAIN_ID = 1001
GWEI = 10**9
ETHER = 10**18
GENESIS_TIME = 1_700_000_000
ZERO32 = bytes(32)


def key_and_address(seed: str) -> tuple[bytes, bytes]:
    key = keccak256(f"zkseq jsonrpc test {seed}".encode())
    probe = sign_transaction(
        nonce=0, gas_price=0, gas_limit=0, to=None, value=0, chain_id=None, private_key=key
    )
    return key, probe.sender()


ALICE_KEY, ALICE = key_and_address("alice")
BOB_KEY, BOB = key_and_address("bob")
COINBASE = bytes.fromhex("c0" * 20)
CONTRACT = bytes.fromhex("cc" * 20)
CREATED = bytes.fromhex("ce" * 20)
TOPIC_A = keccak256(b"Stored(uint256)")
TOPIC_B = keccak256(b"Poked()")


def bloom_of(logs: Sequence[tuple[bytes, tuple[bytes, ...], bytes]]) -> bytes:
    bloom = BloomFilter()
    for address, topics, _ in logs:
        bloom.add(address)
        for topic in topics:
            bloom.add(topic)
    return int(bloom).to_bytes(256, "big")


@dataclass(frozen=True)
class Mined:
    """One transaction to store in a block, with the outcome the executor reported."""

    signed: L2Transaction
    state_root: bytes
    status: int = 1
    gas_used: int = 21_000
    logs: tuple[tuple[bytes, tuple[bytes, ...], bytes], ...] = ()
    contract_address: bytes | None = None


@dataclass
class ChainWriter:
    """Writes a genesis and closed batches of fork-6 blocks (one tx each) through the repositories,
    with geth-style block hashes, and L1 facts (virtual / verified batches)."""

    statedb: StateDB
    coinbase: bytes = COINBASE
    gas_limit: int = 30_000_000
    blocks: list[L2Block] = field(default_factory=list)
    raws: dict[bytes, bytes] = field(default_factory=dict)
    acc: bytes = ZERO32
    l1_number: int = 100
    l1_hash: bytes = ZERO32

    def genesis(self, state_root: bytes, timestamp: int = GENESIS_TIME) -> L2Block:
        header = Header(
            ZERO32,
            self.coinbase,
            state_root,
            ordered_trie_root([]),
            ordered_trie_root([]),
            bytes(256),
            0,
            self.gas_limit,
            0,
            timestamp,
        )
        block = L2Block(
            0,
            Hash32(header.hash()),
            Hash32(ZERO32),
            0,
            StateRoot(state_root),
            timestamp,
            Address(self.coinbase),
            None,
            0,
            self.gas_limit,
        )
        batch = Batch(
            0,
            b"",
            Hash32(ZERO32),
            timestamp,
            Address(self.coinbase),
            StateRoot(state_root),
            Hash32(ZERO32),
            Hash32(ZERO32),
            True,
        )
        self.statedb.batches.add_genesis(batch, block)
        self.blocks.append(block)
        return block

    def batch(self, timestamp: int, txs: Sequence[Mined]) -> list[L2Block]:
        number = len({b.batch_number for b in self.blocks})
        parts = []
        new_blocks: list[L2Block] = []
        for index, mined in enumerate(txs):
            parent = (new_blocks or self.blocks)[-1]
            signed = mined.signed
            raw = signed.to_raw()
            tx_hash = Hash32(keccak256(raw))
            self.raws[tx_hash] = raw
            block_number = parent.number + 1
            logs = [
                Log(block_number, tx_hash, 0, i, Address(address), tuple(Hash32(t) for t in topics), log_data)
                for i, (address, topics, log_data) in enumerate(mined.logs)
            ]
            receipt = Receipt(
                tx_hash,
                mined.status,
                mined.gas_used,
                mined.gas_used,
                None if mined.contract_address is None else Address(mined.contract_address),
                signed.effective_gas_price(),
                bloom_of(mined.logs),
            )
            header = Header(
                parent.hash,
                self.coinbase,
                mined.state_root,
                ordered_trie_root([raw]),
                ordered_trie_root([receipt_rlp(receipt, logs)]),
                receipt.logs_bloom,
                block_number,
                self.gas_limit,
                mined.gas_used,
                timestamp,
            )
            block = L2Block(
                block_number,
                Hash32(header.hash()),
                parent.hash,
                number,
                StateRoot(mined.state_root),
                timestamp,
                Address(self.coinbase),
                tx_hash,
                mined.gas_used,
                self.gas_limit,
            )
            tx = L2Tx(
                tx_hash,
                Address(signed.sender()),
                None if signed.to is None else Address(signed.to),
                signed.nonce,
                signed.gas_price,
                signed.gas_limit,
                signed.value,
                signed.data,
                signed.effective_percentage,
                signed.effective_gas_price(),
                signed.encode(),
                block_number,
                number,
                index,
            )
            parts.append((block, tx, receipt, logs))
            new_blocks.append(block)
        data = b"".join(tx.encoded for _, tx, _, _ in parts)
        self.acc = acc_input_hash(self.acc, batch_hash_data(data), ZERO32, timestamp, self.coinbase)
        final_root = new_blocks[-1].state_root if new_blocks else self.blocks[-1].state_root
        batch = Batch(
            number,
            data,
            Hash32(ZERO32),
            timestamp,
            Address(self.coinbase),
            StateRoot(final_root),
            Hash32(ZERO32),
            Hash32(self.acc),
            True,
        )
        self.statedb.batches.add_closed_batch(batch, parts)
        self.blocks.extend(new_blocks)
        return new_blocks

    def l1(self, virtual: Sequence[int] = (), verified: Sequence[int] = ()) -> None:
        """One more L1 block that sequences `virtual` and verifies `verified` batches."""
        self.l1_number += 1
        block_hash = keccak256(b"l1 block %d" % self.l1_number)
        tx_hash = Hash32(keccak256(b"l1 tx %d" % self.l1_number))
        self.statedb.l1_blocks.add(
            L1Block(self.l1_number, Hash32(block_hash), Hash32(self.l1_hash)),
            virtual_batches=[
                VirtualBatch(n, tx_hash, self.l1_number, Address(self.coinbase), Hash32(self.acc))
                for n in virtual
            ],
            verified_batches=[
                VerifiedBatch(
                    n, tx_hash, self.l1_number, StateRoot(self.blocks[-1].state_root), Address(self.coinbase)
                )
                for n in verified
            ],
        )
        self.l1_hash = block_hash


def root(n: int) -> bytes:
    return keccak256(b"state root %d" % n)


def alice_tx(
    nonce: int, *, to: bytes | None = BOB, value: int = 0, data: bytes = b"", gas: int = 21_000
) -> L2Transaction:
    return sign_transaction(
        nonce=nonce,
        gas_price=GWEI,
        gas_limit=gas,
        to=to,
        value=value,
        data=data,
        chain_id=CHAIN_ID,
        private_key=ALICE_KEY,
    )


#: the bytecode the test contract "has" in the state twin
CONTRACT_CODE = bytes.fromhex("6000356000556000356000526020600060003960206000f3")


class ScriptedExecutor:
    def __init__(self, outcome: Callable[[UnsignedCall], CallOutcome] | None = None) -> None:
        self.calls: list[UnsignedCall] = []
        self.outcome = outcome or (lambda call: CallOutcome(None, 21_000, 0, b"\x2a"))

    async def run(self, call: UnsignedCall) -> CallOutcome:
        self.calls.append(call)
        return self.outcome(call)


@dataclass
class Env:
    statedb: StateDB
    writer: ChainWriter
    state: MemoryState
    pool: MemoryPool
    executor: ScriptedExecutor
    dispatcher: Dispatcher
    txs: list[L2Transaction]

    async def rpc(self, method: str, *params: Json) -> Any:
        body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        answer = await self.dispatcher.handle(body)
        assert answer is not None
        message = orjson.loads(answer)
        if "error" in message:
            raise RpcFailure(message["error"])
        return message["result"]

    async def error(self, method: str, *params: Json) -> dict[str, Any]:
        with pytest.raises(RpcFailure) as info:
            await self.rpc(method, *params)
        return info.value.error


class RpcFailure(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error)
        self.error = error


def hx(value: bytes) -> str:
    return "0x" + value.hex()


def build_env(max_logs: int = 10_000) -> Env:
    statedb = open_statedb("sqlite:///:memory:")
    writer = ChainWriter(statedb)
    writer.genesis(root(0))
    t1 = alice_tx(0, value=ETHER)
    t2 = alice_tx(1, to=CONTRACT, data=(1).to_bytes(32, "big"), gas=60_000)
    t3 = alice_tx(2, to=None, data=bytes.fromhex("600a600c600039600a6000f3") + CONTRACT_CODE, gas=100_000)
    t4 = alice_tx(3, to=CONTRACT, data=b"\xde\xad", gas=50_000)
    t5 = sign_transaction(  # pre-EIP-155: no chain id
        nonce=0, gas_price=2 * GWEI, gas_limit=21_000, to=ALICE, value=5, chain_id=None, private_key=BOB_KEY
    )
    writer.batch(
        GENESIS_TIME + 10,
        [
            Mined(t1, root(1)),
            Mined(
                t2,
                root(2),
                gas_used=45_000,
                logs=(
                    (CONTRACT, (TOPIC_A, (1).to_bytes(32, "big")), (1).to_bytes(32, "big")),
                    (CONTRACT, (TOPIC_B,), b""),
                ),
            ),
            Mined(t3, root(3), gas_used=80_000, contract_address=CREATED),
        ],
    )
    writer.batch(GENESIS_TIME + 20, [Mined(t4, root(4), status=0, gas_used=30_000)])
    writer.batch(GENESIS_TIME + 30, [Mined(t5, root(5), logs=((ALICE, (TOPIC_B,), b"\x01"),))])
    writer.l1(virtual=[1])
    writer.l1(virtual=[2], verified=[1])

    state = MemoryState()
    for n in range(6):
        alice_nonce = min(n, 4)
        state.set_account(root(n), ALICE, MemoryAccount(nonce=alice_nonce, balance=100 * ETHER - n * ETHER))
        state.set_account(root(n), BOB, MemoryAccount(nonce=1 if n == 5 else 0, balance=ETHER if n else 0))
        if n >= 2:
            state.set_account(root(n), CONTRACT, MemoryAccount(code=CONTRACT_CODE, storage={0: 1}))
    pool = MemoryPool()
    pool.state_nonces[ALICE] = 4  # what the pool reads from the latest state
    executor = ScriptedExecutor()
    blocks = SqlBlockRepository(statedb.database, max_logs=max_logs)
    chain = StateDBChain(blocks, statedb.batches, statedb.virtual_batches, statedb.verified_batches)
    api = EthApi(
        ApiSettings(CHAIN_ID, GWEI, "zkseq/test"),
        chain=chain,
        batches=chain,
        state=state,
        pool=pool,
        calls=Calls(executor, state),
        clock=lambda: GENESIS_TIME + 1000.0,
    )
    registry = MethodRegistry()
    api.register(registry)
    return Env(statedb, writer, state, pool, executor, Dispatcher(registry), [t1, t2, t3, t4, t5])


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    built = build_env()
    yield built
    built.statedb.close()


# -- node ---------------------------------------------------------------------------------------------


async def test_node_methods(env: Env) -> None:
    assert await env.rpc("eth_chainId") == "0x3e9"
    assert await env.rpc("net_version") == "1001"
    assert await env.rpc("web3_clientVersion") == "zkseq/test"
    assert await env.rpc("eth_syncing") is False
    assert await env.rpc("eth_blockNumber") == "0x5"
    assert await env.rpc("eth_gasPrice") == hex(GWEI)
    assert await env.rpc("eth_accounts") == []
    assert await env.rpc("web3_sha3", "0x68656c6c6f") == hx(keccak256(b"hello"))


async def test_fee_market_methods_say_the_chain_is_legacy(env: Env) -> None:
    probes: list[tuple[str, list[Json]]] = [
        ("eth_maxPriorityFeePerGas", []),
        ("eth_feeHistory", ["0x4", "latest", [25, 75]]),
    ]
    for method, params in probes:
        error = await env.error(method, *params)
        assert error["code"] == -32601
        assert error["message"].startswith(f"the method {method} does not exist/is not available")
        assert "legacy" in error["message"] and "eth_gasPrice" in error["message"]


# -- blocks -------------------------------------------------------------------------------------------

BLOCK_FIELDS = {
    "number",
    "hash",
    "parentHash",
    "nonce",
    "sha3Uncles",
    "logsBloom",
    "transactionsRoot",
    "stateRoot",
    "receiptsRoot",
    "miner",
    "difficulty",
    "totalDifficulty",
    "extraData",
    "size",
    "gasLimit",
    "gasUsed",
    "timestamp",
    "transactions",
    "uncles",
    "mixHash",
}


async def test_block_fields(env: Env) -> None:
    stored = env.writer.blocks[2]
    block = await env.rpc("eth_getBlockByNumber", "0x2", False)
    assert set(block) == BLOCK_FIELDS  # no baseFeePerGas: a legacy chain
    assert block["hash"] == hx(stored.hash) and block["parentHash"] == hx(env.writer.blocks[1].hash)
    assert block["number"] == "0x2" and block["timestamp"] == hex(GENESIS_TIME + 10)
    assert block["miner"] == hx(COINBASE) and block["stateRoot"] == hx(root(2))
    assert block["gasLimit"] == hex(30_000_000) and block["gasUsed"] == hex(45_000)
    assert block["difficulty"] == "0x0" and block["uncles"] == [] and block["extraData"] == "0x"
    assert block["nonce"] == "0x0000000000000000" and block["mixHash"] == hx(ZERO32)
    assert block["sha3Uncles"] == "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"
    assert block["transactions"] == [hx(env.txs[1].tx_hash())]
    assert block["transactionsRoot"] == hx(ordered_trie_root([env.txs[1].to_raw()]))
    assert block["logsBloom"] == hx(
        bloom_of([(CONTRACT, (TOPIC_A, (1).to_bytes(32, "big")), b""), (CONTRACT, (TOPIC_B,), b"")])
    )
    # the header the fields describe hashes to the stored hash (the writer built it the same way)
    assert int(block["size"], 16) > 500


async def test_blocks_by_tag_number_and_hash(env: Env) -> None:
    blocks = env.writer.blocks
    assert (await env.rpc("eth_getBlockByNumber", "latest", False))["number"] == "0x5"
    assert (await env.rpc("eth_getBlockByNumber", "earliest", False))["hash"] == hx(blocks[0].hash)
    assert (await env.rpc("eth_getBlockByNumber", "safe", False))["number"] == "0x4"  # batch 2 virtual
    assert (await env.rpc("eth_getBlockByNumber", "finalized", False))["number"] == "0x3"  # batch 1 verified
    assert await env.rpc("eth_getBlockByNumber", "0x6", False) is None
    by_hash = await env.rpc("eth_getBlockByHash", hx(blocks[3].hash), True)
    assert by_hash["number"] == "0x3" and by_hash["transactions"][0]["hash"] == hx(env.txs[2].tx_hash())
    assert await env.rpc("eth_getBlockByHash", hx(keccak256(b"nothing")), False) is None
    genesis = await env.rpc("eth_getBlockByNumber", "0x0", True)
    assert genesis["transactions"] == [] and genesis["logsBloom"] == hx(bytes(256))
    assert genesis["transactionsRoot"] == "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"


def former_block_view(statedb: StateDB, block: L2Block, full: bool) -> Json:
    """The block's view built as before the one-read path: its transactions, then each one's
    receipt and logs, read one row at a time."""
    rows = statedb.blocks
    txs = []
    for tx in rows.txs_of_block(block.number):
        receipt = rows.receipt_by_hash(tx.hash)
        assert receipt is not None
        txs.append(MinedTx(tx, receipt, tuple(rows.logs_of_tx(tx.hash)), block.hash))
    return block_view(block, txs, full)


async def test_block_reads_answer_byte_for_byte_as_the_per_row_reads(env: Env) -> None:
    blocks = env.writer.blocks
    # genesis (no transaction), plain transfers, a call with two logs, a creation, a revert, one log
    logs_per_block = [len(env.statedb.blocks.get_logs(LogFilter(b.number, b.number))) for b in blocks]
    assert logs_per_block == [0, 0, 2, 0, 0, 1]
    for block in blocks:
        for full in (False, True):
            expected = orjson.dumps(former_block_view(env.statedb, block, full))
            by_number = await env.rpc("eth_getBlockByNumber", hex(block.number), full)
            by_hash = await env.rpc("eth_getBlockByHash", hx(block.hash), full)
            assert orjson.dumps(by_number) == expected and orjson.dumps(by_hash) == expected
        count = await env.rpc("eth_getBlockTransactionCountByNumber", hex(block.number))
        assert count == hex(len(env.statedb.blocks.txs_of_block(block.number)))
        first = await env.rpc("eth_getTransactionByBlockHashAndIndex", hx(block.hash), "0x0")
        assert (first is None) == (block.tx_hash is None)
        assert first is None or first["hash"] == hx(block.tx_hash or b"")
    latest = await env.rpc("eth_getBlockByNumber", "latest", True)
    assert orjson.dumps(latest) == orjson.dumps(former_block_view(env.statedb, blocks[-1], True))


class FailingBlocks(SqlBlockRepository):
    """The StateDB's block reads, with the whole-block read of one block number failing."""

    def __init__(self, statedb: StateDB, failing: int) -> None:
        super().__init__(statedb.database)
        self.failing = failing

    def block_contents(self, number: int) -> BlockContents | None:
        if number == self.failing:
            raise DatabaseUnavailable("connection lost")
        return super().block_contents(number)


def dispatcher_over(chain: StateDBChain) -> Dispatcher:
    state = MemoryState()
    api = EthApi(
        ApiSettings(CHAIN_ID, GWEI, "v"),
        chain=chain,
        batches=chain,
        state=state,
        pool=MemoryPool(),
        calls=Calls(ScriptedExecutor(), state),
    )
    registry = MethodRegistry()
    api.register(registry)
    return Dispatcher(registry)


async def test_the_reads_of_one_batch_share_one_worker_thread_hop(env: Env) -> None:
    sdb = env.statedb
    grouped = StateDBChain(FailingBlocks(sdb, 3), sdb.batches, sdb.virtual_batches, sdb.verified_batches)
    one_each = StateDBChain(
        FailingBlocks(sdb, 3), sdb.batches, sdb.virtual_batches, sdb.verified_batches, group_reads=False
    )
    calls = [[hex(n), n % 2 == 0] for n in range(7)] + [["latest", False], ["safe", True]]
    requests = [
        {"jsonrpc": "2.0", "id": i, "method": "eth_getBlockByNumber", "params": params}
        for i, params in enumerate(calls)
    ]
    body = orjson.dumps(requests)
    loop = asyncio.get_running_loop()
    hops = 0

    def counted(executor: Any, func: Callable[..., Any], *args: Any) -> Any:
        nonlocal hops
        hops += 1
        return type(loop).run_in_executor(loop, executor, func, *args)

    answers = {}
    for name, chain in (("grouped", grouped), ("one each", one_each)):
        hops = 0
        loop.run_in_executor = counted  # type: ignore[method-assign, assignment]
        try:
            answer = await dispatcher_over(chain).handle(body)
        finally:
            del loop.run_in_executor
        assert answer is not None
        answers[name] = (orjson.loads(answer), hops)
    (grouped_answer, grouped_hops), (one_each_answer, one_each_hops) = answers["grouped"], answers["one each"]
    assert grouped_hops == 1 and one_each_hops == len(calls)
    assert grouped_answer == one_each_answer
    # the failing read fails alone; its neighbours in the group are answered
    by_id = {item["id"]: item for item in grouped_answer}
    assert "the state database is unavailable: connection lost" in by_id[3]["error"]["message"]
    assert by_id[6]["result"] is None and by_id[5]["result"]["hash"] == hx(env.writer.blocks[5].hash)
    assert by_id[7]["result"]["number"] == "0x5" and by_id[8]["result"]["number"] == "0x4"
    for n in (0, 1, 2, 4, 5):
        assert orjson.dumps(by_id[n]["result"]) == orjson.dumps(
            former_block_view(sdb, env.writer.blocks[n], n % 2 == 0)
        )


async def test_a_read_whose_caller_gave_up_does_not_disturb_its_group(env: Env) -> None:
    sdb = env.statedb
    chain = StateDBChain(sdb.blocks, sdb.batches, sdb.virtual_batches, sdb.verified_batches)
    abandoned = asyncio.create_task(chain.mined_block(1))
    kept = asyncio.create_task(chain.mined_block(2))
    await asyncio.sleep(0)  # both submitted, in one group
    abandoned.cancel()
    mined = await asyncio.wait_for(kept, 30)  # a guard: a group stuck on its abandoned read hangs
    assert mined is not None and mined.block == env.writer.blocks[2]
    assert abandoned.cancelled()
    assert await chain.latest_block_number() == 5  # the next group runs as usual


async def test_a_group_submitted_while_the_loop_shuts_down_fails_instead_of_hanging(env: Env) -> None:
    sdb = env.statedb
    chain = StateDBChain(sdb.blocks, sdb.batches, sdb.virtual_batches, sdb.verified_batches)
    await asyncio.get_running_loop().shutdown_default_executor()
    with pytest.raises(RuntimeError, match="shutdown"):
        await asyncio.wait_for(chain.latest_block_number(), 30)  # a guard: the bug hangs


async def test_pending_block_is_the_empty_child_of_the_latest(env: Env) -> None:
    pending = await env.rpc("eth_getBlockByNumber", "pending", False)
    assert set(pending) == BLOCK_FIELDS
    assert pending["number"] == "0x6" and pending["parentHash"] == hx(env.writer.blocks[5].hash)
    assert pending["transactions"] == [] and pending["gasUsed"] == "0x0"
    assert pending["timestamp"] == hex(GENESIS_TIME + 1000)
    assert pending["hash"] not in {hx(b.hash) for b in env.writer.blocks}


async def test_block_transaction_counts(env: Env) -> None:
    assert await env.rpc("eth_getBlockTransactionCountByNumber", "0x1") == "0x1"
    assert await env.rpc("eth_getBlockTransactionCountByNumber", "earliest") == "0x0"
    assert await env.rpc("eth_getBlockTransactionCountByNumber", "0x63") is None
    assert await env.rpc("eth_getBlockTransactionCountByHash", hx(env.writer.blocks[2].hash)) == "0x1"
    assert await env.rpc("eth_getBlockTransactionCountByNumber", "pending") == "0x0"
    await env.pool.add(alice_tx(4).to_raw())
    assert await env.rpc("eth_getBlockTransactionCountByNumber", "pending") == "0x1"
    assert await env.rpc("eth_getUncleCountByBlockNumber", "0x1") == "0x0"


# -- transactions and receipts ------------------------------------------------------------------------


def raw_from_view(view: dict[str, Any]) -> bytes:
    """Re-encode the signed transaction from its JSON fields: its keccak must be the hash shown."""

    def uint(name: str) -> bytes:
        return encode_uint(int(view[name], 16))

    to = b"" if view["to"] is None else bytes.fromhex(view["to"][2:])
    return encode_list(
        [
            uint("nonce"),
            uint("gasPrice"),
            uint("gas"),
            encode_bytes(to),
            uint("value"),
            encode_bytes(bytes.fromhex(view["input"][2:])),
            uint("v"),
            uint("r"),
            uint("s"),
        ]
    )


async def test_transaction_fields(env: Env) -> None:
    t2 = env.txs[1]
    view = await env.rpc("eth_getTransactionByHash", hx(t2.tx_hash()))
    assert view["blockHash"] == hx(env.writer.blocks[2].hash) and view["blockNumber"] == "0x2"
    assert view["from"] == hx(ALICE) and view["to"] == hx(CONTRACT) and view["nonce"] == "0x1"
    assert view["gas"] == hex(60_000) and view["gasPrice"] == hex(GWEI) and view["value"] == "0x0"
    assert view["input"] == hx((1).to_bytes(32, "big")) and view["transactionIndex"] == "0x0"
    assert view["type"] == "0x0" and view["chainId"] == "0x3e9"
    assert int(view["v"], 16) in (2 * CHAIN_ID + 35, 2 * CHAIN_ID + 36)
    assert keccak256(raw_from_view(view)) == t2.tx_hash()

    pre_eip155 = await env.rpc("eth_getTransactionByHash", hx(env.txs[4].tx_hash()))
    assert "chainId" not in pre_eip155 and int(pre_eip155["v"], 16) in (27, 28)
    assert keccak256(raw_from_view(pre_eip155)) == env.txs[4].tx_hash()
    creation = await env.rpc("eth_getTransactionByBlockNumberAndIndex", "0x3", "0x0")
    assert creation["to"] is None and creation["hash"] == hx(env.txs[2].tx_hash())
    assert await env.rpc("eth_getTransactionByBlockNumberAndIndex", "0x3", "0x1") is None
    by_block_hash = await env.rpc(
        "eth_getTransactionByBlockHashAndIndex", hx(env.writer.blocks[1].hash), "0x0"
    )
    assert by_block_hash["hash"] == hx(env.txs[0].tx_hash())


async def test_a_pending_transaction_comes_from_the_pool(env: Env) -> None:
    raw = alice_tx(4, value=7).to_raw()
    assert await env.rpc("eth_sendRawTransaction", hx(raw)) == hx(keccak256(raw))
    view = await env.rpc("eth_getTransactionByHash", hx(keccak256(raw)))
    assert view["blockHash"] is None and view["blockNumber"] is None and view["transactionIndex"] is None
    assert view["from"] == hx(ALICE) and view["value"] == "0x7" and view["nonce"] == "0x4"
    assert keccak256(raw_from_view(view)) == keccak256(raw)
    assert await env.rpc("eth_getTransactionReceipt", hx(keccak256(raw))) is None
    assert await env.rpc("eth_getTransactionByHash", hx(keccak256(b"unknown"))) is None


async def test_receipt_fields(env: Env) -> None:
    t2, t3, t4 = env.txs[1:4]
    receipt = await env.rpc("eth_getTransactionReceipt", hx(t2.tx_hash()))
    assert receipt["status"] == "0x1" and receipt["type"] == "0x0" and receipt["transactionIndex"] == "0x0"
    assert receipt["blockHash"] == hx(env.writer.blocks[2].hash) and receipt["blockNumber"] == "0x2"
    assert receipt["cumulativeGasUsed"] == hex(45_000) and receipt["gasUsed"] == hex(45_000)
    assert receipt["effectiveGasPrice"] == hex(GWEI) and receipt["contractAddress"] is None
    assert receipt["from"] == hx(ALICE) and receipt["to"] == hx(CONTRACT)
    assert receipt["transactionHash"] == hx(t2.tx_hash())
    block = await env.rpc("eth_getBlockByNumber", "0x2", False)
    assert receipt["logsBloom"] == block["logsBloom"]
    assert [log["logIndex"] for log in receipt["logs"]] == ["0x0", "0x1"]
    first = receipt["logs"][0]
    assert first == {
        "address": hx(CONTRACT),
        "topics": [hx(TOPIC_A), hx((1).to_bytes(32, "big"))],
        "data": hx((1).to_bytes(32, "big")),
        "blockNumber": "0x2",
        "transactionHash": hx(t2.tx_hash()),
        "transactionIndex": "0x0",
        "blockHash": hx(env.writer.blocks[2].hash),
        "logIndex": "0x0",
        "removed": False,
    }
    created = await env.rpc("eth_getTransactionReceipt", hx(t3.tx_hash()))
    assert created["contractAddress"] == hx(CREATED) and created["to"] is None
    reverted = await env.rpc("eth_getTransactionReceipt", hx(t4.tx_hash()))
    assert reverted["status"] == "0x0" and reverted["logs"] == []


# -- state ----------------------------------------------------------------------------------------------


async def test_state_reads_at_blocks(env: Env) -> None:
    assert await env.rpc("eth_getBalance", hx(ALICE)) == hex(95 * ETHER)
    assert await env.rpc("eth_getBalance", hx(ALICE), "0x1") == hex(99 * ETHER)
    assert await env.rpc("eth_getBalance", hx(BOB), "earliest") == "0x0"
    assert await env.rpc("eth_getBalance", hx(ALICE), {"blockNumber": "0x2"}) == hex(98 * ETHER)
    block3 = hx(env.writer.blocks[3].hash)
    assert await env.rpc("eth_getBalance", hx(ALICE), {"blockHash": block3}) == hex(97 * ETHER)
    assert await env.rpc("eth_getBalance", hx(ALICE), block3) == hex(97 * ETHER)
    assert await env.rpc("eth_getTransactionCount", hx(ALICE), "latest") == "0x4"
    assert await env.rpc("eth_getTransactionCount", hx(ALICE), "safe") == "0x4"
    assert await env.rpc("eth_getTransactionCount", hx(ALICE), "finalized") == "0x3"
    assert await env.rpc("eth_getCode", hx(CONTRACT), "latest") == hx(CONTRACT_CODE)
    assert await env.rpc("eth_getCode", hx(CONTRACT), "0x1") == "0x"
    assert await env.rpc("eth_getStorageAt", hx(CONTRACT), "0x0", "latest") == hx((1).to_bytes(32, "big"))
    assert await env.rpc("eth_getStorageAt", hx(CONTRACT), hx(bytes(32)), "latest") == hx(
        (1).to_bytes(32, "big")
    )
    assert await env.rpc("eth_getStorageAt", hx(CONTRACT), "0x1") == hx(bytes(32))


async def test_state_reads_at_unknown_blocks(env: Env) -> None:
    assert await env.error("eth_getBalance", hx(ALICE), "0x9") == {
        "code": -32000,
        "message": "header not found",
    }
    error = await env.error("eth_getBalance", hx(ALICE), {"blockHash": hx(keccak256(b"x"))})
    assert error == {"code": -32000, "message": "header for hash not found"}
    error = await env.error("eth_getBalance", hx(ALICE), {"blockHash": hx(ZERO32), "blockNumber": "0x1"})
    assert error["code"] == -32602 and "both" in error["message"]
    error = await env.error("eth_getBalance", hx(ALICE), "newest")
    assert error["code"] == -32602 and "'latest'" in error["message"]


async def test_pending_nonce_counts_the_pool(env: Env) -> None:
    assert await env.rpc("eth_getTransactionCount", hx(ALICE), "pending") == "0x4"
    for nonce in (4, 5, 7):  # 7 leaves a gap: not counted
        await env.rpc("eth_sendRawTransaction", hx(alice_tx(nonce).to_raw()))
    assert await env.rpc("eth_getTransactionCount", hx(ALICE), "pending") == "0x6"
    assert await env.rpc("eth_getTransactionCount", hx(ALICE), "latest") == "0x4"
    # a pool that lags behind the state never lowers the answer
    env.pool.nonces.clear()
    env.pool.state_nonces.clear()
    assert await env.rpc("eth_getTransactionCount", hx(ALICE), "pending") == "0x4"


async def test_send_raw_transaction_errors(env: Env) -> None:
    env.pool.refuse = lambda raw: "nonce too low: the transaction has nonce 0, the sender's next nonce is 4"
    error = await env.error("eth_sendRawTransaction", hx(alice_tx(0).to_raw()))
    assert error == {
        "code": -32000,
        "message": "nonce too low: the transaction has nonce 0, the sender's next nonce is 4",
    }
    env.pool.refuse = None
    assert (await env.error("eth_sendRawTransaction", "0x"))["code"] == -32602
    assert (await env.error("eth_sendRawTransaction", "0x123"))["code"] == -32602
    assert (await env.error("eth_sendRawTransaction"))["code"] == -32602
    env.pool.down = True
    error = await env.error("eth_sendRawTransaction", hx(alice_tx(4).to_raw()))
    assert error["code"] == -32000 and "unavailable" in error["message"]
    error = await env.error("eth_getTransactionCount", hx(ALICE), "pending")
    assert error["code"] == -32000 and "unavailable" in error["message"]
    assert await env.rpc("eth_getTransactionCount", hx(ALICE), "latest") == "0x4"


# -- logs -------------------------------------------------------------------------------------------------


async def test_get_logs(env: Env) -> None:
    every = await env.rpc("eth_getLogs", {"fromBlock": "earliest", "toBlock": "latest"})
    assert [(log["blockNumber"], log["logIndex"]) for log in every] == [
        ("0x2", "0x0"),
        ("0x2", "0x1"),
        ("0x5", "0x0"),
    ]
    assert every[2]["blockHash"] == hx(env.writer.blocks[5].hash)
    assert await env.rpc("eth_getLogs", {}) == [every[2]]  # default: latest to latest
    by_address = await env.rpc("eth_getLogs", {"fromBlock": "0x0", "address": hx(CONTRACT)})
    assert len(by_address) == 2
    assert len(await env.rpc("eth_getLogs", {"fromBlock": "0x0", "address": [hx(CONTRACT), hx(ALICE)]})) == 3
    topic_b = await env.rpc("eth_getLogs", {"fromBlock": "0x0", "topics": [hx(TOPIC_B)]})
    assert [log["blockNumber"] for log in topic_b] == ["0x2", "0x5"]
    second = await env.rpc("eth_getLogs", {"fromBlock": "0x0", "topics": [None, hx((1).to_bytes(32, "big"))]})
    assert len(second) == 1 and second[0]["logIndex"] == "0x0"
    either = await env.rpc("eth_getLogs", {"fromBlock": "0x0", "topics": [[hx(TOPIC_A), hx(TOPIC_B)]]})
    assert len(either) == 3
    in_block = await env.rpc("eth_getLogs", {"blockHash": hx(env.writer.blocks[2].hash)})
    assert len(in_block) == 2
    assert await env.rpc("eth_getLogs", {"fromBlock": "0x9", "toBlock": "latest"}) == []
    assert await env.rpc("eth_getLogs", {"fromBlock": "0x1", "toBlock": "0x99"}) == [*every[:2], every[2]]


async def test_get_logs_errors(env: Env) -> None:
    error = await env.error("eth_getLogs", {"fromBlock": "0x3", "toBlock": "0x1"})
    assert error == {"code": -32602, "message": "invalid block range"}
    error = await env.error("eth_getLogs", {"blockHash": hx(ZERO32), "fromBlock": "0x1"})
    assert error["code"] == -32602 and "cannot specify both" in error["message"]
    assert (await env.error("eth_getLogs", {"blockHash": hx(keccak256(b"x"))}))["message"] == "unknown block"
    error = await env.error("eth_getLogs", {"topics": [None] * 5})
    assert error["code"] == -32602 and "at most 4" in error["message"]
    error = await env.error("eth_getLogs", {"address": "0x12"})
    assert error["code"] == -32602 and "address" in error["message"]


async def test_get_logs_bounds_are_invalid_params() -> None:
    env = build_env(max_logs=2)
    try:
        error = await env.error("eth_getLogs", {"fromBlock": "0x0"})
        assert error == {"code": -32602, "message": "query returned more than 2 results"}
    finally:
        env.statedb.close()


# -- eth_call / eth_estimateGas -------------------------------------------------------------------------


async def test_call_runs_on_the_requested_blocks_state(env: Env) -> None:
    result = await env.rpc("eth_call", {"from": hx(ALICE), "to": hx(CONTRACT), "input": "0x01"}, "0x2")
    assert result == "0x2a"
    call = env.executor.calls[-1]
    assert call.state_root == root(2) and call.timestamp == GENESIS_TIME + 10 and call.coinbase == COINBASE
    assert call.sender == ALICE and call.nonce == 2 and call.data == b"\x01" and call.gas == 30_000_000
    assert call.batch_number == 1 and call.gas_price == 0
    await env.rpc("eth_call", {"to": hx(CONTRACT), "data": "0x02", "gas": "0x5208", "gasPrice": "0x1"})
    call = env.executor.calls[-1]
    assert call.state_root == root(5) and call.sender == bytes.fromhex("11" * 20) and call.gas == 21_000
    assert call.gas_price == 1


async def test_call_errors(env: Env) -> None:
    reason = (
        bytes.fromhex("08c379a0")
        + (32).to_bytes(32, "big")
        + (4).to_bytes(32, "big")
        + b"nope".ljust(32, b"\0")
    )
    env.executor.outcome = lambda call: CallOutcome("EXECUTION_REVERTED", 100, 0, reason)
    error = await env.error("eth_call", {"to": hx(CONTRACT)})
    assert error == {"code": 3, "message": "execution reverted: nope", "data": hx(reason)}
    error = await env.error("eth_estimateGas", {"to": hx(CONTRACT)})
    assert error["code"] == 3 and error["data"] == hx(reason)
    env.executor.outcome = lambda call: CallOutcome("EXECUTION_REVERTED", 100, 0, b"")
    assert await env.error("eth_call", {"to": hx(CONTRACT)}) == {
        "code": 3,
        "message": "execution reverted",
        "data": "0x",
    }
    env.executor.outcome = lambda call: CallOutcome("INVALID_OPCODE", 100, 0, b"")
    assert await env.error("eth_call", {"to": hx(CONTRACT)}) == {"code": -32000, "message": "invalid opcode"}
    error = await env.error("eth_call", {"from": hx(ALICE)})
    assert error == {"code": -32000, "message": "contract creation without data provided"}
    error = await env.error("eth_call", {"to": hx(CONTRACT), "data": "0x01", "input": "0x02"})
    assert error["code"] == -32602
    assert (await env.error("eth_call", "0x12"))["code"] == -32602
    assert (await env.error("eth_call", {"to": hx(CONTRACT)}, "0x99"))["message"] == "header not found"


async def test_estimate_gas_of_a_transfer_takes_two_runs(env: Env) -> None:
    assert await env.rpc("eth_estimateGas", {"from": hx(ALICE), "to": hx(BOB), "value": "0x1"}) == hex(21_000)
    assert [c.gas for c in env.executor.calls] == [30_000_000, 21_000]


# -- zkevm ------------------------------------------------------------------------------------------------


async def test_zkevm_batch_numbers_and_block_status(env: Env) -> None:
    assert await env.rpc("zkevm_batchNumber") == "0x3"
    assert await env.rpc("zkevm_virtualBatchNumber") == "0x2"
    assert await env.rpc("zkevm_verifiedBatchNumber") == "0x1"
    assert await env.rpc("zkevm_consolidatedBlockNumber") == "0x3"
    assert await env.rpc("zkevm_isBlockVirtualized", "0x4") is True
    assert await env.rpc("zkevm_isBlockVirtualized", "0x5") is False
    assert await env.rpc("zkevm_isBlockConsolidated", "0x3") is True
    assert await env.rpc("zkevm_isBlockConsolidated", "0x4") is False
    assert await env.rpc("zkevm_batchNumberByBlockNumber", "0x2") == "0x1"
    assert await env.rpc("zkevm_batchNumberByBlockNumber", "0x0") == "0x0"
    assert await env.rpc("zkevm_batchNumberByBlockNumber", "0x63") is None
    assert (await env.error("zkevm_isBlockVirtualized"))["code"] == -32602


async def test_zkevm_get_batch_by_number(env: Env) -> None:
    batch = await env.rpc("zkevm_getBatchByNumber", "0x1")
    stored = env.statedb.batches.get_batch(1)
    assert stored is not None
    assert batch["number"] == "0x1" and batch["closed"] is True and "forcedBatchNumber" not in batch
    assert batch["coinbase"] == hx(COINBASE) and batch["stateRoot"] == hx(root(3))
    assert batch["accInputHash"] == hx(stored.acc_input_hash or b"") and batch["timestamp"] == hex(
        GENESIS_TIME + 10
    )
    assert batch["batchL2Data"] == hx(stored.batch_l2_data)
    assert batch["blocks"] == [hx(b.hash) for b in env.writer.blocks[1:4]]
    assert batch["transactions"] == [hx(t.tx_hash()) for t in env.txs[:3]]
    assert batch["sendSequencesTxHash"] == hx(keccak256(b"l1 tx 101"))
    assert batch["verifyBatchTxHash"] == hx(keccak256(b"l1 tx 102"))
    assert batch["mainnetExitRoot"] == hx(ZERO32) and batch["globalExitRoot"] == hx(ZERO32)
    full = await env.rpc("zkevm_getBatchByNumber", "0x1", True)
    assert [b["number"] for b in full["blocks"]] == ["0x1", "0x2", "0x3"]
    assert full["blocks"][1]["transactions"] == [hx(env.txs[1].tx_hash())]
    assert full["transactions"][2]["to"] is None
    assert (await env.rpc("zkevm_getBatchByNumber", "latest"))["number"] == "0x3"
    latest = await env.rpc("zkevm_getBatchByNumber", "latest")
    assert latest["sendSequencesTxHash"] is None and latest["verifyBatchTxHash"] is None
    assert (await env.rpc("zkevm_getBatchByNumber", "safe"))["number"] == "0x2"
    assert (await env.rpc("zkevm_getBatchByNumber", "finalized"))["number"] == "0x1"
    assert (await env.rpc("zkevm_getBatchByNumber", "earliest"))["blocks"] == [hx(env.writer.blocks[0].hash)]
    assert await env.rpc("zkevm_getBatchByNumber", "0x9") is None


async def test_an_empty_statedb() -> None:
    statedb = open_statedb("sqlite:///:memory:")
    try:
        chain = StateDBChain(
            statedb.blocks, statedb.batches, statedb.virtual_batches, statedb.verified_batches
        )
        env = Env(
            statedb,
            ChainWriter(statedb),
            MemoryState(),
            MemoryPool(),
            ScriptedExecutor(),
            dispatcher_over(chain),
            [],
        )
        assert await env.rpc("eth_blockNumber") == "0x0"
        assert await env.rpc("eth_getBlockByNumber", "latest", False) is None
        assert await env.rpc("eth_getBlockByNumber", "pending", False) is None
        assert await env.rpc("eth_getLogs", {}) == []
        assert await env.rpc("zkevm_batchNumber") == "0x0"
        assert await env.rpc("zkevm_getBatchByNumber", "latest") is None
        assert (await env.error("eth_getBalance", hx(ALICE)))["message"] == "header not found"
    finally:
        statedb.close()

"""The EthTxManager on a real anvil (from contracts/node_modules), started in process on port 0 with
a SQLite StateDB in a temporary folder (and once on PostgreSQL, in a schema of its own).

Each test starts its own anvil, so nonces start at 0 and mining modes do not leak between tests:
    * sequences of the rollup confirmed in order, with no nonce gap (the accInputHash chain on L1
      is the one of the ids' order);
    * Add is idempotent over gRPC; a reverting estimate is REVERTED; a mined revert is FAILED with
      the rollup's error name;
    * a stuck transaction (automine off, the next base fee raised with
      anvil_setNextBlockBaseFeePerGas) is re-sent with higher fees and mined once, when mining resumes;
    * a dropped transaction (anvil_dropAllTransactions) is broadcast again;
    * an L1 reorg (anvil_reorg) sends a mined transaction back; it ends confirmed on the new chain.
The restart tests (the service as a child process, SIGKILLed mid-flight) are in
test_ethtxmanager_restart.py, and use the helpers here.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from grpc import aio
from web3 import Web3

from protos.ethtxmanager.v1 import ethtxmanager_pb2 as pb
from services.common.grpc_client import UnaryMethod
from services.common.l1.anvil import Anvil, AnvilError, find_anvil, rpc_call
from services.common.l1.artifacts import CONTRACTS_DIR
from services.common.l1.client import RollupClient
from services.common.l1.deploy import RollupParams, deploy_rollup
from services.common.l1.rollup import BatchData, encode_sequence_batches
from services.common.l1.testkeys import ANVIL_TEST_KEYS, anvil_test_address
from services.common.statedb import MonitoredTxStatus
from services.ethtxmanager.app import RunningEthTxManager, start_ethtxmanager
from services.ethtxmanager.config import EthTxManagerConfig
from services.ethtxmanager.servicer import SERVICE_NAME
from zkevm.batch import Hash32, acc_input_hash, batch_hash_data
from zkevm.state_keys import Address

pytestmark = pytest.mark.integration

S = MonitoredTxStatus
T = TypeVar("T")
CHAIN_ID = 31337
GWEI = 10**9
#: TEST-ONLY anvil account 1: the sequencer's L1 key here; account 0 deploys the contracts
SEQUENCER_INDEX = 1
SEQUENCER = anvil_test_address(SEQUENCER_INDEX)
RECIPIENT = bytes.fromhex(anvil_test_address(2)[2:])
L2_COINBASE = Address(bytes.fromhex("00000000000000000000000000000000000c0ffe"))
GENESIS_ROOT = bytes.fromhex("27ae5ba08d7291c96c8cbddcc148bf48a6d68c7974b94356f53754ef6171d757")
ZERO = Hash32(bytes(32))


# ---------------------------------------------------------------------------------------------
# helpers (also used by test_ethtxmanager_restart.py)


def ensure_anvil() -> None:
    """anvil from contracts/node_modules, installed with `npm ci` if it is not there yet."""
    try:
        find_anvil()
    except AnvilError:
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed, so anvil cannot be installed into contracts/node_modules")
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            check=False,
            cwd=CONTRACTS_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            pytest.skip(f"`npm ci` in contracts/ failed, so there is no anvil:\n{result.stderr[-2000:]}")


def call(node: Anvil, method: str, *params: object) -> Any:
    return rpc_call(node.rpc_url, method, list(params))


def txs_from(node: Anvil, address: str) -> list[dict[str, Any]]:
    """Every transaction `address` has in the canonical chain, in block order."""
    head = int(call(node, "eth_blockNumber"), 16)
    found = []
    for number in range(head + 1):
        block = call(node, "eth_getBlockByNumber", hex(number), True)
        found += [tx for tx in block["transactions"] if tx["from"].lower() == address.lower()]
    return found


def manager_config(node: Anvil, statedb_url: str, **overrides: Any) -> EthTxManagerConfig:
    fields: dict[str, Any] = {
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "metrics_host": "127.0.0.1",
        "metrics_port": 0,
        "l1_rpc_url": node.rpc_url,
        "chain_id": CHAIN_ID,
        "private_key": ANVIL_TEST_KEYS[SEQUENCER_INDEX],
        "statedb_url": statedb_url,
        "poll_interval_s": 0.1,
        "stuck_after_s": 30.0,
        "shutdown_grace_s": 1.0,
    }
    fields.update(overrides)
    return EthTxManagerConfig(**fields)


async def wait_for(what: str, check: Callable[[], Awaitable[T | None]], timeout_s: float = 20.0) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.05)


@dataclass
class Client:
    """The EthTxManager's gRPC methods, as a caller (the sequence sender) has them."""

    add: UnaryMethod[pb.AddRequest, pb.AddResponse]
    result: UnaryMethod[pb.ResultRequest, pb.MonitoredTx]
    list: UnaryMethod[pb.ListRequest, pb.ListResponse]

    @classmethod
    def over(cls, channel: aio.Channel) -> Client:
        base = f"/{SERVICE_NAME}/"
        return cls(
            UnaryMethod(channel, base + "Add", pb.AddResponse, 10),
            UnaryMethod(channel, base + "Result", pb.MonitoredTx, 10),
            UnaryMethod(channel, base + "List", pb.ListResponse, 10),
        )

    async def status(self, tx_id: str) -> int:
        return (await self.result(pb.ResultRequest(id=tx_id))).status

    async def until(self, tx_id: str, status: int, timeout_s: float = 20.0) -> pb.MonitoredTx:
        async def reached() -> pb.MonitoredTx | None:
            tx = await self.result(pb.ResultRequest(id=tx_id))
            return tx if tx.status == status else None

        return await wait_for(f"{tx_id} to be {pb.MonitoredTxStatus.Name(status)}", reached, timeout_s)


def transfer(tx_id: str, data: bytes | None = None, **fields: Any) -> pb.AddRequest:
    return pb.AddRequest(id=tx_id, owner="test", to=RECIPIENT, data=data or tx_id.encode(), **fields)


@dataclass
class Running:
    node: Anvil
    service: RunningEthTxManager
    client: Client

    def metric(self, name: str, **labels: str) -> float:
        value = self.service.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


@pytest.fixture
def anvil_factory() -> Iterator[Callable[..., Anvil]]:
    ensure_anvil()
    nodes: list[Anvil] = []

    def start(**kwargs: Any) -> Anvil:
        node = Anvil.start(**kwargs)
        nodes.append(node)
        return node

    yield start
    for node in nodes:
        node.stop()


@pytest.fixture
async def start_manager(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Running]]]:
    started: list[tuple[RunningEthTxManager, aio.Channel]] = []

    async def start(node: Anvil, statedb_url: str | None = None, **overrides: Any) -> Running:
        url = statedb_url or f"sqlite:///{tmp_path}/statedb.db"
        service = await start_ethtxmanager(manager_config(node, url, **overrides))
        channel = aio.insecure_channel(f"127.0.0.1:{service.port}")
        started.append((service, channel))
        return Running(node, service, Client.over(channel))

    yield start
    for service, channel in started:
        await channel.close(grace=None)
        await service.stop()


# ---------------------------------------------------------------------------------------------
# sequences of the rollup, in order


def deploy(node: Anvil) -> RollupClient:
    w3 = Web3(Web3.HTTPProvider(node.rpc_url))
    params = RollupParams(
        trusted_sequencer=SEQUENCER, chain_id=1001, genesis_root=GENESIS_ROOT, network_name="zkseq-test"
    )
    deployment = deploy_rollup(w3, ANVIL_TEST_KEYS[0], params)
    return RollupClient(w3, deployment.rollup)


def sequence(number: int, timestamp: int) -> BatchData:
    return BatchData(f"batch {number}".encode(), ZERO, timestamp)


async def sequences_confirmed_in_order(running: Running, count: int) -> None:
    node, client = running.node, running.client
    rollup = deploy(node)
    to = bytes.fromhex(rollup.address[2:])
    timestamp = int(call(node, "eth_getBlockByNumber", "latest", False)["timestamp"], 16)
    ids = [f"sequence-from-{i}-to-{i}" for i in range(1, count + 1)]
    responses = []
    for i, tx_id in enumerate(ids, 1):  # one after the other, as the sequence sender adds them
        request = pb.AddRequest(
            id=tx_id,
            owner="sequencer",
            to=to,
            data=encode_sequence_batches([sequence(i, timestamp)], L2_COINBASE),
            gas_limit=300_000,
        )
        responses.append(await client.add(request))
    assert {r.outcome for r in responses} == {pb.ADD_OUTCOME_ADDED}
    for tx_id in ids:
        await client.until(tx_id, pb.MONITORED_TX_STATUS_CONFIRMED)
    results = [await client.result(pb.ResultRequest(id=tx_id)) for tx_id in ids]
    on_chain = txs_from(node, SEQUENCER)
    assert sorted(int(tx["nonce"], 16) for tx in on_chain) == list(range(count))  # no gap, no repeat
    assert len({r.nonce for r in results}) == count
    assert {bytes(r.mined_tx_hash) for r in results} == {bytes.fromhex(tx["hash"][2:]) for tx in on_chain}
    # the L1 accInputHash chain is the one of the batches in the order the sequences were added…
    assert rollup.last_batch_sequenced() == count
    acc = ZERO
    by_nonce = sorted(results, key=lambda r: r.nonce)
    for i, result in enumerate(by_nonce, 1):
        batch = sequence(i, timestamp)
        acc = acc_input_hash(acc, batch_hash_data(batch.transactions), ZERO, timestamp, L2_COINBASE)
        assert rollup.sequenced_batch(i).acc_input_hash == acc
        assert result.id == f"sequence-from-{i}-to-{i}"  # …which is also the nonce order


async def test_sequences_are_confirmed_in_order_without_nonce_gaps(
    anvil_factory: Callable[..., Anvil], start_manager: Callable[..., Awaitable[Running]]
) -> None:
    node = anvil_factory(block_time_s=0.5)
    running = await start_manager(node)
    await sequences_confirmed_in_order(running, 12)
    assert running.metric("zkseq_ethtxmanager_finished_total", status="confirmed") == 12
    assert running.metric("zkseq_ethtxmanager_pending_txs", status="sent") == 0
    assert running.metric("zkseq_ethtxmanager_gas_spent_wei_total") > 0


async def test_sequences_on_postgresql(
    anvil_factory: Callable[..., Anvil],
    start_manager: Callable[..., Awaitable[Running]],
    pg_dsn: str,
    pg_schema: str,
) -> None:
    node = anvil_factory()
    running = await start_manager(node, f"{pg_dsn}?schema={pg_schema}")
    await sequences_confirmed_in_order(running, 5)


# ---------------------------------------------------------------------------------------------
# Add over gRPC; reverts


async def test_add_is_idempotent_and_reverts_are_named(
    anvil_factory: Callable[..., Anvil], start_manager: Callable[..., Awaitable[Running]]
) -> None:
    node = anvil_factory()
    running = await start_manager(node)
    client = running.client
    first = await client.add(transfer("t-1", value="5"))
    assert first.outcome == pb.ADD_OUTCOME_ADDED and getattr(first, "from").hex() == SEQUENCER[2:].lower()
    again = await client.add(transfer("t-1", value="5"))
    assert again.outcome == pb.ADD_OUTCOME_ALREADY_ADDED and again.gas_limit == first.gas_limit
    with pytest.raises(aio.AioRpcError) as caught:
        await client.add(transfer("t-1", value="6"))
    assert caught.value.code() is grpc.StatusCode.ALREADY_EXISTS
    confirmed = await client.until("t-1", pb.MONITORED_TX_STATUS_CONFIRMED)
    assert (await client.add(transfer("t-1", value="5"))).outcome == pb.ADD_OUTCOME_ALREADY_ADDED
    assert len(txs_from(node, SEQUENCER)) == 1
    receipt = call(node, "eth_getTransactionReceipt", "0x" + bytes(confirmed.mined_tx_hash).hex())
    assert confirmed.gas_used == int(receipt["gasUsed"], 16) > 21_000
    assert int(confirmed.effective_gas_price) == int(receipt["effectiveGasPrice"], 16)
    assert confirmed.block_hash == bytes.fromhex(receipt["blockHash"][2:])

    rollup = deploy(node)
    to = bytes.fromhex(rollup.address[2:])
    empty = encode_sequence_batches([], L2_COINBASE)
    estimated = await client.add(pb.AddRequest(id="empty-sequence", owner="sequencer", to=to, data=empty))
    assert estimated.outcome == pb.ADD_OUTCOME_REVERTED
    assert estimated.revert_reason == "SequenceZeroBatches"
    with pytest.raises(aio.AioRpcError) as caught:
        await client.result(pb.ResultRequest(id="empty-sequence"))
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND  # nothing was stored
    mined = await client.add(
        pb.AddRequest(id="empty-sequence", owner="sequencer", to=to, data=empty, gas_limit=100_000)
    )
    assert mined.outcome == pb.ADD_OUTCOME_ADDED
    failed = await client.until("empty-sequence", pb.MONITORED_TX_STATUS_FAILED)
    assert failed.revert_reason == "SequenceZeroBatches"
    assert failed.block_number > 0 and len(failed.mined_tx_hash) == 32
    assert running.metric("zkseq_ethtxmanager_finished_total", status="failed") == 1


# ---------------------------------------------------------------------------------------------
# stuck, dropped, reorged


async def test_a_stuck_transaction_is_resent_with_higher_fees_and_mined_once(
    anvil_factory: Callable[..., Anvil], start_manager: Callable[..., Awaitable[Running]]
) -> None:
    node = anvil_factory()
    call(node, "evm_setAutomine", False)
    running = await start_manager(node, stuck_after_s=1.0, fee_bump_percent=25)
    client = running.client
    await client.add(transfer("stuck"))
    sent = await client.until("stuck", pb.MONITORED_TX_STATUS_SENT)
    first_fee = int(sent.gas_price)

    async def fee_at_least(fee: int) -> pb.MonitoredTx | None:
        tx = await client.result(pb.ResultRequest(id="stuck"))
        return tx if int(tx.gas_price) >= fee else None

    # 1. nothing is mined: after STUCK_AFTER_S the same nonce goes out again, 25 % dearer
    resent = await wait_for("a re-send with higher fees", lambda: fee_at_least(first_fee * 125 // 100), 10)
    assert len(resent.attempt_hashes) == 2 and resent.nonce == sent.nonce
    assert running.metric("zkseq_ethtxmanager_resends_total", reason="stuck") == 1
    # 2. the base fee jumps far above the offer: anvil mines a block without it and forgets it
    call(node, "anvil_setNextBlockBaseFeePerGas", hex(100 * GWEI))
    call(node, "evm_mine")
    assert int(call(node, "eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16) == 100 * GWEI
    assert txs_from(node, SEQUENCER) == []
    # the manager follows the node's fees (2 × the next base fee + tip), never going down
    repriced = await wait_for("a re-send above the base fee", lambda: fee_at_least(100 * GWEI), 10)
    assert repriced.nonce == sent.nonce
    # 3. mining resumes: one transaction, the latest attempt
    call(node, "evm_mine")
    confirmed = await client.until("stuck", pb.MONITORED_TX_STATUS_CONFIRMED)
    assert confirmed.mined_tx_hash == confirmed.attempt_hashes[-1]
    on_chain = txs_from(node, SEQUENCER)
    assert len(on_chain) == 1 and on_chain[0]["hash"] == "0x" + bytes(confirmed.mined_tx_hash).hex()
    assert int(confirmed.effective_gas_price) >= 87 * GWEI  # the base fee after the 100 gwei block
    assert len(confirmed.attempt_hashes) >= 3  # first, stuck, above the new base fee


async def test_a_dropped_transaction_is_broadcast_again(
    anvil_factory: Callable[..., Anvil], start_manager: Callable[..., Awaitable[Running]]
) -> None:
    node = anvil_factory(no_mining=True)
    running = await start_manager(node)
    client = running.client
    await client.add(transfer("dropped"))
    sent = await client.until("dropped", pb.MONITORED_TX_STATUS_SENT)
    tx_hash = "0x" + bytes(sent.attempt_hashes[0]).hex()

    async def in_mempool() -> bool:
        return call(node, "eth_getTransactionByHash", tx_hash) is not None

    await wait_for("the broadcast", in_mempool)
    call(node, "anvil_dropAllTransactions")
    assert call(node, "eth_getTransactionByHash", tx_hash) is None
    await wait_for("the transaction back in the mempool", in_mempool, 10)
    assert running.metric("zkseq_ethtxmanager_resends_total", reason="dropped") >= 1
    call(node, "evm_mine")
    confirmed = await client.until("dropped", pb.MONITORED_TX_STATUS_CONFIRMED)
    assert list(confirmed.attempt_hashes) == [confirmed.mined_tx_hash]  # the same bytes again
    assert len(txs_from(node, SEQUENCER)) == 1


async def test_an_l1_reorg_sends_the_transaction_back_and_it_confirms_on_the_new_chain(
    anvil_factory: Callable[..., Anvil], start_manager: Callable[..., Awaitable[Running]]
) -> None:
    node = anvil_factory(no_mining=True)
    running = await start_manager(node, confirmations=3)
    client = running.client
    await client.add(transfer("reorged"))
    sent = await client.until("reorged", pb.MONITORED_TX_STATUS_SENT)

    async def in_mempool() -> bool:
        return call(node, "eth_getTransactionByHash", "0x" + bytes(sent.attempt_hashes[0]).hex()) is not None

    await wait_for("the broadcast", in_mempool)
    call(node, "evm_mine")
    mined = await client.until("reorged", pb.MONITORED_TX_STATUS_MINED)
    assert mined.confirmations == 1
    call(node, "anvil_reorg", 1, [])  # the block is replaced by an empty one: the transaction is gone
    assert call(node, "eth_getTransactionReceipt", "0x" + bytes(mined.mined_tx_hash).hex()) is None
    back = await client.until("reorged", pb.MONITORED_TX_STATUS_SENT)
    assert back.block_number == 0 and not back.mined_tx_hash
    await wait_for("the broadcast after the reorg", in_mempool, 10)
    call(node, "evm_mine")
    again = await client.until("reorged", pb.MONITORED_TX_STATUS_MINED)
    assert again.block_hash != mined.block_hash
    call(node, "evm_mine")
    call(node, "evm_mine")
    confirmed = await client.until("reorged", pb.MONITORED_TX_STATUS_CONFIRMED)
    canonical = call(node, "eth_getBlockByNumber", hex(confirmed.block_number), False)
    assert canonical["hash"] == "0x" + bytes(confirmed.block_hash).hex()
    assert len(txs_from(node, SEQUENCER)) == 1
    assert running.metric("zkseq_ethtxmanager_reorgs_total") == 1

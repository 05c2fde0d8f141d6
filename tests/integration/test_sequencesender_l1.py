"""The sequence sender and its L1 watcher on a real anvil, with the real EthTxManager process.

One anvil for the module (contracts/node_modules); each test deploys its own contract suite
(services/common/l1/deploy.py) and writes closed batches into a StateDB of its own (a SQLite file),
through the repositories, with real signed transfers (zkevm.transaction) and zkevm.batch's
accInputHash chain — what the sequencer writes. The EthTxManager runs as a process
(`python -m services.ethtxmanager`) on the same StateDB file, holding the trusted sequencer's
TEST-ONLY key.

    stream          closed batches keep coming; all become virtual with L1's accInputHash equal
                    to zkseq's; several batches per L1 transaction; verifyBatchesTrustedAggregator
                    makes them verified; zkevm_virtualBatchNumber / zkevm_isBlockVirtualized /
                    zkevm_verifiedBatchNumber (the JSON-RPC server over the same StateDB) agree
    forced          forceBatch from an EOA → stored for the sequencer (transactions from the
                    calldata, minForcedTimestamp = the block's timestamp) → a trusted batch carrying
                    it is sequenced and L1 accepts it as the forced batch
    alarm           a wrong local accInputHash → the process stops sending; status RPC, metric, log
    reorg           evm_snapshot / evm_revert under the watcher: rows removed, then re-read
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from web3 import Web3

from protos.sequencesender.v1 import sequencesender_pb2 as pb
from services.common.l1.anvil import Anvil, AnvilError, find_anvil, rpc_call
from services.common.l1.client import GlobalExitRootClient, RollupClient
from services.common.l1.deploy import RollupDeployment, RollupParams, deploy_rollup
from services.common.l1.rollup import (
    BatchData,
    encode_force_batch,
    encode_sequence_batches,
    encode_verify_batches_trusted_aggregator,
)
from services.common.l1.testkeys import ANVIL_TEST_KEYS, anvil_test_address
from services.common.l1.transact import send_transaction
from services.common.logs import EventLogger
from services.common.process import ServiceProcess, spawn_service
from services.common.statedb import StateDB, open_statedb
from services.jsonrpc.app import RunningJsonRpc, start_jsonrpc
from services.jsonrpc.config import JsonRpcConfig
from services.sequencesender.alarms import AlarmBoard
from services.sequencesender.app import RunningSequenceSender, start_sequencesender
from services.sequencesender.client import SequenceSenderClient
from services.sequencesender.config import SequenceSenderConfig
from services.sequencesender.ethtxmanager_client import GrpcTxManager
from services.sequencesender.l1 import Web3L1
from services.sequencesender.metrics import SequenceSenderMetrics
from services.sequencesender.ports import L1Unavailable, TxStatus
from services.sequencesender.watcher import L1Watcher, WatcherSettings
from tests.unit.test_sequencesender_twins import L2_COINBASE, ChainBuilder, state_root
from zkevm.batch import Hash32

pytestmark = pytest.mark.integration

ADMIN, SEQUENCER, AGGREGATOR, BRIDGE, USER = 0, 1, 2, 3, 4
L2_CHAIN_ID = 1001
OWNER = "sequencesender"


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    try:
        find_anvil()
    except AnvilError as exc:
        pytest.fail(f"no anvil ({exc}); run `npm ci` in contracts/")
    node = Anvil.start()
    yield node
    node.stop()


@pytest.fixture(scope="module")
def w3(anvil: Anvil) -> Web3:
    return Web3(Web3.HTTPProvider(anvil.rpc_url))


@dataclass
class Setup:
    w3: Web3
    anvil: Anvil
    deployment: RollupDeployment
    rollup: RollupClient
    statedb_url: str
    statedb: StateDB
    chain: ChainBuilder

    def latest_timestamp(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def close(self, count: int = 1, transfers: int = 1, **kwargs: Any) -> None:
        for _ in range(count):
            self.chain.close_batch(transfers, timestamp=self.latest_timestamp(), **kwargs)

    def virtual(self) -> dict[int, bytes]:
        rows = {}
        for number in range(1, self.chain.number + 1):
            row = self.statedb.virtual_batches.get(number)
            if row is not None:
                rows[number] = bytes(row.acc_input_hash)
        return rows

    def sender_config(self, ethtxmanager_port: int, **changes: Any) -> SequenceSenderConfig:
        return SequenceSenderConfig(
            grpc_host="127.0.0.1",
            grpc_port=0,
            metrics_enabled=False,
            l1_rpc_url=self.anvil.rpc_url,
            rollup_address=self.deployment.rollup,
            global_exit_root_manager_address=self.deployment.global_exit_root_manager,
            statedb_url=self.statedb_url,
            ethtxmanager_address=f"127.0.0.1:{ethtxmanager_port}",
            owner=OWNER,
            l2_coinbase="0x" + L2_COINBASE.hex(),
            partial_sequence_wait_s=0.0,
            send_interval_s=0.05,
            watch_interval_s=0.05,
            start_block=self.deployment.block_number,
            **changes,
        )

    def sender_env(self, ethtxmanager_port: int) -> dict[str, str]:
        p = "ZKSEQ_SEQUENCESENDER_"
        return {
            f"{p}GRPC_ADDRESS": "127.0.0.1:0",
            f"{p}METRICS_ADDRESS": "127.0.0.1:0",
            f"{p}L1_RPC_URL": self.anvil.rpc_url,
            f"{p}ROLLUP_ADDRESS": self.deployment.rollup,
            f"{p}GLOBAL_EXIT_ROOT_MANAGER_ADDRESS": self.deployment.global_exit_root_manager,
            f"{p}STATEDB_URL": self.statedb_url,
            f"{p}ETHTXMANAGER_ADDRESS": f"127.0.0.1:{ethtxmanager_port}",
            f"{p}L2_COINBASE": "0x" + L2_COINBASE.hex(),
            f"{p}PARTIAL_SEQUENCE_WAIT_S": "0",
            f"{p}SEND_INTERVAL_S": "0.05",
            f"{p}WATCH_INTERVAL_S": "0.05",
            f"{p}START_BLOCK": str(self.deployment.block_number),
        }


@pytest.fixture
def setup(w3: Web3, anvil: Anvil, tmp_path: Path) -> Iterator[Setup]:
    params = RollupParams(
        trusted_sequencer=anvil_test_address(SEQUENCER),
        trusted_aggregator=anvil_test_address(AGGREGATOR),
        admin=anvil_test_address(ADMIN),
        bridge=anvil_test_address(BRIDGE),
        chain_id=L2_CHAIN_ID,
        genesis_root=state_root(0),
        force_batch_timeout_s=3600,
    )
    deployment = deploy_rollup(w3, ANVIL_TEST_KEYS[ADMIN], params)
    url = f"sqlite:///{tmp_path / 'statedb.db'}"
    statedb = open_statedb(url)
    chain = ChainBuilder(statedb, timestamp=int(w3.eth.get_block("latest")["timestamp"]))
    yield Setup(w3, anvil, deployment, RollupClient(w3, deployment.rollup), url, statedb, chain)
    statedb.close()


@pytest.fixture
async def ethtxmanager(setup: Setup) -> AsyncIterator[ServiceProcess]:
    p = "ZKSEQ_ETHTXMANAGER_"
    env = {
        f"{p}GRPC_ADDRESS": "127.0.0.1:0",
        f"{p}METRICS_ENABLED": "false",
        f"{p}L1_RPC_URL": setup.anvil.rpc_url,
        f"{p}CHAIN_ID": str(setup.w3.eth.chain_id),
        f"{p}PRIVATE_KEY": ANVIL_TEST_KEYS[SEQUENCER],
        f"{p}STATEDB_URL": setup.statedb_url,
        f"{p}CONFIRMATIONS": "1",
        f"{p}POLL_INTERVAL_S": "0.05",
    }
    process = await spawn_service("services.ethtxmanager", env, "ethtxmanager_serving")
    yield process
    assert await process.stop() == 0, "".join(process.log_lines[-20:])


@pytest.fixture
async def sequencesender(setup: Setup, ethtxmanager: ServiceProcess) -> AsyncIterator[RunningSequenceSender]:
    running = await start_sequencesender(setup.sender_config(int(ethtxmanager.ready["port"])))
    yield running
    await running.stop()


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], timeout_s: float = 30.0, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        outcome = check()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.05)


async def jsonrpc(running: RunningJsonRpc, method: str, *params: object) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()

    def post() -> Any:
        request = urllib.request.Request(running.url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())["result"]

    return await asyncio.to_thread(post)


# ---------------------------------------------------------------------------------------------


async def test_a_stream_of_closed_batches_becomes_virtual_then_verified(
    setup: Setup, sequencesender: RunningSequenceSender
) -> None:
    setup.close(6, transfers=2)  # waiting before the sender looks: one sequence takes them all
    for _ in range(5):
        await asyncio.sleep(0.25)
        setup.close(2)
    total = setup.chain.number
    await eventually(lambda: len(setup.virtual()) == total, what=f"{total} virtual batches")

    # every batch virtual, with L1's accInputHash equal to the one zkseq stored
    local = {n: setup.statedb.batches.get_batch(n) for n in range(1, total + 1)}
    assert setup.virtual() == {n: bytes(b.acc_input_hash or b"") for n, b in local.items() if b}
    rows = [setup.statedb.virtual_batches.get(n) for n in range(1, total + 1)]
    per_tx: dict[bytes, list[int]] = {}
    for row in rows:
        assert row is not None
        per_tx.setdefault(row.l1_tx_hash, []).append(row.batch_number)
    for numbers in per_tx.values():
        end = max(numbers)
        assert setup.rollup.sequenced_batch(end).acc_input_hash == local[end].acc_input_hash  # type: ignore[union-attr]
    assert max(len(n) for n in per_tx.values()) >= 6, per_tx
    assert len(per_tx) < total
    assert setup.rollup.last_batch_sequenced() == total

    # the aggregator verifies up to the last batch: verified rows
    last = local[total]
    assert last is not None and last.state_root is not None
    send_transaction(
        setup.w3,
        ANVIL_TEST_KEYS[AGGREGATOR],
        to=setup.deployment.rollup,
        data=encode_verify_batches_trusted_aggregator(
            init_num_batch=0,
            final_new_batch=total,
            new_local_exit_root=bytes(32),
            new_state_root=last.state_root,
        ),
    )
    await eventually(
        lambda: setup.statedb.verified_batches.last_verified_batch_number() == total, what="verified rows"
    )
    assert all(setup.statedb.verified_batches.get(n) is not None for n in range(1, total + 1))

    # what the JSON-RPC server reads from the same StateDB
    api = await start_jsonrpc(
        JsonRpcConfig.from_env(
            {
                "ZKSEQ_JSONRPC_HTTP_ADDRESS": "127.0.0.1:0",
                "ZKSEQ_JSONRPC_METRICS_ENABLED": "false",
                "ZKSEQ_JSONRPC_STATEDB_URL": setup.statedb_url,
            }
        )
    )
    try:
        assert await jsonrpc(api, "zkevm_virtualBatchNumber") == hex(total)
        assert await jsonrpc(api, "zkevm_verifiedBatchNumber") == hex(total)
        last_block = setup.chain.l2_block.number
        assert await jsonrpc(api, "zkevm_isBlockVirtualized", hex(last_block)) is True
        assert await jsonrpc(api, "zkevm_isBlockVirtualized", hex(last_block + 1)) is False
    finally:
        await api.stop()

    async with grpc.aio.insecure_channel(f"127.0.0.1:{sequencesender.port}") as channel:
        status = await SequenceSenderClient(channel).GetStatus(pb.GetStatusRequest())
    assert status.sending and not status.HasField("alarm")
    assert (status.last_closed_batch, status.last_virtual_batch, status.last_verified_batch) == (total,) * 3
    assert status.last_batch_sequenced_l1 == total


async def test_a_forced_batch_is_stored_for_the_sequencer_and_sequenced_in_order(
    setup: Setup, sequencesender: RunningSequenceSender
) -> None:
    setup.close(2)
    transactions = setup.statedb.batches.get_batch(1).batch_l2_data  # type: ignore[union-attr]
    receipt = send_transaction(
        setup.w3, ANVIL_TEST_KEYS[USER], to=setup.deployment.rollup, data=encode_force_batch(transactions)
    )
    forced_at = int(setup.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
    await eventually(lambda: bool(setup.statedb.forced_batches.pending()), what="the forced batch")
    (forced,) = setup.statedb.forced_batches.pending()
    assert forced.forced_batch_number == 1
    assert forced.batch_l2_data == transactions  # from the calldata: an EOA's event carries none
    assert forced.timestamp == forced_at
    assert forced.l1_block_number == receipt["blockNumber"]
    assert forced.sender == bytes.fromhex(anvil_test_address(USER)[2:])
    ger = GlobalExitRootClient(setup.w3, setup.deployment.global_exit_root_manager).last_global_exit_root()
    assert forced.global_exit_root == ger

    # the sequencer takes it into a batch of its own; the sender sequences it as the forced batch
    setup.chain.close_forced_batch(forced, timestamp=setup.latest_timestamp())
    setup.close(1)
    total = setup.chain.number
    await eventually(lambda: len(setup.virtual()) == total, what="virtual batches")
    assert setup.rollup.last_force_batch_sequenced() == 1
    assert setup.statedb.forced_batches.pending() == []


async def test_a_wrong_local_acc_input_hash_raises_the_alarm_and_stops_sequencing(
    setup: Setup, ethtxmanager: ServiceProcess
) -> None:
    setup.close(2)
    setup.close(1, acc_input_hash_override=Hash32(b"\xee" * 32))
    setup.close(1)
    sender = await spawn_service(
        "services.sequencesender", setup.sender_env(int(ethtxmanager.ready["port"])), "sequencesender_serving"
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{sender.ready['port']}") as channel:
            client = SequenceSenderClient(channel)

            async def stopped() -> bool:
                return not (await client.GetStatus(pb.GetStatusRequest())).sending

            await eventually(stopped, what="the alarm")
            status = await client.GetStatus(pb.GetStatusRequest())
            alarm = status.alarm
            logs = "".join(sender.log_lines[-30:])
            assert alarm.batch_number == 3, f"{status}\n{logs}"
            assert alarm.kind == pb.ALARM_KIND_ACC_INPUT_HASH_MISMATCH
            assert alarm.batch_number == 3
            assert alarm.local_hash == b"\xee" * 32
            assert len(alarm.l1_hash) == 32 and alarm.l1_hash != alarm.local_hash
            # the block is recorded before its alarm is raised: batches 1 and 2 are virtual already
            assert status.last_virtual_batch == 2, f"{status}\n{logs}"

            # more closed batches: nothing is sent any more
            setup.close(2)
            await asyncio.sleep(1.0)
            status = await client.GetStatus(pb.GetStatusRequest())
            assert not status.sending and status.in_flight == []
            assert status.waiting_for == "alarm"
        async with grpc.aio.insecure_channel(f"127.0.0.1:{ethtxmanager.ready['port']}") as channel:
            sequences = await GrpcTxManager(channel, owner=OWNER).list(list(TxStatus))
        assert [s.id for s in sequences] == ["sequence:1-4"]
        assert setup.rollup.last_batch_sequenced() == 4
        assert sorted(setup.virtual()) == [1, 2]

        metrics_url = f"http://127.0.0.1:{sender.ready['metrics_port']}/metrics"
        text = await asyncio.to_thread(lambda: urllib.request.urlopen(metrics_url, timeout=5).read().decode())
        assert "zkseq_sequencesender_acc_input_hash_mismatch 1.0" in text
        alarm_lines = [line for line in sender.log_lines if '"sequencing_alarm"' in line]
        assert alarm_lines and json.loads(alarm_lines[0])["level"] == "error"
    finally:
        sender.send(signal.SIGTERM)
        assert await sender.wait(15) == 0


async def test_web3l1_reads_agree_with_web3s_contract_calls(setup: Setup) -> None:
    """The plain JSON-RPC reads (eth_abi-encoded views, one batch per sequenced state) answer what
    web3's contract machinery answers, at the pinned block too; failures are L1Unavailable."""
    setup.close(2)
    batches = [setup.statedb.batches.get_batch(n) for n in (1, 2)]
    data = encode_sequence_batches(
        [BatchData(b.batch_l2_data, b.global_exit_root, b.timestamp) for b in batches if b], L2_COINBASE
    )
    send_transaction(setup.w3, ANVIL_TEST_KEYS[SEQUENCER], to=setup.deployment.rollup, data=data)
    l1 = Web3L1(setup.anvil.rpc_url, setup.deployment.rollup)
    try:
        state = await l1.sequenced_state()
        number = state.block_number
        assert number == setup.w3.eth.block_number
        assert state.last_batch_sequenced == setup.rollup.last_batch_sequenced(number) == 2
        assert state.acc_input_hash == setup.rollup.sequenced_batch(2, number).acc_input_hash
        assert state.last_timestamp == setup.rollup.last_timestamp(number) > 0
        assert state.last_force_batch_sequenced == setup.rollup.last_force_batch_sequenced(number)
        assert await l1.sequenced_batch(1, number) == setup.rollup.sequenced_batch(1, number)
        assert await l1.trusted_sequencer() == anvil_test_address(SEQUENCER)
        manager = await l1.global_exit_root_manager()
        assert manager == Web3.to_checksum_address(setup.deployment.global_exit_root_manager)
        block = setup.w3.eth.get_block(number)
        header = await l1.header(number)
        assert header is not None and header.number == number and header.hash == bytes(block["hash"])
        assert header.parent_hash == bytes(block["parentHash"]) and header.timestamp == block["timestamp"]
        assert (await l1.latest_header()).number >= number and await l1.head_number() >= number
        assert await l1.header(number + 1000) is None
    finally:
        await l1.close()

    not_a_rollup = Web3L1(setup.anvil.rpc_url, anvil_test_address(USER))  # an account without code
    unreachable = Web3L1("http://127.0.0.1:9", setup.deployment.rollup, timeout_s=2)
    try:
        with pytest.raises(L1Unavailable, match=r"trustedSequencer\(\): the answer '0x' does not decode"):
            await not_a_rollup.trusted_sequencer()
        with pytest.raises(L1Unavailable, match=r"^eth_blockNumber: ClientConnectorError"):
            await unreachable.sequenced_state()
    finally:
        await not_a_rollup.close()
        await unreachable.close()


async def test_an_l1_reorg_of_the_watchers_view_is_rewound_and_read_again(setup: Setup) -> None:
    setup.close(3)
    batches = [setup.statedb.batches.get_batch(n) for n in (1, 2, 3)]
    data = encode_sequence_batches(
        [BatchData(b.batch_l2_data, b.global_exit_root, b.timestamp) for b in batches if b], L2_COINBASE
    )
    l1 = Web3L1(setup.anvil.rpc_url, setup.deployment.rollup)
    metrics = SequenceSenderMetrics()
    watcher = L1Watcher(
        l1=l1,
        l1_blocks=setup.statedb.l1_blocks,
        batches=setup.statedb.batches,
        virtual_batches=setup.statedb.virtual_batches,
        verified_batches=setup.statedb.verified_batches,
        alarms=AlarmBoard(metrics, EventLogger("test.alarms")),
        metrics=metrics,
        log=EventLogger("test.watcher"),
        settings=WatcherSettings(start_block=setup.deployment.block_number),
    )

    async def caught_up() -> bool:
        result = await watcher.poll_once()
        return not (result.behind or result.reorg or result.raced)

    try:
        snapshot = rpc_call(setup.anvil.rpc_url, "evm_snapshot", [])
        first = send_transaction(setup.w3, ANVIL_TEST_KEYS[SEQUENCER], to=setup.deployment.rollup, data=data)
        rpc_call(setup.anvil.rpc_url, "evm_mine", [])
        await eventually(caught_up, what="the watcher")
        assert sorted(setup.virtual()) == [1, 2, 3]
        row = setup.statedb.virtual_batches.get(1)
        assert row is not None and row.l1_block_number == first["blockNumber"]

        # L1 forgets the sequence and grows another branch past the recorded blocks
        assert rpc_call(setup.anvil.rpc_url, "evm_revert", [snapshot]) is True
        for _ in range(3):
            rpc_call(setup.anvil.rpc_url, "evm_mine", [])
        result = await watcher.poll_once()
        assert result.reorg
        await eventually(caught_up, what="the watcher after the reorg")
        assert setup.virtual() == {}
        assert metrics.registry.get_sample_value("zkseq_sequencesender_l1_reorgs_total") == 1

        # the sequence lands again, in a block of the new branch
        again = send_transaction(setup.w3, ANVIL_TEST_KEYS[SEQUENCER], to=setup.deployment.rollup, data=data)
        await eventually(caught_up, what="the watcher")
        assert setup.virtual() == {b.number: bytes(b.acc_input_hash or b"") for b in batches if b}
        row = setup.statedb.virtual_batches.get(1)
        assert row is not None and row.l1_tx_hash == bytes(again["transactionHash"])
        for number in range(setup.deployment.block_number, setup.w3.eth.block_number + 1):
            recorded = setup.statedb.l1_blocks.get(number)
            assert recorded is None or recorded.hash == bytes(setup.w3.eth.get_block(number)["hash"])
    finally:
        await l1.close()

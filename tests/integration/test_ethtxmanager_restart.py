"""`python -m services.ethtxmanager` as a child process on a real anvil, SIGKILLed mid-flight and
started again over the same SQLite StateDB: every id ends confirmed exactly once, and the chain holds
exactly one transaction per id from the manager's address, at consecutive nonces.

The caller behaves as the sequence sender does after an EthTxManager crash: it repeats its Adds
(idempotent) once the service is back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from grpc import aio

from protos.ethtxmanager.v1 import ethtxmanager_pb2 as pb
from services.common.l1.anvil import Anvil
from services.common.l1.testkeys import ANVIL_TEST_KEYS
from services.common.process import ServiceProcess, spawn_service
from tests.integration.test_ethtxmanager_anvil import (
    CHAIN_ID,
    SEQUENCER,
    SEQUENCER_INDEX,
    Client,
    anvil_factory,
    call,
    transfer,
    txs_from,
    wait_for,
)

pytestmark = pytest.mark.integration

__all__ = ["anvil_factory"]  # the fixture, shared with test_ethtxmanager_anvil.py


def service_env(node: Anvil, statedb: Path, key_file: Path) -> dict[str, str]:
    key_file.write_text(ANVIL_TEST_KEYS[SEQUENCER_INDEX])  # TEST-ONLY key, as a mounted Secret would be
    return {
        "ZKSEQ_ETHTXMANAGER_GRPC_ADDRESS": "127.0.0.1:0",
        "ZKSEQ_ETHTXMANAGER_METRICS_ADDRESS": "127.0.0.1:0",
        "ZKSEQ_ETHTXMANAGER_L1_RPC_URL": node.rpc_url,
        "ZKSEQ_ETHTXMANAGER_CHAIN_ID": str(CHAIN_ID),
        "ZKSEQ_ETHTXMANAGER_PRIVATE_KEY_FILE": str(key_file),
        "ZKSEQ_ETHTXMANAGER_STATEDB_URL": f"sqlite:///{statedb}",
        "ZKSEQ_ETHTXMANAGER_POLL_INTERVAL_S": "0.1",
        "ZKSEQ_ETHTXMANAGER_STUCK_AFTER_S": "30",
        "ZKSEQ_ETHTXMANAGER_SHUTDOWN_GRACE_S": "1",
    }


@pytest.fixture
async def spawn() -> AsyncIterator[Callable[[dict[str, str]], Awaitable[tuple[ServiceProcess, Client]]]]:
    started: list[tuple[ServiceProcess, aio.Channel]] = []

    async def start(env: dict[str, str]) -> tuple[ServiceProcess, Client]:
        process = await spawn_service("services.ethtxmanager", env, "ethtxmanager_serving")
        channel = aio.insecure_channel(f"127.0.0.1:{process.ready['port']}")
        started.append((process, channel))
        return process, Client.over(channel)

    yield start
    for process, channel in started:
        await channel.close(grace=None)
        if process.process.returncode is None:
            process.send(signal.SIGKILL)
            await process.wait(10)


async def kill(process: ServiceProcess) -> None:
    process.send(signal.SIGKILL)
    assert await process.wait(10) == -signal.SIGKILL


async def add_all(client: Client, ids: list[str]) -> Counter[int]:
    outcomes: Counter[int] = Counter()
    for tx_id in ids:
        outcomes[(await client.add(transfer(tx_id))).outcome] += 1
    return outcomes


async def all_confirmed(client: Client, ids: list[str], timeout_s: float) -> list[pb.MonitoredTx]:
    async def done() -> list[pb.MonitoredTx] | None:
        listed = await client.list(pb.ListRequest(owner="test"))
        if len(listed.txs) == len(ids) and all(
            t.status == pb.MONITORED_TX_STATUS_CONFIRMED for t in listed.txs
        ):
            return list(listed.txs)
        return None

    return await wait_for(f"all {len(ids)} transactions confirmed", done, timeout_s)


def assert_each_id_once_on_chain(node: Anvil, ids: list[str], results: list[pb.MonitoredTx]) -> None:
    on_chain = txs_from(node, SEQUENCER)
    assert sorted(int(tx["nonce"], 16) for tx in on_chain) == list(range(len(ids)))
    # the calldata is the id: every id exactly once, nothing else from the manager's address
    assert sorted(bytes.fromhex(tx["input"][2:]).decode() for tx in on_chain) == sorted(ids)
    mined = {bytes.fromhex(tx["hash"][2:]) for tx in on_chain}
    assert {bytes(r.mined_tx_hash) for r in results} == mined
    assert int(call(node, "eth_getTransactionCount", SEQUENCER, "latest"), 16) == len(ids)


async def test_sigkill_mid_flight_twice_loses_and_duplicates_nothing(
    anvil_factory: Callable[..., Anvil],
    spawn: Callable[[dict[str, str]], Awaitable[tuple[ServiceProcess, Client]]],
    tmp_path: Path,
) -> None:
    node = anvil_factory(block_time_s=1)
    env = service_env(node, tmp_path / "statedb.db", tmp_path / "l1.key")
    env["ZKSEQ_ETHTXMANAGER_CONFIRMATIONS"] = "3"  # so the second kill finds some mined, unconfirmed
    ids = [f"tx-{i:02d}" for i in range(30)]

    first, client = await spawn(env)
    outcomes = await add_all(client, ids[:20])
    assert outcomes == {pb.ADD_OUTCOME_ADDED: 20}
    await kill(first)  # at once: some sent, some maybe only stored

    second, client = await spawn(env)
    outcomes = await add_all(client, ids)  # the caller repeats everything, and adds more
    assert outcomes == {pb.ADD_OUTCOME_ALREADY_ADDED: 20, pb.ADD_OUTCOME_ADDED: 10}
    await asyncio.sleep(1.2)  # a block or so: some mined, none confirmed yet
    in_flight = await client.list(pb.ListRequest(owner="test"))
    assert len(in_flight.txs) == 30
    await kill(second)

    _, client = await spawn(env)
    assert await add_all(client, ids) == {pb.ADD_OUTCOME_ALREADY_ADDED: 30}
    results = await all_confirmed(client, ids, 30)
    assert sorted(r.nonce for r in results) == list(range(30))
    assert_each_id_once_on_chain(node, ids, results)


async def test_sigkill_while_the_l1_mempool_is_lost_rebroadcasts_everything_once(
    anvil_factory: Callable[..., Anvil],
    spawn: Callable[[dict[str, str]], Awaitable[tuple[ServiceProcess, Client]]],
    tmp_path: Path,
) -> None:
    node = anvil_factory(no_mining=True)
    env = service_env(node, tmp_path / "statedb.db", tmp_path / "l1.key")
    ids = [f"tx-{i:02d}" for i in range(10)]
    first, client = await spawn(env)
    await add_all(client, ids)

    async def all_sent() -> bool:
        listed = await client.list(pb.ListRequest(owner="test", statuses=[pb.MONITORED_TX_STATUS_SENT]))
        pending = call(node, "txpool_content")["pending"]
        return len(listed.txs) == 10 and sum(len(by_nonce) for by_nonce in pending.values()) == 10

    await wait_for("10 transactions in anvil's mempool", all_sent)
    await kill(first)
    call(node, "anvil_dropAllTransactions")  # the L1 node lost its mempool meanwhile

    _, client = await spawn(env)

    async def all_back() -> bool:
        pending = call(node, "txpool_content")["pending"]
        return sum(len(by_nonce) for by_nonce in pending.values()) == 10

    await wait_for("the 10 transactions broadcast again", all_back)
    call(node, "evm_mine")
    results = await all_confirmed(client, ids, 10)
    assert_each_id_once_on_chain(node, ids, results)
    for result in results:  # every attempt carries the transaction's one nonce
        assert 1 <= len(result.attempt_hashes) <= 2


async def test_exit_codes_bad_configuration_and_sigterm(
    anvil_factory: Callable[..., Anvil],
    spawn: Callable[[dict[str, str]], Awaitable[tuple[ServiceProcess, Client]]],
    tmp_path: Path,
) -> None:
    node = anvil_factory()
    env = service_env(node, tmp_path / "statedb.db", tmp_path / "l1.key")
    bad = {**env, "ZKSEQ_ETHTXMANAGER_CHAIN_ID": "1", "ZKSEQ_ETHTXMANAGER_FEE_BUMP_PERCENT": "5"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.ethtxmanager",
        env={**os.environ, **bad},
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    assert process.returncode == 2
    assert b"FEE_BUMP_PERCENT: 5 is below the minimum 10" in stderr
    assert ANVIL_TEST_KEYS[SEQUENCER_INDEX][2:].encode() not in stderr

    wrong_chain = {**env, "ZKSEQ_ETHTXMANAGER_CHAIN_ID": "1"}
    with pytest.raises(Exception, match="is chain 31337"):
        await spawn(wrong_chain)

    service, client = await spawn(env)
    await client.add(transfer("graceful"))
    await client.until("graceful", pb.MONITORED_TX_STATUS_CONFIRMED)
    url = f"http://127.0.0.1:{service.ready['metrics_port']}/metrics"
    metrics = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    for line in (
        'zkseq_ethtxmanager_finished_total{status="confirmed"} 1.0',
        'zkseq_ethtxmanager_pending_txs{status="sent"} 0.0',
        'zkseq_ethtxmanager_resends_total{reason="stuck"} 0.0',
        "zkseq_ethtxmanager_confirmation_latency_seconds_count 1.0",
        "zkseq_ethtxmanager_gas_used_total 21",
        "zkseq_ethtxmanager_l1_balance_wei 9.99",  # anvil's 10,000 ETH less what was spent
    ):
        assert line in metrics, line
    service.send(signal.SIGTERM)
    assert await service.wait(10) == 0
    assert any('"event": "ethtxmanager_stopped"' in line for line in service.log_lines)
    assert not any(ANVIL_TEST_KEYS[SEQUENCER_INDEX][2:] in line for line in service.log_lines)

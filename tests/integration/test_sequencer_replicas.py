"""The sequencer over TWO real executor processes on one HashDB (EXECUTOR_URL a comma-separated list).

* both executors serve the sequencer's calls while batches close, as each one's own /metrics
  counts its ProcessBatch calls: with EXECUTOR_SPREAD=primary (the default) one takes every call
  until it is killed and the other then takes over; with affinity the chain runs on one and the
  closed batches' re-executions on the other from the start;
* the executor that carries the chain of pre-executions is killed with SIGKILL while transactions
  flow and is not started again: the sequencer goes on with the other one (what the dead one had
  not flushed is executed again there), every transaction is in the StateDB exactly once, in nonce
  order per sender, the pool is empty, and re-executing every closed batch from the genesis gives
  the chain's roots — on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import signal
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.common.process import ServiceProcess, spawn_service
from services.sequencer.executors import Spread
from services.sequencer.limits import BatchLimits
from tests.integration.pool_fixtures import free_port
from tests.integration.sequencer_fixtures import (
    Stack,
    backend_kwargs,
    genesis_of,
    running_stack,
    transfers,
    wait_until,
    wallet,
)
from zkevm.transaction import L2Transaction

pytestmark = pytest.mark.integration

SENDERS = [wallet(f"replicas {i}") for i in range(40)]


def load(nonces: int) -> list[L2Transaction]:
    return transfers(SENDERS, nonces, 2000)


class Replica:
    """One executor process with its gRPC and metrics ports."""

    def __init__(self, process: ServiceProcess, port: int, metrics_port: int) -> None:
        self.process = process
        self.port = port
        self.metrics_port = metrics_port
        self.address = f"127.0.0.1:{port}"

    def process_batch_calls(self) -> float:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        for family in text_string_to_metric_families(text):
            if family.name == "zkseq_executor_process_batch_duration_seconds":
                return sum(s.value for s in family.samples if s.name.endswith("_count"))
        raise AssertionError("the executor exports no zkseq_executor_process_batch_duration_seconds")


async def spawn_replica(stack: Stack) -> Replica:
    port, metrics_port = free_port(), free_port()
    process = await spawn_service(
        "services.executor",
        {
            "ZKSEQ_EXECUTOR_GRPC_ADDRESS": f"127.0.0.1:{port}",
            "ZKSEQ_EXECUTOR_METRICS_ADDRESS": f"127.0.0.1:{metrics_port}",
            "ZKSEQ_EXECUTOR_HASHDB_URL": f"127.0.0.1:{stack.hashdb.port}",
            "ZKSEQ_EXECUTOR_ROOT_WAIT_S": "0.5",
            "ZKSEQ_EXECUTOR_HASHDB_TIMEOUT_S": "5",
        },
        "executor_serving",
    )
    return Replica(process, port, metrics_port)


@pytest.fixture(params=["sqlite", "postgres"])
async def two_executors(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Stack, list[Replica]]]:
    async with running_stack(tmp_path, genesis_of(SENDERS), **backend_kwargs(request)) as stack:
        await stack.stop_executor()  # the stack's own in-process executor: two processes instead
        replicas: list[Replica] = []
        try:
            replicas = [await spawn_replica(stack), await spawn_replica(stack)]
            yield stack, replicas
        finally:
            await stack.stop_sequencer()
            for replica in replicas:
                await replica.process.stop(10)


@pytest.mark.parametrize("spread", [Spread.PRIMARY, Spread.AFFINITY])
async def test_two_executors_serve_the_sequencer_and_one_killed_loses_nothing(
    two_executors: tuple[Stack, list[Replica]], spread: Spread
) -> None:
    stack, replicas = two_executors
    running = await stack.start_sequencer(
        executor_url=",".join(r.address for r in replicas),
        executor_spread=spread,
        executor_lost_after_s=1.0,
        limits=BatchLimits(max_txs=20),
        batch_time_limit_s=0.5,
    )
    assert sorted(running.executor.addresses) == sorted(r.address for r in replicas)
    txs = load(5)
    # two waves: the second is sent after the kill, so the survivor must execute it (with groups
    # of transactions per call, the first wave may be executed whole before any kill could land)
    first_wave = txs[: 3 * len(SENDERS)]
    hashes = await stack.submit(*first_wave)

    async def some() -> bool:
        closed = await stack.closed_batches()
        return len(await stack.recorded_hashes()) >= 60 and len(closed) >= 2

    await wait_until(some, 90, "60 transactions recorded and 2 batches closed")
    calls = [r.process_batch_calls() for r in replicas]
    if spread is Spread.PRIMARY:
        # one executor takes every call while it answers, the other stands by
        assert sorted(calls)[0] == 0 and sorted(calls)[1] > 0, f"ProcessBatch calls per executor: {calls}"
    else:
        # the chain on one, the closed batches' re-executions on the other
        assert all(c > 0 for c in calls), f"ProcessBatch calls per executor: {calls}"

    # kill the executor that carries the chain, mid-run, for good (not the one with more calls:
    # with groups of transactions per call, a batch's re-execution can be as many calls as its chain)
    chain_address = running.executor.chain_address
    assert chain_address in (replicas[0].address, replicas[1].address)
    chain, survivor = (
        (replicas[0], replicas[1]) if chain_address == replicas[0].address else (replicas[1], replicas[0])
    )
    survivor_before = survivor.process_batch_calls()
    chain.process.send(signal.SIGKILL)
    assert await chain.process.wait(10) == -signal.SIGKILL
    hashes += await stack.submit(*txs[len(first_wave) :])

    await stack.wait_recorded(hashes, timeout_s=120)
    assert survivor.process_batch_calls() > survivor_before, "the survivor took the chain over"
    # so batches closed with calls on both executors: the killed one before, the survivor after
    assert calls[replicas.index(chain)] > 0
    answering = running.registry.get_sample_value("zkseq_sequencer_executor_replicas", {"state": "answering"})
    assert answering == 1
    lost = sum(
        running.registry.get_sample_value("zkseq_sequencer_executor_flushes_lost_total", {"reason": r}) or 0
        for r in ("replica_lost", "replica_restarted", "replica_gone")
    )
    replays = running.registry.get_sample_value("zkseq_sequencer_replays_total") or 0
    assert replays == 0 or lost > 0, "a replay happens only after flushes were lost"

    async def all_closed() -> bool:
        closed = await stack.closed_batches()
        in_closed = sum(len(stack.db().blocks.blocks_of_batch(b.number)) for b in closed)
        gauge = running.registry.get_sample_value("zkseq_sequencer_last_closed_batch")
        return in_closed == len(hashes) and gauge == max(b.number for b in closed)

    # every transaction in a closed batch (the time limit closes the last one), and the trusted
    # batch gauge at the last closed batch
    await wait_until(all_closed, 30, "every transaction in a closed batch")
    await stack.stop_sequencer()

    # the final root, re-executed from the genesis batch by batch, is the last closed batch's
    closed = await stack.closed_batches()
    assert await stack.check_chain(hashes, txs) == closed[-1].state_root

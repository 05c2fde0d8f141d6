"""Crashes and restarts, with real services and both StateDB backends.

* the sequencer as its own process (`python -m services.sequencer`), killed with SIGKILL in the
  middle of a batch and started again: every transaction is in the StateDB exactly once, in nonce
  order per sender, the pool is empty, and re-executing every closed batch from the genesis gives
  the chain's roots;
* the executor as its own process, killed with SIGKILL while transactions flow and started again on
  the same port: the sequencer retries with backoff, writes nothing while it is down (the last
  recorded root stays readable in the HashDB), executes again what the dead executor had not
  flushed, and goes on;
* a restart that finds a recorded block the executor disagrees with halts loudly (status, health,
  exit code 3 for the process);
* batch timestamps from an L1 node (anvil, its clock far behind this machine's), the status RPC and
  the /metrics endpoint.
"""

from __future__ import annotations

import asyncio
import signal
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.hashdb.v1 import hashdb_pb2 as hpb
from services.common.grpc_client import UnaryMethod
from services.common.l1.anvil import Anvil, rpc_call
from services.common.process import spawn_service
from services.sequencer.limits import BatchLimits
from services.sequencer.work import SequencerHalted
from tests.integration.sequencer_fixtures import (
    Stack,
    backend_kwargs,
    ensure_anvil,
    genesis_of,
    recipient,
    running_stack,
    sequencer_config,
    sequencer_env,
    sequencer_status,
    transfers,
    wait_until,
    wallet,
)
from zkevm.field import bytes_to_h4
from zkevm.state_keys import nonce_key
from zkevm.transaction import L2Transaction

pytestmark = pytest.mark.integration

SENDERS = [wallet(f"restart {i}") for i in range(40)]


def load(nonces: int) -> list[L2Transaction]:
    return transfers(SENDERS, nonces, 1000)


@pytest.fixture(params=["sqlite", "postgres"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, genesis_of(SENDERS), **backend_kwargs(request)) as s:
        yield s


@pytest.fixture(params=["sqlite", "postgres"])
async def stack_with_executor_process(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(
        tmp_path, genesis_of(SENDERS), executor_subprocess=True, **backend_kwargs(request)
    ) as s:
        yield s


async def test_sigkill_mid_batch_and_restart_loses_and_duplicates_nothing(stack: Stack) -> None:
    # the pool is loaded while the sequencer is stopped (after its first start wrote the genesis the
    # pool reads): it takes a sender's next nonces in its groups, and would otherwise keep up with
    # the submissions, leaving no open batch with more to come; one transaction per call and per
    # StateDB write, so that a batch of 30 is written block by block and the kill lands inside an
    # open batch; group replays have engine tests
    first = await stack.spawn_sequencer(limits=BatchLimits(max_txs=30), batch_time_limit_s=0.5)
    await first.stop(30)
    txs = load(10)
    hashes = await stack.submit(*txs)
    process = await stack.spawn_sequencer(
        # batches close on their count only (not on time)
        limits=BatchLimits(max_txs=30),
        batch_time_limit_s=30,
        max_group_txs=1,
        max_blocks_per_write=1,
    )

    async def mid_batch() -> bool:
        """Two batches closed, the open one with 3 or more blocks, and more to come."""
        if len(await stack.closed_batches()) < 2 or len(await stack.recorded_hashes()) >= len(hashes):
            return False
        open_batch = await asyncio.to_thread(stack.db().batches.get_open_batch)
        if open_batch is None:
            return False
        blocks = await asyncio.to_thread(stack.db().blocks.blocks_of_batch, open_batch.number)
        return len(blocks) >= 3

    async def frozen_mid_batch() -> bool:
        # the sequencer is frozen (SIGSTOP) while the StateDB is read, so what the check sees is
        # what the kill leaves, however slow the reads are on a loaded machine; a commit already on
        # its way to the database lands in the pause before the reads
        process.send(signal.SIGSTOP)
        await asyncio.sleep(0.2)
        if await mid_batch():
            return True
        process.send(signal.SIGCONT)
        await asyncio.sleep(0.05)
        return False

    await wait_until(frozen_mid_batch, 60, "an open batch with 3 or more blocks after two closed ones")
    process.send(signal.SIGKILL)
    assert await process.wait(10) == -signal.SIGKILL
    before = await stack.recorded_hashes()
    assert len(before) < len(hashes)
    open_batch = await asyncio.to_thread(stack.db().batches.get_open_batch)
    assert open_batch is not None, "the batch closed between the check and the kill; run again"
    open_blocks = await asyncio.to_thread(stack.db().blocks.blocks_of_batch, open_batch.number)

    await stack.spawn_sequencer(limits=BatchLimits(max_txs=30), batch_time_limit_s=0.5)
    await stack.wait_recorded(hashes, timeout_s=90)
    after = await stack.recorded_hashes()
    assert after[: len(before)] == before  # the recorded chain was kept as it was
    # the batch open at the kill was filled on from its recorded blocks, then closed
    blocks = await asyncio.to_thread(stack.db().blocks.blocks_of_batch, open_batch.number)
    assert blocks[: len(open_blocks)] == open_blocks

    async def closed() -> bool:
        batch = await asyncio.to_thread(stack.db().batches.get_batch, open_batch.number)
        return batch is not None and batch.closed

    await wait_until(closed, 30, f"batch {open_batch.number} closed")

    async def settled() -> bool:
        stats = await stack.pool_stats()
        return stats.pending == 0 and stats.selected == 0

    await wait_until(settled, 30, "the pool emptied")
    assert stack.sequencer_process is not None
    assert await stack.sequencer_process.stop(15) == 0
    stack.sequencer_process = None
    await stack.check_chain(hashes, txs)


async def test_executor_killed_and_back(stack_with_executor_process: Stack) -> None:
    stack = stack_with_executor_process
    running = await stack.start_sequencer(limits=BatchLimits(max_txs=25), batch_time_limit_s=0.5)
    txs = load(4)
    hashes = await stack.submit(*txs)

    async def some() -> bool:
        return len(await stack.recorded_hashes()) >= 40

    await wait_until(some, 60, "40 transactions recorded")
    assert stack.executor_process is not None
    stack.executor_process.send(signal.SIGKILL)
    await stack.executor_process.wait(10)
    stack.executor_process = None
    await asyncio.sleep(0.5)  # what was flushed before the kill is written, then nothing more
    frozen = await stack.recorded_hashes()
    await asyncio.sleep(1.0)
    assert await stack.recorded_hashes() == frozen, "the StateDB moved while the executor was down"
    # the last recorded state is durable: its root is readable in the HashDB
    last = await asyncio.to_thread(stack.db().blocks.block_by_number, len(frozen))
    assert last is not None
    async with aio.insecure_channel(f"127.0.0.1:{stack.hashdb.port}") as channel:
        get_many = UnaryMethod[hpb.GetManyRequest, hpb.GetManyResponse](
            channel, "/hashdb.v1.HashDBService/GetMany", hpb.GetManyResponse, 5
        )
        root = bytes_to_h4(last.state_root)
        key = nonce_key(SENDERS[0].address)
        await get_many(
            hpb.GetManyRequest(
                root=hpb.Fea(fe0=root[0], fe1=root[1], fe2=root[2], fe3=root[3]),
                keys=[hpb.Fea(fe0=key[0], fe1=key[1], fe2=key[2], fe3=key[3])],
            )
        )
    await stack.start_executor(subprocess=True)  # the same port
    await stack.wait_recorded(hashes, timeout_s=90)
    # the sequencer saw the outage: a call failed and was retried, or (when the kill came while
    # it waited only on flushes) the restarted replica's unstored flushes were counted as lost
    registry = running.registry
    retries = registry.get_sample_value("zkseq_sequencer_executor_retries_total", {"reason": "unavailable"})
    lost = sum(
        registry.get_sample_value("zkseq_sequencer_executor_flushes_lost_total", {"reason": reason}) or 0.0
        for reason in ("replica_restarted", "replica_lost")
    )
    assert (retries or 0.0) + lost > 0, "the sequencer did not notice the executor was killed"
    await stack.stop_sequencer()
    await stack.check_chain(hashes, txs)


async def test_a_recorded_block_the_executor_disagrees_with_halts_at_restart(stack: Stack) -> None:
    await stack.start_sequencer(batch_time_limit_s=60)
    hashes = await stack.submit(*[w.transfer(0, recipient(i)) for i, w in enumerate(SENDERS[:3])])
    await stack.wait_recorded(hashes)
    await stack.stop_sequencer()

    def tamper() -> None:
        with stack.db().database.transaction() as tx:
            genesis_root = stack.genesis.state_root()
            tx.execute("UPDATE l2_blocks SET state_root = ? WHERE number = 2", (genesis_root,))

    await asyncio.to_thread(tamper)
    running = await stack.start_sequencer(batch_time_limit_s=60)
    with pytest.raises(SequencerHalted, match="block 2 has state root"):
        await asyncio.wait_for(running.done, 30)
    status = await sequencer_status(running.port)
    assert status.halted and "re-executed" in status.halt_reason
    async with aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    assert health.status == health_pb2.HealthCheckResponse.NOT_SERVING

    # the process says so with its exit code
    config = sequencer_config(stack, grpc_port=0)
    process = await spawn_service("services.sequencer", sequencer_env(config), "sequencer_serving")
    assert await process.wait(30) == 3
    assert any('"sequencer_halted"' in line for line in process.log_lines)


async def test_status_metrics_and_timestamps_from_an_l1_node(tmp_path: Path) -> None:
    l1_time = 1_750_000_000
    await asyncio.to_thread(ensure_anvil)
    anvil = await asyncio.to_thread(Anvil.start, extra_args=["--timestamp", str(l1_time), "--no-mining"])
    try:
        async with running_stack(tmp_path, genesis_of(SENDERS)) as stack:
            running = await stack.start_sequencer(
                batch_time_limit_s=0.3, l1_rpc_url=anvil.rpc_url, metrics_enabled=True, metrics_port=0
            )
            hashes = await stack.submit(*[w.transfer(0, recipient(i)) for i, w in enumerate(SENDERS[:2])])
            await stack.wait_recorded(hashes)
            status = await sequencer_status(running.port)
            assert status.chain_id == 1001 and not status.halted
            assert status.open_batch.number == 1 and status.open_batch.timestamp == l1_time
            assert 0 < status.open_batch.fill.txs <= 2 / 300
            batches = await stack.wait_closed(1)
            assert batches[0].timestamp == l1_time  # L1's time, far behind this machine's clock
            # L1 moves on: the next batch follows it
            await asyncio.to_thread(rpc_call, anvil.rpc_url, "evm_setNextBlockTimestamp", [l1_time + 100])
            await asyncio.to_thread(rpc_call, anvil.rpc_url, "evm_mine", [])
            await asyncio.sleep(1.2)  # the L1 clock caches its answer for a second
            (later,) = await stack.submit(SENDERS[5].transfer(0, recipient(5)))
            await stack.wait_recorded([later])
            batches = await stack.wait_closed(2)
            assert batches[1].timestamp == l1_time + 100
            assert running.metrics_endpoint is not None
            url = f"http://127.0.0.1:{running.metrics_endpoint.port}/metrics"
            text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
            for name in (
                'zkseq_sequencer_stage_duration_seconds_count{stage="executor_call"}',
                'zkseq_sequencer_stage_duration_seconds_count{stage="flush_wait"}',
                'zkseq_sequencer_stage_duration_seconds_count{stage="statedb_write"}',
                'zkseq_sequencer_stage_duration_seconds_count{stage="pool_fetch"}',
                'zkseq_sequencer_batches_closed_total{reason="time"} 2.0',
                'zkseq_sequencer_txs_total{outcome="included"} 3.0',
                'zkseq_sequencer_batch_fill_ratio_count{resource="steps"} 2.0',
                "zkseq_sequencer_open_batch_age_seconds",
            ):
                assert name in text, name
            await stack.stop_sequencer()
            await stack.replay_from_genesis()
    finally:
        await asyncio.to_thread(anvil.stop)

"""The sequencer against real services: HashDB (LMDB), executor, pool (real Redis), StateDB on SQLite
and on PostgreSQL (a fresh schema per test).

Covered: each closing reason (transaction count, bytes, gas, a ZK counter with a small configured
limit, time), each failure path (revert and out-of-gas included with a failed receipt; a
transaction out of counters on its own, in the ROM and against the configured limits, marked
invalid; a nonce gap and a balance error back to waiting, then included), and forced batches
sequenced before pool transactions (the pool's duplicate of a forced nonce then fails as stale).
Every test ends by re-executing all closed batches from the genesis with the fork-6 processor in
this process (`replay_from_genesis`). Crashes and restarts: test_sequencer_restart.py.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from grpc import aio

from protos.pool.v1 import pool_pb2 as ppb
from services.common.statedb.models import Address, ForcedBatch, Hash32, L1Block
from services.sequencer.grpc_ports import GrpcExecutor
from services.sequencer.limits import BatchLimits, ZkCounters
from services.sequencer.ports import ExecRequest
from tests.integration.sequencer_fixtures import (
    BURNER,
    CHAIN_ID,
    COINBASE,
    ETHER,
    GER,
    GWEI,
    HASHER,
    REVERTER,
    Stack,
    backend_kwargs,
    genesis_json,
    genesis_of,
    recipient,
    running_stack,
    wait_until,
    wallet,
)
from zkevm.genesis import GenesisAccount
from zkevm.hashing import keccak256
from zkevm.transaction import encode_batch_l2_data

pytestmark = pytest.mark.integration

WALLETS = [wallet(i) for i in range(12)]
POOR = wallet("poor")
GAP = wallet("gap")
FUNDER = wallet("funder")


@pytest.fixture(params=["sqlite", "postgres"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    genesis = genesis_of([*WALLETS, GAP, FUNDER])
    genesis = replace(
        genesis, accounts=(*genesis.accounts, GenesisAccount(POOR.address, balance=21_000 * GWEI + 1))
    )
    async with running_stack(tmp_path, genesis, **backend_kwargs(request)) as s:
        yield s


async def counters_of(stack: Stack, data: bytes) -> ZkCounters:
    """What the executor counts for `data` as a whole batch on the genesis root."""
    await stack.write_genesis()
    async with aio.insecure_channel(f"127.0.0.1:{stack.executor_port}") as channel:
        result = await GrpcExecutor(channel, 10).process(
            ExecRequest(
                stack.genesis.state_root(), data, bytes(32), 1, COINBASE, CHAIN_ID, 0, bytes(32), False
            )
        )
    assert result.error == 1, result.error  # EXECUTOR_ERROR_NO_ERROR
    return result.counters


# -- closing reasons ------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["tx_count", "bytes", "gas", "counters", "time"])
async def test_each_closing_reason(stack: Stack, reason: str) -> None:
    txs = [w.transfer(0, recipient(i)) for i, w in enumerate(WALLETS[:7])]
    record = len(txs[0].encode())
    limits = BatchLimits()
    per_batch = 3
    if reason == "tx_count":
        limits = replace(limits, max_txs=3)
    elif reason == "bytes":
        limits = replace(limits, max_bytes=3 * record + record // 2)
    elif reason == "gas":
        limits = replace(limits, max_gas=3 * 21_000 + 20_000)
    elif reason == "counters":
        alone = await counters_of(stack, txs[0].encode())
        empty = await counters_of(stack, b"")
        # what limits.py counts for three transfers: the first with the batch overhead, the others
        # without it but with one Keccak for the batch data
        keccak = alone.keccak_hashes + 2 * (alone.keccak_hashes - empty.keccak_hashes + 1)
        limits = replace(limits, counters=replace(limits.counters, keccak_hashes=keccak))
    time_limit = 0.4 if reason == "time" else 30.0
    await stack.start_sequencer(limits=limits, batch_time_limit_s=time_limit)
    if reason == "time":
        txs, per_batch = txs[:2], 2
    hashes = await stack.submit(*txs)
    await stack.wait_recorded(hashes)
    batches = await stack.wait_closed(1 if reason == "time" else 2)
    sizes = [len(stack.db().blocks.blocks_of_batch(b.number)) for b in batches]
    assert sizes[0] == per_batch and all(size == per_batch for size in sizes)
    await stack.wait_closed_by(reason, len(batches))
    assert stack.closed_by(reason) == len(batches)
    await stack.stop_sequencer()
    await stack.replay_from_genesis()


# -- failure paths --------------------------------------------------------------------------------


async def test_failure_paths(stack: Stack) -> None:
    hashing = WALLETS[3].tx(0, HASHER, data=(40).to_bytes(32, "big"), gas_limit=500_000)
    hasher_alone = await counters_of(stack, hashing.encode())
    # a keccak limit a hashing call of 40 rounds exceeds on its own, with room for transfers
    keccak_limit = hasher_alone.keccak_hashes - 5
    await stack.start_sequencer(
        limits=replace(BatchLimits(), counters=replace(BatchLimits().counters, keccak_hashes=keccak_limit)),
        batch_time_limit_s=0.3,
        balance_retry_s=0.2,
    )
    revert, oog, rom_ooc, node_ooc = await stack.submit(
        WALLETS[0].tx(0, REVERTER, gas_limit=50_000),
        WALLETS[1].tx(0, BURNER, gas_limit=40_000),
        WALLETS[2].tx(0, HASHER, data=(2_400).to_bytes(32, "big"), gas_limit=2_000_000),
        WALLETS[3].tx(0, HASHER, data=(40).to_bytes(32, "big"), gas_limit=500_000),
    )
    # a nonce gap: the pool is told nonce 0 is in, although the chain never saw it
    (gap0,) = await stack.submit(GAP.transfer(0, recipient(100)))
    await stack.pool_client.MarkIncluded(ppb.MarkIncludedRequest(hash=gap0))
    (gap1,) = await stack.submit(GAP.transfer(1, recipient(101)))
    # a balance error: POOR can pay for one transfer, not two
    poor0, poor1 = await stack.submit(POOR.transfer(0, recipient(102)), POOR.transfer(1, recipient(103)))

    async def settled() -> bool:
        statuses = [await stack.pool_status(h) for h in (rom_ooc, node_ooc)]
        return all(s == ppb.TX_STATUS_INVALID for s, _ in statuses)

    await wait_until(settled, 30, "the out-of-counters transactions marked invalid")
    rom_reason = (await stack.pool_status(rom_ooc))[1]
    node_reason = (await stack.pool_status(node_ooc))[1]
    assert "OUT_OF_COUNTERS" in rom_reason
    assert "keccak_hashes" in node_reason
    await stack.wait_recorded([revert, oog, poor0])

    async def back_to_waiting() -> bool:
        return (await stack.pool_status(gap1))[0] == ppb.TX_STATUS_PENDING and stack.txs_by_outcome(
            "nonce"
        ) >= 1

    await wait_until(back_to_waiting, 30, "the nonce-gap transaction back to pending")
    assert (
        await stack.pool_client.GetPendingNonce(ppb.GetPendingNonceRequest(address=GAP.address))
    ).pending_nonce == 0

    async def poor_waiting() -> bool:
        return stack.txs_by_outcome("balance") >= 1

    await wait_until(poor_waiting, 30, "the balance error")
    assert (await stack.pool_status(poor1))[0] == ppb.TX_STATUS_PENDING

    # the gap is filled and the poor sender funded: both wait no longer
    gap0_again, fund = await stack.submit(
        GAP.transfer(0, recipient(104)), FUNDER.transfer(0, POOR.address, ETHER)
    )
    await stack.wait_recorded([gap0_again, gap1, fund, poor1])
    order = await stack.recorded_hashes()
    assert order.index(gap0_again) < order.index(gap1)
    assert order.index(fund) < order.index(poor1)

    blocks = stack.db().blocks
    for tx_hash, status in ((revert, 0), (oog, 0), (poor0, 1), (gap1, 1)):
        receipt = blocks.receipt_by_hash(Hash32(tx_hash))
        assert receipt is not None and receipt.status == status
    oog_receipt = blocks.receipt_by_hash(Hash32(oog))
    assert oog_receipt is not None and oog_receipt.gas_used == 40_000
    assert rom_ooc not in order and node_ooc not in order
    await stack.wait_closed(1)
    await stack.stop_sequencer()
    await stack.replay_from_genesis()


# -- forced batches -------------------------------------------------------------------------------


async def test_forced_batches_go_first_and_stale_pool_nonces_fail(stack: Stack) -> None:
    await stack.start_sequencer()  # writes the genesis
    await stack.stop_sequencer()
    forced = [WALLETS[0].transfer(0, recipient(200)), WALLETS[1].transfer(0, recipient(201))]
    db = stack.db()
    await asyncio.to_thread(
        db.l1_blocks.add,
        L1Block(7, Hash32(keccak256(b"l1 7")), Hash32(keccak256(b"l1 6"))),
        forced_batches=[
            ForcedBatch(1, Hash32(GER), 100, encode_batch_l2_data(forced), Address(WALLETS[0].address), 7)
        ],
    )
    # the pool also holds another nonce-0 transaction of the forcer, and an ordinary one
    duplicate, regular = await stack.submit(
        WALLETS[0].transfer(0, recipient(202), value=5), WALLETS[2].transfer(0, recipient(203))
    )
    await stack.start_sequencer(batch_time_limit_s=0.3)
    await stack.wait_recorded([*[tx.tx_hash() for tx in forced], regular])
    assert await stack.recorded_hashes() == [forced[0].tx_hash(), forced[1].tx_hash(), regular]

    async def stale() -> bool:
        return (await stack.pool_status(duplicate))[0] == ppb.TX_STATUS_FAILED

    await wait_until(stale, 30, "the pool's duplicate nonce failed as stale")
    batches = await stack.wait_closed(2)
    assert batches[0].forced_batch_number == 1 and batches[1].forced_batch_number is None
    assert batches[0].batch_l2_data == encode_batch_l2_data(forced)
    assert batches[0].global_exit_root == GER
    assert batches[0].timestamp >= 100 and batches[1].timestamp >= batches[0].timestamp
    await stack.wait_closed_by("forced", 1)
    await stack.stop_sequencer()
    await stack.replay_from_genesis()


async def test_the_genesis_step_as_a_command(tmp_path: Path) -> None:
    """`python -m services.sequencer.genesis` writes the genesis into the HashDB and batch 0 into the
    StateDB, prints the root, and a second run only checks it; a different file is refused."""
    async with running_stack(tmp_path, genesis_of(WALLETS)) as stack:
        env = {
            **os.environ,
            "ZKSEQ_SEQUENCER_HASHDB_URL": f"127.0.0.1:{stack.hashdb.port}",
            "ZKSEQ_SEQUENCER_STATEDB_URL": stack.statedb_url,
            "ZKSEQ_SEQUENCER_COINBASE": "0x" + COINBASE.hex(),
            "ZKSEQ_SEQUENCER_GENESIS_FILE": str(stack.genesis_file),
        }

        async def run(extra: dict[str, str]) -> tuple[int, str, str]:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "services.sequencer.genesis", env={**env, **extra},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(process.communicate(), 60)
            return process.returncode or 0, out.decode(), err.decode()

        code, out, _ = await run({})
        root = stack.genesis.state_root()
        assert code == 0 and out.strip() == "0x" + root.hex()
        batch0 = await asyncio.to_thread(stack.db().batches.get_batch, 0)
        assert batch0 is not None and batch0.state_root == root and batch0.closed
        code, out, _ = await run({})  # again: checked, nothing written
        assert code == 0 and out.strip() == "0x" + root.hex()
        other = tmp_path / "other.json"
        other.write_text(genesis_json(genesis_of(WALLETS[:2])))
        code, _, err = await run({"ZKSEQ_SEQUENCER_GENESIS_FILE": str(other)})
        assert code == 1 and "batch 0 has state root" in err
        # the pool can read the genesis state, and the sequencer starts on it
        await stack.start_sequencer()
        (tx,) = await stack.submit(WALLETS[0].transfer(0, recipient(300)))
        await stack.wait_recorded([tx])

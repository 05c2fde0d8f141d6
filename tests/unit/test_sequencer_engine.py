"""The sequencer's engine (finalizer, recorder, recovery) over in-memory twins of its ports.

    TwinExecutor   the real fork-6 processor in this process on an in-memory tree (services.executor
                   Executor + LocalBackend), answered through the real executor.v1 wire conversion,
                   with knobs: down for n calls, DB errors, flushes held back, a restart (new
                   prover id), a re-execution that comes out different, a refused request
    TwinPool       the pool's state machine in a dict (ready = pending with the sender's next nonce)
    StateDBLedger  the real StateDB code on sqlite:///:memory:
    TwinAccounts   nonces read from the twin executor's tree

The tests check what the services would see: the pool's statuses, the StateDB's batches and blocks,
the closing reasons in the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from protos.executor.v1 import executor_pb2 as epb
from services.common.logs import EventLogger
from services.common.statedb import StateDB, open_statedb
from services.common.statedb.models import Address, Batch, ForcedBatch, Hash32, L1Block, StateRoot
from services.executor import counters as executor_counters
from services.executor.errors import BatchRejected
from services.executor.processor import BatchRequest
from services.executor.service import Executor, LocalBackend
from services.executor.wire import FlushInfo, ProcessCall, rejected_to_proto, result_to_proto
from services.sequencer.blocks import genesis_block
from services.sequencer.genesis import Genesis
from services.sequencer.grpc_ports import exec_result_from_proto
from services.sequencer.ledger import StateDBLedger
from services.sequencer.limits import BatchLimits, ZkCounters
from services.sequencer.metrics import SequencerMetrics
from services.sequencer.ports import (
    ExecRequest,
    ExecResult,
    ExecutorUnavailable,
    FailureKind,
    FlushStatus,
    PoolTx,
    PoolUnavailable,
)
from services.sequencer.sequencer import Sequencer
from services.sequencer.work import SequencerHalted, SequencerSettings
from zkevm.batch import acc_input_hash, batch_hash_data
from zkevm.field import bytes_to_h4, h4_to_bytes
from zkevm.genesis import GenesisAccount, build_genesis
from zkevm.hashing import keccak256
from zkevm.nodestore import MemoryNodeStore
from zkevm.smt import SparseMerkleTree
from zkevm.state_keys import nonce_key
from zkevm.transaction import L2Transaction, decode_batch_l2_data, encode_batch_l2_data, sign_transaction

CHAIN_ID = 1001
GWEI = 10**9
ETHER = 10**18
COINBASE = bytes.fromhex("c0ffee0000000000000000000000000000c0ffee")
GER = keccak256(b"unit GER")
REVERTER = bytes.fromhex("00000000000000000000000000000000000000e1")
BURNER = bytes.fromhex("00000000000000000000000000000000000000e2")
REVERTER_CODE = bytes.fromhex("60006000fd")  # PUSH1 0 PUSH1 0 REVERT
BURNER_CODE = bytes.fromhex("5b600056")  # JUMPDEST PUSH1 0 JUMP


def key(i: int) -> bytes:
    return keccak256(b"unit sender %d" % i)


def address(i: int) -> bytes:
    probe = sign_transaction(
        nonce=0, gas_price=0, gas_limit=0, to=None, value=0, chain_id=None, private_key=key(i)
    )
    return probe.sender()


def transfer(sender: int, nonce: int, *, value: int = 1, gas_price: int = GWEI, to: bytes | None = None,
             gas_limit: int = 21_000, data: bytes = b"") -> L2Transaction:  # fmt: skip
    return sign_transaction(
        nonce=nonce,
        gas_price=gas_price,
        gas_limit=gas_limit,
        to=to if to is not None else keccak256(b"to %d" % sender)[12:],
        value=value,
        data=data,
        chain_id=CHAIN_ID,
        private_key=key(sender),
    )


# -- twins ----------------------------------------------------------------------------------------


class TwinExecutor:
    def __init__(
        self, genesis: Genesis, budget: executor_counters.Counters = executor_counters.FORK6_BUDGET
    ) -> None:
        self.store = MemoryNodeStore()
        self.genesis_root = h4_to_bytes(build_genesis(genesis.accounts, self.store))
        self.engine = Executor(LocalBackend(self.store), budget=budget)
        self.prover_id = "twin-1"
        self.flushes = 0
        self.stored = 0
        self.hold_flushes = False
        self.down = 0
        self.db_errors = 0
        self.refuse_with: int | None = None
        self.tamper_reexecution = False
        self.requests: list[ExecRequest] = []

    def restart(self) -> None:
        """A new executor process: new prover id, flush ids start again, unstored flushes are lost
        (the twin's tree keeps them: what a lost flush would lose is checked by the replay)."""
        self.prover_id = f"twin-{int(self.prover_id.split('-')[1]) + 1}"
        self.flushes = self.stored = 0

    def release_flushes(self) -> None:
        self.stored = self.flushes

    async def process(self, request: ExecRequest) -> ExecResult:
        self.requests.append(request)
        if self.down:
            self.down -= 1
            raise ExecutorUnavailable("twin executor: down")
        if self.db_errors:
            self.db_errors -= 1
            return exec_result_from_proto(rejected_to_proto(epb.EXECUTOR_ERROR_DB_ERROR, self.prover_id))  # type: ignore[arg-type]
        if self.refuse_with is not None:
            return exec_result_from_proto(rejected_to_proto(self.refuse_with, self.prover_id))  # type: ignore[arg-type]
        call = ProcessCall(
            BatchRequest(
                old_state_root=request.old_state_root,
                batch_l2_data=request.batch_l2_data,
                global_exit_root=request.global_exit_root,
                timestamp=request.timestamp,
                coinbase=request.coinbase,
                chain_id=request.chain_id,
                old_acc_input_hash=request.old_acc_input_hash,
                old_batch_num=request.old_batch_number,
            ),
            update_merkle_tree=request.update_merkle_tree,
        )
        try:
            result, _, _ = self.engine.process(call)
        except BatchRejected as exc:
            return exec_result_from_proto(rejected_to_proto(exc.error, self.prover_id))
        if request.update_merkle_tree:
            self.flushes += 1
            if not self.hold_flushes:
                self.stored = self.flushes
        flush = FlushInfo(self.flushes if request.update_merkle_tree else 0, self.stored)
        out = exec_result_from_proto(result_to_proto(result, request.batch_l2_data, flush, self.prover_id))
        if self.tamper_reexecution and not request.update_merkle_tree and len(out.txs) > 1:
            out = replace(out, new_state_root=keccak256(out.new_state_root))
        return out

    async def flush_status(self) -> FlushStatus:
        if self.down:
            raise ExecutorUnavailable("twin executor: down")
        return FlushStatus(self.stored, self.prover_id)


@dataclass
class TwinTx:
    tx: PoolTx
    status: str = "pending"
    reason: str = ""
    arrival: int = 0


@dataclass
class TwinPool:
    txs: dict[bytes, TwinTx] = field(default_factory=dict)
    next_nonce: dict[bytes, int] = field(default_factory=dict)
    included: list[bytes] = field(default_factory=list)
    #: the pool cannot be reached: every call raises PoolUnavailable
    down: bool = False
    #: the size of every SelectMany call
    select_calls: list[int] = field(default_factory=list)
    _arrivals: int = 0

    def _check(self) -> None:
        if self.down:
            raise PoolUnavailable("twin pool: down")

    def add(self, tx: L2Transaction) -> bytes:
        pool_tx = PoolTx(tx.tx_hash(), tx.encode(), tx.sender(), tx.nonce, tx.gas_price, tx)
        self._arrivals += 1
        self.txs[pool_tx.hash] = TwinTx(pool_tx, arrival=self._arrivals)
        self.next_nonce.setdefault(pool_tx.sender, 0)
        return pool_tx.hash

    def status(self, tx_hash: bytes) -> str:
        if tx_hash in self.included:
            return "included"
        return self.txs[tx_hash].status

    def _of(self, sender: bytes, nonce: int) -> TwinTx | None:
        return next((t for t in self.txs.values() if t.tx.sender == sender and t.tx.nonce == nonce), None)

    async def ready(self, limit: int, *, followers: bool = False) -> list[PoolTx]:
        self._check()
        ready = [
            t
            for t in self.txs.values()
            if t.status == "pending" and t.tx.nonce == self.next_nonce.get(t.tx.sender, 0)
        ]
        ready.sort(key=lambda t: (-t.tx.gas_price, t.arrival))
        out = [t.tx for t in ready[:limit]]
        if followers:
            heads = out + [t.tx for t in self.txs.values() if t.status == "selected"]
            for head in heads:
                n = head.nonce + 1
                while len(out) < limit and (t := self._of(head.sender, n)) is not None:
                    if t.status == "pending" and t.tx not in out:
                        out.append(t.tx)
                    elif t.status != "selected":
                        break
                    n += 1
        return out[:limit]

    async def select(self, tx_hash: bytes) -> bool:
        self._check()
        t = self.txs.get(tx_hash)
        if t is None or t.status not in ("pending", "selected"):
            return False
        if t.tx.nonce != self.next_nonce.get(t.tx.sender, 0):
            return False
        t.status = "selected"
        return True

    async def select_many(self, tx_hashes: Sequence[bytes]) -> set[bytes]:
        """As the pool's script: a ready one, or a follower whose earlier nonces are all selected."""
        self._check()
        self.select_calls.append(len(tx_hashes))
        selected = set()
        for h in tx_hashes:
            t = self.txs.get(h)
            if t is not None and t.status == "pending":
                start = self.next_nonce.get(t.tx.sender, 0)
                before = [self._of(t.tx.sender, n) for n in range(start, t.tx.nonce)]
                if all(p is not None and p.status == "selected" for p in before):
                    t.status = "selected"
            if t is not None and t.status == "selected":
                selected.add(h)
        return selected

    async def include_many(self, tx_hashes: Sequence[bytes]) -> None:
        self._check()
        for h in tx_hashes:
            await self.include(h)

    async def include(self, tx_hash: bytes) -> None:
        self._check()
        t = self.txs.pop(tx_hash, None)
        if t is None:
            return
        self.included.append(tx_hash)
        self.next_nonce[t.tx.sender] = max(self.next_nonce.get(t.tx.sender, 0), t.tx.nonce + 1)

    async def fail(self, tx_hash: bytes, kind: FailureKind, reason: str, state_nonce: int | None) -> None:
        t = self.txs[tx_hash]
        t.reason = reason
        if kind is FailureKind.OTHER:
            t.status = "failed"
            return
        if state_nonce is not None:
            self.next_nonce[t.tx.sender] = state_nonce
        t.status = "failed" if t.tx.nonce < self.next_nonce.get(t.tx.sender, 0) else "pending"

    async def invalidate(self, tx_hash: bytes, reason: str) -> None:
        t = self.txs[tx_hash]
        t.status, t.reason = "invalid", reason

    async def release_selected(self) -> int:
        self._check()
        released = 0
        for t in self.txs.values():
            if t.status == "selected":
                t.status = "pending"
                released += 1
        return released


class TwinAccounts:
    def __init__(self, executor: TwinExecutor) -> None:
        self.executor = executor

    async def nonce(self, state_root: bytes, address: bytes) -> int:
        return SparseMerkleTree(self.executor.store).get(bytes_to_h4(state_root), nonce_key(address))


class FixedL1Clock:
    def __init__(self, timestamp: int) -> None:
        self.timestamp = timestamp

    async def latest_block_timestamp(self) -> int:
        return self.timestamp


# -- harness --------------------------------------------------------------------------------------


def settings(**overrides: Any) -> SequencerSettings:
    base = SequencerSettings(
        chain_id=CHAIN_ID,
        coinbase=COINBASE,
        global_exit_root=GER,
        batch_time_limit_s=60.0,
        poll_interval_s=0.005,
        balance_retry_s=0.05,
        forced_batch_check_s=0.02,
        forced_batch_finality_blocks=0,
        retry_initial_s=0.001,
        retry_max_s=0.01,
        flush_poll_s=0.001,
        drain_timeout_s=2.0,
    )
    return replace(base, **overrides)


@dataclass
class Harness:
    genesis: Genesis
    executor: TwinExecutor
    pool: TwinPool
    statedb: StateDB
    ledger: StateDBLedger
    l1: FixedL1Clock
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    sequencer: Sequencer | None = None
    task: asyncio.Task[None] | None = None

    def build(self, config: SequencerSettings) -> Sequencer:
        self.registry = CollectorRegistry()
        self.sequencer = Sequencer(
            config,
            executor=self.executor,
            pool=self.pool,
            ledger=self.ledger,
            accounts=TwinAccounts(self.executor),
            l1_clock=self.l1,
            metrics=SequencerMetrics(self.registry),
            log=EventLogger("test.sequencer"),
        )
        return self.sequencer

    async def start(self, config: SequencerSettings | None = None) -> Sequencer:
        sequencer = self.build(config or settings())
        self.task = asyncio.create_task(sequencer.run())
        return sequencer

    async def stop(self) -> None:
        if self.sequencer is not None:
            await self.sequencer.stop()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError, SequencerHalted):
                await self.task

    async def crash(self) -> None:
        """Kill the sequencer: its tasks end where they are, nothing is drained or released."""
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, SequencerHalted):
            await self.task
        self.task = None
        self.sequencer = None
        # a StateDB call already in its worker thread still finishes (a process kill would stop it
        # before or after its commit): let it, so the next sequencer does not race a ghost
        await asyncio.sleep(0.2)

    async def until(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if self.task is not None and self.task.done():
                self.task.result()  # raise what ended it
                pytest.fail("the sequencer stopped")
            if time.monotonic() > deadline:
                pytest.fail("condition not reached in time")
            await asyncio.sleep(0.005)

    def closed(self) -> list[Any]:
        return self.statedb.batches.closed_batches_after(0, 1000)

    def recorded(self) -> list[bytes]:
        blocks = self.statedb.blocks
        out: list[bytes] = []
        for n in range(1, (blocks.latest_block_number() or 0) + 1):
            block = blocks.block_by_number(n)
            assert block is not None and block.tx_hash is not None
            out.append(block.tx_hash)
        return out

    def closed_by(self, reason: str) -> float:
        return (
            self.registry.get_sample_value("zkseq_sequencer_batches_closed_total", {"reason": reason}) or 0.0
        )

    def outcomes(self, outcome: str) -> float:
        return self.registry.get_sample_value("zkseq_sequencer_txs_total", {"outcome": outcome}) or 0.0


SENDERS = 8


def default_genesis() -> Genesis:
    accounts = [GenesisAccount(address(i), balance=100 * ETHER) for i in range(SENDERS)]
    accounts.append(GenesisAccount(address(99), balance=21_000 * GWEI + 1))  # exactly one transfer
    accounts.append(GenesisAccount(REVERTER, nonce=1, bytecode=REVERTER_CODE))
    accounts.append(GenesisAccount(BURNER, nonce=1, bytecode=BURNER_CODE))
    return Genesis(tuple(accounts), timestamp=1_000)


@contextlib.asynccontextmanager
async def harness(
    genesis: Genesis | None = None, budget: executor_counters.Counters = executor_counters.FORK6_BUDGET
) -> AsyncIterator[Harness]:
    genesis = genesis or default_genesis()
    executor = TwinExecutor(genesis, budget)
    statedb = open_statedb("sqlite:///:memory:")
    ledger = StateDBLedger(statedb)
    root = executor.genesis_root
    zero = Hash32(bytes(32))
    await ledger.add_genesis(
        Batch(0, b"", zero, genesis.timestamp, COINBASE, StateRoot(root), zero, zero, True),  # type: ignore[arg-type]
        genesis_block(state_root=root, timestamp=genesis.timestamp, coinbase=COINBASE),
    )
    h = Harness(genesis, executor, TwinPool(), statedb, ledger, FixedL1Clock(int(time.time())))

    try:
        yield h
    finally:
        await h.stop()
        statedb.close()


def call_counters(executor: TwinExecutor, tx: L2Transaction) -> tuple[ZkCounters, ZkCounters]:
    """(counters of `tx` alone in a batch, counters of an empty batch) on the genesis."""

    def run(data: bytes) -> ZkCounters:
        result, _, _ = executor.engine.process(
            ProcessCall(
                BatchRequest(executor.genesis_root, data, bytes(32), 2_000, COINBASE, CHAIN_ID),
                update_merkle_tree=False,
            )
        )
        return ZkCounters(*result.counters.vector())

    return run(tx.encode()), run(b"")


# -- closing reasons ------------------------------------------------------------------------------


async def test_batches_close_at_the_transaction_count() -> None:
    async with harness() as h:
        hashes = [h.pool.add(transfer(i, 0)) for i in range(5)]
        await h.start(settings(limits=BatchLimits(max_txs=2)))
        await h.until(lambda: len(h.closed()) == 2 and all(h.pool.status(x) == "included" for x in hashes))
        assert [len(h.statedb.blocks.blocks_of_batch(n)) for n in (1, 2)] == [2, 2]
        await h.until(lambda: h.closed_by("tx_count") == 2)
        assert set(h.recorded()) == set(hashes)
        assert h.sequencer is not None
        status = h.sequencer.status()
        assert status.open_batch is not None and status.open_batch.number == 3 and status.open_batch.txs == 1


async def test_batches_close_when_the_bytes_would_overflow() -> None:
    async with harness() as h:
        txs = [transfer(i, 0) for i in range(5)]
        record = len(txs[0].encode())
        for tx in txs:
            h.pool.add(tx)
        await h.start(settings(limits=BatchLimits(max_bytes=2 * record + record // 2)))
        await h.until(lambda: len(h.closed()) == 2)
        for batch in h.closed():
            assert len(batch.batch_l2_data) == 2 * record
        await h.until(lambda: h.closed_by("bytes") == 2)


async def test_batches_close_when_the_gas_would_overflow() -> None:
    async with harness() as h:
        for i in range(5):
            h.pool.add(transfer(i, 0))
        await h.start(settings(limits=BatchLimits(max_gas=50_000)))
        await h.until(lambda: len(h.closed()) == 2)
        assert [len(h.statedb.blocks.blocks_of_batch(n)) for n in (1, 2)] == [2, 2]
        await h.until(lambda: h.closed_by("gas") == 2)


async def test_batches_close_when_a_zk_counter_would_overflow() -> None:
    async with harness() as h:
        alone, empty = call_counters(h.executor, transfer(0, 0))
        # room for exactly three transfers, counted as limits.py counts them
        steps = alone.steps + 2 * (alone.steps - empty.steps) + 10
        limits = BatchLimits(counters=replace(BatchLimits().counters, steps=steps))
        hashes = [h.pool.add(transfer(i, 0)) for i in range(7)]
        await h.start(settings(limits=limits))
        await h.until(lambda: len(h.closed()) == 2 and len(h.recorded()) == 7)
        assert [len(h.statedb.blocks.blocks_of_batch(n)) for n in (1, 2)] == [3, 3]
        await h.until(lambda: h.closed_by("counters") == 2)
        assert set(h.recorded()) == set(hashes)


async def test_a_non_empty_batch_closes_at_its_time_limit_and_an_empty_one_never() -> None:
    async with harness() as h:
        await h.start(settings(batch_time_limit_s=0.15))
        await asyncio.sleep(0.4)
        assert h.closed() == []  # nothing to close
        tx = h.pool.add(transfer(0, 0))
        started = time.monotonic()
        await h.until(lambda: len(h.closed()) == 1)
        waited = time.monotonic() - started
        assert 0.1 < waited < 10.0  # the time limit, plus whatever a loaded machine adds
        await h.until(lambda: h.closed_by("time") == 1)
        assert h.recorded() == [tx]


async def test_a_batch_closes_on_time_while_the_pool_is_down() -> None:
    async with harness() as h:
        tx = h.pool.add(transfer(0, 0))
        await h.start(settings(batch_time_limit_s=0.4))
        await h.until(lambda: h.recorded() == [tx])
        h.pool.down = True  # before the pool learns the transaction is included
        await h.until(lambda: len(h.closed()) == 1)
        assert h.pool.status(tx) in ("selected", "included")
        h.pool.down = False
        await h.until(lambda: h.pool.status(tx) == "included")


async def test_the_closed_batch_has_its_acc_input_hash_and_roots() -> None:
    async with harness() as h:
        txs = [transfer(i, 0) for i in range(3)]
        for tx in txs:
            h.pool.add(tx)
        await h.start(settings(limits=BatchLimits(max_txs=3)))
        await h.until(lambda: len(h.closed()) == 1)
        batch = h.closed()[0]
        data = encode_batch_l2_data(txs)
        assert batch.batch_l2_data == data
        assert batch.global_exit_root == GER and batch.coinbase == COINBASE
        assert batch.acc_input_hash == acc_input_hash(
            bytes(32), batch_hash_data(data), GER, batch.timestamp, COINBASE
        )
        blocks = h.statedb.blocks.blocks_of_batch(1)
        assert batch.state_root == blocks[-1].state_root
        assert [b.number for b in blocks] == [1, 2, 3]
        assert blocks[0].parent_hash == h.statedb.blocks.block_by_number(0).hash  # type: ignore[union-attr]
        assert all(b.timestamp == batch.timestamp for b in blocks)


# -- timestamps -----------------------------------------------------------------------------------


async def test_batch_timestamps_follow_l1_and_never_go_back() -> None:
    async with harness() as h:
        h.l1.timestamp = 5_000
        h.pool.add(transfer(0, 0))
        await h.start(settings(limits=BatchLimits(max_txs=1)))
        await h.until(lambda: len(h.closed()) == 1)
        h.l1.timestamp = 4_000  # an L1 node behind the last batch (a reorg, another node)
        h.pool.add(transfer(1, 0))
        await h.until(lambda: len(h.closed()) == 2)
        h.l1.timestamp = 6_000
        h.pool.add(transfer(2, 0))
        await h.until(lambda: len(h.closed()) == 3)
        assert [b.timestamp for b in h.closed()] == [5_000, 5_000, 6_000]


# -- failures -------------------------------------------------------------------------------------


async def test_reverts_and_out_of_gas_are_included_with_a_failed_receipt() -> None:
    async with harness() as h:
        revert = h.pool.add(transfer(0, 0, to=REVERTER, gas_limit=50_000))
        oog = h.pool.add(transfer(1, 0, to=BURNER, gas_limit=40_000))
        ok = h.pool.add(transfer(2, 0))
        await h.start(settings(limits=BatchLimits(max_txs=3)))
        await h.until(lambda: len(h.closed()) == 1)
        receipts = {}
        for x in (revert, oog, ok):
            receipt = h.statedb.blocks.receipt_by_hash(Hash32(x))
            assert receipt is not None
            receipts[x] = receipt
        assert receipts[revert].status == 0
        assert receipts[oog].status == 0 and receipts[oog].gas_used == 40_000
        assert receipts[ok].status == 1
        assert h.outcomes("reverted") == 2 and h.outcomes("included") == 1


async def test_a_transaction_out_of_counters_on_its_own_is_invalid() -> None:
    tight = replace(executor_counters.FORK6_BUDGET, steps=20_000)
    async with harness(budget=tight) as h:
        heavy = h.pool.add(transfer(0, 0, to=BURNER, gas_limit=1_000_000))  # loops until the budget ends
        fine = h.pool.add(transfer(1, 0))
        await h.start(settings(limits=BatchLimits(max_txs=1)))
        await h.until(lambda: h.pool.status(heavy) == "invalid" and len(h.closed()) == 1)
        assert "out of counters" in h.pool.txs[heavy].reason
        assert h.recorded() == [fine]
        assert h.outcomes("out_of_counters") == 1


async def test_a_transaction_above_the_configured_counter_limits_alone_is_invalid() -> None:
    async with harness() as h:
        alone, _ = call_counters(h.executor, transfer(0, 0))
        limits = BatchLimits(counters=replace(BatchLimits().counters, keccak_hashes=alone.keccak_hashes - 1))
        tx = h.pool.add(transfer(0, 0))
        await h.start(settings(limits=limits))
        await h.until(lambda: h.pool.status(tx) == "invalid")
        assert "keccak_hashes" in h.pool.txs[tx].reason
        assert h.recorded() == []


async def test_a_nonce_error_goes_back_to_waiting_with_the_state_nonce() -> None:
    async with harness() as h:
        early = h.pool.add(transfer(0, 1))  # nonce 1 while the state says 0
        h.pool.next_nonce[address(0)] = 1  # the pool believes nonce 0 is in (it drifted)
        await h.start()
        await h.until(lambda: h.outcomes("nonce") >= 1)
        assert h.pool.status(early) == "pending"
        assert h.pool.next_nonce[address(0)] == 0  # corrected from the state
        missing = h.pool.add(transfer(0, 0))  # the sender sends nonce 0 again
        await h.until(lambda: len(h.recorded()) == 2)
        assert h.recorded() == [missing, early]


async def test_a_stale_nonce_fails_for_good() -> None:
    async with harness() as h:
        first = h.pool.add(transfer(0, 0))
        await h.start(settings(limits=BatchLimits(max_txs=1)))
        await h.until(lambda: len(h.closed()) == 1 and h.pool.status(first) == "included")
        stale = h.pool.add(transfer(0, 0, value=7))  # nonce 0 again, another transaction
        h.pool.next_nonce[address(0)] = 0
        await h.until(lambda: h.pool.status(stale) == "failed")
        assert h.recorded() == [first]


async def test_a_balance_error_waits_and_is_retried_once_funded() -> None:
    async with harness() as h:
        poor = address(99)
        spend = h.pool.add(transfer(99, 0, value=1))  # takes all it has
        broke = h.pool.add(transfer(99, 1, value=1))
        await h.start(settings(balance_retry_s=0.05))
        await h.until(lambda: h.outcomes("balance") >= 1)
        assert h.pool.status(broke) == "pending"
        fund = h.pool.add(transfer(0, 0, to=poor, value=ETHER))
        await h.until(lambda: broke in h.recorded())
        assert h.recorded().index(spend) < h.recorded().index(fund) < h.recorded().index(broke)


async def test_the_executor_down_is_retried_and_nothing_is_half_written() -> None:
    async with harness() as h:
        h.executor.down = 6
        hashes = [h.pool.add(transfer(i, 0)) for i in range(3)]
        await h.start(settings(limits=BatchLimits(max_txs=3)))
        await h.until(lambda: len(h.closed()) == 1)
        assert set(h.recorded()) == set(hashes)
        assert (
            h.registry.get_sample_value("zkseq_sequencer_executor_retries_total", {"reason": "unavailable"})
            or 0
        ) >= 6


async def test_db_errors_are_retried() -> None:
    async with harness() as h:
        h.executor.db_errors = 3
        tx = h.pool.add(transfer(0, 0))
        await h.start()
        await h.until(lambda: h.recorded() == [tx])
        assert (
            h.registry.get_sample_value("zkseq_sequencer_executor_retries_total", {"reason": "db_error"}) == 3
        )


async def test_a_block_is_written_only_once_its_flush_is_stored() -> None:
    async with harness() as h:
        h.executor.hold_flushes = True
        tx = h.pool.add(transfer(0, 0))
        await h.start()
        await h.until(lambda: h.sequencer is not None and h.sequencer.finalizer.last_block_number == 1)
        await asyncio.sleep(0.1)
        assert h.recorded() == []  # executed, not durable yet
        assert h.pool.status(tx) == "selected"
        h.executor.release_flushes()
        await h.until(lambda: h.pool.status(tx) == "included")
        assert h.recorded() == [tx]


async def test_an_executor_restart_before_the_flush_replays_the_transaction() -> None:
    async with harness() as h:
        h.executor.hold_flushes = True
        tx = h.pool.add(transfer(0, 0))
        await h.start()
        await h.until(lambda: h.sequencer is not None and h.sequencer.finalizer.last_block_number == 1)
        executed = len(h.executor.requests)
        h.executor.restart()
        h.executor.hold_flushes = False
        await h.until(lambda: h.recorded() == [tx])
        assert len(h.executor.requests) > executed  # executed again
        assert h.registry.get_sample_value("zkseq_sequencer_replays_total") == 1


async def test_a_refused_request_halts_the_sequencer() -> None:
    async with harness() as h:
        h.executor.refuse_with = epb.EXECUTOR_ERROR_INVALID_CHAIN_ID
        h.pool.add(transfer(0, 0))
        sequencer = await h.start()
        with pytest.raises(SequencerHalted, match="INVALID_CHAIN_ID"):
            assert h.task is not None
            await asyncio.wait_for(h.task, 5)
        assert sequencer.status().halted


async def test_a_reexecution_with_another_root_halts_before_the_batch_is_closed() -> None:
    async with harness() as h:
        h.executor.tamper_reexecution = True
        for i in range(2):
            h.pool.add(transfer(i, 0))
        sequencer = await h.start(settings(limits=BatchLimits(max_txs=2)))
        with pytest.raises(SequencerHalted, match="re-executing batch 1"):
            assert h.task is not None
            await asyncio.wait_for(h.task, 5)
        assert h.closed() == []  # batch 1 stays open: nothing wrong is written
        assert len(h.recorded()) == 2
        assert "state root" in sequencer.status().halt_reason


# -- groups: several transactions per ProcessBatch call ------------------------------------------


def group_calls(h: Harness) -> list[list[L2Transaction]]:
    """The transactions of every pre-execution call (update_merkle_tree on) with more than one."""
    calls = [decode_batch_l2_data(r.batch_l2_data) for r in h.executor.requests if r.update_merkle_tree]
    return [txs for txs in calls if len(txs) > 1]


def group_sizes(h: Harness) -> tuple[float, float]:
    """(transactions kept, calls) of the kept-group histogram."""
    total = h.registry.get_sample_value("zkseq_sequencer_group_txs_sum") or 0.0
    count = h.registry.get_sample_value("zkseq_sequencer_group_txs_count") or 0.0
    return total, count


def group_retries(h: Harness, reason: str) -> float:
    return h.registry.get_sample_value("zkseq_sequencer_group_retries_total", {"reason": reason}) or 0.0


async def test_ready_transactions_are_pre_executed_as_one_group_and_kept_whole() -> None:
    async with harness() as h:
        txs = [transfer(i, 0) for i in range(6)]
        hashes = [h.pool.add(tx) for tx in txs]
        await h.start(settings(limits=BatchLimits(max_txs=6)))
        await h.until(lambda: len(h.closed()) == 1 and all(h.pool.status(x) == "included" for x in hashes))
        # one call for all six, claimed with one SelectMany, each its own block with its own root
        assert [[t.tx_hash() for t in call] for call in group_calls(h)] == [hashes]
        assert h.pool.select_calls == [6]
        assert group_sizes(h) == (6.0, 1.0)
        assert h.recorded() == hashes
        blocks = h.statedb.blocks.blocks_of_batch(1)
        assert len({b.state_root for b in blocks}) == 6
        assert h.closed()[0].state_root == blocks[-1].state_root  # the close re-execution agreed
        assert h.outcomes("included") == 6
        await h.until(lambda: h.closed_by("tx_count") == 1)  # counted just after the StateDB write


async def test_a_group_is_cut_to_the_room_left_in_the_batch() -> None:
    async with harness() as h:
        hashes = [h.pool.add(transfer(i, 0)) for i in range(7)]
        await h.start(settings(limits=BatchLimits(max_txs=3), max_group_txs=8))
        await h.until(lambda: len(h.closed()) == 2 and len(h.recorded()) == 7)
        assert [len(h.statedb.blocks.blocks_of_batch(n)) for n in (1, 2)] == [3, 3]
        assert all(len(call) <= 3 for call in group_calls(h))
        assert sorted(h.recorded()) == sorted(hashes)


async def test_a_group_that_does_not_fit_is_run_again_shorter() -> None:
    async with harness() as h:
        hashes = [h.pool.add(transfer(i, 0)) for i in range(SENDERS)]
        await h.start(settings(limits=BatchLimits(max_gas=3 * 21_000)))
        await h.until(lambda: len(h.closed()) == 2)
        # as one transaction at a time: three transfers per batch, closed on gas
        assert [len(h.statedb.blocks.blocks_of_batch(n)) for n in (1, 2)] == [3, 3]
        await h.until(lambda: h.closed_by("gas") == 2)
        assert group_retries(h, "misfit") >= 1
        assert len(group_calls(h)[0]) == SENDERS  # the first try was the whole ready set
        await h.until(lambda: len(h.recorded()) == SENDERS)
        assert sorted(h.recorded()) == sorted(hashes)


async def test_a_transaction_refused_in_the_middle_of_a_group_is_decided_alone() -> None:
    async with harness() as h:
        first = h.pool.add(transfer(0, 0, gas_price=3 * GWEI))
        early = h.pool.add(transfer(2, 1, gas_price=2 * GWEI))  # nonce 1 while the state says 0
        h.pool.next_nonce[address(2)] = 1  # the pool believes nonce 0 is in (it drifted)
        last = h.pool.add(transfer(1, 0, gas_price=GWEI))
        await h.start()
        await h.until(lambda: h.recorded() == [first, last] and h.outcomes("nonce") >= 1)
        assert [t.tx_hash() for t in group_calls(h)[0]] == [first, early, last]
        assert group_retries(h, "not_included") >= 1
        assert h.pool.status(early) == "pending" and h.pool.next_nonce[address(2)] == 0
        # `last` is where one call per transaction puts it: executed alone on `first`'s root
        group_request = next(r for r in h.executor.requests if r.update_merkle_tree)
        block1, block2 = (h.statedb.blocks.block_by_number(n) for n in (1, 2))
        assert block1 is not None and block2 is not None
        alone = await h.executor.process(
            replace(
                group_request,
                old_state_root=block1.state_root,
                batch_l2_data=transfer(1, 0, gas_price=GWEI).encode(),
                global_exit_root=bytes(32),
                update_merkle_tree=False,
            )
        )
        assert [t.tx_hash for t in alone.txs] == [last]
        assert alone.txs[0].state_root == block2.state_root


async def test_a_transaction_out_of_counters_in_the_middle_of_a_group_is_invalid_alone() -> None:
    tight = replace(executor_counters.FORK6_BUDGET, steps=20_000)
    async with harness(budget=tight) as h:
        first = h.pool.add(transfer(1, 0, gas_price=3 * GWEI))
        heavy = h.pool.add(transfer(0, 0, to=BURNER, gas_limit=1_000_000, gas_price=2 * GWEI))
        last = h.pool.add(transfer(2, 0, gas_price=GWEI))
        await h.start()
        await h.until(lambda: h.pool.status(heavy) == "invalid" and len(h.recorded()) == 2)
        assert h.recorded() == [first, last]
        assert "out of counters" in h.pool.txs[heavy].reason
        assert h.outcomes("out_of_counters") == 1 and h.outcomes("included") == 2
        assert [t.tx_hash() for t in group_calls(h)[0]] == [first, heavy, last]


async def test_a_senders_consecutive_nonces_go_in_one_group_in_nonce_order() -> None:
    async with harness() as h:
        mine = [h.pool.add(transfer(0, n)) for n in range(5)]
        others = [h.pool.add(transfer(i, 0)) for i in range(1, 4)]
        await h.start()
        await h.until(lambda: len(h.recorded()) == 8)
        recorded = h.recorded()
        assert [x for x in recorded if x in mine] == mine
        assert set(recorded) == set(mine + others)
        # the ready ones (nonce 0 of each sender), then sender 0's followers, claimed in order
        assert [[t.tx_hash() for t in call] for call in group_calls(h)] == [[mine[0], *others, *mine[1:]]]
        assert h.pool.select_calls == [8]
        assert group_sizes(h) == (8.0, 1.0)


async def test_a_follower_whose_predecessor_fails_fails_on_its_nonce_and_waits() -> None:
    async with harness() as h:
        poor = address(99)
        spend = h.pool.add(transfer(99, 0, value=1))  # takes all it has
        broke = h.pool.add(transfer(99, 1, value=1))  # a follower: balance error
        after = h.pool.add(transfer(99, 2, value=0))  # a follower of a failed one: nonce error
        await h.start(settings(balance_retry_s=0.05))
        await h.until(lambda: h.outcomes("balance") >= 1 and h.outcomes("nonce") >= 1)
        assert [t.tx_hash() for t in group_calls(h)[0]] == [spend, broke, after]
        # the recorder writes `spend` once its flush is stored, which may come after the outcomes
        await h.until(lambda: h.recorded() == [spend])
        assert h.pool.status(broke) == "pending" and h.pool.status(after) == "pending"
        fund = h.pool.add(transfer(0, 0, to=poor, value=ETHER))
        await h.until(lambda: len(h.recorded()) == 4)
        recorded = h.recorded()
        assert recorded.index(spend) < recorded.index(fund) < recorded.index(broke) < recorded.index(after)


async def test_one_transaction_at_a_time_when_groups_are_off() -> None:
    async with harness() as h:
        hashes = [h.pool.add(transfer(i, 0)) for i in range(4)]
        await h.start(settings(limits=BatchLimits(max_txs=4), max_group_txs=1))
        await h.until(lambda: len(h.closed()) == 1)
        assert group_calls(h) == [] and h.pool.select_calls == []
        assert h.recorded() == hashes


async def test_an_executor_restart_replays_a_group_once_for_all_its_blocks() -> None:
    async with harness() as h:
        h.executor.hold_flushes = True
        hashes = [h.pool.add(transfer(i, 0)) for i in range(4)]
        await h.start()
        await h.until(lambda: h.sequencer is not None and h.sequencer.finalizer.last_block_number == 4)
        assert len(group_calls(h)) == 1
        h.executor.restart()
        h.executor.hold_flushes = False
        await h.until(lambda: h.recorded() == hashes)
        assert len(group_calls(h)) == 2  # executed again, as the group it was
        assert h.registry.get_sample_value("zkseq_sequencer_replays_total") == 1


# -- restart --------------------------------------------------------------------------------------


async def test_a_crash_mid_batch_loses_nothing_and_includes_nothing_twice() -> None:
    async with harness() as h:
        hashes = [h.pool.add(transfer(i % SENDERS, i // SENDERS)) for i in range(24)]
        await h.start(settings(limits=BatchLimits(max_txs=5)))
        await h.until(lambda: len(h.recorded()) >= 8)
        await h.crash()
        recorded = h.recorded()
        assert len(set(recorded)) == len(recorded)
        sequencer = await h.start(settings(limits=BatchLimits(max_txs=5)))
        await h.until(lambda: all(h.pool.status(x) == "included" for x in hashes), timeout_s=20)
        assert sorted(h.recorded()) == sorted(hashes)
        assert h.recorded()[: len(recorded)] == recorded
        await h.until(lambda: sequencer.status().txs_in_flight == 0)
        # the open batch after the restart went on from its recorded blocks
        sizes = [len(h.statedb.blocks.blocks_of_batch(b.number)) for b in h.closed()]
        assert all(size == 5 for size in sizes), (sizes, len(recorded))


async def test_recovery_refills_the_open_batch_from_the_statedb() -> None:
    async with harness() as h:
        for i in range(3):
            h.pool.add(transfer(i, 0))
        await h.start(settings(limits=BatchLimits(max_txs=5)))
        await h.until(lambda: len(h.recorded()) == 3)
        await h.stop()
        sequencer = h.build(settings(limits=BatchLimits(max_txs=5)))
        await sequencer.recover()
        batch = sequencer.finalizer.batch
        assert batch is not None and batch.number == 1 and batch.usage.txs == 3 and batch.in_statedb
        assert batch.usage.gas == 3 * 21_000
        assert sequencer.finalizer.state_root == h.statedb.blocks.block_by_number(3).state_root  # type: ignore[union-attr]


# -- forced batches -------------------------------------------------------------------------------


async def test_due_forced_batches_are_sequenced_in_order_before_new_transactions() -> None:
    async with harness() as h:
        forced_txs = [transfer(5, 0), transfer(6, 0)]
        h.statedb.l1_blocks.add(
            L1Block(10, Hash32(keccak256(b"l1 10")), Hash32(keccak256(b"l1 9"))),
            forced_batches=[
                ForcedBatch(
                    1, Hash32(bytes(32)), 1_500, encode_batch_l2_data(forced_txs[:1]), Address(address(5)), 10
                ),
                ForcedBatch(
                    2, Hash32(bytes(32)), 1_600, encode_batch_l2_data(forced_txs[1:]), Address(address(6)), 10
                ),
            ],
        )
        regular = h.pool.add(transfer(0, 0))
        await h.start(settings(limits=BatchLimits(max_txs=1)))
        await h.until(lambda: len(h.closed()) == 3)
        batches = h.closed()
        assert [b.forced_batch_number for b in batches] == [1, 2, None]
        assert h.recorded() == [forced_txs[0].tx_hash(), forced_txs[1].tx_hash(), regular]
        assert all(b.timestamp >= h.l1.timestamp for b in batches)  # L1's time, not before the forcing
        await h.until(lambda: h.closed_by("forced") == 2)


def test_twin_pool_orders_by_gas_price_then_arrival() -> None:
    pool = TwinPool()
    low = pool.add(transfer(0, 0, gas_price=GWEI))
    high = pool.add(transfer(1, 0, gas_price=3 * GWEI))
    same = pool.add(transfer(2, 0, gas_price=GWEI))
    ready = asyncio.run(pool.ready(10))
    assert [t.hash for t in ready] == [high, low, same]

"""The sequencer's composite executor (services/sequencer/executors.py) over in-memory replicas.

    ScriptedReplica  a replica whose answers are made up (root = keccak(old root ‖ data)), with
                     knobs: flushes held back, down, restart (new prover id, flush ids from 1)
    TwinExecutor     the real fork-6 processor (test_sequencer_engine's twin), two of them on one
                     node store, as two executor processes on one HashDB

Checked: targets parsed and refused with clear errors; own flush ids stored only once every
earlier one is stored on its replica; a replica's restart or loss with unstored flushes changes the
composite's prover_id (and only then); a failing replica is skipped and the call answered by
another; DNS answers that add and remove replicas; the spreading policies; and the whole engine
over two twins, one restarted mid-run: every transaction recorded once, the roots re-executable.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry

from protos.executor.v1 import executor_pb2 as epb
from services.common.config import ConfigError
from services.common.logs import EventLogger
from services.common.statedb import StateDB, open_statedb
from services.common.statedb.models import Batch, Hash32, StateRoot
from services.executor.service import Executor as EngineExecutor
from services.executor.service import LocalBackend
from services.sequencer.blocks import genesis_block
from services.sequencer.config import SequencerConfig
from services.sequencer.executors import (
    DnsResolver,
    ExecutorTargets,
    ReplicaPort,
    ReplicatedExecutor,
    Spread,
    StaticResolver,
    TargetError,
    parse_executor_targets,
)
from services.sequencer.ledger import StateDBLedger
from services.sequencer.limits import BatchLimits, ZkCounters
from services.sequencer.metrics import SequencerMetrics
from services.sequencer.ports import ExecRequest, ExecResult, ExecutorUnavailable, FlushStatus
from services.sequencer.sequencer import Sequencer
from services.sequencer.work import SequencerHalted
from tests.chain_replay import replay_from_genesis
from tests.unit.test_sequencer_engine import (
    CHAIN_ID,
    COINBASE,
    FixedL1Clock,
    TwinAccounts,
    TwinExecutor,
    TwinPool,
    default_genesis,
    settings,
    transfer,
)
from zkevm.hashing import keccak256

# -- targets --------------------------------------------------------------------------------------


def test_targets_one_address_a_list_or_a_dns_name() -> None:
    assert parse_executor_targets("127.0.0.1:50071") == ExecutorTargets(addresses=("127.0.0.1:50071",))
    assert parse_executor_targets(" a:1, b:2 ,[::1]:3") == ExecutorTargets(
        addresses=("a:1", "b:2", "[::1]:3")
    )
    dns = parse_executor_targets("dns:///executor.zkseq.svc.cluster.local:50071")
    assert dns.is_dns and dns.dns_host == "executor.zkseq.svc.cluster.local" and dns.dns_port == 50071
    assert dns.describe() == "dns:///executor.zkseq.svc.cluster.local:50071"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no executor target"),
        ("executor", "is not host:port"),
        ("a:1,,b:2", "an empty entry"),
        ("a:1,a:1", "listed twice"),
        ("a:0", "port must be 1..65535"),
        ("a:70000", "port must be 1..65535"),
        ("::1:50071", "must be in brackets"),
        ("http://a:1", "the only scheme understood is dns:///"),
        ("dns:///a:1,b:2", "one DNS name, not a list"),
        ("dns:///executor", "is not host:port"),
    ],
)
def test_bad_targets_are_refused_naming_the_problem(text: str, problem: str) -> None:
    with pytest.raises(TargetError, match=problem):
        parse_executor_targets(text)


def test_the_config_validates_the_executor_target_at_start() -> None:
    base = {"ZKSEQ_SEQUENCER_COINBASE": "0x" + "11" * 20}
    config = SequencerConfig.from_env({**base, "ZKSEQ_SEQUENCER_EXECUTOR_URL": "a:1,b:2"})
    assert config.executor_url == "a:1,b:2" and config.executor_spread is Spread.PRIMARY
    config = SequencerConfig.from_env(
        {
            **base,
            "ZKSEQ_SEQUENCER_EXECUTOR_URL": "dns:///executor:50071",
            "ZKSEQ_SEQUENCER_EXECUTOR_SPREAD": "round_robin",
            "ZKSEQ_SEQUENCER_EXECUTOR_DNS_REFRESH_S": "7",
        }
    )
    assert config.executor_spread is Spread.ROUND_ROBIN and config.executor_dns_refresh_s == 7
    with pytest.raises(ConfigError, match="EXECUTOR_URL: 'a:1,a:1': a:1 is listed twice"):
        SequencerConfig.from_env({**base, "ZKSEQ_SEQUENCER_EXECUTOR_URL": "a:1,a:1"})
    with pytest.raises(
        ConfigError, match="EXECUTOR_SPREAD: 'random' is not one of affinity, primary, round_robin"
    ):
        SequencerConfig.from_env({**base, "ZKSEQ_SEQUENCER_EXECUTOR_SPREAD": "random"})


async def test_the_dns_resolver_returns_every_address_of_the_name() -> None:
    addresses = await DnsResolver("localhost", 50071).resolve()
    assert addresses and all(a.endswith(":50071") for a in addresses)
    assert "127.0.0.1:50071" in addresses or "[::1]:50071" in addresses
    with pytest.raises(OSError):
        await DnsResolver("no-such-host.invalid", 50071).resolve()


# -- scripted replicas ----------------------------------------------------------------------------


def request(root: bytes, data: bytes = b"tx", *, keep: bool = True) -> ExecRequest:
    return ExecRequest(
        old_state_root=root,
        batch_l2_data=data,
        global_exit_root=bytes(32),
        timestamp=1,
        coinbase=bytes(20),
        chain_id=CHAIN_ID,
        old_batch_number=0,
        old_acc_input_hash=bytes(32),
        update_merkle_tree=keep,
    )


class ScriptedReplica:
    def __init__(self, name: str) -> None:
        self.name = name
        self.process_n = 1
        self.flushes = 0
        self.stored = 0
        self.hold = False
        self.down = False
        self.calls: list[ExecRequest] = []
        self.polls = 0
        self.closed = False

    @property
    def prover_id(self) -> str:
        return f"{self.name}-{self.process_n}"

    def restart(self) -> None:
        self.process_n += 1
        self.flushes = self.stored = 0

    def release(self) -> None:
        self.stored = self.flushes

    async def process(self, req: ExecRequest) -> ExecResult:
        if self.down:
            raise ExecutorUnavailable(f"{self.name}: UNAVAILABLE")
        self.calls.append(req)
        if req.update_merkle_tree:
            self.flushes += 1
            if not self.hold:
                self.stored = self.flushes
        return ExecResult(
            error=epb.EXECUTOR_ERROR_NO_ERROR,
            new_state_root=keccak256(req.old_state_root + req.batch_l2_data),
            new_acc_input_hash=bytes(32),
            new_local_exit_root=bytes(32),
            counters=ZkCounters(0, 0, 0, 0, 0, 0, 0),
            cumulative_gas_used=0,
            txs=(),
            flush_id=self.flushes if req.update_merkle_tree else 0,
            stored_flush_id=self.stored,
            prover_id=self.prover_id,
        )

    async def flush_status(self) -> FlushStatus:
        self.polls += 1
        if self.down:
            raise ExecutorUnavailable(f"{self.name}: UNAVAILABLE")
        return FlushStatus(self.stored, self.prover_id)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class MutableResolver:
    def __init__(self, *addresses: str) -> None:
        self.addresses = list(addresses)
        self.fail = False
        self.calls = 0

    async def resolve(self) -> list[str]:
        self.calls += 1
        if self.fail:
            raise OSError("Name or service not known")
        return list(self.addresses)


@dataclass
class Replicas:
    composite: ReplicatedExecutor
    by_address: dict[str, ScriptedReplica]
    clock: Clock

    def __getitem__(self, address: str) -> ScriptedReplica:
        return self.by_address[address]


async def replicas(
    *addresses: str,
    spread: Spread = Spread.ROUND_ROBIN,
    resolver: MutableResolver | None = None,
    lost_after_s: float = 5.0,
) -> Replicas:
    made: dict[str, ScriptedReplica] = {}
    clock = Clock()

    def factory(address: str) -> ReplicaPort:
        replica = made.setdefault(address, ScriptedReplica(address))

        async def close() -> None:
            replica.closed = True

        return ReplicaPort(replica, close)

    composite = ReplicatedExecutor(
        resolver or StaticResolver(addresses),
        factory,
        spread=spread,
        refresh_s=30.0,
        lost_after_s=lost_after_s,
        retry_down_s=1.0,
        clock=clock,
    )
    await composite.refresh(force=True)
    return Replicas(composite, made, clock)


ROOT = keccak256(b"genesis")


async def test_own_flush_ids_are_stored_only_when_every_earlier_one_is() -> None:
    r = await replicas("a:1", "b:1")
    r["a:1"].hold = r["b:1"].hold = True
    results = [await r.composite.process(request(ROOT, bytes([i]))) for i in range(4)]
    assert [x.flush_id for x in results] == [1, 2, 3, 4]
    assert len(r["a:1"].calls) == len(r["b:1"].calls) == 2  # round robin: both replicas used
    first = "a:1" if r["a:1"].calls[0].batch_l2_data == b"\x00" else "b:1"
    second = "b:1" if first == "a:1" else "a:1"
    prover_id = results[0].prover_id
    assert {x.prover_id for x in results} == {prover_id}

    # the replica of own ids 2 and 4 stores: nothing is stored yet, own id 1 is not
    r[second].release()
    assert await r.composite.flush_status() == FlushStatus(0, prover_id)
    # now 1 and 3 too: everything up to 4
    r[first].release()
    assert await r.composite.flush_status() == FlushStatus(4, prover_id)

    # the other way round: own id 5 (first) stored, 6 (second) not → 5
    r[first].hold = False
    await r.composite.process(request(ROOT, b"5"))
    sixth = await r.composite.process(request(ROOT, b"6"))
    assert sixth.flush_id == 6 and sixth.stored_flush_id == 5
    assert await r.composite.flush_status() == FlushStatus(5, prover_id)
    r[second].release()
    assert await r.composite.flush_status() == FlushStatus(6, prover_id)


async def test_only_replicas_with_unstored_flushes_are_polled() -> None:
    r = await replicas("a:1", "b:1")
    r["a:1"].hold = True
    await r.composite.process(request(ROOT, b"1"))
    await r.composite.process(request(ROOT, b"2"))
    held = r["a:1"] if r["a:1"].calls else r["b:1"]
    other = r["b:1"] if held is r["a:1"] else r["a:1"]
    await r.composite.flush_status()
    assert held.polls == 1 and other.polls == 0


async def test_a_replica_restart_with_unstored_flushes_changes_the_prover_id() -> None:
    r = await replicas("a:1", "b:1")
    first = await r.composite.process(request(ROOT, b"1"))
    await r.composite.process(request(ROOT, b"2"))
    # both flushes stored: a restart of either loses nothing, the prover id stays
    r["a:1"].restart()
    status = await r.composite.flush_status()
    await r.composite.process(request(ROOT, b"3"))
    await r.composite.process(request(ROOT, b"4"))
    assert (await r.composite.flush_status()).prover_id == first.prover_id == status.prover_id

    r["a:1"].hold = True
    for data in (b"5", b"6"):
        await r.composite.process(request(ROOT, data))
    r["a:1"].restart()  # the held flush is lost with the process
    r["a:1"].hold = False
    status = await r.composite.flush_status()
    assert status.prover_id != first.prover_id
    assert r.composite.stats.generation_changes == {"replica_restarted": 1}
    # answers from now on carry the new prover id, and their flushes are followed as before
    later = await r.composite.process(request(ROOT, b"7"))
    assert later.prover_id == status.prover_id and later.flush_id == 7
    assert await r.composite.flush_status() == FlushStatus(7, status.prover_id)


async def test_a_restart_seen_in_a_process_answer_changes_the_prover_id_too() -> None:
    r = await replicas("a:1", spread=Spread.AFFINITY)
    r["a:1"].hold = True
    before = await r.composite.process(request(ROOT, b"1"))
    r["a:1"].restart()
    after = await r.composite.process(request(ROOT, b"2"))
    assert after.prover_id != before.prover_id
    assert after.flush_id == 2 and after.stored_flush_id == 1  # own id 2 is the new process's first flush
    r["a:1"].release()
    assert await r.composite.flush_status() == FlushStatus(2, after.prover_id)


async def test_a_failing_replica_is_skipped_and_the_call_answered_by_another() -> None:
    r = await replicas("a:1", "b:1")
    r["a:1"].down = True
    for i in range(4):
        result = await r.composite.process(request(ROOT, bytes([i])))
        assert result.flush_id == i + 1
    assert len(r["b:1"].calls) == 4 and not r["a:1"].calls
    assert r.composite.stats.failovers >= 1
    assert r.composite.reachable() == 1
    r["b:1"].down = True
    with pytest.raises(ExecutorUnavailable, match="every executor replica failed") as failed:
        await r.composite.process(request(ROOT, b"x"))
    assert "a:1: UNAVAILABLE" in str(failed.value) and "b:1: UNAVAILABLE" in str(failed.value)
    # a:1 is back: after its pause it is tried again, and answers
    r["a:1"].down = False
    r.clock.now += 2
    result = await r.composite.process(request(ROOT, b"y"))
    assert result.error == epb.EXECUTOR_ERROR_NO_ERROR and r["a:1"].calls


async def test_an_unreachable_replica_with_unstored_flushes_counts_as_lost_after_a_while() -> None:
    r = await replicas("a:1", "b:1", lost_after_s=5.0)
    r["a:1"].hold = r["b:1"].hold = True
    first = await r.composite.process(request(ROOT, b"1"))
    await r.composite.process(request(ROOT, b"2"))
    r["b:1"].release()
    dead = r["a:1"] if r["a:1"].calls else r["b:1"]
    dead.down = True
    status = await r.composite.flush_status()
    assert status.prover_id == first.prover_id  # not yet: it may come back
    r.clock.now += 4
    assert (await r.composite.flush_status()).prover_id == first.prover_id
    r.clock.now += 2
    status = await r.composite.flush_status()
    assert status.prover_id != first.prover_id
    assert r.composite.stats.generation_changes == {"replica_lost": 1}


async def test_dns_answers_add_and_remove_replicas() -> None:
    resolver = MutableResolver("10.0.0.1:50071")
    r = await replicas(resolver=resolver)
    assert r.composite.addresses == ["10.0.0.1:50071"]
    first = await r.composite.process(request(ROOT, b"1"))

    # a replica joins: found at the next resolution, not before
    resolver.addresses = ["10.0.0.1:50071", "10.0.0.2:50071"]
    await r.composite.process(request(ROOT, b"2"))
    assert r.composite.addresses == ["10.0.0.1:50071"]
    r.clock.now += 31
    await r.composite.process(request(ROOT, b"3"))
    assert r.composite.addresses == ["10.0.0.1:50071", "10.0.0.2:50071"]
    await r.composite.process(request(ROOT, b"4"))
    assert r["10.0.0.2:50071"].calls

    # the name does not resolve for a while: the replicas stay
    resolver.fail = True
    r.clock.now += 31
    await r.composite.process(request(ROOT, b"5"))
    assert len(r.composite.addresses) == 2
    resolver.fail = False

    # a replica with a held flush leaves: lost, the prover id changes; its channel is closed
    leaving = r["10.0.0.2:50071"]
    leaving.hold = True
    while leaving.flushes == leaving.stored:
        await r.composite.process(request(ROOT, b"6"))
    resolver.addresses = ["10.0.0.1:50071"]
    r.clock.now += 31
    status = await r.composite.flush_status()
    assert r.composite.addresses == ["10.0.0.1:50071"]
    assert status.prover_id != first.prover_id
    assert r.composite.stats.generation_changes == {"replica_gone": 1}
    await asyncio.sleep(0.01)
    assert leaving.closed
    # a replica that leaves with everything stored changes nothing
    resolver.addresses = ["10.0.0.1:50071", "10.0.0.3:50071"]
    r.clock.now += 31
    await r.composite.process(request(ROOT, b"7"))
    resolver.addresses = ["10.0.0.1:50071"]
    r.clock.now += 31
    assert (await r.composite.flush_status()).prover_id == status.prover_id


async def test_an_answer_from_a_replica_that_left_during_the_call_is_executed_again() -> None:
    resolver = MutableResolver("10.0.0.1:50071")
    r = await replicas(resolver=resolver)
    before = await r.composite.process(request(ROOT, b"0"))
    replica = r["10.0.0.1:50071"]
    gate = asyncio.Event()
    answer = replica.process

    async def slow(req: ExecRequest) -> ExecResult:
        await gate.wait()
        return await answer(req)

    replica.process = slow  # type: ignore[method-assign]
    call = asyncio.create_task(r.composite.process(request(ROOT, b"1")))
    await asyncio.sleep(0.01)
    resolver.addresses = ["10.0.0.2:50071"]
    r.clock.now += 31
    await r.composite.refresh()
    gate.set()
    late = await call
    # its flush cannot be followed: the answer carries a prover id that is already over, so the
    # recorder's next poll sees another one and executes the job again
    status = await r.composite.flush_status()
    assert late.prover_id == before.prover_id != status.prover_id
    assert r.composite.stats.generation_changes == {"replica_gone": 1}


async def test_a_failure_resolves_the_name_again_soon() -> None:
    resolver = MutableResolver("10.0.0.1:50071", "10.0.0.2:50071")
    r = await replicas(resolver=resolver)
    calls = resolver.calls
    r["10.0.0.1:50071"].down = True
    resolver.addresses = ["10.0.0.2:50071"]
    await r.composite.process(request(ROOT, b"1"))
    await r.composite.process(request(ROOT, b"2"))
    r.clock.now += 1.5  # well before refresh_s
    await r.composite.process(request(ROOT, b"3"))
    assert resolver.calls == calls + 1 and r.composite.addresses == ["10.0.0.2:50071"]


async def test_affinity_keeps_the_chain_on_one_replica_and_sends_reexecutions_elsewhere() -> None:
    r = await replicas("a:1", "b:1", spread=Spread.AFFINITY)
    for i in range(5):
        await r.composite.process(request(ROOT, bytes([i])))
    chain = r["a:1"] if r["a:1"].calls else r["b:1"]
    other = r["b:1"] if chain is r["a:1"] else r["a:1"]
    assert len(chain.calls) == 5 and not other.calls
    await r.composite.process(request(ROOT, b"whole batch", keep=False))
    assert len(other.calls) == 1 and not other.calls[0].update_merkle_tree
    # the chain's replica fails: the chain moves, and stays where it moved
    chain.down = True
    for i in range(3):
        await r.composite.process(request(ROOT, bytes([10 + i])))
    assert len(other.calls) == 4


async def test_primary_sends_every_call_to_one_replica_until_it_fails() -> None:
    r = await replicas("a:1", "b:1", spread=Spread.PRIMARY)
    for i in range(3):
        await r.composite.process(request(ROOT, bytes([i])))
    await r.composite.process(request(ROOT, b"whole batch", keep=False))
    primary = r["a:1"] if r["a:1"].calls else r["b:1"]
    standby = r["b:1"] if primary is r["a:1"] else r["a:1"]
    assert len(primary.calls) == 4 and not standby.calls
    primary.down = True
    await r.composite.process(request(ROOT, b"whole batch", keep=False))
    await r.composite.process(request(ROOT, b"3"))
    assert len(standby.calls) == 2


async def test_an_executor_error_answer_is_returned_without_a_new_flush_id() -> None:
    r = await replicas("a:1")

    async def db_error(req: ExecRequest) -> ExecResult:
        good = await ScriptedReplica("x").process(req)
        return dataclasses.replace(good, error=epb.EXECUTOR_ERROR_DB_ERROR, flush_id=0)

    first = await r.composite.process(request(ROOT, b"1"))
    r["a:1"].process = db_error  # type: ignore[method-assign]
    answer = await r.composite.process(request(ROOT, b"2"))
    assert answer.error == epb.EXECUTOR_ERROR_DB_ERROR and answer.flush_id == first.flush_id == 1


# -- the engine over two twin executors -----------------------------------------------------------


@dataclass
class Engine:
    sequencer: Sequencer
    composite: ReplicatedExecutor
    twins: dict[str, TwinExecutor]
    pool: TwinPool
    statedb: StateDB
    registry: CollectorRegistry


@contextlib.asynccontextmanager
async def engine_over_two_twins(spread: Spread) -> AsyncIterator[Engine]:
    genesis = default_genesis()
    a = TwinExecutor(genesis)
    b = TwinExecutor(genesis)
    b.store, b.engine = a.store, EngineExecutor(LocalBackend(a.store))  # one HashDB
    b.prover_id = "twinb-1"
    twins = {"a:1": a, "b:1": b}

    def factory(address: str) -> ReplicaPort:
        async def close() -> None:
            pass

        return ReplicaPort(twins[address], close)

    composite = ReplicatedExecutor(StaticResolver(tuple(twins)), factory, spread=spread, lost_after_s=0.2)
    await composite.refresh(force=True)
    statedb = open_statedb("sqlite:///:memory:")
    ledger = StateDBLedger(statedb)
    zero = Hash32(bytes(32))
    root = a.genesis_root
    await ledger.add_genesis(
        Batch(0, b"", zero, genesis.timestamp, COINBASE, StateRoot(root), zero, zero, True),  # type: ignore[arg-type]
        genesis_block(state_root=root, timestamp=genesis.timestamp, coinbase=COINBASE),
    )
    pool = TwinPool()
    registry = CollectorRegistry()
    metrics = SequencerMetrics(registry)
    composite.on_generation = lambda reason: metrics.executor_flushes_lost.labels(reason).inc()
    sequencer = Sequencer(
        settings(limits=BatchLimits(max_txs=3)),
        executor=composite,
        pool=pool,
        ledger=ledger,
        accounts=TwinAccounts(a),
        l1_clock=FixedL1Clock(int(time.time())),
        metrics=metrics,
        log=EventLogger("test.sequencer"),
    )
    metrics.watch_last_closed_batch(lambda: sequencer.recorder.last_closed_batch)
    task = asyncio.create_task(sequencer.run())
    try:
        yield Engine(sequencer, composite, twins, pool, statedb, registry)
    finally:
        await sequencer.stop()
        with contextlib.suppress(asyncio.CancelledError, SequencerHalted):
            await task
        statedb.close()


async def until(predicate: object, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.005)


@pytest.mark.parametrize("spread", [Spread.ROUND_ROBIN, Spread.AFFINITY, Spread.PRIMARY])
async def test_the_engine_over_two_replicas_one_restarted_loses_and_repeats_nothing(spread: Spread) -> None:
    async with engine_over_two_twins(spread) as e:
        sequencer, composite, twins, pool, statedb, registry = (
            e.sequencer,
            e.composite,
            e.twins,
            e.pool,
            e.statedb,
            e.registry,
        )
        first = [pool.add(transfer(i, 0)) for i in range(6)]
        await until(lambda: all(pool.status(h) == "included" for h in first))
        await until(lambda: len(statedb.batches.closed_batches_after(0, 100)) >= 2)
        used = [a for a, t in twins.items() if t.requests]
        if spread is Spread.PRIMARY:
            assert len(used) == 1, "one replica takes every call, the other stands by"
        else:
            assert len(used) == 2, "both replicas got calls"
        # the trusted batch gauge follows the StateDB's closed batches
        await until(lambda: (registry.get_sample_value("zkseq_sequencer_last_closed_batch") or 0) >= 2)

        # both replicas hold their flushes; the one with unstored work restarts: that work is lost
        for twin in twins.values():
            twin.hold_flushes = True
        second = [pool.add(transfer(i, 1)) for i in range(6)]
        await until(lambda: sequencer.finalizer.last_block_number >= 9)
        victim = next(t for t in twins.values() if t.flushes > t.stored)
        victim.restart()
        for twin in twins.values():
            twin.hold_flushes = False
            twin.release_flushes()
        await until(lambda: all(pool.status(h) == "included" for h in first + second))
        assert composite.stats.generation_changes, "the lost flushes were noticed"
        assert (registry.get_sample_value("zkseq_sequencer_replays_total") or 0) >= 1
        assert (
            registry.get_sample_value(
                "zkseq_sequencer_executor_flushes_lost_total", {"reason": "replica_restarted"}
            )
            or 0
        ) >= 1

        blocks = statedb.blocks
        recorded = [blocks.block_by_number(n) for n in range(1, (blocks.latest_block_number() or 0) + 1)]
        hashes = [b.tx_hash for b in recorded if b is not None and b.tx_hash is not None]
        assert sorted(hashes) == sorted(first + second), "every transaction recorded exactly once"

        # the recorded chain re-executes from the genesis to the same roots
        await until(lambda: len(statedb.batches.closed_batches_after(0, 100)) >= 4)
        replay_from_genesis(default_genesis(), statedb, CHAIN_ID)

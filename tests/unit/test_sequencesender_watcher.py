"""The L1 watcher over the twin L1 and a real (in-memory SQLite) StateDB: sequences become virtual
with L1's accInputHashes, a disagreement raises the alarm and stops at the first differing batch,
forced batches are stored for the sequencer, verifications become verified rows, and every kind of
L1 reorg of the watcher's view is rewound to the fork point and read again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.common.l1.rollup import ZERO_HASH, BatchData, encode_force_batch, encode_sequence_batches
from services.common.logs import EventLogger
from services.common.statedb import StateDB, open_statedb
from services.common.statedb.models import Batch
from services.sequencesender.alarms import AlarmBoard
from services.sequencesender.metrics import SequenceSenderMetrics
from services.sequencesender.models import AlarmKind
from services.sequencesender.ports import L1Unavailable
from services.sequencesender.watcher import L1Watcher, PollResult, WatcherSettings
from tests.unit.test_sequencesender_twins import (
    L2_COINBASE,
    TRUSTED_SEQUENCER,
    Call,
    ChainBuilder,
    TwinL1,
    verify_call,
)
from zkevm.batch import Hash32
from zkevm.state_keys import Address


@pytest.fixture
def statedb() -> Iterator[StateDB]:
    db = open_statedb("sqlite:///:memory:")
    yield db
    db.close()


class World:
    def __init__(self, statedb: StateDB, **settings: int) -> None:
        self.statedb = statedb
        self.l1 = TwinL1()
        self.chain = ChainBuilder(statedb)
        self.metrics = SequenceSenderMetrics()
        self.alarms = AlarmBoard(self.metrics, EventLogger("test.alarms"))
        self.settings = WatcherSettings(**settings)
        self.watcher = self.new_watcher()

    def new_watcher(self) -> L1Watcher:
        return L1Watcher(
            l1=self.l1,
            l1_blocks=self.statedb.l1_blocks,
            batches=self.statedb.batches,
            virtual_batches=self.statedb.virtual_batches,
            verified_batches=self.statedb.verified_batches,
            alarms=self.alarms,
            metrics=self.metrics,
            log=EventLogger("test.watcher"),
            settings=self.settings,
            clock=lambda: 1.0,
        )

    def sequence(
        self, batches: list[Batch], *, via_contract: bool = False, coinbase: Address = L2_COINBASE
    ) -> None:
        data = encode_sequence_batches(
            [BatchData(b.batch_l2_data, b.global_exit_root, b.timestamp) for b in batches], coinbase
        )
        block = self.l1.mine([Call(TRUSTED_SEQUENCER, data, via_contract)])
        assert not block.reverted, block.reverted

    async def catch_up(self) -> list[PollResult]:
        results = []
        for _ in range(50):
            try:
                result = await self.watcher.poll_once()
            except L1Unavailable:  # run() retries these
                result = PollResult(raced=True)
            results.append(result)
            if not (result.behind or result.reorg or result.raced):
                return results
        raise AssertionError("the watcher did not catch up")

    def virtual(self) -> dict[int, Hash32]:
        rows = {}
        for number in range(1, self.chain.number + 5):
            row = self.statedb.virtual_batches.get(number)
            if row is not None:
                rows[number] = row.acc_input_hash
        return rows

    def gauge(self, name: str) -> float:
        value = self.metrics.registry.get_sample_value(name)
        assert value is not None
        return value


@pytest.fixture
def world(statedb: StateDB) -> World:
    return World(statedb)


def timestamps_behind(world: World) -> int:
    return world.l1.head.header.timestamp


# ---------------------------------------------------------------------------------------------
# virtual batches and the accInputHash check


async def test_sequenced_batches_become_virtual_with_equal_acc_input_hashes(world: World) -> None:
    ts = timestamps_behind(world)
    batches = [world.chain.close_batch(n % 3, timestamp=ts) for n in range(5)]
    world.sequence(batches[:3])
    world.l1.mine_empty(2)
    world.sequence(batches[3:])
    await world.catch_up()

    assert world.virtual() == {b.number: b.acc_input_hash for b in batches}
    virtual = world.statedb.virtual_batches
    assert virtual.last_virtual_batch_number() == 5
    row = virtual.get(2)
    assert row is not None and row.sequencer == TRUSTED_SEQUENCER and row.l1_block_number == 1
    assert world.statedb.virtual_batches.is_block_virtualized(world.chain.l2_block.number)
    assert world.alarms.alarm is None
    assert world.gauge("zkseq_sequencesender_acc_input_hash_mismatch") == 0
    assert world.gauge("zkseq_sequencesender_last_virtual_batch") == 5
    latest = world.statedb.l1_blocks.latest()
    assert latest is not None and latest.hash == world.l1.head.header.hash
    assert world.watcher.last_block == world.l1.head.header.number


async def test_a_differing_acc_input_hash_raises_the_alarm_at_the_first_differing_batch(world: World) -> None:
    ts = timestamps_behind(world)
    good = [world.chain.close_batch(1, timestamp=ts) for _ in range(2)]
    wrong = world.chain.close_batch(1, timestamp=ts, acc_input_hash_override=Hash32(b"\xee" * 32))
    after = world.chain.close_batch(1, timestamp=ts)
    world.sequence([*good, wrong, after])
    await world.catch_up()

    assert sorted(world.virtual()) == [1, 2]
    alarm = world.alarms.alarm
    assert alarm is not None and alarm.kind is AlarmKind.ACC_INPUT_HASH_MISMATCH
    assert alarm.batch_number == 3
    assert alarm.local_hash == b"\xee" * 32
    assert alarm.l1_hash is not None and alarm.l1_hash != alarm.local_hash
    assert alarm.l1_block_number == 1
    assert world.gauge("zkseq_sequencesender_acc_input_hash_mismatch") == 1
    assert world.gauge("zkseq_sequencesender_sequencing_stopped") == 1


async def test_a_batch_l1_sequenced_but_zkseq_never_closed_raises_unknown_batch(world: World) -> None:
    ts = timestamps_behind(world)
    mine = [world.chain.close_batch(1, timestamp=ts) for _ in range(2)]
    foreign = BatchData(b"\x01\x02", ZERO_HASH, ts)
    data = encode_sequence_batches(
        [*(BatchData(b.batch_l2_data, b.global_exit_root, b.timestamp) for b in mine), foreign], L2_COINBASE
    )
    world.l1.mine([Call(TRUSTED_SEQUENCER, data)])
    await world.catch_up()
    assert sorted(world.virtual()) == [1, 2]
    alarm = world.alarms.alarm
    assert alarm is not None and alarm.kind is AlarmKind.UNKNOWN_BATCH and alarm.batch_number == 3


async def test_undecodable_calldata_is_checked_at_the_stored_end_hash(world: World) -> None:
    ts = timestamps_behind(world)
    batches = [world.chain.close_batch(1, timestamp=ts) for _ in range(3)]
    world.sequence(batches, via_contract=True)
    await world.catch_up()
    assert world.virtual() == {b.number: b.acc_input_hash for b in batches}
    assert world.alarms.alarm is None

    # L1 hashed these contents (the end hash agrees), but zkseq stored another hash for batch 4
    wrong = world.chain.close_batch(1, timestamp=ts, acc_input_hash_override=Hash32(b"\x0e" * 32))
    world.sequence([wrong, world.chain.close_batch(1, timestamp=ts)], via_contract=True)
    await world.catch_up()
    assert sorted(world.virtual()) == [1, 2, 3]
    alarm = world.alarms.alarm
    assert alarm is not None and alarm.kind is AlarmKind.ACC_INPUT_HASH_MISMATCH and alarm.batch_number == 4


async def test_undecodable_calldata_with_other_contents_is_reported_at_the_end(world: World) -> None:
    ts = timestamps_behind(world)
    mine = [world.chain.close_batch(1, timestamp=ts) for _ in range(3)]
    theirs = [BatchData(b.batch_l2_data, b.global_exit_root, b.timestamp) for b in mine]
    theirs[1] = BatchData(b"\x05", ZERO_HASH, ts)
    world.l1.mine([Call(TRUSTED_SEQUENCER, encode_sequence_batches(theirs, L2_COINBASE), via_contract=True)])
    await world.catch_up()
    # the first differing batch cannot be known, so none of the sequence is virtual
    assert world.virtual() == {}
    alarm = world.alarms.alarm
    assert alarm is not None and alarm.kind is AlarmKind.ACC_INPUT_HASH_MISMATCH and alarm.batch_number == 3


# ---------------------------------------------------------------------------------------------
# forced and verified batches


async def test_forced_batches_are_stored_for_the_sequencer(world: World) -> None:
    forcer = Address(b"\xf0" * 20)
    from_eoa = world.l1.mine([Call(forcer, encode_force_batch(b"\xaa\xbb\xcc"))])
    from_contract = world.l1.mine([Call(forcer, encode_force_batch(b"\xdd"), via_contract=True)])
    await world.catch_up()

    pending = world.statedb.forced_batches.pending()
    assert [f.forced_batch_number for f in pending] == [1, 2]
    first, second = pending
    # an EOA's ForceBatch event carries no transactions: they come from the calldata
    assert first.batch_l2_data == b"\xaa\xbb\xcc"
    assert first.timestamp == from_eoa.header.timestamp
    assert first.l1_block_number == from_eoa.header.number
    assert first.sender == forcer
    assert first.global_exit_root == ZERO_HASH
    assert second.batch_l2_data == b"\xdd"
    assert second.timestamp == from_contract.header.timestamp


async def test_trusted_verification_marks_every_batch_up_to_it_verified(world: World) -> None:
    ts = timestamps_behind(world)
    batches = [world.chain.close_batch(1, timestamp=ts) for _ in range(4)]
    world.sequence(batches[:2])
    world.sequence(batches[2:])
    assert batches[1].state_root is not None
    world.l1.mine([verify_call(2, batches[1].state_root)])
    await world.catch_up()

    verified = world.statedb.verified_batches
    assert verified.last_verified_batch_number() == 2
    assert [verified.get(n) is not None for n in (1, 2, 3)] == [True, True, False]
    row = verified.get(2)
    assert row is not None and row.state_root == batches[1].state_root and row.l1_block_number == 3
    assert world.alarms.alarm is None

    wrong_root = bytes(31) + b"\x07"
    world.l1.mine([verify_call(4, wrong_root)])
    await world.catch_up()
    assert verified.last_verified_batch_number() == 4
    alarm = world.alarms.alarm
    assert alarm is not None and alarm.kind is AlarmKind.STATE_ROOT_MISMATCH and alarm.batch_number == 4
    assert world.gauge("zkseq_sequencesender_acc_input_hash_mismatch") == 0
    assert world.gauge("zkseq_sequencesender_last_verified_batch") == 4


# ---------------------------------------------------------------------------------------------
# reorgs


async def test_a_reorg_removes_the_rows_of_the_lost_blocks_and_reads_the_new_branch(world: World) -> None:
    ts = timestamps_behind(world)
    batches = [world.chain.close_batch(1, timestamp=ts) for _ in range(3)]
    world.l1.mine_empty(2)
    world.sequence(batches[:2])  # block 3
    world.l1.mine([Call(Address(b"\xf0" * 20), encode_force_batch(b"\x01"))])  # block 4
    world.l1.mine_empty(1)
    await world.catch_up()
    assert sorted(world.virtual()) == [1, 2]
    assert world.statedb.forced_batches.last_forced_batch_number() == 1

    world.l1.fork(2)  # blocks 3.. are gone
    world.l1.mine_empty(2)
    world.sequence(batches)  # now all three, in block 5 of the new branch
    world.l1.mine_empty(1)
    results = await world.catch_up()

    assert results[0].reorg
    assert world.virtual() == {b.number: b.acc_input_hash for b in batches}
    row = world.statedb.virtual_batches.get(1)
    assert row is not None and row.l1_block_number == 5
    assert world.statedb.forced_batches.last_forced_batch_number() is None
    assert world.gauge("zkseq_sequencesender_l1_reorgs_total") == 1
    assert world.alarms.alarm is None
    latest = world.statedb.l1_blocks.latest()
    assert latest is not None and latest.hash == world.l1.head.header.hash


async def test_a_reorg_to_a_shorter_chain_is_rewound(world: World) -> None:
    ts = timestamps_behind(world)
    batch = world.chain.close_batch(1, timestamp=ts)
    world.l1.mine_empty(1)
    world.sequence([batch])
    world.l1.mine_empty(3)
    await world.catch_up()
    assert world.statedb.virtual_batches.last_virtual_batch_number() == 1

    world.l1.fork(1)  # back to block 1: the recorded head (block 5) does not exist any more
    results = await world.catch_up()
    assert results[0].reorg
    assert world.statedb.virtual_batches.last_virtual_batch_number() is None
    latest = world.statedb.l1_blocks.latest()
    assert latest is not None and latest.number == 1


async def test_a_fork_point_below_the_remembered_blocks_is_found_in_the_statedb(statedb: StateDB) -> None:
    world = World(statedb, remembered_blocks=1, max_blocks_per_read=1)
    ts = timestamps_behind(world)
    batch = world.chain.close_batch(1, timestamp=ts)
    world.l1.mine_empty(3)
    world.sequence([batch])  # block 4
    world.l1.mine_empty(4)  # up to block 8
    await world.catch_up()
    world.l1.fork(3)
    world.l1.mine_empty(6)
    await world.catch_up()
    recorded = [statedb.l1_blocks.get(n) for n in range(10)]
    assert [b.number for b in recorded if b is not None] == list(range(10))
    assert all(b.hash == world.l1.blocks[b.number].header.hash for b in recorded if b is not None)
    assert statedb.virtual_batches.last_virtual_batch_number() is None


async def test_a_fork_deeper_than_the_search_reads_l1_again_from_the_start_block(statedb: StateDB) -> None:
    world = World(statedb, remembered_blocks=1, max_reorg_depth=2, start_block=1)
    ts = timestamps_behind(world)
    batch = world.chain.close_batch(1, timestamp=ts)
    world.sequence([batch])  # block 1
    world.l1.mine_empty(6)
    await world.catch_up()
    world.l1.fork(0)
    world.sequence([batch])
    world.l1.mine_empty(7)
    results = await world.catch_up()
    assert results[0].reorg
    row = statedb.virtual_batches.get(1)
    assert row is not None and row.l1_block_number == 1
    assert row.l1_tx_hash == next(iter(world.l1.blocks[1].txs))
    assert statedb.l1_blocks.get(0) is None  # below the start block: never read


async def test_l1_moving_during_a_poll_records_nothing_of_the_old_branch(world: World) -> None:
    ts = timestamps_behind(world)
    batch = world.chain.close_batch(1, timestamp=ts)
    world.l1.mine_empty(1)
    world.sequence([batch])  # block 2
    world.l1.mine_empty(2)
    moved = False

    def reorg_once(what: str) -> None:
        nonlocal moved
        if what == "transaction" and not moved:  # while the sequence of block 2 is being read
            moved = True
            world.l1.fork(1)
            world.l1.mine_empty(4)

    world.l1.before_read = reorg_once
    results = await world.catch_up()
    assert moved and any(r.raced or r.reorg for r in results)
    assert world.statedb.virtual_batches.last_virtual_batch_number() is None
    for number in range(world.l1.head.header.number + 1):
        block = world.statedb.l1_blocks.get(number)
        assert block is None or block.hash == world.l1.blocks[number].header.hash


async def test_confirmations_keep_the_watcher_under_the_head(statedb: StateDB) -> None:
    world = World(statedb, confirmations=3)
    ts = timestamps_behind(world)
    world.sequence([world.chain.close_batch(1, timestamp=ts)])  # block 1
    world.l1.mine_empty(2)
    await world.catch_up()
    assert statedb.virtual_batches.last_virtual_batch_number() is None
    world.l1.mine_empty(1)
    await world.catch_up()
    assert statedb.virtual_batches.last_virtual_batch_number() == 1
    latest = statedb.l1_blocks.latest()
    assert latest is not None and latest.number == world.l1.head.header.number - 3


async def test_a_restarted_watcher_continues_after_the_last_recorded_block(world: World) -> None:
    ts = timestamps_behind(world)
    first = world.chain.close_batch(1, timestamp=ts)
    world.sequence([first])
    await world.catch_up()
    reads = world.l1.header_reads

    world.watcher = world.new_watcher()
    second = world.chain.close_batch(1, timestamp=ts)
    world.sequence([second])
    await world.catch_up()
    assert world.virtual() == {1: first.acc_input_hash, 2: second.acc_input_hash}
    # it read the new block, not everything again
    assert world.l1.header_reads - reads <= 6
    assert world.watcher.last_virtual_batch == 2

"""The sequence sender over the twin L1, the twin EthTxManager and a real (in-memory SQLite)
StateDB: closed batches go out in order within the limits, at most MAX_IN_FLIGHT sequences are on
their way, no batch is ever in two sequences (restarts and lost answers included), reverts and
node limits split a sequence, batches ahead of L1 time wait, forced batches carry their
minForcedTimestamp, and an alarm stops everything."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import pytest

from services.common.l1 import errors
from services.common.l1.rollup import (
    ZERO_HASH,
    BatchData,
    decode_sequence_batches,
    encode_force_batch,
    encode_sequence_batches,
)
from services.common.logs import EventLogger
from services.common.statedb import StateDB, open_statedb
from services.common.statedb.models import Batch, ForcedBatch, L1Block
from services.sequencesender.alarms import AlarmBoard
from services.sequencesender.metrics import SequenceSenderMetrics
from services.sequencesender.models import Alarm, AlarmKind, SequencedState, parse_sequence_id, sequence_id
from services.sequencesender.packing import PackLimits
from services.sequencesender.ports import L1Unavailable, TxManagerUnavailable, TxStatus
from services.sequencesender.sender import SenderSettings, SequenceSender, TickResult, WaitReason
from tests.unit.test_sequencesender_twins import (
    L2_COINBASE,
    ROLLUP,
    TRUSTED_SEQUENCER,
    Call,
    ChainBuilder,
    TwinL1,
    TwinTxManager,
    _revert,
)
from zkevm.batch import Hash32
from zkevm.state_keys import Address


@pytest.fixture
def statedb() -> Iterator[StateDB]:
    db = open_statedb("sqlite:///:memory:")
    yield db
    db.close()


class World:
    def __init__(self, statedb: StateDB) -> None:
        self.statedb = statedb
        self.l1 = TwinL1()
        self.l1.mine_empty(1)
        self.txm = TwinTxManager(self.l1)
        self.chain = ChainBuilder(statedb, timestamp=self.l1.head.header.timestamp)
        self.metrics = SequenceSenderMetrics()
        self.alarms = AlarmBoard(self.metrics, EventLogger("test.alarms"))
        self.now = 100.0
        self.settings = SenderSettings(
            l2_coinbase=L2_COINBASE, rollup_address=ROLLUP, partial_sequence_wait_s=0, max_in_flight=2
        )
        self.sender = self.new_sender()

    def new_sender(self, **changes: object) -> SequenceSender:
        self.settings = replace(self.settings, **changes)  # type: ignore[arg-type]
        return SequenceSender(
            l1=self.l1,
            tx_manager=self.txm,
            batches=self.statedb.batches,
            forced_batches=self.statedb.forced_batches,
            alarms=self.alarms,
            metrics=self.metrics,
            log=EventLogger("test.sender"),
            settings=self.settings,
            clock=lambda: 1.0,
            monotonic=lambda: self.now,
        )

    def close(self, count: int = 1, transfers: int = 1, **kwargs: object) -> list[Batch]:
        ts = self.l1.head.header.timestamp
        return [self.chain.close_batch(transfers, timestamp=ts, **kwargs) for _ in range(count)]  # type: ignore[arg-type]

    async def tick(self) -> TickResult:
        return await self.sender.tick()

    def sent_batches(self, id_: str) -> list[BatchData]:
        batches, coinbase = decode_sequence_batches(self.txm.stored[id_].data)
        assert coinbase == L2_COINBASE
        return batches


@pytest.fixture
def world(statedb: StateDB) -> World:
    return World(statedb)


def as_data(batch: Batch, min_forced_timestamp: int = 0) -> BatchData:
    return BatchData(batch.batch_l2_data, batch.global_exit_root, batch.timestamp, min_forced_timestamp)


# ---------------------------------------------------------------------------------------------
# ids


def test_sequence_ids_name_the_range_and_the_attempt() -> None:
    assert sequence_id(5, 9) == "sequence:5-9"
    assert sequence_id(5, 9, 2) == "sequence:5-9#2"
    assert parse_sequence_id("sequence:5-9") == (5, 9, 0)
    assert parse_sequence_id("sequence:5-9#2") == (5, 9, 2)
    for other in ("sequence:9-5", "sequence:0-1", "sequence-from-5-to-9", "sequence:5-9#x", "sequence:5"):
        assert parse_sequence_id(other) is None


# ---------------------------------------------------------------------------------------------
# packing and sending


async def test_closed_batches_go_out_in_order_in_one_sequence(world: World) -> None:
    batches = world.close(5, transfers=2)
    result = await world.tick()
    assert result.sent is not None and result.sent.id == "sequence:1-5"
    assert world.sent_batches("sequence:1-5") == [as_data(b) for b in batches]
    stored = world.txm.stored["sequence:1-5"]
    estimate = 30_000 + 16 * len(stored.data)
    assert stored.gas_limit == -(-estimate * 110 // 100) + 80_000
    assert stored.to == ROLLUP

    world.txm.mine()
    assert (await world.l1.sequenced_state()).acc_input_hash == batches[-1].acc_input_hash
    assert (await world.tick()).wait is WaitReason.NO_CLOSED_BATCHES
    assert world.metrics.registry.get_sample_value("zkseq_sequencesender_batches_sent_total") == 5


async def test_at_most_max_in_flight_sequences_are_on_their_way(world: World) -> None:
    for expected in ("sequence:1-1", "sequence:2-2"):
        world.close()
        assert (await world.tick()).sent is not None
        assert expected in world.txm.stored
    world.close()
    assert (await world.tick()).wait is WaitReason.IN_FLIGHT_FULL
    assert [f.range.id for f in world.sender.in_flight] == ["sequence:1-1", "sequence:2-2"]

    world.txm.mine(limit=1)
    result = await world.tick()
    assert result.sent is not None and result.sent.id == "sequence:3-3"
    assert world.metrics.registry.get_sample_value("zkseq_sequencesender_in_flight_sequences") == 2


async def test_the_next_sequence_starts_after_the_ones_in_flight(world: World) -> None:
    world.close(3)
    await world.tick()
    world.close(2)
    result = await world.tick()
    assert result.sent is not None and (result.sent.first, result.sent.last) == (4, 5)
    world.txm.mine()
    assert (await world.l1.sequenced_state()).last_batch_sequenced == 5


async def test_a_restarted_sender_never_sends_a_batch_twice(world: World) -> None:
    world.close(3)
    await world.tick()
    world.txm.mine(confirm=False)  # mined, not yet confirmed: still in flight
    world.close(1)
    world.sender = world.new_sender()
    result = await world.tick()
    assert result.sent is not None and result.sent.id == "sequence:4-4"
    assert [f.range.id for f in world.sender.in_flight] == ["sequence:1-3", "sequence:4-4"]

    # a confirmed sequence the L1 node does not show yet (a lagging node) is not sent again
    world.txm.confirm_all()
    world.l1.fork(1)
    world.sender = world.new_sender()
    world.chain.close_batch(1)
    assert (await world.tick()).wait is WaitReason.L1_BEHIND
    assert sorted(world.txm.stored) == ["sequence:1-3", "sequence:4-4"]


async def test_an_add_whose_answer_was_lost_is_retried_unchanged(world: World) -> None:
    world.close(2)
    world.txm.lose_next_answer = True
    with pytest.raises(TxManagerUnavailable):
        await world.tick()
    world.close(3)  # more batches closed meanwhile: the retry must not take them
    result = await world.tick()
    assert result.sent is not None and result.sent.id == "sequence:1-2"
    result = await world.tick()
    assert result.sent is not None and result.sent.id == "sequence:3-5"
    assert world.txm.add_calls == ["sequence:1-2", "sequence:1-2", "sequence:3-5"]


async def test_a_failed_sequence_is_packed_again_under_a_new_id(world: World) -> None:
    world.close(2)
    await world.tick()
    world.txm.stored["sequence:1-2"].status = TxStatus.FAILED  # mined and reverted
    world.close(1)
    result = await world.tick()
    assert result.sent is not None and result.sent.id == "sequence:1-3"
    world.txm.stored["sequence:1-3"].status = TxStatus.FAILED
    world.sender = world.new_sender()  # the failures are read back after a restart
    result = await world.tick()
    assert result.sent is not None and result.sent.id == "sequence:1-3#1"
    assert world.metrics.registry.get_sample_value("zkseq_sequencesender_sequences_failed_total") == 1


async def test_a_batch_closed_with_another_coinbase_is_not_sent(world: World) -> None:
    world.close(1)
    world.sender = world.new_sender(l2_coinbase=Address(b"\x01" * 20))
    assert (await world.tick()).wait is WaitReason.COINBASE_MISMATCH
    assert world.txm.stored == {}


async def test_an_id_stored_with_other_content_is_not_sent(world: World) -> None:
    assert (await world.tick()).wait is WaitReason.NO_CLOSED_BATCHES
    # stored behind the sender's back (another process with the same owner)
    await world.txm.add(id="sequence:1-1", to=ROLLUP, data=b"other", gas_limit=None)
    world.close(1)
    assert (await world.tick()).wait is WaitReason.ID_CONFLICT


# ---------------------------------------------------------------------------------------------
# waiting and splitting


async def test_a_batch_ahead_of_l1_time_waits_for_l1(world: World) -> None:
    world.chain.close_batch(1, timestamp=world.l1.head.header.timestamp)
    world.chain.close_batch(1, timestamp=world.l1.head.header.timestamp + 30)
    result = await world.tick()
    assert result.sent is not None and result.sent.id == "sequence:1-1"
    assert (await world.tick()).wait is WaitReason.TIMESTAMP_AHEAD
    world.l1.mine_empty(3)
    result = await world.tick()
    assert result.sent is not None and result.sent.id == "sequence:2-2"


async def test_a_timestamp_out_of_range_splits_down_to_what_l1_accepts(world: World) -> None:
    world.close(8)

    def out_of_range(data: bytes) -> Exception | None:
        batches, _ = decode_sequence_batches(data)
        return _revert(errors.SequencedTimestampInvalid) if len(batches) > 3 else None

    world.l1.estimate_hook = out_of_range
    result = await world.tick()
    assert result.sent is not None and (result.sent.first, result.sent.last) == (1, 2)
    counts = [len(decode_sequence_batches(d)[0]) for d in world.l1.estimates]
    assert counts == [8, 4, 2]
    assert (
        world.metrics.registry.get_sample_value(
            "zkseq_sequencesender_estimate_reverts_total", {"error": "SequencedTimestampInvalid"}
        )
        == 2
    )


async def test_oversized_data_is_split(world: World) -> None:
    world.close(6, transfers=4)
    world.l1.max_tx_bytes = 1_500  # the node refuses larger transactions
    result = await world.tick()
    assert result.sent is not None
    assert len(world.txm.stored[result.sent.id].data) <= 1_500
    assert result.sent.first == 1 and result.sent.last < 6


async def test_a_single_batch_that_reverts_waits(world: World) -> None:
    world.close(1)
    world.l1.estimate_hook = lambda data: _revert(errors.GlobalExitRootNotExist)
    result = await world.tick()
    assert result.wait is WaitReason.ESTIMATE_REVERTED and "GlobalExitRootNotExist" in result.detail
    assert world.txm.stored == {}


async def test_a_sequence_above_the_gas_cap_is_split(world: World) -> None:
    world.close(4, transfers=3)
    world.sender = world.new_sender(max_sequence_gas=150_000, gas_offset=0)
    result = await world.tick()
    assert result.sent is not None
    assert world.txm.stored[result.sent.id].gas_limit is not None
    assert (world.txm.stored[result.sent.id].gas_limit or 0) <= 150_000


async def test_the_batch_count_limit_is_respected(world: World) -> None:
    world.close(7)
    world.sender = world.new_sender(limits=PackLimits(max_batches=3), max_in_flight=5)
    ids = [(await world.tick()).sent for _ in range(3)]
    assert [i.id if i else None for i in ids] == ["sequence:1-3", "sequence:4-6", "sequence:7-7"]


async def test_a_partial_sequence_waits_for_more_batches_a_full_one_does_not(world: World) -> None:
    world.sender = world.new_sender(partial_sequence_wait_s=5, limits=PackLimits(max_batches=4))
    world.close(2)
    assert (await world.tick()).wait is WaitReason.PARTIAL_SEQUENCE
    world.now += 3
    world.close(1)
    assert (await world.tick()).wait is WaitReason.PARTIAL_SEQUENCE
    world.now += 2.5
    result = await world.tick()
    assert result.sent is not None and result.sent.id == "sequence:1-3"
    world.close(4)
    result = await world.tick()
    assert result.sent is not None and result.sent.id == "sequence:4-7"


# ---------------------------------------------------------------------------------------------
# forced batches


def _store_forced(world: World) -> ForcedBatch:
    block = world.l1.mine([Call(Address(b"\xf0" * 20), encode_force_batch(b"\xfb" * 40))])
    forced = ForcedBatch(1, ZERO_HASH, block.header.timestamp, b"\xfb" * 40, Address(b"\xf0" * 20), 2)
    world.statedb.l1_blocks.add(
        L1Block(2, block.header.hash, block.header.parent_hash), forced_batches=[forced]
    )
    return forced


async def test_a_forced_batch_is_sequenced_with_its_min_forced_timestamp(world: World) -> None:
    forced = _store_forced(world)
    world.close(1)
    world.chain.close_forced_batch(forced, timestamp=world.l1.head.header.timestamp)
    world.close(1)
    result = await world.tick()
    assert result.sent is not None and result.sent.id == "sequence:1-3"
    sent = world.sent_batches("sequence:1-3")
    assert [b.min_forced_timestamp for b in sent] == [0, forced.timestamp, 0]
    block = world.txm.mine()
    assert not block.reverted
    state = await world.l1.sequenced_state()
    assert (state.last_batch_sequenced, state.last_force_batch_sequenced) == (3, 1)


async def test_a_forced_batch_waits_until_nothing_is_in_flight(world: World) -> None:
    forced = _store_forced(world)
    world.close(1)
    await world.tick()
    world.chain.close_forced_batch(forced, timestamp=world.l1.head.header.timestamp)
    assert (await world.tick()).wait is WaitReason.FORCED_WAITS_FOR_IN_FLIGHT
    world.txm.mine()
    result = await world.tick()
    assert result.sent is not None and result.sent.id == "sequence:2-2"


# ---------------------------------------------------------------------------------------------
# the alarm


async def test_an_l1_chain_that_is_not_ours_raises_the_alarm_before_anything_is_sent(world: World) -> None:
    mine = world.close(2)
    theirs = [as_data(mine[0]), BatchData(b"\x99", ZERO_HASH, mine[1].timestamp)]
    world.l1.mine([Call(TRUSTED_SEQUENCER, encode_sequence_batches(theirs, L2_COINBASE))])
    world.close(1)
    assert (await world.tick()).wait is WaitReason.ALARM
    alarm = world.alarms.alarm
    assert alarm is not None and alarm.kind is AlarmKind.ACC_INPUT_HASH_MISMATCH and alarm.batch_number == 2
    assert alarm.local_hash == mine[1].acc_input_hash
    assert world.txm.stored == {}
    assert world.metrics.registry.get_sample_value("zkseq_sequencesender_acc_input_hash_mismatch") == 1


async def test_an_inconsistent_or_moving_l1_read_is_not_an_alarm(world: World) -> None:
    batches = world.close(2)
    await world.tick()
    world.txm.mine()
    real = world.l1.sequenced_state
    reads: list[SequencedState] = []

    async def half_written() -> SequencedState:
        state = await real()
        reads.append(state)
        return replace(state, acc_input_hash=ZERO_HASH)

    world.l1.sequenced_state = half_written  # type: ignore[method-assign]
    with pytest.raises(L1Unavailable):
        await world.tick()

    answers = iter([Hash32(b"\x01" * 32)])

    async def moving() -> SequencedState:
        state = await real()
        return replace(state, acc_input_hash=next(answers, state.acc_input_hash))

    world.l1.sequenced_state = moving  # type: ignore[method-assign]
    world.close(1)
    result = await world.tick()
    assert world.alarms.alarm is None
    assert result.sent is not None and result.sent.id == "sequence:3-3"
    assert (reads and batches[-1].acc_input_hash == (await real()).acc_input_hash) or True


async def test_an_alarm_stops_sending_for_good(world: World) -> None:
    world.close(2)
    world.alarms.raise_alarm(
        Alarm(
            AlarmKind.ACC_INPUT_HASH_MISMATCH,
            1,
            Hash32(b"\x01" * 32),
            Hash32(b"\x02" * 32),
            5,
            None,
            "x",
            1.0,
        )
    )
    for _ in range(3):
        assert (await world.tick()).wait is WaitReason.ALARM
    assert world.txm.add_calls == []


async def test_run_keeps_going_through_an_unavailable_ethtxmanager(world: World) -> None:
    world.sender = world.new_sender(interval_s=0.01)
    world.close(1)
    world.txm.unavailable = True
    stop = asyncio.Event()
    task = asyncio.create_task(world.sender.run(stop))
    await asyncio.sleep(0.05)
    assert world.sender.last_wait is WaitReason.UNAVAILABLE
    world.txm.unavailable = False
    for _ in range(100):
        if "sequence:1-1" in world.txm.stored:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 1)
    assert "sequence:1-1" in world.txm.stored

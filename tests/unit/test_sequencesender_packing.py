"""Packing closed batches into one sequenceBatches call: the exact calldata size, every limit, order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.l1.rollup import (
    MAX_TRANSACTIONS_BYTE_LENGTH,
    ZERO_HASH,
    BatchData,
    encode_sequence_batches,
)
from services.sequencesender.packing import (
    DEFAULT_MAX_CALLDATA_BYTES,
    NumberedBatch,
    PackLimits,
    StopReason,
    batch_calldata_bytes,
    pack,
    sequence_calldata_bytes,
)
from zkevm.state_keys import Address

COINBASE = Address(b"\x0c" * 20)
L1_TIME = 1_700_000_000


def batches(lengths: list[int], *, first: int = 1, timestamp: int = L1_TIME) -> list[NumberedBatch]:
    return [
        NumberedBatch(first + i, BatchData(bytes([i % 256]) * n, ZERO_HASH, timestamp))
        for i, n in enumerate(lengths)
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=3_000), min_size=1, max_size=12))
def test_the_calldata_size_is_exactly_the_encoded_length(lengths: list[int]) -> None:
    data = [BatchData(b"\x01" * n, ZERO_HASH, 7, 0) for n in lengths]
    assert sequence_calldata_bytes(lengths) == len(encode_sequence_batches(data, COINBASE))


@pytest.mark.parametrize("length", [0, 1, 31, 32, 33, MAX_TRANSACTIONS_BYTE_LENGTH])
def test_one_batch_adds_its_padded_data_and_six_words(length: int) -> None:
    one = encode_sequence_batches([BatchData(b"\x02" * length, ZERO_HASH, 1)], COINBASE)
    assert len(one) == sequence_calldata_bytes([]) + batch_calldata_bytes(length)


def test_batches_are_taken_in_order_while_everything_fits() -> None:
    packing = pack(batches([100, 0, 5_000]), first=1, limits=PackLimits(), l1_timestamp=L1_TIME)
    assert packing.first == 1 and packing.last == 3
    assert [len(b.transactions) for b in packing.batches] == [100, 0, 5_000]
    assert packing.stop is StopReason.NO_MORE_BATCHES and not packing.full
    assert packing.calldata_bytes == len(encode_sequence_batches(packing.batches, COINBASE))


def test_the_batch_count_limit_ends_a_full_sequence() -> None:
    limits = PackLimits(max_batches=3)
    packing = pack(batches([10] * 5), first=1, limits=limits, l1_timestamp=L1_TIME)
    assert (packing.last, packing.stop, packing.full) == (3, StopReason.MAX_BATCHES, True)
    exactly = pack(batches([10] * 3), first=1, limits=limits, l1_timestamp=L1_TIME)
    assert (exactly.last, exactly.stop) == (3, StopReason.MAX_BATCHES)


def test_the_calldata_limit_ends_a_full_sequence_before_the_batch_that_does_not_fit() -> None:
    limit = sequence_calldata_bytes([10_000] * 3) + 100
    packing = pack(
        batches([10_000] * 5), first=1, limits=PackLimits(max_calldata_bytes=limit), l1_timestamp=L1_TIME
    )
    assert (packing.last, packing.stop, packing.full) == (3, StopReason.MAX_CALLDATA, True)
    assert packing.calldata_bytes <= limit


def test_the_default_limit_holds_twelve_batches_of_ten_kilobytes_and_stays_under_128_kib() -> None:
    packing = pack(batches([10_000] * 20), first=1, limits=PackLimits(), l1_timestamp=L1_TIME)
    assert len(packing.batches) == 12
    assert packing.calldata_bytes <= DEFAULT_MAX_CALLDATA_BYTES < 131_072


def test_a_batch_ahead_of_l1_time_waits_with_every_batch_after_it() -> None:
    early = batches([10, 10], timestamp=L1_TIME)
    late = batches([10, 10], first=3, timestamp=L1_TIME + 1)
    packing = pack([*early, *late], first=1, limits=PackLimits(), l1_timestamp=L1_TIME)
    assert (packing.last, packing.stop, packing.full) == (2, StopReason.TIMESTAMP_AHEAD, False)
    nothing = pack(late, first=3, limits=PackLimits(), l1_timestamp=L1_TIME)
    assert (nothing.batches, nothing.stop) == ((), StopReason.TIMESTAMP_AHEAD)


def test_a_gap_in_the_numbers_ends_the_sequence() -> None:
    packing = pack(
        [*batches([1, 1]), *batches([1], first=4)], first=1, limits=PackLimits(), l1_timestamp=L1_TIME
    )
    assert (packing.last, packing.stop) == (2, StopReason.GAP)
    wrong_start = pack(batches([1]), first=2, limits=PackLimits(), l1_timestamp=L1_TIME)
    assert (wrong_start.batches, wrong_start.stop) == ((), StopReason.GAP)


def test_a_batch_above_the_contract_limit_can_never_be_sequenced() -> None:
    too_long = MAX_TRANSACTIONS_BYTE_LENGTH + 1
    alone = pack(batches([too_long]), first=1, limits=PackLimits(), l1_timestamp=L1_TIME)
    assert (alone.batches, alone.stop) == ((), StopReason.BATCH_TOO_LARGE)
    behind = pack(batches([5, too_long]), first=1, limits=PackLimits(), l1_timestamp=L1_TIME)
    assert (behind.last, behind.stop, behind.full) == (1, StopReason.MAX_CALLDATA, True)
    small_limit = PackLimits(max_calldata_bytes=sequence_calldata_bytes([1_000]))
    oversize = pack(batches([1_025]), first=1, limits=small_limit, l1_timestamp=L1_TIME)
    assert oversize.stop is StopReason.BATCH_TOO_LARGE


def test_a_forced_batch_is_not_held_to_the_120000_byte_limit() -> None:
    forced = NumberedBatch(
        1, BatchData(b"\x01" * (MAX_TRANSACTIONS_BYTE_LENGTH + 1), ZERO_HASH, L1_TIME, L1_TIME)
    )
    packing = pack([forced], first=1, limits=PackLimits(max_calldata_bytes=131_072), l1_timestamp=L1_TIME)
    assert packing.last == 1


def test_a_prefix_is_a_full_sequence_of_the_first_batches() -> None:
    packing = pack(batches([100] * 6, first=5), first=5, limits=PackLimits(), l1_timestamp=L1_TIME)
    half = packing.prefix(3)
    assert (half.first, half.last, half.stop, half.full) == (5, 7, StopReason.MAX_CALLDATA, True)
    assert half.calldata_bytes == sequence_calldata_bytes([100] * 3)
    assert packing.prefix(6) == packing
    with pytest.raises(ValueError):
        packing.prefix(0)


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="max_batches"):
        PackLimits(max_batches=1_001)
    with pytest.raises(ValueError, match="max_calldata_bytes"):
        PackLimits(max_calldata_bytes=100)

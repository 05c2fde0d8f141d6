"""Fee rules: the first price follows the node and the cap; a re-price never lowers a field, raises
both fields by at least the bump (geth's replacement rule), follows the node when it asks more, and
gives up rather than send a replacement the cap would make invalid."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ethtxmanager import fees
from services.ethtxmanager.fees import REPLACEMENT_MIN_PERCENT, FeeKind, Fees

GWEI = 10**9
wei = st.integers(min_value=0, max_value=10**15)


@st.composite
def eip1559(draw: st.DrawFn) -> Fees:
    tip = draw(wei)
    return Fees(FeeKind.EIP1559, tip + draw(wei), tip)


def test_suggestions_follow_the_node() -> None:
    assert fees.suggest(FeeKind.LEGACY, gas_price=7, base_fee=None, tip=0) == Fees(FeeKind.LEGACY, 7)
    assert fees.suggest(FeeKind.EIP1559, gas_price=0, base_fee=10 * GWEI, tip=GWEI) == Fees(
        FeeKind.EIP1559, 21 * GWEI, GWEI
    )
    with pytest.raises(ValueError, match="base fee"):
        fees.suggest(FeeKind.EIP1559, gas_price=1, base_fee=None, tip=1)


def test_the_first_price_is_capped_and_the_tip_with_it() -> None:
    suggested = Fees(FeeKind.EIP1559, 100 * GWEI, 60 * GWEI)
    assert fees.first(suggested, None) == suggested
    assert fees.first(suggested, 50 * GWEI) == Fees(FeeKind.EIP1559, 50 * GWEI, 50 * GWEI)
    assert fees.first(Fees(FeeKind.LEGACY, 9), 5) == Fees(FeeKind.LEGACY, 5)


def test_raised_rounds_up_and_always_rises() -> None:
    assert fees.raised(100, 10) == 110
    assert fees.raised(101, 10) == 112
    assert fees.raised(1, 10) == 2
    assert fees.raised(0, 50) == 1


def test_a_bump_raises_both_fields_by_the_percentage() -> None:
    old = Fees(FeeKind.EIP1559, 30 * GWEI, 2 * GWEI)
    low = Fees(FeeKind.EIP1559, GWEI, GWEI)
    assert fees.bump(old, low, 20, None) == Fees(FeeKind.EIP1559, 36 * GWEI, 2_400_000_000)


def test_a_bump_follows_the_node_when_it_wants_more() -> None:
    old = Fees(FeeKind.LEGACY, 10 * GWEI)
    assert fees.bump(old, Fees(FeeKind.LEGACY, 50 * GWEI), 10, None) == Fees(FeeKind.LEGACY, 50 * GWEI)


def test_no_bump_when_the_cap_leaves_no_valid_replacement() -> None:
    old = Fees(FeeKind.LEGACY, 95 * GWEI)
    assert fees.bump(old, old, 20, 100 * GWEI) is None  # +5 % only
    assert fees.bump(old, old, 20, 105 * GWEI) == Fees(FeeKind.LEGACY, 105 * GWEI)  # +10.5 %, capped


def test_kinds_do_not_mix() -> None:
    with pytest.raises(ValueError, match="re-price"):
        fees.bump(Fees(FeeKind.LEGACY, 1), Fees(FeeKind.EIP1559, 1, 1), 10, None)


def test_fees_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="tip"):
        Fees(FeeKind.EIP1559, 1, 2)
    with pytest.raises(ValueError, match="legacy"):
        Fees(FeeKind.LEGACY, 5, 1)


@given(old=eip1559(), suggested=eip1559(), percent=st.integers(10, 300), cap=st.none() | wei)
def test_a_bump_never_lowers_and_is_a_valid_replacement(
    old: Fees, suggested: Fees, percent: int, cap: int | None
) -> None:
    if cap is not None and old.price > cap:
        return  # the first price is capped, so an attempt above the cap never exists
    new = fees.bump(old, suggested, percent, cap)
    if new is None:
        assert cap is not None  # only the cap stops a bump
        return
    assert new.at_least(old) and new != old
    assert new.price >= fees.raised(old.price, REPLACEMENT_MIN_PERCENT)
    assert new.tip >= fees.raised(old.tip, REPLACEMENT_MIN_PERCENT)
    assert new.tip <= new.price
    if cap is not None:
        assert new.price <= cap
    else:
        assert new.price >= suggested.price and new.tip >= suggested.tip
        assert new.price >= fees.raised(old.price, percent)


@given(old=wei, suggested=wei, percent=st.integers(10, 300))
def test_a_legacy_bump_never_lowers(old: int, suggested: int, percent: int) -> None:
    new = fees.bump(Fees(FeeKind.LEGACY, old), Fees(FeeKind.LEGACY, suggested), percent, None)
    assert new is not None
    assert new.price >= max(suggested, fees.raised(old, percent)) and new.price > old

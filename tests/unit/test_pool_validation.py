"""The pool's admission rules without Redis: the stateless rules in order, the funds rule over an
in-memory account state, and the wording and status code of every rejection."""

import dataclasses

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.pool.state import MemoryAccountState
from services.pool.validation import (
    WORDING,
    PoolLimits,
    PoolRejection,
    Rule,
    check_transaction,
    funds_problem,
    intrinsic_gas,
    reject,
    rejection_account_full,
    rejection_nonce_too_high,
    rejection_nonce_too_low,
    rejection_pool_full,
    rejection_selected,
    rejection_underpriced,
)
from tests.integration.pool_fixtures import CHAIN_ID, GWEI, account
from zkevm.hashing import keccak256
from zkevm.transaction import SECP256K1_N, decode_raw_transaction, decode_record

ALICE = account("alice")
LIMITS = PoolLimits()


def refused(raw: bytes, limits: PoolLimits = LIMITS) -> PoolRejection:
    with pytest.raises(PoolRejection) as error:
        check_transaction(raw, limits)
    return error.value


def test_an_acceptable_transaction_is_checked_and_prepared() -> None:
    raw = ALICE.tx(7, 3 * GWEI, value=5, data=b"\x00\x01", gas_limit=30_000)
    checked = check_transaction(raw, LIMITS)
    assert checked.raw == raw and checked.tx_hash == keccak256(raw)
    assert checked.sender == ALICE.address
    assert checked.cost == checked.tx.gas_limit * 3 * GWEI + 5
    record, _ = decode_record(checked.batch_l2_data)
    assert record.effective_percentage == 0xFF and record.to_raw() == raw and record.nonce == 7


@pytest.mark.parametrize(
    ("raw", "rule", "message"),
    [
        (b"", Rule.INVALID_TX_INPUT, "invalid tx input: the transaction is empty"),
        (b"\x80", Rule.INVALID_TX_INPUT, "invalid tx input: "),
        (b"\x01\xc0", Rule.TX_TYPE_NOT_SUPPORTED, "transaction type not supported: got a typed (EIP-2718) "),
        (b"\x7f", Rule.TX_TYPE_NOT_SUPPORTED, "transaction type not supported: got a typed (EIP-2718) "),
    ],
)
def test_encoding_rules(raw: bytes, rule: Rule, message: str) -> None:
    error = refused(raw)
    assert (
        error.rule is rule
        and str(error).startswith(message)
        and error.code == grpc.StatusCode.INVALID_ARGUMENT
    )


def test_invalid_sender() -> None:
    tx = decode_raw_transaction(ALICE.tx(0))
    high_s = dataclasses.replace(tx, s=SECP256K1_N - tx.s, v=55 - tx.v).to_raw()
    error = refused(high_s)
    assert error.rule is Rule.INVALID_SENDER
    assert (
        str(error)
        == f"invalid sender: s = {SECP256K1_N - tx.s:#x} is above n/2 (high-s signatures are invalid, EIP-2)"
    )
    assert str(refused(dataclasses.replace(tx, r=SECP256K1_N).to_raw())).startswith("invalid sender: r = ")


def test_chain_id() -> None:
    error = refused(ALICE.tx(0, chain_id=1))
    assert error.rule is Rule.INVALID_CHAIN_ID
    assert (
        str(error)
        == f"invalid chain id: the transaction is signed for chain 1, this pool accepts chain {CHAIN_ID}"
    )
    assert check_transaction(ALICE.tx(0, chain_id=None), LIMITS).tx.chain_id is None  # pre-EIP-155
    assert (
        check_transaction(ALICE.tx(0, chain_id=5), dataclasses.replace(LIMITS, chain_id=5)).tx.chain_id == 5
    )


def test_sizes() -> None:
    limits = dataclasses.replace(LIMITS, max_tx_bytes=200, max_tx_data_bytes=50)
    raw = ALICE.tx(0, data=b"\x01" * 120, gas_limit=100_000)
    assert len(raw) > 200
    assert (
        str(refused(raw, limits))
        == f"oversized data: the transaction is {len(raw)} bytes, the limit is 200 bytes"
    )
    raw = ALICE.tx(0, data=b"\x01" * 51, gas_limit=100_000)
    error = refused(raw, limits)
    assert error.rule is Rule.DATA_TOO_BIG
    assert str(error) == "data size bigger than allowed, current size is 51 bytes and max allowed is 50 bytes"
    check_transaction(ALICE.tx(0, data=b"\x01" * 50, gas_limit=100_000), limits)


def test_gas_limit_and_intrinsic_gas() -> None:
    assert str(refused(ALICE.tx(0, gas_limit=30_000_001))) == (
        "exceeds block gas limit: gas limit 30000001 is above the batch gas limit 30000000"
    )
    limits = dataclasses.replace(LIMITS, max_tx_gas=100_000)
    assert refused(ALICE.tx(0, gas_limit=100_001), limits).rule is Rule.GAS_LIMIT
    assert (
        str(refused(ALICE.tx(0, gas_limit=20_999)))
        == "intrinsic gas too low: gas limit 20999, intrinsic gas 21000"
    )
    assert str(refused(ALICE.tx(0, to=None, gas_limit=21_000))) == (
        "intrinsic gas too low: gas limit 21000, intrinsic gas 53000"
    )


@given(st.binary(max_size=200), st.booleans())
def test_intrinsic_gas_counts_zero_and_non_zero_bytes(data: bytes, create: bool) -> None:
    tx = dataclasses.replace(
        decode_raw_transaction(ALICE.tx(0)), data=data, to=None if create else b"\x01" * 20
    )
    zeros = data.count(0)
    assert intrinsic_gas(tx) == (53_000 if create else 21_000) + 4 * zeros + 16 * (len(data) - zeros)


def test_gas_price() -> None:
    assert str(refused(ALICE.tx(0, GWEI - 1))) == (
        f"gas price too low: gas price {GWEI - 1} wei is below the minimum {GWEI} wei"
    )
    check_transaction(ALICE.tx(0, 0), dataclasses.replace(LIMITS, min_gas_price_wei=0))


def test_stateless_rules_are_checked_in_order() -> None:
    """A transaction that breaks several rules is refused for the first one in the documented order."""
    everything_wrong = ALICE.tx(0, 1, chain_id=9, data=b"\x01" * 300, gas_limit=20_000)
    limits = dataclasses.replace(LIMITS, max_tx_bytes=300, max_tx_data_bytes=200)
    order = [
        Rule.INVALID_CHAIN_ID,
        Rule.OVERSIZED_DATA,
        Rule.DATA_TOO_BIG,
        Rule.INTRINSIC_GAS,
        Rule.GAS_PRICE_TOO_LOW,
    ]
    seen = []
    for rule in order:
        error = refused(everything_wrong, limits)
        seen.append(error.rule)
        # relax the rule just reported and rebuild the transaction, so the next one shows
        if rule is Rule.INVALID_CHAIN_ID:
            everything_wrong = ALICE.tx(0, 1, data=b"\x01" * 300, gas_limit=20_000)
        elif rule is Rule.OVERSIZED_DATA:
            limits = dataclasses.replace(limits, max_tx_bytes=10_000)
        elif rule is Rule.DATA_TOO_BIG:
            limits = dataclasses.replace(limits, max_tx_data_bytes=10_000)
        elif rule is Rule.INTRINSIC_GAS:
            everything_wrong = ALICE.tx(0, 1, data=b"\x01" * 300, gas_limit=30_000)
    assert seen == order


async def test_insufficient_funds_over_the_memory_state() -> None:
    state = MemoryAccountState()
    checked = check_transaction(ALICE.tx(0, GWEI, value=10), LIMITS)
    assert await state.get_balance(ALICE.address) == 0 and await state.get_nonce(ALICE.address) == 0
    assert funds_problem(checked, await state.get_balance(ALICE.address)) == (
        f"address 0x{ALICE.address.hex()} have 0 want {21_000 * GWEI + 10}"
    )
    state.set_account(ALICE.address, balance=21_000 * GWEI + 9, nonce=4)
    assert funds_problem(checked, await state.get_balance(ALICE.address)) is not None
    state.set_account(ALICE.address, balance=21_000 * GWEI + 10)
    assert funds_problem(checked, await state.get_balance(ALICE.address)) is None
    assert await state.get_nonce(ALICE.address) == 4  # a partial update keeps the other field
    error = reject(Rule.INSUFFICIENT_FUNDS, "address 0x00 have 1 want 2")
    assert str(error) == "insufficient funds for gas * price + value: address 0x00 have 1 want 2"
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION


def test_pool_side_rule_messages_and_codes() -> None:
    old = bytes(range(32))
    cases = [
        (
            rejection_nonce_too_low(3, 5),
            "nonce too low: next nonce 5, tx nonce 3",
            grpc.StatusCode.FAILED_PRECONDITION,
        ),
        (
            rejection_nonce_too_high(70, 5, 64),
            "nonce too high: next nonce 5, tx nonce 70; the pool accepts nonces up to 68",
            grpc.StatusCode.FAILED_PRECONDITION,
        ),
        (
            rejection_underpriced(4, old, 10, 9),
            f"replacement transaction underpriced: nonce 4 is taken by 0x{old.hex()} at gas price 10 wei; "
            "a replacement needs a higher gas price than that, got 9 wei",
            grpc.StatusCode.FAILED_PRECONDITION,
        ),
        (
            rejection_selected(4, old),
            f"replacement transaction underpriced: nonce 4 is taken by 0x{old.hex()}, which is already "
            "selected for a batch and can no longer be replaced",
            grpc.StatusCode.FAILED_PRECONDITION,
        ),
        (
            rejection_pool_full(1024, LIMITS),
            "txpool is full: 1024 transactions are waiting, the limit is 1024",
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        ),
        (
            rejection_account_full(ALICE.address, 64, LIMITS),
            f"txpool is full: account 0x{ALICE.address.hex()} has 64 transactions waiting, "
            "the limit per account is 64",
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        ),
        (reject(Rule.ALREADY_KNOWN), "already known", grpc.StatusCode.ALREADY_EXISTS),
    ]
    for error, message, code in cases:
        assert str(error) == message
        assert error.code == code


def test_every_rule_has_its_wording() -> None:
    assert set(WORDING) == set(Rule)
    assert len({rule.value for rule in Rule}) == len(Rule)  # distinct metric labels
    for rule in Rule:
        assert str(reject(rule)) == WORDING[rule]

"""eth_call / eth_estimateGas logic over a scripted executor: the gas search, its caps, its errors,
and the revert-reason decoding."""

from __future__ import annotations

import pytest

from services.common.statedb import Address, Hash32, L2Block, StateRoot
from services.jsonrpc.backends import CallOutcome, UnsignedCall
from services.jsonrpc.calls import DEFAULT_CALL_SENDER, Calls, failure, revert_reason
from services.jsonrpc.errors import ExecutionReverted, ServerError
from services.jsonrpc.memory import MemoryAccount, MemoryState
from services.jsonrpc.params import CallArgs

ROOT = bytes(31) + b"\x07"
BLOCK = L2Block(
    3,
    Hash32(b"\x01" * 32),
    Hash32(b"\x02" * 32),
    2,
    StateRoot(ROOT),
    1_700_000_000,
    Address(b"\xc0" * 20),
    Hash32(b"\x03" * 32),
    21_000,
    30_000_000,
)
SENDER = b"\xaa" * 20
TARGET = b"\xbb" * 20


class NeedsGas:
    """An executor twin: a call succeeds with `gas >= needed`, using `used` gas and refunding
    `refund`; below `needed` it runs out of gas (the 63/64 rule makes needed > used)."""

    def __init__(self, needed: int, used: int, refund: int = 0, error: str = "OUT_OF_GAS") -> None:
        self.needed, self.used, self.refund, self.error = needed, used, refund, error
        self.gases: list[int] = []
        self.calls: list[UnsignedCall] = []

    async def run(self, call: UnsignedCall) -> CallOutcome:
        self.gases.append(call.gas)
        self.calls.append(call)
        if call.gas >= self.needed:
            return CallOutcome(None, self.used, self.refund, b"")
        return CallOutcome(self.error, call.gas, 0, b"")


def calls_with(executor: NeedsGas, balance: int = 10**18, nonce: int = 3) -> Calls:
    state = MemoryState()
    state.set_account(ROOT, SENDER, MemoryAccount(nonce=nonce, balance=balance))
    return Calls(executor, state)


async def test_a_transfer_is_estimated_exactly_in_two_runs() -> None:
    executor = NeedsGas(21_000, 21_000)
    gas = await calls_with(executor).estimate_gas(CallArgs(sender=SENDER, to=TARGET, value=1), BLOCK)
    assert gas == 21_000 and executor.gases == [30_000_000, 21_000]
    assert executor.calls[0].nonce == 3 and executor.calls[0].state_root == ROOT


@pytest.mark.parametrize(
    ("needed", "used", "refund"),
    [(64_000, 60_000, 0), (150_000, 90_000, 15_000), (2_000_000, 400_000, 0), (29_999_999, 100_000, 0)],
)
async def test_the_search_finds_enough_gas_within_the_tolerance(needed: int, used: int, refund: int) -> None:
    executor = NeedsGas(needed, used, refund)
    gas = await calls_with(executor).estimate_gas(CallArgs(sender=SENDER, to=TARGET, data=b"\x01"), BLOCK)
    assert needed <= gas <= needed * 1.016
    assert len(executor.gases) < 30


async def test_the_cap_is_what_the_balance_pays_for() -> None:
    executor = NeedsGas(21_000, 21_000)
    args = CallArgs(sender=SENDER, to=TARGET, gas_price=10**9, value=10**18 - 100_000 * 10**9)
    gas = await calls_with(executor).estimate_gas(args, BLOCK)
    assert gas == 21_000 and executor.gases[0] == 100_000
    with pytest.raises(ServerError, match="insufficient funds for transfer"):
        await calls_with(executor).estimate_gas(
            CallArgs(sender=SENDER, to=TARGET, gas_price=1, value=10**19), BLOCK
        )


async def test_failing_at_the_cap_is_the_answer() -> None:
    with pytest.raises(ServerError, match=r"gas required exceeds allowance \(50000\)"):
        await calls_with(NeedsGas(60_000, 55_000)).estimate_gas(
            CallArgs(sender=SENDER, to=TARGET, gas=50_000), BLOCK
        )
    reverting = NeedsGas(10**9, 0, error="EXECUTION_REVERTED")
    with pytest.raises(ExecutionReverted):
        await calls_with(reverting).estimate_gas(CallArgs(to=TARGET), BLOCK)
    assert reverting.calls[0].sender == DEFAULT_CALL_SENDER and reverting.calls[0].nonce == 0


async def test_call_gas_is_capped() -> None:
    executor = NeedsGas(0, 0)
    calls = calls_with(executor)
    await calls.call(CallArgs(to=TARGET, gas=10**12), BLOCK)
    await calls.call(CallArgs(to=TARGET, gas=0), BLOCK)
    await calls.call(CallArgs(to=TARGET, gas=40_000), BLOCK)
    assert executor.gases == [30_000_000, 30_000_000, 40_000]


def test_revert_reasons() -> None:
    def error_string(text: bytes, offset: int = 32) -> bytes:
        return (
            bytes.fromhex("08c379a0")
            + offset.to_bytes(32, "big")
            + len(text).to_bytes(32, "big")
            + text.ljust(32, b"\0")
        )

    assert revert_reason(error_string(b"too poor")) == "too poor"
    assert revert_reason(error_string(b"")) == ""
    assert revert_reason(b"") is None
    assert revert_reason(bytes.fromhex("4e487b71") + (1).to_bytes(32, "big")) is None  # Panic(uint256)
    assert revert_reason(error_string(b"x", offset=4096)) is None
    assert revert_reason(error_string(b"\xff\xfe")) is None


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ("OUT_OF_GAS", "out of gas"),
        ("INTRINSIC_INVALID_BALANCE", "insufficient funds for gas * price + value"),
        ("INTRINSIC_INVALID_GAS_LIMIT", "intrinsic gas too low"),
        ("INTRINSIC_INVALID_SENDER_CODE", "sender not an eoa"),
        ("OUT_OF_COUNTERS_KECCAK", "not enough keccak counters to continue the execution"),
        ("SOMETHING_NEW", "something new"),
    ],
)
def test_failure_messages(error: str, message: str) -> None:
    answer = failure(CallOutcome(error, 0, 0, b""))
    assert answer.code == -32000 and answer.message == message

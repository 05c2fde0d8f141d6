"""eth_call and eth_estimateGas: an unsigned transaction run by the executor on a block's state.

    CallArgs + block ──▶ UnsignedCall(state root, timestamp, coinbase of the block; the sender's
                         nonce at that root) ──▶ CallExecutor (ProcessBatch with `from`,
                         update_merkle_tree off, no ZK-counter limit) ──▶ CallOutcome

As in zkevm-node: a call without `from` is sent from 0x1111…1111 (`state.DefaultSenderAddress`), a
call without `gas` gets the gas cap (30,000,000, the fork-6 transaction gas limit), and a call
without `gasPrice` pays nothing for gas (so the balance check covers only `value`).

eth_estimateGas searches the gas limit the way go-ethereum does, on executor runs:
  1. run at the cap (lowered to what the sender's balance pays for, when a gas price is given): a
     failure there is the answer (a revert with its data, "gas required exceeds allowance (cap)"
     for running out of gas, or the executor's error);
  2. try exactly the gas it used — enough for anything without refunds or the 63/64 rule, so a
     transfer costs two runs;
  3. try (used + refund + 2300) · 64/63, then bisect between what failed and what worked until the
     gap is within 1.5 % of the answer (a failure of any kind counts as "too low").

Errors: a revert is code 3 "execution reverted[: reason]" with the revert data (the reason decoded
from `Error(string)`); every other failure is -32000 with go-ethereum's words where it has them.
"""

from __future__ import annotations

from typing import Final

from services.common.statedb.models import L2Block
from services.jsonrpc.backends import CallExecutor, CallOutcome, StateReader, UnsignedCall
from services.jsonrpc.codec import data
from services.jsonrpc.errors import ExecutionReverted, RpcError, ServerError
from services.jsonrpc.params import CallArgs
from zkevm.transaction import MAX_TX_GAS_LIMIT

#: zkevm-node `state.DefaultSenderAddress`: the sender of calls that name none
DEFAULT_CALL_SENDER: Final = bytes.fromhex("1111111111111111111111111111111111111111")
#: the default and largest gas of a call: the fork-6 transaction gas limit (spec §6.1)
DEFAULT_GAS_CAP: Final = MAX_TX_GAS_LIMIT
#: go-ethereum params.CallStipend, in its optimistic first guess
CALL_STIPEND: Final = 2300
#: stop bisecting once (high - low) / high is below this (go-ethereum estimateGasErrorRatio)
ESTIMATE_ERROR_RATIO: Final = 0.015
#: the selector of Solidity's Error(string)
ERROR_STRING_SELECTOR: Final = bytes.fromhex("08c379a0")

_REVERTED: Final = "EXECUTION_REVERTED"
_OUT_OF_GAS: Final = "OUT_OF_GAS"

#: go-ethereum's (or zkevm-node's) words for the executor's outcomes
_MESSAGES: Final = {
    _OUT_OF_GAS: "out of gas",
    "INTRINSIC_INVALID_BALANCE": "insufficient funds for gas * price + value",
    "INTRINSIC_INVALID_GAS_LIMIT": "intrinsic gas too low",
    "INTRINSIC_INVALID_BATCH_GAS_LIMIT": "gas limit reached: above the transaction gas limit",
    "INTRINSIC_TX_GAS_OVERFLOW": "gas uint64 overflow",
    "INTRINSIC_INVALID_SENDER_CODE": "sender not an eoa",
    "INTRINSIC_INVALID_NONCE": "nonce changed while the call was prepared, retry",
    "INTRINSIC_INVALID_CHAIN_ID": "invalid chain id",
    "INTRINSIC_INVALID_SIGNATURE": "invalid sender",
    "STACK_OVERFLOW": "stack limit reached 1024 (1023)",
    "STACK_UNDERFLOW": "stack underflow",
    "INVALID_JUMP": "invalid jump destination",
    "INVALID_OPCODE": "invalid opcode",
    "INVALID_STATIC": "write protection",
    "MAX_CODE_SIZE_EXCEEDED": "max code size exceeded",
    "CONTRACT_ADDRESS_COLLISION": "contract address collision",
    "INVALID_BYTECODE_STARTS_EF": "invalid code: must not begin with 0xef",
}


def revert_reason(return_value: bytes) -> str | None:
    """The string of an ABI-encoded `Error(string)`, or None."""
    if len(return_value) < 4 + 64 or return_value[:4] != ERROR_STRING_SELECTOR:
        return None
    body = return_value[4:]
    offset = int.from_bytes(body[:32], "big")
    if offset + 32 > len(body):
        return None
    length = int.from_bytes(body[offset : offset + 32], "big")
    start = offset + 32
    if start + length > len(body):
        return None
    try:
        return body[start : start + length].decode()
    except UnicodeDecodeError:
        return None


def failure(outcome: CallOutcome) -> RpcError:
    """The error answer for a call that did not run to the end."""
    error = outcome.error or "UNKNOWN"
    if error == _REVERTED:
        reason = revert_reason(outcome.return_value)
        message = "execution reverted" if reason is None else f"execution reverted: {reason}"
        return ExecutionReverted(message, data(outcome.return_value))
    if error.startswith("OUT_OF_COUNTERS_"):
        counter = error.removeprefix("OUT_OF_COUNTERS_").lower()
        return ServerError(f"not enough {counter} counters to continue the execution")
    return ServerError(_MESSAGES.get(error, error.lower().replace("_", " ")))


class Calls:
    """Runs eth_call and eth_estimateGas on the executor."""

    def __init__(self, executor: CallExecutor, state: StateReader, gas_cap: int = DEFAULT_GAS_CAP) -> None:
        self.executor = executor
        self.state = state
        self.gas_cap = gas_cap

    async def call(self, args: CallArgs, block: L2Block) -> bytes:
        """What the call returns, or the error answer."""
        sender, nonce = await self._sender(args, block)
        outcome = await self._run(args, block, sender, nonce, self._gas(args))
        if outcome.error is not None:
            raise failure(outcome)
        return outcome.return_value

    async def estimate_gas(self, args: CallArgs, block: L2Block) -> int:
        sender = args.sender or DEFAULT_CALL_SENDER
        account = await self.state.account(block.state_root, sender)
        cap = self._gas(args)
        gas_price = args.gas_price or 0
        if gas_price > 0:
            if args.value > account.balance:
                raise ServerError("insufficient funds for transfer")
            cap = min(cap, (account.balance - args.value) // gas_price)

        async def run(gas: int) -> CallOutcome:
            return await self._run(args, block, sender, account.nonce, gas)

        first = await run(cap)
        if first.error is not None:
            if first.error == _OUT_OF_GAS:
                raise ServerError(f"gas required exceeds allowance ({cap})")
            raise failure(first)
        used = first.gas_used
        if used >= cap:
            return cap
        if (await run(used)).error is None:
            return used
        low, high = used, cap
        optimistic = (used + first.gas_refunded + CALL_STIPEND) * 64 // 63
        if optimistic < high:
            if (await run(optimistic)).error is None:
                high = optimistic
            else:
                low = optimistic
        while high - low > 1 and (high - low) / high > ESTIMATE_ERROR_RATIO:
            middle = (low + high) // 2
            # go-ethereum: when the gap is wide, try twice the known-bad value first
            middle = min(middle, 2 * low) if low > 0 else middle
            if (await run(middle)).error is None:
                high = middle
            else:
                low = middle
        return high

    def _gas(self, args: CallArgs) -> int:
        if args.gas is None or args.gas == 0:
            return self.gas_cap
        return min(args.gas, self.gas_cap)

    async def _sender(self, args: CallArgs, block: L2Block) -> tuple[bytes, int]:
        sender = args.sender or DEFAULT_CALL_SENDER
        account = await self.state.account(block.state_root, sender)
        return sender, account.nonce

    async def _run(self, args: CallArgs, block: L2Block, sender: bytes, nonce: int, gas: int) -> CallOutcome:
        if args.to is None and not args.data:
            raise ServerError("contract creation without data provided")
        return await self.executor.run(
            UnsignedCall(
                state_root=block.state_root,
                batch_number=block.batch_number,
                timestamp=block.timestamp,
                coinbase=block.coinbase,
                sender=sender,
                nonce=nonce,
                to=args.to,
                gas=gas,
                gas_price=args.gas_price or 0,
                value=args.value,
                data=args.data or b"",
            )
        )

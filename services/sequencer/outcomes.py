"""What the sequencer does with each answer of the executor (zkevm-node.md §1.5).

Per transaction, from its RomError:

    NO_ERROR                         included                       receipt status 1
    OUT_OF_GAS, REVERTED, stack …    included (the state root moved: receipt status 0
                                     nonce and fee are taken)
    OUT_OF_COUNTERS_*                invalid: it does not fit even an empty batch (it ran alone)
    INTRINSIC_INVALID_NONCE          back to waiting: pool MarkFailed(NONCE, state nonce)
    INTRINSIC_INVALID_BALANCE        back to waiting: pool MarkFailed(BALANCE); the sequencer
                                     leaves it aside for a while (`balance_retry_s`)
    other intrinsic errors, INVALID_RLP   failed: pool MarkFailed(OTHER); the state root did not move
    BATCH_DATA_TOO_BIG …             invalid

Per call, from its ExecutorError (the request could not be served at all):

    DB_ERROR                         retry with backoff (HashDB unreachable, or a root its
                                     flush has not delivered yet)
    UNSUPPORTED_FORK_ID, INVALID_CHAIN_ID, INVALID_COINBASE, INVALID_OLD_STATE_ROOT,
    INVALID_GLOBAL_EXIT_ROOT, INVALID_OLD_ACC_INPUT_HASH
                                     halt: the sequencer's own request is wrong (its
                                     configuration), so every transaction would fail alike
    SM_MAIN_COUNTERS_OVERFLOW_*, any other
                                     invalid: the transaction cannot be executed

A transport failure (the executor is down, a deadline passed) is retried with backoff, like
DB_ERROR. zkevm-node halts on "no error and no responses"; zkseq marks that transaction invalid,
since one malformed transaction should not stop the chain.
"""

from __future__ import annotations

import enum
from typing import Final

from protos.executor.v1 import executor_pb2 as pb


class TxOutcome(enum.StrEnum):
    """The `outcome` label of the transactions-processed metric."""

    INCLUDED = "included"
    #: an EVM failure (revert, out of gas …): included, with a failed receipt
    REVERTED = "reverted"
    NONCE = "nonce"
    BALANCE = "balance"
    FAILED = "failed"
    OUT_OF_COUNTERS = "out_of_counters"
    INVALID = "invalid"

    @property
    def included(self) -> bool:
        return self in (TxOutcome.INCLUDED, TxOutcome.REVERTED)


class CallOutcome(enum.StrEnum):
    RETRY = "retry"
    HALT = "halt"
    INVALID_TX = "invalid_tx"


_EVM_FAILURES: Final = frozenset(
    {
        pb.ROM_ERROR_OUT_OF_GAS,
        pb.ROM_ERROR_STACK_OVERFLOW,
        pb.ROM_ERROR_STACK_UNDERFLOW,
        pb.ROM_ERROR_MAX_CODE_SIZE_EXCEEDED,
        pb.ROM_ERROR_CONTRACT_ADDRESS_COLLISION,
        pb.ROM_ERROR_EXECUTION_REVERTED,
        pb.ROM_ERROR_INVALID_JUMP,
        pb.ROM_ERROR_INVALID_OPCODE,
        pb.ROM_ERROR_INVALID_STATIC,
        pb.ROM_ERROR_INVALID_BYTECODE_STARTS_EF,
    }
)
_OUT_OF_COUNTERS: Final = frozenset(
    {
        pb.ROM_ERROR_OUT_OF_COUNTERS_STEP,
        pb.ROM_ERROR_OUT_OF_COUNTERS_KECCAK,
        pb.ROM_ERROR_OUT_OF_COUNTERS_BINARY,
        pb.ROM_ERROR_OUT_OF_COUNTERS_MEM,
        pb.ROM_ERROR_OUT_OF_COUNTERS_ARITH,
        pb.ROM_ERROR_OUT_OF_COUNTERS_PADDING,
        pb.ROM_ERROR_OUT_OF_COUNTERS_POSEIDON,
    }
)
_FAILED: Final = frozenset(
    {
        pb.ROM_ERROR_INTRINSIC_INVALID_SIGNATURE,
        pb.ROM_ERROR_INTRINSIC_INVALID_CHAIN_ID,
        pb.ROM_ERROR_INTRINSIC_INVALID_GAS_LIMIT,
        pb.ROM_ERROR_INTRINSIC_INVALID_BATCH_GAS_LIMIT,
        pb.ROM_ERROR_INTRINSIC_INVALID_SENDER_CODE,
        pb.ROM_ERROR_INTRINSIC_TX_GAS_OVERFLOW,
        pb.ROM_ERROR_INVALID_RLP,
    }
)
#: request-level errors that only a wrong request (the sequencer's configuration) can cause
_HALT: Final = frozenset(
    {
        pb.EXECUTOR_ERROR_UNSUPPORTED_FORK_ID,
        pb.EXECUTOR_ERROR_INVALID_CHAIN_ID,
        pb.EXECUTOR_ERROR_INVALID_COINBASE,
        pb.EXECUTOR_ERROR_INVALID_OLD_STATE_ROOT,
        pb.EXECUTOR_ERROR_INVALID_GLOBAL_EXIT_ROOT,
        pb.EXECUTOR_ERROR_INVALID_OLD_ACC_INPUT_HASH,
    }
)


def tx_outcome(rom_error: int) -> TxOutcome:
    if rom_error == pb.ROM_ERROR_NO_ERROR:
        return TxOutcome.INCLUDED
    if rom_error in _EVM_FAILURES:
        return TxOutcome.REVERTED
    if rom_error in _OUT_OF_COUNTERS:
        return TxOutcome.OUT_OF_COUNTERS
    if rom_error == pb.ROM_ERROR_INTRINSIC_INVALID_NONCE:
        return TxOutcome.NONCE
    if rom_error == pb.ROM_ERROR_INTRINSIC_INVALID_BALANCE:
        return TxOutcome.BALANCE
    if rom_error in _FAILED:
        return TxOutcome.FAILED
    return TxOutcome.INVALID


def call_outcome(executor_error: int) -> CallOutcome | None:
    """None when the call was served (EXECUTOR_ERROR_NO_ERROR)."""
    if executor_error == pb.EXECUTOR_ERROR_NO_ERROR:
        return None
    if executor_error == pb.EXECUTOR_ERROR_DB_ERROR:
        return CallOutcome.RETRY
    if executor_error in _HALT:
        return CallOutcome.HALT
    return CallOutcome.INVALID_TX


def rom_error_name(rom_error: int) -> str:
    try:
        return pb.RomError.Name(rom_error)
    except ValueError:
        return f"ROM_ERROR_{rom_error}"


def executor_error_name(error: int) -> str:
    try:
        return pb.ExecutorError.Name(error)
    except ValueError:
        return f"EXECUTOR_ERROR_{error}"

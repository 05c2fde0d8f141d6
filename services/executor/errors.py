"""What can go wrong in a batch, in the executor protocol's own words.

Two levels, numbered as in the fork-6 `executor.proto` (zkevm-prover v3.0.2 / zkevm-node v0.4.7), so
the servicer maps them one to one:

* `RomError` — the outcome of one transaction. An EVM failure (out of gas, revert, …) still
  includes the transaction (nonce and fee change, spec §6.5); an intrinsic failure skips it without
  trace (§6.3); an out-of-counters failure drops the whole batch back to its start (§6.10 quirk 3);
  `INVALID_RLP` means batchL2Data did not parse and nothing ran (§6.10 quirk 1).
* `ExecutorError` — the request itself could not be served (bad input, unknown root, wrong fork).
  Raised as `BatchRejected`; the servicer answers it in the response's `error` field, never as a
  transport error, and keeps serving.
"""

from enum import IntEnum


class RomError(IntEnum):
    UNSPECIFIED = 0
    NO_ERROR = 1
    OUT_OF_GAS = 2
    STACK_OVERFLOW = 3
    STACK_UNDERFLOW = 4
    MAX_CODE_SIZE_EXCEEDED = 5
    CONTRACT_ADDRESS_COLLISION = 6
    EXECUTION_REVERTED = 7
    OUT_OF_COUNTERS_STEP = 8
    OUT_OF_COUNTERS_KECCAK = 9
    OUT_OF_COUNTERS_BINARY = 10
    OUT_OF_COUNTERS_MEM = 11
    OUT_OF_COUNTERS_ARITH = 12
    OUT_OF_COUNTERS_PADDING = 13
    OUT_OF_COUNTERS_POSEIDON = 14
    INVALID_JUMP = 15
    INVALID_OPCODE = 16
    INVALID_STATIC = 17
    INVALID_BYTECODE_STARTS_EF = 18
    INTRINSIC_INVALID_SIGNATURE = 19
    INTRINSIC_INVALID_CHAIN_ID = 20
    INTRINSIC_INVALID_NONCE = 21
    INTRINSIC_INVALID_GAS_LIMIT = 22
    INTRINSIC_INVALID_BALANCE = 23
    INTRINSIC_INVALID_BATCH_GAS_LIMIT = 24
    INTRINSIC_INVALID_SENDER_CODE = 25
    INTRINSIC_TX_GAS_OVERFLOW = 26
    BATCH_DATA_TOO_BIG = 27
    UNSUPPORTED_FORK_ID = 28
    INVALID_RLP = 29

    @property
    def is_intrinsic(self) -> bool:
        """The transaction was skipped: no nonce, no fee, no state-root entry (spec §6.3)."""
        return RomError.INTRINSIC_INVALID_SIGNATURE <= self <= RomError.INTRINSIC_TX_GAS_OVERFLOW

    @property
    def is_out_of_counters(self) -> bool:
        return RomError.OUT_OF_COUNTERS_STEP <= self <= RomError.OUT_OF_COUNTERS_POSEIDON

    @property
    def changes_state_root(self) -> bool:
        """zkevm-node's `IsStateRootChanged`: the transaction is part of the batch's state."""
        return not (self.is_intrinsic or self.is_out_of_counters or self is RomError.INVALID_RLP)


class ExecutorError(IntEnum):
    """The request-level errors zkseq can produce (the fork-6 enum has more, all ROM-internal)."""

    UNSPECIFIED = 0
    NO_ERROR = 1
    DB_ERROR = 2
    SM_MAIN_COUNTERS_OVERFLOW_STEPS = 3
    SM_MAIN_COUNTERS_OVERFLOW_KECCAK = 4
    SM_MAIN_COUNTERS_OVERFLOW_BINARY = 5
    SM_MAIN_COUNTERS_OVERFLOW_MEM = 6
    SM_MAIN_COUNTERS_OVERFLOW_ARITH = 7
    SM_MAIN_COUNTERS_OVERFLOW_PADDING = 8
    SM_MAIN_COUNTERS_OVERFLOW_POSEIDON = 9
    UNSUPPORTED_FORK_ID = 10
    SM_MAIN_INVALID_UNSIGNED_TX = 14
    SM_MAIN_INVALID_NO_COUNTERS = 15
    INVALID_OLD_STATE_ROOT = 69
    INVALID_OLD_ACC_INPUT_HASH = 70
    INVALID_CHAIN_ID = 71
    INVALID_BATCH_L2_DATA = 72
    INVALID_GLOBAL_EXIT_ROOT = 73
    INVALID_COINBASE = 74
    INVALID_FROM = 75
    INVALID_DB_KEY = 76
    INVALID_DB_VALUE = 77
    INVALID_CONTRACTS_BYTECODE_KEY = 78
    INVALID_CONTRACTS_BYTECODE_VALUE = 79
    INVALID_GET_KEY = 80


class BatchRejected(Exception):
    """The batch cannot be processed at all; `error` says why in the protocol's terms."""

    def __init__(self, error: ExecutorError, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


class StateUnavailable(Exception):
    """The state backend could not answer (unknown root, missing node or program, HashDB down).

    The processor turns it into `BatchRejected(DB_ERROR)`; nothing of the batch is kept.
    """

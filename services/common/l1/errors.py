"""The L1 contracts' reverts as Python exceptions, one class per Solidity custom error.

    try:
        send_transaction(w3, key, to=rollup, data=encode_sequence_batches(batches, coinbase))
    except SequencedTimestampInvalid:
        ...                       # wait for the next L1 block, as zkevm-node's sequencesender does

Each custom error is a subclass of `CustomError` named exactly like the fork-6 error it stands for
(contracts/src/interfaces/IZkEVMRollupErrors.sol, and `OnlyAllowedContracts` of the global exit
root manager). `decode_revert(data)` maps revert data to an instance by its 4-byte selector;
`Error(string)`, `Panic(uint256)` and unknown selectors have classes of their own, so every revert
decodes to something. `revert_from_web3(exc)` pulls the revert data out of web3.py's exceptions
(eth_call and eth_estimateGas raise them).

All of the fork-6 errors take no arguments, so the selector alone identifies one.
"""

from __future__ import annotations

from typing import ClassVar, Final

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from web3.exceptions import ContractLogicError

from zkevm.hashing import keccak256


class RollupRevert(Exception):
    """A call to the rollup (or its global exit root manager) reverted; `data` is the revert data."""

    #: the Solidity error signature, "" for the classes that are not custom errors
    signature: ClassVar[str] = ""

    def __init__(self, data: bytes, message: str | None = None) -> None:
        super().__init__(message or self.signature or data.hex())
        self.data = data

    @property
    def name(self) -> str:
        return type(self).__name__


class ErrorStringRevert(RollupRevert):
    """`require(cond, "reason")` / `revert("reason")`: Error(string)."""

    def __init__(self, data: bytes, reason: str) -> None:
        super().__init__(data, f"Error({reason!r})")
        self.reason = reason


class PanicRevert(RollupRevert):
    """A Solidity panic, e.g. 0x11 for an arithmetic overflow: Panic(uint256)."""

    def __init__(self, data: bytes, code: int) -> None:
        super().__init__(data, f"Panic(0x{code:02x})")
        self.code = code


class UnknownRevert(RollupRevert):
    """Revert data that is none of the above (another contract's error, or no data at all)."""


class CustomError(RollupRevert):
    """A Solidity custom error without arguments; subclasses are named exactly like it."""

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls.signature = f"{cls.__name__}()"
        CUSTOM_ERRORS[cls.__name__] = cls


#: every custom error class, by name (filled as the classes below are defined)
CUSTOM_ERRORS: Final[dict[str, type[CustomError]]] = {}


# The rollup's errors (IZkEVMRollupErrors.sol).
class OnlyAdmin(CustomError):
    """The caller is not the admin."""


class OnlyPendingAdmin(CustomError):
    """The caller is not the pending admin."""


class OnlyTrustedSequencer(CustomError):
    """sequenceBatches from another account than the trusted sequencer."""


class OnlyTrustedAggregator(CustomError):
    """verifyBatchesTrustedAggregator from another account."""


class SequenceZeroBatches(CustomError):
    """A sequence with no batch."""


class ExceedMaxVerifyBatches(CustomError):
    """More than 1,000 batches in one sequence."""


class ForcedDataDoesNotMatch(CustomError):
    """A forced batch differs from what was forced, or is out of queue order."""


class SequencedTimestampBelowForcedTimestamp(CustomError):
    """A forced batch's timestamp is below its minForcedTimestamp."""


class GlobalExitRootNotExist(CustomError):
    """A non-zero global exit root unknown on L1."""


class TransactionsLengthAboveMax(CustomError):
    """Batch data above 120,000 bytes (sequenced) or 5,000 bytes (forced)."""


class SequencedTimestampInvalid(CustomError):
    """A batch timestamp below the previous one or above the L1 block's."""


class ForceBatchesOverflow(CustomError):
    """More forced batches sequenced than were forced."""


class PendingStateDoesNotExist(CustomError):
    """A non-zero pendingStateNum."""


class OldStateRootDoesNotExist(CustomError):
    """No verified state root at initNumBatch."""


class InitNumBatchAboveLastVerifiedBatch(CustomError):
    """initNumBatch is above the last verified batch."""


class FinalNumBatchBelowLastVerifiedBatch(CustomError):
    """finalNewBatch is not above the last verified batch."""


class InvalidProof(CustomError):
    """The verifier rejected the proof."""


class NotEnoughMaticAmount(CustomError):
    """maticAmount below the forced batch fee (0 here)."""


class ForceBatchTimeoutNotExpired(CustomError):
    """sequenceForceBatches before the forced batch timeout passed."""


class InvalidRangeForceBatchTimeout(CustomError):
    """A force batch timeout above one week, or not below the current one."""


class OldAccInputHashDoesNotExist(CustomError):
    """initNumBatch is not the end of a sequence."""


class NewAccInputHashDoesNotExist(CustomError):
    """finalNewBatch is not the end of a sequence."""


class NewStateRootNotInsidePrime(CustomError):
    """A 64-bit limb of the new state root is not below the Goldilocks prime."""


class ForceBatchNotAllowed(CustomError):
    """Forced batches are not activated."""


class ForceBatchesAlreadyActive(CustomError):
    """activateForceBatches when they already are."""


# The global exit root manager's error.
class OnlyAllowedContracts(CustomError):
    """updateExitRoot from neither the bridge nor the rollup."""


_BY_SELECTOR: Final = {keccak256(cls.signature.encode())[:4]: cls for cls in CUSTOM_ERRORS.values()}
_ERROR_STRING: Final = keccak256(b"Error(string)")[:4]
_PANIC: Final = keccak256(b"Panic(uint256)")[:4]


def decode_revert(data: bytes) -> RollupRevert:
    """The exception for revert data returned by the node."""
    selector, body = data[:4], data[4:]
    if (cls := _BY_SELECTOR.get(selector)) is not None:
        return cls(data)
    try:
        if selector == _ERROR_STRING:
            (reason,) = abi_decode(["string"], body)
            return ErrorStringRevert(data, str(reason))
        if selector == _PANIC:
            (code,) = abi_decode(["uint256"], body)
            return PanicRevert(data, int(code))
    except DecodingError:
        pass
    return UnknownRevert(data, f"unknown revert data 0x{data.hex()}")


def revert_from_web3(exc: BaseException) -> RollupRevert | None:
    """The decoded revert inside a web3.py ContractLogicError (or subclass); None for anything else,
    or when the node returned no revert data."""
    if not isinstance(exc, ContractLogicError) or not isinstance(exc.data, str):
        return None
    text = exc.data.removeprefix("Reverted ").strip()
    try:
        data = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        return None
    return decode_revert(data)

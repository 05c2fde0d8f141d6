"""The EthTxManager's domain values: what a caller asks for, and what it is told back.

Protobuf messages stop at the servicer; these frozen dataclasses are what the manager and the
monitor pass around. The persisted record itself is the StateDB's `MonitoredL1Tx`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from services.common.statedb import MonitoredTxStatus
from services.common.statedb.models import MAX_NAME_CHARS

#: the cheapest transaction there is (a plain transfer); no gas limit can be below it
MIN_GAS_LIMIT: Final = 21_000
#: the StateDB keeps gas as a signed 64-bit column
MAX_GAS_LIMIT: Final = 2**63 - 1
MAX_UINT256: Final = 2**256 - 1


def check_name(where: str, value: str) -> None:
    """The StateDB's rule for ids and owners: 1..200 printable characters."""
    if not value:
        raise ValueError(f"{where} must not be empty")
    if len(value) > MAX_NAME_CHARS or not value.isprintable():
        raise ValueError(f"{where} must be at most {MAX_NAME_CHARS} printable characters, got {value!r}")


@dataclass(frozen=True, slots=True)
class TxRequest:
    """An unsigned L1 transaction a caller wants mined, under its idempotency id."""

    id: str
    owner: str
    #: None: a contract creation
    to: bytes | None
    data: bytes
    value: int
    #: None: estimate it
    gas_limit: int | None = None

    def __post_init__(self) -> None:
        check_name("id", self.id)
        check_name("owner", self.owner)
        if self.to is not None and len(self.to) != 20:
            raise ValueError(f"to must be 20 bytes (or empty for a contract creation), got {len(self.to)}")
        if not 0 <= self.value <= MAX_UINT256:
            raise ValueError(f"value {self.value} is not a uint256")
        if self.gas_limit is not None and not MIN_GAS_LIMIT <= self.gas_limit <= MAX_GAS_LIMIT:
            raise ValueError(f"gas_limit {self.gas_limit} is not in {MIN_GAS_LIMIT}..{MAX_GAS_LIMIT}")


class AddOutcome(enum.Enum):
    ADDED = "added"
    ALREADY_ADDED = "already_added"
    REVERTED = "reverted"


@dataclass(frozen=True, slots=True)
class Revert:
    """A contract's revert: its name as services/common/l1/errors.py decodes it, and the raw data."""

    reason: str
    data: bytes


@dataclass(frozen=True, slots=True)
class AddResult:
    outcome: AddOutcome
    from_address: bytes
    gas_limit: int
    revert: Revert | None = None


@dataclass(frozen=True, slots=True)
class Mined:
    """The attempt that is in a block, and its receipt."""

    tx_hash: bytes
    block_number: int
    block_hash: bytes
    #: 1 success, 0 reverted
    status: int
    gas_used: int
    effective_gas_price: int


@dataclass(frozen=True, slots=True)
class TxView:
    """Where one monitored transaction stands (the answer to Result and List)."""

    id: str
    owner: str
    status: MonitoredTxStatus
    from_address: bytes
    to: bytes | None
    value: int
    gas_limit: int
    #: None while CREATED
    nonce: int | None
    #: the latest attempt's gas price / max fee per gas; None while CREATED
    gas_price: int | None
    attempts: tuple[bytes, ...]
    mined: Mined | None
    #: blocks on top of (and including) the mined block, as of the latest look at L1; 0 if unmined
    confirmations: int
    revert: Revert | None
    error: str
    created_at: datetime
    updated_at: datetime

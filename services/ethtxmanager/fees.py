"""Fees of the EthTxManager's transactions: the first price, and every re-price after it.

Two kinds, fixed for a transaction at its first send:

    legacy     gasPrice                                    (zkevm-node's ethtxmanager signs these)
    EIP-1559   maxFeePerGas = 2 × next base fee + tip,     (the usual margin for a base fee that
               maxPriorityFeePerGas = the node's tip        rises for a few blocks)

`Fees.price` is the number the StateDB keeps (`monitored_txs.gas_price`): the gas price of a legacy
transaction, the max fee per gas of an EIP-1559 one.

Rules, all of them pure and tested without a node:

* never lower: a re-price is at least the old fees raised by `percent` (both fields of an EIP-1559
  transaction, as geth's txpool demands for a replacement), and at least what the node suggests now;
* capped: nothing above `cap` (the operator's MAX_GAS_PRICE_WEI); a tip never exceeds its max fee;
* when the cap leaves no room for a replacement geth would take (+10 %), there is no re-price at
  all (`bump` returns None) and the transaction waits at the fees it has.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

#: geth's txpool.pricebump: a replacement must raise every fee field by at least this much
REPLACEMENT_MIN_PERCENT: Final = 10


class FeeKind(enum.StrEnum):
    LEGACY = "legacy"
    EIP1559 = "eip1559"


@dataclass(frozen=True, slots=True)
class Fees:
    kind: FeeKind
    #: legacy gasPrice, or EIP-1559 maxFeePerGas (wei)
    price: int
    #: EIP-1559 maxPriorityFeePerGas (wei); 0 for legacy
    tip: int = 0

    def __post_init__(self) -> None:
        if self.price < 0 or self.tip < 0:
            raise ValueError(f"fees must not be negative: {self}")
        if self.kind is FeeKind.LEGACY and self.tip:
            raise ValueError("a legacy transaction has no tip")
        if self.tip > self.price:
            raise ValueError(f"the tip {self.tip} is above the max fee {self.price}")

    def fields(self) -> dict[str, int]:
        """The fee fields of a transaction dict for eth-account."""
        if self.kind is FeeKind.LEGACY:
            return {"gasPrice": self.price}
        return {"maxFeePerGas": self.price, "maxPriorityFeePerGas": self.tip}

    def at_least(self, other: Fees) -> bool:
        """True if no field of these fees is below `other`'s."""
        return self.price >= other.price and self.tip >= other.tip


def raised(value: int, percent: int) -> int:
    """`value` raised by `percent`, rounded up, and by at least 1 wei (so zero fees rise too)."""
    return max(value + 1, (value * (100 + percent) + 99) // 100)


def suggest(kind: FeeKind, *, gas_price: int, base_fee: int | None, tip: int) -> Fees:
    """What to offer now: the node's gas price (legacy) or 2 × the next block's base fee + the
    node's tip (EIP-1559), from values read from the node."""
    if kind is FeeKind.LEGACY:
        return Fees(kind, gas_price)
    if base_fee is None:
        raise ValueError("EIP-1559 fees need a base fee, and this L1's blocks have none (use legacy)")
    return Fees(kind, 2 * base_fee + tip, tip)


def capped(fees: Fees, cap: int | None) -> Fees:
    """`fees` with the max fee / gas price cut to `cap` (and the tip to the max fee)."""
    if cap is None or fees.price <= cap:
        return fees
    return Fees(fees.kind, cap, min(fees.tip, cap))


def first(suggested: Fees, cap: int | None) -> Fees:
    """The fees of a transaction's first attempt."""
    return capped(suggested, cap)


def _raised_fees(fees: Fees, percent: int) -> Fees:
    if fees.kind is FeeKind.LEGACY:
        return Fees(fees.kind, raised(fees.price, percent))
    return Fees(fees.kind, raised(fees.price, percent), raised(fees.tip, percent))


def bump(old: Fees, suggested: Fees, percent: int, cap: int | None) -> Fees | None:
    """The fees of a re-send of `old`: at least `old` raised by `percent` and at least `suggested`,
    capped; None when the cap leaves less than geth's replacement minimum above `old`."""
    if suggested.kind is not old.kind:
        raise ValueError(f"cannot re-price a {old.kind} transaction with {suggested.kind} fees")
    wanted = _raised_fees(old, percent)
    tip = max(suggested.tip, wanted.tip)
    new = capped(Fees(old.kind, max(suggested.price, wanted.price, tip), tip), cap)
    if not new.at_least(_raised_fees(old, REPLACEMENT_MIN_PERCENT)):
        return None
    return new

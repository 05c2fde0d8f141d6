"""What the pool accepts: the admission rules in the order they are checked, and their messages.

A rejected transaction raises `PoolRejection`, whose message starts with the rule's wording — the
reference's (zkevm-node `pool/errors.go`, go-ethereum's txpool, zkevm-node.md §2.1) where it has one —
then a colon and the numbers that explain it. Wallets match on the wording ("nonce too low",
"replacement transaction underpriced", "already known"), people read the numbers.

Order
-----
Rules that need only the bytes come first (no I/O). The others need the sender's state
(`AccountStateReader`) and the pool itself; the store checks them atomically in Redis
(`store.AddConflict`, turned into a rejection by `pool.Pool.add`).

    stateless, `check_transaction`
     1 invalid tx input               not a strict-RLP legacy transaction (ROM field widths)
     2 transaction type not supported a typed (EIP-2718) transaction; fork 6 has only legacy ones
     3 invalid sender                 r / s / v out of range, no key recoverable (spec §5.2)
     4 invalid chain id               EIP-155 chain id other than ours (pre-EIP-155 is accepted)
     5 oversized data                 the raw transaction is longer than MAX_TX_BYTES (100132)
     6 data size bigger than allowed  calldata longer than MAX_TX_DATA_BYTES (100000)
     7 exceeds block gas limit        gasLimit above the batch gas limit (30M, spec §6.1)
     8 intrinsic gas too low          gasLimit below 21000/53000 + 16 per non-zero + 4 per zero byte
     9 gas price too low              gasPrice below the minimum (1 gwei)
    in the store, atomically (one Lua script), after reading the sender's nonce and balance
    10 already known                  the same transaction is pending or selected
    11 nonce too low                  nonce below the sender's next nonce
    12 nonce too high                 nonce at or past next nonce + NONCE_WINDOW (64)
    13 insufficient funds for gas * price + value    balance < gasLimit · gasPrice + value
    14 replacement transaction underpriced   the same sender and nonce is pending with a gas
                                      price at least as high (a replacement must pay more); or it
                                      is already selected for a batch
    15 txpool is full                 MAX_TXS (1024) live transactions, or MAX_TXS_PER_ACCOUNT (64)
                                      from this sender (a replacement never counts against either);
                                      or a transaction behind a nonce gap (a nonce from the next
                                      one up to its own is not waiting) while MAX_TXS_WITH_GAP
                                      (512) or more wait: without it, a burst whose earlier nonces
                                      were refused fills the pool with transactions that cannot run
                                      until they expire (3 h), and every sender is refused meanwhile

The sender's next nonce is the larger of the state nonce and the pool's own (one past the last
nonce reported included). The funds check is uint256 arithmetic, so Python decides it
(`funds_problem`) before the script runs, and the script reports it in its place: a stale
transaction is "nonce too low" whatever its sender's balance, a resent one "already known".

Differences from zkevm-node v0.4.x, on purpose: the funds check uses the full gasPrice (fork 6's
effective percentage is 0xff, EGP is off); "exceeds block gas limit" is checked here instead of by a
pre-execution; the nonce checks use the larger of the state nonce and the pool's own next nonce
(transactions reported included advance it before the state the pool reads does); a replacement must
have a strictly higher gas price (the reference compares gasPrice × gas and accepts equal); no IP
and blocked-sender checks (the pool API carries neither).
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Final, Protocol

import grpc

from services.common.errors import ServiceError
from zkevm.errors import DecodeError, InvalidSignatureError
from zkevm.hashing import keccak256
from zkevm.state_keys import Address
from zkevm.transaction import (
    DEFAULT_EFFECTIVE_PERCENTAGE,
    MAX_TX_GAS_LIMIT,
    L2Transaction,
    decode_raw_transaction,
)

#: Intrinsic gas (spec §6.3 step 6; no EIP-2028 changes in fork 6 beyond these, no access lists)
TX_GAS: Final = 21_000
TX_GAS_CONTRACT_CREATION: Final = 53_000
TX_DATA_ZERO_GAS: Final = 4
TX_DATA_NON_ZERO_GAS: Final = 16
#: The first byte of a typed (EIP-2718) transaction is its type, 0x00..0x7f; an RLP list starts >= 0xc0.
MAX_TX_TYPE_BYTE: Final = 0x7F
#: Nonces are kept as Lua numbers in the store, exact below 2^53; no account gets anywhere near.
MAX_POOL_NONCE: Final = 2**53 - 1


class Rule(StrEnum):
    """Each admission rule; the value is the bounded `reason` label of the rejection metric."""

    INVALID_TX_INPUT = "invalid_tx_input"
    TX_TYPE_NOT_SUPPORTED = "tx_type_not_supported"
    INVALID_SENDER = "invalid_sender"
    INVALID_CHAIN_ID = "invalid_chain_id"
    OVERSIZED_DATA = "oversized_data"
    DATA_TOO_BIG = "data_too_big"
    GAS_LIMIT = "exceeds_block_gas_limit"
    INTRINSIC_GAS = "intrinsic_gas_too_low"
    GAS_PRICE_TOO_LOW = "gas_price_too_low"
    ALREADY_KNOWN = "already_known"
    NONCE_TOO_LOW = "nonce_too_low"
    NONCE_TOO_HIGH = "nonce_too_high"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    REPLACEMENT_UNDERPRICED = "replacement_underpriced"
    POOL_FULL = "pool_full"
    ACCOUNT_FULL = "account_full"


#: The reference wording each message starts with.
WORDING: Final[dict[Rule, str]] = {
    Rule.INVALID_TX_INPUT: "invalid tx input",
    Rule.TX_TYPE_NOT_SUPPORTED: "transaction type not supported",
    Rule.INVALID_SENDER: "invalid sender",
    Rule.INVALID_CHAIN_ID: "invalid chain id",
    Rule.OVERSIZED_DATA: "oversized data",
    Rule.DATA_TOO_BIG: "data size bigger than allowed",
    Rule.GAS_LIMIT: "exceeds block gas limit",
    Rule.INTRINSIC_GAS: "intrinsic gas too low",
    Rule.GAS_PRICE_TOO_LOW: "gas price too low",
    Rule.INSUFFICIENT_FUNDS: "insufficient funds for gas * price + value",
    Rule.ALREADY_KNOWN: "already known",
    Rule.NONCE_TOO_LOW: "nonce too low",
    Rule.NONCE_TOO_HIGH: "nonce too high",
    Rule.REPLACEMENT_UNDERPRICED: "replacement transaction underpriced",
    Rule.POOL_FULL: "txpool is full",
    Rule.ACCOUNT_FULL: "txpool is full",
}


class PoolRejection(ServiceError):
    """A transaction the pool does not accept; the message starts with the rule's wording.

    The subclass carries the gRPC status: the transaction itself is wrong (INVALID_ARGUMENT), it
    conflicts with the sender's state or pool (FAILED_PRECONDITION), it is already in (ALREADY_EXISTS),
    or the pool has no room (RESOURCE_EXHAUSTED). Build one with `reject`.
    """

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, rule: Rule, details: str = "") -> None:
        wording = WORDING[rule]
        separator = ", " if rule is Rule.DATA_TOO_BIG else ": "  # zkevm-node's sentence for that one
        super().__init__(f"{wording}{separator}{details}" if details else wording)
        self.rule = rule


class StateConflict(PoolRejection):
    code = grpc.StatusCode.FAILED_PRECONDITION


class AlreadyKnown(PoolRejection):
    code = grpc.StatusCode.ALREADY_EXISTS


class PoolFull(PoolRejection):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


_KINDS: Final[dict[Rule, type[PoolRejection]]] = {
    Rule.INSUFFICIENT_FUNDS: StateConflict,
    Rule.NONCE_TOO_LOW: StateConflict,
    Rule.NONCE_TOO_HIGH: StateConflict,
    Rule.REPLACEMENT_UNDERPRICED: StateConflict,
    Rule.ALREADY_KNOWN: AlreadyKnown,
    Rule.POOL_FULL: PoolFull,
    Rule.ACCOUNT_FULL: PoolFull,
}


def reject(rule: Rule, details: str = "") -> PoolRejection:
    """The rejection of `rule`, of the class that carries its status code."""
    return _KINDS.get(rule, PoolRejection)(rule, details)


class AccountStateReader(Protocol):
    """The sender's account at the latest L2 state (owned here, the pool is its consumer)."""

    async def get_nonce(self, address: Address) -> int: ...

    async def get_balance(self, address: Address) -> int: ...

    async def account(self, address: Address) -> tuple[int, int]:
        """(nonce, balance) read together, at one state."""
        ...


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """The admission settings; defaults are zkevm-node v0.4.x's (zkevm-node.md §2.2, spec §7.2)."""

    chain_id: int = 1001
    min_gas_price_wei: int = 1_000_000_000
    #: zkevm-node `AccountQueue`: nonces accepted from the next nonce on
    nonce_window: int = 64
    #: zkevm-node `GlobalQueue`: live (pending + selected) transactions in the pool
    max_txs: int = 1024
    max_txs_per_account: int = 64
    #: live transactions above which one behind a nonce gap is refused (zkseq's own rule)
    max_txs_with_gap: int = 512
    #: zkevm-node `MaxTxBytesSize` / `MaxTxDataBytesSize`
    max_tx_bytes: int = 100_132
    max_tx_data_bytes: int = 100_000
    #: the batch gas limit, and the largest gasLimit fork 6 allows (spec §6.1)
    max_tx_gas: int = MAX_TX_GAS_LIMIT


@dataclass(frozen=True, slots=True)
class CheckedTransaction:
    """A transaction that passed the stateless rules, with what the store needs precomputed."""

    tx: L2Transaction
    raw: bytes
    tx_hash: bytes
    sender: Address
    #: the fork-6 batchL2Data record with the effective percentage (0xff: full price)
    batch_l2_data: bytes
    #: gasLimit · gasPrice + value: what the sender must hold
    cost: int


def intrinsic_gas(tx: L2Transaction) -> int:
    """21000 (53000 for a contract creation) + 16 per non-zero and 4 per zero calldata byte."""
    zeros = tx.data.count(0)
    base = TX_GAS_CONTRACT_CREATION if tx.to is None else TX_GAS
    return base + TX_DATA_ZERO_GAS * zeros + TX_DATA_NON_ZERO_GAS * (len(tx.data) - zeros)


def check_transaction(raw: bytes, limits: PoolLimits) -> CheckedTransaction:
    """Rules 1–9: everything that can be decided from the bytes alone."""
    if not raw:
        raise reject(Rule.INVALID_TX_INPUT, "the transaction is empty")
    if raw[0] <= MAX_TX_TYPE_BYTE:
        raise reject(
            Rule.TX_TYPE_NOT_SUPPORTED,
            f"got a typed (EIP-2718) transaction of type 0x{raw[0]:02x}; "
            "only legacy transactions are accepted",
        )
    try:
        tx = decode_raw_transaction(raw, DEFAULT_EFFECTIVE_PERCENTAGE)
    except DecodeError as exc:
        raise reject(Rule.INVALID_TX_INPUT, str(exc)) from None
    try:
        sender = tx.sender()
    except InvalidSignatureError as exc:
        raise reject(Rule.INVALID_SENDER, str(exc)) from None
    if tx.chain_id is not None and tx.chain_id != limits.chain_id:
        raise reject(
            Rule.INVALID_CHAIN_ID,
            f"the transaction is signed for chain {tx.chain_id}, this pool accepts chain {limits.chain_id}",
        )
    if len(raw) > limits.max_tx_bytes:
        raise reject(
            Rule.OVERSIZED_DATA,
            f"the transaction is {len(raw)} bytes, the limit is {limits.max_tx_bytes} bytes",
        )
    if len(tx.data) > limits.max_tx_data_bytes:
        raise reject(
            Rule.DATA_TOO_BIG,
            f"current size is {len(tx.data)} bytes and max allowed is {limits.max_tx_data_bytes} bytes",
        )
    if tx.gas_limit > limits.max_tx_gas:
        raise reject(
            Rule.GAS_LIMIT,
            f"gas limit {tx.gas_limit} is above the batch gas limit {limits.max_tx_gas}",
        )
    needed = intrinsic_gas(tx)
    if tx.gas_limit < needed:
        raise reject(Rule.INTRINSIC_GAS, f"gas limit {tx.gas_limit}, intrinsic gas {needed}")
    if tx.gas_price < limits.min_gas_price_wei:
        raise reject(
            Rule.GAS_PRICE_TOO_LOW,
            f"gas price {tx.gas_price} wei is below the minimum {limits.min_gas_price_wei} wei",
        )
    return CheckedTransaction(
        tx=tx,
        raw=raw,
        # the decoder accepts only canonical RLP, so `raw` is exactly `tx.to_raw()` (spec §5.3)
        tx_hash=keccak256(raw),
        sender=sender,
        batch_l2_data=tx.encode(),
        cost=tx.gas_limit * tx.gas_price + tx.value,
    )


def funds_problem(checked: CheckedTransaction, balance: int) -> str | None:
    """Rule 13: the details of "insufficient funds" when `balance` cannot pay, else None."""
    if balance >= checked.cost:
        return None
    return f"address 0x{checked.sender.hex()} have {balance} want {checked.cost}"


def rejection_nonce_too_low(nonce: int, next_nonce: int) -> PoolRejection:
    return reject(Rule.NONCE_TOO_LOW, f"next nonce {next_nonce}, tx nonce {nonce}")


def rejection_nonce_too_high(nonce: int, next_nonce: int, window: int) -> PoolRejection:
    return reject(
        Rule.NONCE_TOO_HIGH,
        f"next nonce {next_nonce}, tx nonce {nonce}; the pool accepts nonces up to {next_nonce + window - 1}",
    )


def rejection_underpriced(
    nonce: int, old_hash: bytes, old_gas_price: int, new_gas_price: int
) -> PoolRejection:
    return reject(
        Rule.REPLACEMENT_UNDERPRICED,
        f"nonce {nonce} is taken by 0x{old_hash.hex()} at gas price {old_gas_price} wei; "
        f"a replacement needs a higher gas price than that, got {new_gas_price} wei",
    )


def rejection_selected(nonce: int, old_hash: bytes) -> PoolRejection:
    return reject(
        Rule.REPLACEMENT_UNDERPRICED,
        f"nonce {nonce} is taken by 0x{old_hash.hex()}, which is already selected for a batch "
        "and can no longer be replaced",
    )


def rejection_pool_full(live: int, limits: PoolLimits) -> PoolRejection:
    return reject(Rule.POOL_FULL, f"{live} transactions are waiting, the limit is {limits.max_txs}")


def rejection_pool_full_gap(
    nonce: int, next_nonce: int, missing: int, live: int, limits: PoolLimits
) -> PoolRejection:
    return reject(
        Rule.POOL_FULL,
        f"nonce {nonce} leaves a gap (the sender's next nonce is {next_nonce} and nonce {missing} is "
        f"not waiting): with {live} transactions waiting, at least {limits.max_txs_with_gap}, only "
        "transactions without a gap are accepted",
    )


def rejection_account_full(sender: Address, live: int, limits: PoolLimits) -> PoolRejection:
    return reject(
        Rule.ACCOUNT_FULL,
        f"account 0x{sender.hex()} has {live} transactions waiting, "
        f"the limit per account is {limits.max_txs_per_account}",
    )

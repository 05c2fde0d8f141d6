"""An in-memory L1 node twin for the EthTxManager's unit tests, and tests that it behaves like the
real one (anvil/geth) where the manager relies on it.

`FakeL1` implements the monitor's `L1Node` and the manager's `ManagerL1` protocols: a mempool keyed
by (sender, nonce) with geth's replacement rule (+10 % on every fee field), mining on demand
(`mine()`), a base fee the test sets, reorgs that drop blocks and their transactions (as anvil's
`anvil_reorg` and `evm_revert` do), dropping from the mempool, a node that is down, and foreign
transactions that use the manager's nonce. Its refusals use anvil's words.

`FakeSigner` signs by writing the fields as JSON (hash = keccak of the bytes): deterministic, like
RFC 6979 signatures, and readable by `FakeL1`. The real signer is covered on anvil.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from services.common.logs import EventLogger
from services.common.statedb import MonitoredL1Tx, MonitoredTxStatus, StateDB, open_statedb
from services.ethtxmanager.fees import REPLACEMENT_MIN_PERCENT, FeeKind, Fees, raised
from services.ethtxmanager.l1 import L1Block, L1Receipt, L1Transaction, L1Unavailable, RpcError
from services.ethtxmanager.manager import EthTxManager
from services.ethtxmanager.metrics import EthTxManagerMetrics
from services.ethtxmanager.model import AddOutcome, TxRequest
from services.ethtxmanager.monitor import Monitor, MonitorSettings
from services.ethtxmanager.signer import SignedTx
from zkevm.hashing import keccak256

MANAGER = bytes.fromhex("70997970c51812dc3a010c7d01b50e0d17dc79c8")
STRANGER = bytes.fromhex("3c44cdddb6a900fa2b585dd299e03d12fa4293bc")
GWEI = 10**9
#: calldata the twin's "contract" reverts on, when mined or estimated
REVERTING = b"\xde\xad"
#: revert data: the rollup's SequenceZeroBatches() custom error
REVERT_DATA = keccak256(b"SequenceZeroBatches()")[:4]


class FakeSigner:
    def __init__(self, address: bytes = MANAGER) -> None:
        self._address = address
        self.signed = 0

    @property
    def address(self) -> bytes:
        return self._address

    def sign(
        self, *, nonce: int, gas: int, to: bytes | None, value: int, data: bytes, fees: Fees
    ) -> SignedTx:
        self.signed += 1
        raw = json.dumps(
            {
                "from": self._address.hex(),
                "nonce": nonce,
                "gas": gas,
                "to": None if to is None else to.hex(),
                "value": value,
                "data": data.hex(),
                "kind": fees.kind.value,
                "price": fees.price,
                "tip": fees.tip,
            },
            sort_keys=True,
        ).encode()
        return SignedTx(raw, keccak256(raw))


@dataclass
class FakeTx:
    hash: bytes
    sender: bytes
    nonce: int
    fees: Fees
    gas: int
    data: bytes

    @classmethod
    def decode(cls, raw: bytes) -> FakeTx:
        fields = json.loads(raw)
        return cls(
            hash=keccak256(raw),
            sender=bytes.fromhex(fields["from"]),
            nonce=fields["nonce"],
            fees=Fees(FeeKind(fields["kind"]), fields["price"], fields["tip"]),
            gas=fields["gas"],
            data=bytes.fromhex(fields["data"]),
        )

    def effective_price(self, base_fee: int) -> int:
        if self.fees.kind is FeeKind.LEGACY:
            return self.fees.price
        return min(self.fees.price, base_fee + self.fees.tip)


@dataclass
class FakeBlock:
    number: int
    hash: bytes
    base_fee: int
    txs: list[FakeTx]


@dataclass
class FakeL1:
    """A one-chain, on-demand-mining L1 node in memory."""

    base_fee: int = GWEI
    tip: int = GWEI
    legacy_chain: bool = False
    down: bool = False
    #: the next broadcasts are refused with these messages, one each, in order
    refuse_next: list[str] = field(default_factory=list)
    #: refuse a max fee below the next base fee at submission, as anvil does (geth queues it)
    reject_below_base_fee: bool = True
    gas_estimate: int = 50_000
    balance_wei: int = 10**22
    mempool: dict[tuple[bytes, int], FakeTx] = field(default_factory=dict)
    blocks: list[FakeBlock] = field(default_factory=list)
    #: every raw transaction accepted by eth_sendRawTransaction, in order
    accepted: list[bytes] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)
    _forks: int = 0

    def __post_init__(self) -> None:
        self.blocks.append(FakeBlock(0, keccak256(b"genesis"), self.base_fee, []))

    # -- test controls -------------------------------------------------------------------------

    def _count(self, method: str) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1
        if self.down:
            raise L1Unavailable(f"{method}: connection refused")

    def account_nonce(self, sender: bytes = MANAGER) -> int:
        return sum(1 for b in self.blocks for tx in b.txs if tx.sender == sender)

    def mine(self, blocks: int = 1) -> None:
        """Mine `blocks` blocks; each takes every pending transaction it can, in nonce order."""
        for _ in range(blocks):
            included: list[FakeTx] = []
            senders = {sender for sender, _ in self.mempool}
            for sender in senders:
                nonce = self.account_nonce(sender)
                while (tx := self.mempool.get((sender, nonce))) is not None:
                    if tx.fees.price < self.base_fee:
                        break
                    included.append(tx)
                    del self.mempool[(sender, nonce)]
                    nonce += 1
            number = len(self.blocks)
            block_hash = keccak256(f"block {number} fork {self._forks}".encode())
            self.blocks.append(FakeBlock(number, block_hash, self.base_fee, included))

    def reorg(self, depth: int, *, back_to_mempool: bool = False) -> None:
        """Replace the last `depth` blocks by as many empty ones (anvil_reorg); their transactions
        are gone, or back in the mempool as geth does with `back_to_mempool`."""
        removed = self.blocks[-depth:]
        del self.blocks[-depth:]
        self._forks += 1
        if back_to_mempool:
            for block in removed:
                for tx in block.txs:
                    self.mempool[(tx.sender, tx.nonce)] = tx
        for _ in range(depth):
            number = len(self.blocks)
            self.blocks.append(
                FakeBlock(number, keccak256(f"block {number} fork {self._forks}".encode()), self.base_fee, [])
            )

    def drop(self, tx_hash: bytes) -> None:
        for key, tx in list(self.mempool.items()):
            if tx.hash == tx_hash:
                del self.mempool[key]

    def drop_all(self) -> None:
        self.mempool.clear()

    def foreign_tx(self, sender: bytes = MANAGER) -> FakeTx:
        """Somebody else signs with the manager's key: the next nonce is used and mined."""
        nonce = self.account_nonce(sender)
        raw = json.dumps({"foreign": nonce}).encode()
        tx = FakeTx(keccak256(raw), sender, nonce, Fees(FeeKind.LEGACY, self.base_fee * 10), 21_000, b"")
        self.mempool.pop((sender, nonce), None)
        number = len(self.blocks)
        self.blocks.append(
            FakeBlock(number, keccak256(f"block {number} fork {self._forks}".encode()), 0, [tx])
        )
        return tx

    def find(self, tx_hash: bytes) -> tuple[FakeTx, FakeBlock] | None:
        for block in self.blocks:
            for tx in block.txs:
                if tx.hash == tx_hash:
                    return tx, block
        return None

    def mined_nonces(self, sender: bytes = MANAGER) -> list[int]:
        return [tx.nonce for b in self.blocks for tx in b.txs if tx.sender == sender]

    # -- L1Node / ManagerL1 --------------------------------------------------------------------

    async def block_number(self) -> int:
        self._count("eth_blockNumber")
        return len(self.blocks) - 1

    async def block(self, tag: int | str) -> L1Block | None:
        self._count("eth_getBlockByNumber")
        base_fee = None if self.legacy_chain else self.base_fee
        if tag == "pending":
            return L1Block(len(self.blocks), b"", base_fee, 30_000_000)
        number = len(self.blocks) - 1 if tag == "latest" else int(tag)
        if not 0 <= number < len(self.blocks):
            return None
        block = self.blocks[number]
        return L1Block(block.number, block.hash, None if self.legacy_chain else block.base_fee, 30_000_000)

    async def nonce(self, address: bytes, tag: str) -> int:
        self._count("eth_getTransactionCount")
        nonce = self.account_nonce(address)
        if tag == "pending":
            while (address, nonce) in self.mempool:
                nonce += 1
        return nonce

    async def balance(self, address: bytes) -> int:
        self._count("eth_getBalance")
        return self.balance_wei

    async def gas_price(self) -> int:
        self._count("eth_gasPrice")
        return self.base_fee + self.tip

    async def max_priority_fee(self) -> int:
        self._count("eth_maxPriorityFeePerGas")
        return self.tip

    async def estimate_gas(self, sender: bytes, to: bytes | None, data: bytes, value: int) -> int:
        self._count("eth_estimateGas")
        if data == REVERTING:
            raise RpcError("eth_estimateGas", 3, "execution reverted", "0x" + REVERT_DATA.hex())
        return self.gas_estimate

    async def send_raw_transaction(self, raw: bytes) -> None:
        self._count("eth_sendRawTransaction")

        def refuse(message: str) -> RpcError:
            return RpcError("eth_sendRawTransaction", -32003, message)

        if self.refuse_next:
            raise refuse(self.refuse_next.pop(0))
        tx = FakeTx.decode(raw)
        if self.find(tx.hash) is not None or tx.nonce < self.account_nonce(tx.sender):
            raise refuse("nonce too low")
        current = self.mempool.get((tx.sender, tx.nonce))
        if current is not None and current.hash == tx.hash:
            raise refuse("transaction already imported")
        if self.reject_below_base_fee and tx.fees.price < self.base_fee:
            raise refuse("max fee per gas less than block base fee")
        if current is not None:
            # geth: every fee field at least 10 % above the pending transaction's
            price_ok = tx.fees.price >= raised(current.fees.price, REPLACEMENT_MIN_PERCENT)
            tip_ok = tx.fees.kind is FeeKind.LEGACY or tx.fees.tip >= raised(
                current.fees.tip, REPLACEMENT_MIN_PERCENT
            )
            if not (price_ok and tip_ok):
                raise refuse("replacement transaction underpriced")
        self.mempool[(tx.sender, tx.nonce)] = tx
        self.accepted.append(raw)

    async def transaction(self, tx_hash: bytes) -> L1Transaction | None:
        self._count("eth_getTransactionByHash")
        for tx in self.mempool.values():
            if tx.hash == tx_hash:
                return L1Transaction(tx.hash, tx.nonce, tx.fees, None)
        found = self.find(tx_hash)
        if found is None:
            return None
        tx, block = found
        return L1Transaction(tx.hash, tx.nonce, tx.fees, block.number)

    async def receipt(self, tx_hash: bytes) -> L1Receipt | None:
        self._count("eth_getTransactionReceipt")
        found = self.find(tx_hash)
        if found is None:
            return None
        tx, block = found
        return L1Receipt(
            tx_hash=tx.hash,
            block_number=block.number,
            block_hash=block.hash,
            status=0 if tx.data == REVERTING else 1,
            gas_used=21_000,
            effective_gas_price=tx.effective_price(block.base_fee),
        )

    async def revert_data(self, tx_hash: bytes) -> bytes | None:
        self._count("debug_traceTransaction")
        found = self.find(tx_hash)
        return REVERT_DATA if found is not None and found[0].data == REVERTING else None


# ---------------------------------------------------------------------------------------------
# the twin behaves like anvil where the manager depends on it


def _signed(nonce: int, price: int, tip: int = GWEI, data: bytes = b"") -> SignedTx:
    return FakeSigner().sign(
        nonce=nonce, gas=21_000, to=STRANGER, value=0, data=data, fees=Fees(FeeKind.EIP1559, price, tip)
    )


async def _refusal(l1: FakeL1, raw: bytes) -> str:
    with pytest.raises(RpcError) as caught:
        await l1.send_raw_transaction(raw)
    return caught.value.message


async def test_twin_refuses_as_anvil_does() -> None:
    l1 = FakeL1()
    first = _signed(0, 3 * GWEI)
    await l1.send_raw_transaction(first.raw)
    assert await _refusal(l1, first.raw) == "transaction already imported"
    assert await _refusal(l1, _signed(0, 3 * GWEI + 1, GWEI + 1).raw) == "replacement transaction underpriced"
    assert await _refusal(l1, _signed(1, GWEI // 2, 0).raw) == "max fee per gas less than block base fee"
    await l1.send_raw_transaction(_signed(0, 4 * GWEI, 2 * GWEI).raw)
    l1.mine()
    assert l1.mined_nonces() == [0]
    assert await _refusal(l1, first.raw) == "nonce too low"


async def test_twin_mines_in_nonce_order_and_not_below_the_base_fee() -> None:
    l1 = FakeL1()
    for nonce in (2, 0, 1):
        await l1.send_raw_transaction(_signed(nonce, 3 * GWEI).raw)
    l1.base_fee = 10 * GWEI
    l1.mine()
    assert l1.mined_nonces() == []
    l1.base_fee = GWEI
    l1.mine()
    assert l1.mined_nonces() == [0, 1, 2]
    assert await l1.nonce(MANAGER, "latest") == 3


async def test_twin_reorg_forgets_the_transactions_and_changes_the_hashes() -> None:
    l1 = FakeL1()
    tx = _signed(0, 3 * GWEI)
    await l1.send_raw_transaction(tx.raw)
    l1.mine()
    receipt = await l1.receipt(tx.hash)
    assert receipt is not None
    l1.reorg(1)
    assert await l1.receipt(tx.hash) is None
    assert await l1.transaction(tx.hash) is None
    block = await l1.block(receipt.block_number)
    assert block is not None and block.hash != receipt.block_hash


async def test_twin_down_raises_unavailable() -> None:
    l1 = FakeL1(down=True)
    with pytest.raises(L1Unavailable):
        await l1.block_number()


def test_fake_signatures_are_deterministic() -> None:
    assert _signed(0, 3 * GWEI) == _signed(0, 3 * GWEI)
    assert _signed(0, 3 * GWEI).hash != _signed(0, 3 * GWEI + 1).hash


# ---------------------------------------------------------------------------------------------
# a manager and monitor over the twin, an in-memory StateDB and clocks the test moves


class Clock:
    """Both clocks the monitor reads: wall time (stored) and monotonic time (stuck timers)."""

    def __init__(self) -> None:
        self.now_s = 1_700_000_000.0

    def wall(self) -> datetime:
        return datetime.fromtimestamp(self.now_s, UTC)

    def monotonic(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


@dataclass
class Harness:
    statedb: StateDB
    l1: FakeL1
    signer: FakeSigner
    clock: Clock
    settings: MonitorSettings
    monitor: Monitor
    manager: EthTxManager
    metrics: EthTxManagerMetrics

    @classmethod
    def start(
        cls,
        l1: FakeL1 | None = None,
        statedb: StateDB | None = None,
        clock: Clock | None = None,
        **settings: Any,
    ) -> Harness:
        l1 = l1 or FakeL1()
        statedb = statedb or open_statedb("sqlite:///:memory:")
        clock = clock or Clock()
        defaults: dict[str, Any] = {"confirmations": 1, "stuck_after_s": 30.0, "max_gas_price": 1000 * GWEI}
        monitor_settings = MonitorSettings(**{**defaults, **settings})
        signer = FakeSigner()
        metrics = EthTxManagerMetrics(CollectorRegistry())
        log = EventLogger("test.ethtxmanager")
        monitor = Monitor(
            statedb.monitored_txs,
            l1,
            signer,
            monitor_settings,
            metrics=metrics,
            log=log,
            wall_clock=clock.wall,
            monotonic=clock.monotonic,
        )
        manager = EthTxManager(statedb.monitored_txs, l1, monitor, log, wall_clock=clock.wall)
        return cls(statedb, l1, signer, clock, monitor_settings, monitor, manager, metrics)

    def restarted(self) -> Harness:
        """A new process over the same StateDB and L1 (nothing in memory survives)."""
        fields = {
            "confirmations": self.settings.confirmations,
            "stuck_after_s": self.settings.stuck_after_s,
            "fee_bump_percent": self.settings.fee_bump_percent,
            "max_gas_price": self.settings.max_gas_price,
            "fee_kind": self.settings.fee_kind,
        }
        return Harness.start(self.l1, self.statedb, self.clock, **fields)

    async def add(
        self, tx_id: str, data: bytes = b"", *, owner: str = "sequencer", gas: int | None = None
    ) -> None:
        result = await self.manager.add(TxRequest(tx_id, owner, STRANGER, data or tx_id.encode(), 0, gas))
        assert result.outcome is AddOutcome.ADDED

    async def status(self, tx_id: str) -> MonitoredTxStatus:
        return (await self.manager.result(tx_id)).status

    def row(self, tx_id: str) -> MonitoredL1Tx:
        row = self.statedb.monitored_txs.get(tx_id)
        assert row is not None
        return row

    def metric(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

"""The monitor: the one owner of the L1 nonce, and the state machine of every L1 transaction.

One asyncio task runs `tick()` every POLL_INTERVAL_S (and at once after an Add). A tick reads the
L1 head and the account's mined nonce, walks the transactions in flight in nonce order, then gives
nonces to the new ones in the order they were added. Everything persistent goes to the StateDB
(`monitored_txs`) BEFORE the L1 node hears of it, so a restart — even a SIGKILL between any two
lines — finds every transaction that might be in a mempool.

State machine (statuses as stored; `t` is a transaction, "attempt" one signed version of it)::

    CREATED ──first send: nonce = next nonce; sign; store attempt (nonce, gas, fee, hash); broadcast──▶ SENT

    SENT, every tick (in this order):
      1. a receipt for any attempt, in a block that is still canonical ─────────────────▶ MINED
      2. the account's mined nonce is past t's nonce, and none of ours is in a block: somebody
         else used the nonce. Wait STUCK_AFTER_S (a receipt can lag); then ─────────────▶ FAILED
      3. the node does not know the latest attempt (dropped from its mempool, or lost in a
         reorg, or the broadcast never arrived) → broadcast it again (same bytes)      (resend "dropped")
      4. t's nonce is the account's next one to be mined (the ones above it only wait for it),
         and its fees are STUCK_AFTER_S old → new attempt: same nonce, fees raised by
         FEE_BUMP_PERCENT and at least what the node suggests now, capped  ─────────── (resend "stuck")

    MINED, every tick: the receipt is looked up again and its block hash compared with the
      canonical block at that height.
      · gone, or another block hash: an L1 reorg ─────────────────────────────────────▶ SENT
        (the attempt is then re-broadcast as in 3., unless the node mines it again by itself)
      · `CONFIRMATIONS` blocks deep (its own included): receipt status 1 ──────────────▶ CONFIRMED
                                                        receipt status 0 ──────────────▶ FAILED

    CONFIRMED and FAILED are final: the monitor stops watching.

How the node's refusals of a broadcast are handled (l1.Rejection):
    already known        success: the node has exactly these bytes
    nonce too low        one of the attempts was mined (or someone else's tx): step 1 / 2 decide
    underpriced,         a new attempt with fees raised again, at once (up to 3 times per tick)
    fee below base fee
    insufficient funds,  kept as the transaction's `error`, retried on the next tick
    anything else

Nonces: at start-up the next nonce is max(the account's pending nonce on L1, 1 + the highest nonce
of a stored SENT/MINED transaction): transactions that are final are mined, so the L1 nonce
covers them. Afterwards the monitor alone increments it, only once an attempt carrying it is
stored; if the account's mined nonce ever passes it (someone else sent with the key), it follows.

Fees (fees.py) only go up for a transaction. The StateDB keeps one fee per transaction (the latest
attempt's gas price / max fee); an EIP-1559 tip lives in memory. After a restart the tip is read
back from the node's copy of the latest attempt; if the node no longer has it, the next attempt
starts from the stored max fee and the node's current tip.

Restart: `recover()` loads every CREATED/SENT/MINED row. A SENT or MINED row is simply watched
again: its receipts decide whether it is mined; otherwise its latest attempt is re-signed from the
stored fields (the same bytes, when the fees are known) and re-broadcast if the node lost it.
Nothing is ever signed with a new nonce for a transaction that already has one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Final, Protocol, TypeVar

from services.common.l1.errors import CustomError, decode_revert
from services.common.logs import EventLogger
from services.common.statedb import (
    PENDING_STATUSES,
    DatabaseUnavailable,
    MonitoredL1Tx,
    MonitoredTxStatus,
)
from services.common.statedb.models import Hash32
from services.ethtxmanager import fees as fee_rules
from services.ethtxmanager.fees import FeeKind, Fees
from services.ethtxmanager.l1 import (
    L1Block,
    L1Receipt,
    L1Transaction,
    L1Unavailable,
    Rejection,
    RpcError,
    classify_rejection,
)
from services.ethtxmanager.metrics import EthTxManagerMetrics
from services.ethtxmanager.model import Mined, Revert, TxView
from services.ethtxmanager.signer import SignedTx

#: re-prices in a row after "underpriced" within one tick
MAX_UNDERPRICED_RETRIES: Final = 3
_S = MonitoredTxStatus
_T = TypeVar("_T")


class L1Node(Protocol):
    """What the monitor reads from and sends to L1 (l1.JsonRpcL1Client)."""

    async def block_number(self) -> int: ...
    async def block(self, tag: int | str) -> L1Block | None: ...
    async def nonce(self, address: bytes, tag: str) -> int: ...
    async def balance(self, address: bytes) -> int: ...
    async def gas_price(self) -> int: ...
    async def max_priority_fee(self) -> int: ...
    async def send_raw_transaction(self, raw: bytes) -> None: ...
    async def transaction(self, tx_hash: bytes) -> L1Transaction | None: ...
    async def receipt(self, tx_hash: bytes) -> L1Receipt | None: ...
    async def revert_data(self, tx_hash: bytes) -> bytes | None: ...


class MonitoredTxStore(Protocol):
    """The StateDB's monitored-transaction repository, as far as the EthTxManager uses it
    (synchronous: called through asyncio.to_thread)."""

    def add(self, tx: MonitoredL1Tx) -> bool: ...
    def get(self, tx_id: str) -> MonitoredL1Tx | None: ...
    def add_attempt(
        self, tx_id: str, tx_hash: Hash32, *, nonce: int, gas: int, gas_price: int, now: datetime
    ) -> None: ...
    def set_status(
        self, tx_id: str, status: MonitoredTxStatus, *, block_number: int | None, now: datetime
    ) -> None: ...
    def list_by_status(
        self, statuses: Collection[MonitoredTxStatus] = PENDING_STATUSES, *, owner: str | None = None
    ) -> list[MonitoredL1Tx]: ...


class Signer(Protocol):
    @property
    def address(self) -> bytes: ...

    def sign(
        self, *, nonce: int, gas: int, to: bytes | None, value: int, data: bytes, fees: Fees
    ) -> SignedTx: ...


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    confirmations: int = 1
    poll_interval_s: float = 1.0
    stuck_after_s: float = 60.0
    fee_bump_percent: int = 20
    #: None: no cap
    max_gas_price: int | None = None
    #: the kind of fees new transactions are signed with
    fee_kind: FeeKind = FeeKind.EIP1559


@dataclass(slots=True)
class _Tracked:
    """A transaction in flight, as the monitor knows it (the row is the persisted part)."""

    row: MonitoredL1Tx
    #: the latest attempt's fees; None after a restart until read back from the node
    fees: Fees | None = None
    #: the latest attempt's signed bytes (None after a restart until re-signed)
    signed: SignedTx | None = None
    #: monotonic time the latest fees were first broadcast
    priced_at: float = 0.0
    mined: Mined | None = None
    error: str = ""
    #: monotonic time the account's nonce was first seen past ours with none of ours mined
    nonce_used_since: float | None = None
    #: the last message logged for a refused broadcast (each distinct one is logged once)
    logged_error: str = ""

    @property
    def latest_hash(self) -> bytes:
        return self.row.attempts[-1]


def utc_now() -> datetime:
    return datetime.now(UTC)


def revert_of(data: bytes | None) -> Revert | None:
    """The revert of a failed transaction, named as services/common/l1/errors.py names it."""
    if data is None:
        return None
    decoded = decode_revert(data)
    reason = decoded.name if isinstance(decoded, CustomError) else str(decoded)
    return Revert(reason, data)


def mined_from(receipt: L1Receipt) -> Mined:
    return Mined(
        tx_hash=receipt.tx_hash,
        block_number=receipt.block_number,
        block_hash=receipt.block_hash,
        status=receipt.status,
        gas_used=receipt.gas_used,
        effective_gas_price=receipt.effective_gas_price,
    )


def view_of(
    row: MonitoredL1Tx,
    *,
    mined: Mined | None,
    head: int | None,
    revert: Revert | None = None,
    error: str = "",
) -> TxView:
    sent = row.status is not _S.CREATED
    confirmations = 0
    if mined is not None and head is not None and head >= mined.block_number:
        confirmations = head - mined.block_number + 1
    return TxView(
        id=row.id,
        owner=row.owner,
        status=row.status,
        from_address=bytes(row.from_address),
        to=None if row.to_address is None else bytes(row.to_address),
        value=row.value,
        gas_limit=row.gas,
        nonce=row.nonce if sent else None,
        gas_price=row.gas_price if sent else None,
        attempts=tuple(bytes(h) for h in row.attempts),
        mined=mined,
        confirmations=confirmations,
        revert=revert,
        error=error,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def nonce_used_error(nonce: int) -> str:
    return (
        f"nonce {nonce} was used by a transaction this manager did not send; none of its attempts was mined"
    )


@dataclass(slots=True)
class _TickCache:
    """Values read from L1 once per tick."""

    suggestions: dict[FeeKind, Fees] = field(default_factory=dict)


class Monitor:
    """Sends, watches, re-prices and confirms every monitored transaction (module docstring)."""

    def __init__(
        self,
        store: MonitoredTxStore,
        l1: L1Node,
        signer: Signer,
        settings: MonitorSettings,
        *,
        metrics: EthTxManagerMetrics,
        log: EventLogger,
        wall_clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._l1 = l1
        self._signer = signer
        self.settings = settings
        self._metrics = metrics
        self._log = log
        self._wall = wall_clock
        self._monotonic = monotonic
        self._tracked: dict[str, _Tracked] = {}
        self._next_nonce: int | None = None
        self._wake = asyncio.Event()
        self._tick_lock = asyncio.Lock()
        self._cache = _TickCache()
        #: the latest L1 block number seen
        self.head: int | None = None
        #: views of transactions that became final while this process ran (Result reads them)
        self.finished: dict[str, TxView] = {}
        #: the newest `created_at` among the transactions recovered at start-up
        self.latest_created_at: datetime | None = None

    # -- public ----------------------------------------------------------------------------------

    @property
    def address(self) -> bytes:
        return self._signer.address

    @property
    def next_nonce(self) -> int | None:
        return self._next_nonce

    async def recover(self) -> None:
        """Load the transactions in flight from the StateDB and find the next nonce."""
        rows = await asyncio.to_thread(self._store.list_by_status, PENDING_STATUSES)
        now = self._monotonic()
        pending_nonce = await self._l1.nonce(self.address, "pending")
        highest = max((r.nonce for r in rows if r.status is not _S.CREATED), default=-1)
        self._next_nonce = max(pending_nonce, highest + 1)
        for row in rows:
            self._tracked[row.id] = _Tracked(row, priced_at=now)
            if self.latest_created_at is None or row.created_at > self.latest_created_at:
                self.latest_created_at = row.created_at
        self._log.info(
            "ethtxmanager_recovered",
            address="0x" + self.address.hex(),
            in_flight=len(rows),
            next_nonce=self._next_nonce,
            l1_pending_nonce=pending_nonce,
        )
        self._count()

    def track(self, row: MonitoredL1Tx) -> None:
        """Watch a newly added (CREATED) transaction, and send it soon."""
        if row.id not in self._tracked:
            self._tracked[row.id] = _Tracked(row, priced_at=self._monotonic())
            self._count()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def view(self, tx_id: str) -> TxView | None:
        """The live view of a transaction this process watches or finished; None otherwise."""
        t = self._tracked.get(tx_id)
        if t is None:
            return self.finished.get(tx_id)
        return view_of(t.row, mined=t.mined, head=self.head, error=t.error)

    def in_flight(self) -> list[str]:
        return list(self._tracked)

    async def run(self) -> None:
        """Tick every poll interval (or when woken) until cancelled; no error ends the loop."""
        while True:
            try:
                await self.tick()
            except (L1Unavailable, DatabaseUnavailable, RpcError) as exc:
                self._metrics.l1_errors.inc()
                self._log.warning("ethtxmanager_tick_interrupted", error=str(exc))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._log.exception("ethtxmanager_tick_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_interval_s)
            self._wake.clear()

    async def tick(self) -> None:
        """One look at every transaction in flight, then the first sends of the new ones."""
        async with self._tick_lock:
            self._cache = _TickCache()
            if self._next_nonce is None:
                await self.recover()
            self._metrics.balance.set(await self._l1.balance(self.address))
            if not self._tracked:
                return
            head = await self._l1.block_number()
            self.head = head
            self._metrics.head.set(head)
            account_nonce = await self._l1.nonce(self.address, "latest")
            assert self._next_nonce is not None
            if account_nonce > self._next_nonce:
                self._log.warning(
                    "ethtxmanager_nonce_advanced_elsewhere",
                    next_nonce=self._next_nonce,
                    l1_nonce=account_nonce,
                )
                self._next_nonce = account_nonce
            in_flight = sorted(
                (t for t in self._tracked.values() if t.row.status is not _S.CREATED),
                key=lambda t: t.row.nonce,
            )
            for t in in_flight:
                try:
                    await self._watch(t, head, account_nonce)
                except (L1Unavailable, DatabaseUnavailable, RpcError):
                    raise  # the node or the StateDB: the whole tick waits for the next one
                except Exception as exc:  # a bug with one transaction must not stall the others
                    self._log.exception("l1_tx_watch_failed", id=t.row.id, error=repr(exc))
            created = sorted(
                (t for t in self._tracked.values() if t.row.status is _S.CREATED),
                key=lambda t: (t.row.created_at, t.row.id),
            )
            for t in created:
                await self._first_send(t)
            self._count()

    # -- the state machine -----------------------------------------------------------------------

    async def _watch(self, t: _Tracked, head: int, account_nonce: int) -> None:
        receipt = await self._canonical_receipt(t)
        if receipt is not None:
            await self._on_mined(t, receipt, head)
            return
        if t.row.status is _S.MINED:
            await self._on_reorged(t)
        if account_nonce > t.row.nonce:
            await self._on_nonce_used(t)
            return
        t.nonce_used_since = None
        known = await self._l1.transaction(t.latest_hash)
        if known is None:
            await self._rebroadcast(t)
            return
        if t.fees is None:
            t.fees = known.fees
        # only the lowest unmined nonce can be stuck; the ones above it wait for it (and are
        # re-priced once they are the lowest, if their fees have been unchanged long enough)
        if t.row.nonce == account_nonce and self._monotonic() - t.priced_at >= self.settings.stuck_after_s:
            await self._reprice(t, "stuck")

    async def _canonical_receipt(self, t: _Tracked) -> L1Receipt | None:
        """The receipt of whichever attempt is in a canonical block (newest attempt first)."""
        hashes: list[bytes] = list(reversed(t.row.attempts))
        if t.mined is not None and t.mined.tx_hash in hashes:  # look where it was first
            hashes.remove(t.mined.tx_hash)
            hashes.insert(0, t.mined.tx_hash)
        for tx_hash in hashes:
            receipt = await self._l1.receipt(tx_hash)
            if receipt is None:
                continue
            block = await self._l1.block(receipt.block_number)
            if block is not None and block.hash == receipt.block_hash:
                return receipt
        return None

    async def _on_mined(self, t: _Tracked, receipt: L1Receipt, head: int) -> None:
        mined = mined_from(receipt)
        moved = t.mined is None or (t.mined.tx_hash, t.mined.block_hash) != (mined.tx_hash, mined.block_hash)
        t.mined = mined
        t.nonce_used_since = None
        t.error = ""
        if moved or t.row.status is not _S.MINED or t.row.block_number != mined.block_number:
            await self._set_status(t, _S.MINED, mined.block_number)
            self._log.info(
                "l1_tx_mined",
                id=t.row.id,
                nonce=t.row.nonce,
                tx_hash="0x" + mined.tx_hash.hex(),
                block_number=mined.block_number,
                receipt_status=mined.status,
            )
        if head - mined.block_number + 1 < self.settings.confirmations:
            return
        revert: Revert | None = None
        if mined.status == 1:
            final = _S.CONFIRMED
        else:
            final = _S.FAILED
            revert = revert_of(await self._l1.revert_data(mined.tx_hash))
        await self._set_status(t, final, mined.block_number)
        latency_s = max(0.0, (self._wall() - t.row.created_at).total_seconds())
        if final is _S.CONFIRMED:
            self._metrics.confirmation_latency.observe(latency_s)
        self._metrics.finished.labels(final.value).inc()
        self._metrics.gas_used.inc(mined.gas_used)
        self._metrics.gas_spent.inc(mined.gas_used * mined.effective_gas_price)
        self._log.info(
            "l1_tx_finished",
            id=t.row.id,
            status=final.value,
            nonce=t.row.nonce,
            tx_hash="0x" + mined.tx_hash.hex(),
            block_number=mined.block_number,
            attempts=len(t.row.attempts),
            gas_used=mined.gas_used,
            latency_s=round(latency_s, 3),
            revert=None if revert is None else revert.reason,
        )
        self._finish(t, view_of(t.row, mined=mined, head=head, revert=revert))

    async def _on_reorged(self, t: _Tracked) -> None:
        old = t.mined
        t.mined = None
        t.priced_at = self._monotonic()
        await self._set_status(t, _S.SENT, None)
        self._metrics.reorgs.inc()
        self._log.warning(
            "l1_tx_reorged",
            id=t.row.id,
            nonce=t.row.nonce,
            tx_hash=None if old is None else "0x" + old.tx_hash.hex(),
            block_number=None if old is None else old.block_number,
        )

    async def _on_nonce_used(self, t: _Tracked) -> None:
        now = self._monotonic()
        if t.nonce_used_since is None:
            t.nonce_used_since = now
            self._log.warning("l1_tx_nonce_used", id=t.row.id, nonce=t.row.nonce)
            return
        if now - t.nonce_used_since < self.settings.stuck_after_s:
            return
        t.error = nonce_used_error(t.row.nonce)
        await self._set_status(t, _S.FAILED, None)
        self._metrics.finished.labels(_S.FAILED.value).inc()
        self._log.error(
            "l1_tx_finished", id=t.row.id, status=_S.FAILED.value, nonce=t.row.nonce, error=t.error
        )
        self._finish(t, view_of(t.row, mined=None, head=self.head, error=t.error))

    async def _first_send(self, t: _Tracked) -> None:
        assert self._next_nonce is not None
        nonce = self._next_nonce
        fees = fee_rules.first(await self._suggested(self.settings.fee_kind), self.settings.max_gas_price)
        signed = self._sign(t.row, nonce, fees)
        # stored first: from here on the nonce belongs to this transaction for ever
        await self._store_attempt(t, signed, nonce, fees)
        self._next_nonce = nonce + 1
        self._log.info(
            "l1_tx_sent",
            id=t.row.id,
            nonce=nonce,
            tx_hash="0x" + signed.hash.hex(),
            fee_kind=fees.kind.value,
            fee_wei=fees.price,
            tip_wei=fees.tip,
        )
        await self._broadcast(t)

    async def _rebroadcast(self, t: _Tracked) -> None:
        """The node does not know the latest attempt: send it again (same bytes when possible)."""
        if t.signed is None or t.signed.hash != t.latest_hash:
            fees = await self._resume_fees(t)
            signed = self._sign(t.row, t.row.nonce, fees)
            if signed.hash != t.latest_hash:
                await self._store_attempt(t, signed, t.row.nonce, fees)
            else:
                t.signed, t.fees = signed, fees
        if not t.error:  # a retry after a refusal is not a resend of a dropped transaction
            self._metrics.resends.labels("dropped").inc()
            self._log.info(
                "l1_tx_rebroadcast", id=t.row.id, nonce=t.row.nonce, tx_hash="0x" + t.latest_hash.hex()
            )
        await self._broadcast(t)

    async def _reprice(self, t: _Tracked, reason: str, depth: int = 0) -> None:
        """A new attempt with the same nonce and higher fees (never lower)."""
        old = t.fees if t.fees is not None else await self._resume_fees(t)
        new = fee_rules.bump(
            old, await self._suggested(old.kind), self.settings.fee_bump_percent, self.settings.max_gas_price
        )
        if new is None:
            message = f"fees at the cap ({self.settings.max_gas_price} wei): no replacement is possible"
            if t.error != message:
                self._log.warning("l1_tx_fee_cap_reached", id=t.row.id, nonce=t.row.nonce, fee_wei=old.price)
            t.error = message
            t.priced_at = self._monotonic()
            return
        signed = self._sign(t.row, t.row.nonce, new)
        await self._store_attempt(t, signed, t.row.nonce, new)
        self._metrics.resends.labels(reason).inc()
        self._log.info(
            "l1_tx_repriced",
            id=t.row.id,
            reason=reason,
            nonce=t.row.nonce,
            tx_hash="0x" + signed.hash.hex(),
            old_fee_wei=old.price,
            fee_wei=new.price,
            old_tip_wei=old.tip,
            tip_wei=new.tip,
        )
        await self._broadcast(t, depth)

    async def _broadcast(self, t: _Tracked, depth: int = 0) -> None:
        assert t.signed is not None
        self._metrics.broadcasts.inc()
        try:
            await self._l1.send_raw_transaction(t.signed.raw)
        except RpcError as exc:
            kind = classify_rejection(exc.message)
            if kind is Rejection.ALREADY_KNOWN:
                return
            self._metrics.send_errors.labels(kind.value).inc()
            t.error = exc.message
            if t.logged_error != exc.message:
                t.logged_error = exc.message
                self._log.warning(
                    "l1_tx_refused", id=t.row.id, nonce=t.row.nonce, kind=kind.value, error=exc.message
                )
            if (
                kind in (Rejection.UNDERPRICED, Rejection.FEE_BELOW_BASE_FEE)
                and depth < MAX_UNDERPRICED_RETRIES
            ):
                await self._reprice(t, "underpriced", depth + 1)
            # nonce too low: the next tick looks for the attempt that was mined;
            # anything else: the next tick tries again
            return
        t.error = ""
        t.logged_error = ""

    # -- helpers ---------------------------------------------------------------------------------

    async def _suggested(self, kind: FeeKind) -> Fees:
        cached = self._cache.suggestions.get(kind)
        if cached is not None:
            return cached
        if kind is FeeKind.LEGACY:
            fees = fee_rules.suggest(kind, gas_price=await self._l1.gas_price(), base_fee=None, tip=0)
        else:
            block = await self._l1.block("pending") or await self._l1.block("latest")
            base_fee = None if block is None else block.base_fee
            fees = fee_rules.suggest(
                kind, gas_price=0, base_fee=base_fee, tip=await self._l1.max_priority_fee()
            )
        self._cache.suggestions[kind] = fees
        return fees

    async def _resume_fees(self, t: _Tracked) -> Fees:
        """The fees to re-sign the latest attempt with when they are not in memory (a restart)."""
        if t.fees is not None:
            return t.fees
        known = await self._l1.transaction(t.latest_hash)
        if known is not None:
            t.fees = known.fees
            return known.fees
        kind = self.settings.fee_kind
        if kind is FeeKind.LEGACY:
            fees = Fees(kind, t.row.gas_price)  # exactly the stored attempt
        else:
            suggested = await self._suggested(kind)
            price = max(t.row.gas_price, suggested.price)
            fees = Fees(kind, price, min(suggested.tip, price))
        t.fees = fees
        return fees

    def _sign(self, row: MonitoredL1Tx, nonce: int, fees: Fees) -> SignedTx:
        return self._signer.sign(
            nonce=nonce,
            gas=row.gas,
            to=None if row.to_address is None else bytes(row.to_address),
            value=row.value,
            data=row.data,
            fees=fees,
        )

    async def _store_attempt(self, t: _Tracked, signed: SignedTx, nonce: int, fees: Fees) -> None:
        now = self._wall()
        await self._db(
            self._store.add_attempt,
            t.row.id,
            Hash32(signed.hash),
            nonce=nonce,
            gas=t.row.gas,
            gas_price=fees.price,
            now=now,
        )
        attempts = t.row.attempts if signed.hash in t.row.attempts else (*t.row.attempts, Hash32(signed.hash))
        t.row = replace(
            t.row,
            status=_S.SENT if t.row.status is _S.CREATED else t.row.status,
            nonce=nonce,
            gas_price=fees.price,
            attempts=attempts,
            updated_at=now,
        )
        t.signed, t.fees = signed, fees
        t.priced_at = self._monotonic()
        self._metrics.gas_price.set(fees.price)

    async def _set_status(self, t: _Tracked, status: MonitoredTxStatus, block_number: int | None) -> None:
        now = self._wall()
        await self._db(self._store.set_status, t.row.id, status, block_number=block_number, now=now)
        t.row = replace(t.row, status=status, block_number=block_number, updated_at=now)

    async def _db(self, fn: Callable[..., _T], *args: object, **kwargs: object) -> _T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    def _finish(self, t: _Tracked, view: TxView) -> None:
        self._tracked.pop(t.row.id, None)
        self.finished[t.row.id] = view
        while len(self.finished) > 10_000:
            self.finished.pop(next(iter(self.finished)))

    def _count(self) -> None:
        counts: dict[MonitoredTxStatus, int] = {}
        for t in self._tracked.values():
            counts[t.row.status] = counts.get(t.row.status, 0) + 1
        self._metrics.counts(counts)

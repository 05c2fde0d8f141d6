"""The pool's domain logic: admission, the sequencer's view, the outcomes it reports, expiry.

    AddTransaction  ─▶ Pool.add ─▶ check_transaction (rules 1–9, no I/O)
    AddTransactions ─▶ Pool.add     ─▶ AccountStateReader: nonce, balance  (rule 13 decided here;
      (each item, concurrently)        the HashDB reader shares GetMany calls between admissions)
                                    ─▶ RedisPoolStore.add: one Lua script   (rules 10–15, atomic)

The store does the bookkeeping (store.py has the data model and the state machine); this class
turns its outcomes into the errors callers see, keeps the metrics, and runs the two background
loops: expiry (stale live transactions fail, old failed / invalid records go) and the size gauges.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from services.common.errors import FailedPrecondition, NotFound, ServiceError
from services.common.logs import EventLogger
from services.pool.metrics import PoolMetrics
from services.pool.store import (
    AddConflict,
    Conflict,
    FailureKind,
    PoolCounts,
    PoolTransaction,
    RedisPoolStore,
    StoredTransaction,
    TxStatus,
)
from services.pool.validation import (
    MAX_POOL_NONCE,
    AccountStateReader,
    CheckedTransaction,
    PoolLimits,
    PoolRejection,
    Rule,
    check_transaction,
    funds_problem,
    reject,
    rejection_account_full,
    rejection_nonce_too_high,
    rejection_nonce_too_low,
    rejection_pool_full,
    rejection_pool_full_gap,
    rejection_selected,
    rejection_underpriced,
)
from zkevm.state_keys import Address


@dataclass(frozen=True, slots=True)
class PoolSettings:
    limits: PoolLimits = field(default_factory=PoolLimits)
    #: GetReadyTransactions with limit 0 returns this many (zkevm-node MaxTxsPerBatch)
    default_ready_limit: int = 300
    max_ready_limit: int = 10_000
    #: zkevm-node MaxTxLifetime: a live transaction older than this fails as "transaction expired"
    tx_lifetime_s: float = 3 * 3600.0
    #: failed / invalid transactions stay answerable this long (zkevm-node: 100 L1 blocks × 14 s)
    finished_retention_s: float = 1400.0
    expiry_interval_s: float = 60.0
    #: transactions handled by one expiry script run, so Redis is never blocked for long
    expiry_batch: int = 1000
    stats_interval_s: float = 5.0


@dataclass(frozen=True, slots=True)
class AddResult:
    tx_hash: bytes
    replaced: bytes | None


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


class Pool:
    def __init__(
        self,
        store: RedisPoolStore,
        state: AccountStateReader,
        settings: PoolSettings,
        metrics: PoolMetrics,
        log: EventLogger,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.state = state
        self.settings = settings
        self.metrics = metrics
        self._log = log
        self._clock = clock

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # ----------------------------------------------------------------------------------------------
    # admission

    async def add(self, raw: bytes) -> AddResult:
        """Validate `raw` and add it; raises `PoolRejection` naming the rule it broke."""
        start = time.perf_counter()
        try:
            result = await self._add(raw)
        except PoolRejection as exc:
            self.metrics.refused(exc.rule)
            self._log.debug("tx_rejected", rule=exc.rule.value, error=str(exc))
            raise
        finally:
            self.metrics.add_duration.observe(time.perf_counter() - start)
        self.metrics.accepted(result.replaced is not None)
        return result

    async def _add(self, raw: bytes) -> AddResult:
        limits = self.settings.limits
        checked = check_transaction(raw, limits)
        # nonce and balance at one state: the latest root can move between two separate reads
        state_nonce, balance = await self.state.account(checked.sender)
        if checked.tx.nonce > MAX_POOL_NONCE:
            raise rejection_nonce_too_high(checked.tx.nonce, state_nonce, limits.nonce_window)
        funds = funds_problem(checked, balance)
        outcome = await self.store.add(
            checked,
            state_nonce=state_nonce,
            funds_ok=funds is None,
            nonce_window=limits.nonce_window,
            max_txs=limits.max_txs,
            max_txs_per_account=limits.max_txs_per_account,
            max_txs_with_gap=limits.max_txs_with_gap,
            now_ms=self._now_ms(),
        )
        if isinstance(outcome, AddConflict):
            raise self._rejection(checked, outcome, funds or "")
        if outcome.replaced is not None:
            self._log.info(
                "tx_replaced",
                hash=_hex(checked.tx_hash),
                replaced=_hex(outcome.replaced),
                nonce=checked.tx.nonce,
            )
        return AddResult(checked.tx_hash, outcome.replaced)

    def _rejection(self, checked: CheckedTransaction, c: AddConflict, funds: str) -> PoolRejection:
        limits = self.settings.limits
        nonce = checked.tx.nonce
        match c.kind:
            case Conflict.ALREADY_KNOWN:
                status = c.status.value if c.status else "in the pool"
                return reject(Rule.ALREADY_KNOWN, f"{_hex(checked.tx_hash)} is {status}")
            case Conflict.NONCE_TOO_LOW:
                return rejection_nonce_too_low(nonce, c.next_nonce)
            case Conflict.NONCE_TOO_HIGH:
                return rejection_nonce_too_high(nonce, c.next_nonce, limits.nonce_window)
            case Conflict.INSUFFICIENT_FUNDS:
                return reject(Rule.INSUFFICIENT_FUNDS, funds)
            case Conflict.SELECTED:
                return rejection_selected(nonce, c.other_hash)
            case Conflict.UNDERPRICED:
                return rejection_underpriced(nonce, c.other_hash, c.other_gas_price, checked.tx.gas_price)
            case Conflict.POOL_FULL:
                return rejection_pool_full(c.count, limits)
            case Conflict.POOL_FULL_GAP:
                return rejection_pool_full_gap(nonce, c.next_nonce, c.missing_nonce, c.count, limits)
            case Conflict.ACCOUNT_FULL:
                return rejection_account_full(checked.sender, c.count, limits)

    # ----------------------------------------------------------------------------------------------
    # the sequencer's side

    async def ready(self, limit: int, followers: bool = False) -> list[PoolTransaction]:
        if limit <= 0:
            limit = self.settings.default_ready_limit
        return await self.store.ready(min(limit, self.settings.max_ready_limit), followers)

    async def mark_selected(self, tx_hash: bytes) -> TxStatus:
        outcome = await self.store.select(tx_hash, self._now_ms())
        if outcome.status is None:
            raise NotFound(f"transaction {_hex(tx_hash)} is not in the pool")
        if outcome.not_ready is not None:
            next_nonce, nonce = outcome.not_ready
            raise FailedPrecondition(
                f"transaction {_hex(tx_hash)} is not ready: its nonce is {nonce}, "
                f"the sender's next nonce is {next_nonce}"
            )
        if outcome.status is not TxStatus.SELECTED:
            raise FailedPrecondition(
                f"transaction {_hex(tx_hash)} is {outcome.status.value}, only a pending one can be selected"
            )
        self.metrics.marked.labels("selected").inc()
        return outcome.status

    async def select_many(self, tx_hashes: Sequence[bytes]) -> list[bytes]:
        """MarkSelected of each of `tx_hashes` in one atomic step; the ones now selected."""
        selected = await self.store.select_many(tx_hashes, self._now_ms())
        if selected:
            self.metrics.marked.labels("selected").inc(len(selected))
        return selected

    async def mark_included_many(self, tx_hashes: Sequence[bytes]) -> int:
        """MarkIncluded of each of `tx_hashes`, in order, in one atomic step; how many were held."""
        known = await self.store.include_many(tx_hashes, self._now_ms())
        if known:
            self.metrics.marked.labels("included").inc(known)
        return known

    async def mark_included(self, tx_hash: bytes) -> int | None:
        """The sender's next nonce afterwards; None if the pool did not hold the transaction."""
        next_nonce = await self.store.include(tx_hash, self._now_ms())
        if next_nonce is not None:
            self.metrics.marked.labels("included").inc()
        return next_nonce

    async def mark_failed(
        self, tx_hash: bytes, kind: FailureKind, reason: str, state_nonce: int | None
    ) -> TxStatus:
        status = await self.store.fail(tx_hash, kind, reason, state_nonce, self._now_ms())
        if status is None:
            raise NotFound(f"transaction {_hex(tx_hash)} is not in the pool")
        self.metrics.marked.labels("requeued" if status is TxStatus.PENDING else "failed").inc()
        self._log.info("tx_failed", hash=_hex(tx_hash), kind=kind.value, status=status.value, reason=reason)
        return status

    async def mark_invalid(self, tx_hash: bytes, reason: str) -> TxStatus:
        status = await self.store.invalidate(tx_hash, reason, self._now_ms())
        if status is None:
            raise NotFound(f"transaction {_hex(tx_hash)} is not in the pool")
        self.metrics.marked.labels("invalid").inc()
        self._log.info("tx_invalid", hash=_hex(tx_hash), status=status.value, reason=reason)
        return status

    async def release_selected(self) -> int:
        released = await self.store.release_selected(self._now_ms())
        self._log.info("selected_released", count=released)
        return released

    # ----------------------------------------------------------------------------------------------
    # lookups

    async def get(self, tx_hash: bytes) -> StoredTransaction:
        stored = await self.store.get(tx_hash)
        if stored is None:
            raise NotFound(f"transaction {_hex(tx_hash)} is not in the pool")
        return stored

    async def pending_nonce(self, address: Address) -> tuple[int, int]:
        """(pending nonce, state nonce) of `address`."""
        state_nonce = await self.state.get_nonce(address)
        return await self.store.pending_nonce(address, state_nonce), state_nonce

    async def counts(self) -> PoolCounts:
        return await self.store.counts()

    # ----------------------------------------------------------------------------------------------
    # background work

    async def expire_once(self) -> tuple[int, int]:
        """One expiry pass (as many script runs as it takes); (expired, purged)."""
        s = self.settings
        expired = purged = 0
        while True:
            result = await self.store.expire(
                self._now_ms(),
                int(s.tx_lifetime_s * 1000),
                int(s.finished_retention_s * 1000),
                s.expiry_batch,
            )
            expired += result.expired
            purged += result.purged
            if result.expired < s.expiry_batch and result.purged < s.expiry_batch:
                break
        if expired or purged:
            self.metrics.expired.inc(expired)
            self.metrics.purged.inc(purged)
            self._log.info("txs_expired", expired=expired, purged=purged)
        return expired, purged

    async def refresh_counts(self) -> PoolCounts:
        counts = await self.store.counts()
        self.metrics.counts(counts)
        return counts

    async def run_every(self, interval_s: float, job: Callable[[], Awaitable[object]], name: str) -> None:
        """Run `job` every `interval_s` until cancelled; a failure is logged and the loop goes on."""
        while True:
            try:
                await job()
            except ServiceError as exc:
                self._log.warning("background_job_failed", job=name, error=str(exc))
            except Exception as exc:
                self._log.exception("background_job_failed", job=name, error=repr(exc))
            await asyncio.sleep(interval_s)

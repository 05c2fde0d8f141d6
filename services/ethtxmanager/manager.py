"""The EthTxManager's requests: Add (idempotent by id), Result and List.

Add stores the transaction as CREATED before it answers, and hands it to the monitor, which gives
it a nonce and sends it. The gas limit is fixed here, once: the caller's, or eth_estimateGas from
the manager's address plus the configured margin. An estimate that reverts is an outcome
(REVERTED, with the contract's error), not a transport error, and stores nothing.

Idempotency: the content of a transaction is (owner, to, data, value). A repeated Add with the same
id and content changes nothing and answers ALREADY_ADDED, whatever the status; other content under
a stored id is refused with ALREADY_EXISTS. Concurrent Adds of one id store one row (the StateDB's
insert-if-absent decides).

Result and List answer from the monitor's memory for transactions this process watches; for the
others (final before a restart) the stored row is completed with the receipt of the attempt that
was mined, read from L1 once and remembered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Final, Protocol

import grpc

from services.common.errors import InvalidArgument, NotFound, ServiceError
from services.common.logs import EventLogger
from services.common.statedb import MonitoredL1Tx, MonitoredTxStatus
from services.common.statedb.models import Address
from services.ethtxmanager.l1 import L1Block, L1Receipt, L1Unavailable, RpcError
from services.ethtxmanager.model import AddOutcome, AddResult, Mined, Revert, TxRequest, TxView
from services.ethtxmanager.monitor import (
    Monitor,
    MonitoredTxStore,
    mined_from,
    nonce_used_error,
    revert_of,
    utc_now,
    view_of,
)

#: views of final transactions read back from L1 that are remembered
_CACHE_SIZE: Final = 10_000
_FINAL: Final = frozenset({MonitoredTxStatus.CONFIRMED, MonitoredTxStatus.FAILED})


class AlreadyExists(ServiceError):
    """The id is stored with other content."""

    code = grpc.StatusCode.ALREADY_EXISTS


class EstimateFailed(ServiceError):
    """eth_estimateGas failed for another reason than a revert (e.g. insufficient funds)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class ManagerL1(Protocol):
    """What Add and Result read from L1."""

    async def block(self, tag: int | str) -> L1Block | None: ...
    async def estimate_gas(self, sender: bytes, to: bytes | None, data: bytes, value: int) -> int: ...
    async def receipt(self, tx_hash: bytes) -> L1Receipt | None: ...
    async def revert_data(self, tx_hash: bytes) -> bytes | None: ...


class EthTxManager:
    def __init__(
        self,
        store: MonitoredTxStore,
        l1: ManagerL1,
        monitor: Monitor,
        log: EventLogger,
        *,
        gas_limit_margin_percent: int = 20,
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._l1 = l1
        self._monitor = monitor
        self._log = log
        self._margin = gas_limit_margin_percent
        self._wall = wall_clock
        self._last_created: datetime | None = None
        self._views: dict[str, TxView] = {}

    @property
    def address(self) -> bytes:
        return self._monitor.address

    async def add(self, request: TxRequest) -> AddResult:
        stored = await asyncio.to_thread(self._store.get, request.id)
        if stored is not None:
            return self._repeated(request, stored)
        try:
            latest = await self._l1.block("latest")
        except L1Unavailable:  # with a gas limit given, the transaction can be stored anyway
            if request.gas_limit is None:
                raise
            latest = None
        block_gas_limit = None if latest is None else latest.gas_limit
        gas = request.gas_limit
        if gas is None:
            try:
                estimate = await self._l1.estimate_gas(self.address, request.to, request.data, request.value)
            except RpcError as exc:
                if not exc.is_revert():
                    raise EstimateFailed(f"eth_estimateGas failed: {exc.message}") from exc
                revert = revert_of(exc.revert_data() or b"")
                assert revert is not None
                self._log.info("l1_tx_add_reverted", id=request.id, owner=request.owner, revert=revert.reason)
                return AddResult(AddOutcome.REVERTED, self.address, 0, revert)
            gas = estimate * (100 + self._margin) // 100
            if block_gas_limit is not None:  # the margin never makes it unminable
                gas = max(estimate, min(gas, block_gas_limit))
        elif block_gas_limit is not None and gas > block_gas_limit:
            raise InvalidArgument(f"gas_limit {gas} is above the L1 block gas limit {block_gas_limit}")
        now = self._created_at()
        row = MonitoredL1Tx(
            id=request.id,
            owner=request.owner,
            from_address=Address(self.address),
            to_address=None if request.to is None else Address(request.to),
            nonce=0,  # assigned by the monitor at the first send
            value=request.value,
            data=request.data,
            gas=gas,
            gas_price=0,
            status=MonitoredTxStatus.CREATED,
            attempts=(),
            block_number=None,
            created_at=now,
            updated_at=now,
        )
        if not await asyncio.to_thread(self._store.add, row):
            stored = await asyncio.to_thread(self._store.get, request.id)
            assert stored is not None
            return self._repeated(request, stored)
        self._log.info("l1_tx_added", id=row.id, owner=row.owner, gas=gas, data_bytes=len(row.data))
        self._monitor.track(row)
        return AddResult(AddOutcome.ADDED, self.address, gas)

    def _repeated(self, request: TxRequest, stored: MonitoredL1Tx) -> AddResult:
        differences = [
            name
            for name, mine, theirs in (
                ("owner", request.owner, stored.owner),
                ("to", request.to, None if stored.to_address is None else bytes(stored.to_address)),
                ("data", request.data, stored.data),
                ("value", request.value, stored.value),
            )
            if mine != theirs
        ]
        if differences:
            raise AlreadyExists(
                f"id {request.id!r} is already stored with another {', '.join(differences)} "
                f"(status {stored.status.value}); use a new id for a different transaction"
            )
        return AddResult(AddOutcome.ALREADY_ADDED, self.address, stored.gas)

    def _created_at(self) -> datetime:
        """Now, strictly after the previous Add: nonces go out in the order of `created_at`."""
        now = self._wall()
        if self._last_created is None:
            self._last_created = self._monitor.latest_created_at  # a clock set back across a restart
        if self._last_created is not None and now <= self._last_created:
            now = self._last_created + timedelta(microseconds=1)
        self._last_created = now
        return now

    async def result(self, tx_id: str) -> TxView:
        live = self._monitor.view(tx_id)
        if live is not None:
            return live
        row = await asyncio.to_thread(self._store.get, tx_id)
        if row is None:
            raise NotFound(f"no L1 transaction with id {tx_id!r} was ever added")
        return await self._view(row)

    async def list(self, owner: str | None, statuses: Collection[MonitoredTxStatus]) -> list[TxView]:
        wanted = statuses or tuple(MonitoredTxStatus)
        rows = await asyncio.to_thread(self._store.list_by_status, wanted, owner=owner)
        views = []
        for row in rows:
            live = self._monitor.view(row.id)
            views.append(live if live is not None else await self._view(row))
        return views

    async def _view(self, row: MonitoredL1Tx) -> TxView:
        """A stored row, with its receipt when an attempt was mined (read from L1)."""
        cached = self._views.get(row.id)
        if cached is not None and cached.status is row.status and cached.updated_at == row.updated_at:
            return cached
        head = self._monitor.head
        if row.status in (MonitoredTxStatus.CREATED, MonitoredTxStatus.SENT):
            return view_of(row, mined=None, head=head)
        mined: Mined | None = None
        for tx_hash in reversed(row.attempts):
            receipt = await self._l1.receipt(tx_hash)
            if receipt is not None:
                mined = mined_from(receipt)
                break
        revert: Revert | None = None
        error = ""
        if row.status is MonitoredTxStatus.FAILED:
            if mined is None:
                error = nonce_used_error(row.nonce)
            elif mined.status == 0:
                revert = revert_of(await self._l1.revert_data(mined.tx_hash))
        view = view_of(row, mined=mined, head=head, revert=revert, error=error)
        if row.status in _FINAL:
            self._views[row.id] = view
            while len(self._views) > _CACHE_SIZE:
                self._views.pop(next(iter(self._views)))
        return view

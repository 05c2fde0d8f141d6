"""The EthTxManager's L1 transactions, persisted before anything is sent.

    monitored_txs           id (the caller's idempotency key) PK, owner, from, to, nonce, value, data,
                            gas, gas_price, status, block_number, created_at, updated_at
    monitored_tx_attempts   seq (auto-increment), monitored_tx_id, tx_hash UNIQUE, created_at

How the EthTxManager uses it (zkevm-node `ethtxmanager`, with the nonce kept locally)
------------------------------------------------------------------------------------
1. `add(tx)` with status `created` and no attempts. It is an insert-if-absent on the id: a caller
   that retries after a crash (the sequence sender's "sequence-from-5-to-9") gets False and the
   stored row wins, so one request never becomes two L1 transactions. Concurrent adds of one id from
   many threads or processes store exactly one row.
2. Before each broadcast: `add_attempt(id, signed_hash, nonce=…, gas=…, gas_price=…, now=…)` appends
   the hash and the pricing it was signed with, and sets status `sent`, in one transaction. A hash
   is only ever broadcast after it is stored, so after a restart every transaction that might be in
   a mempool is known. Recording the same hash again is a no-op.
3. `set_status(id, mined, block_number=n)`, then `confirmed` (or `failed`); after an L1 reorg back to
   `sent` with `block_number=None`.
4. `list_by_status(PENDING_STATUSES, owner=…)` finds the work left after a restart.

Timestamps are passed in (`now`), never read from a clock here, and stored as microseconds since
1970 UTC. Statuses only move as the caller says: the state machine is the EthTxManager's.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Final, Protocol

from services.common.statedb.errors import StateConflict
from services.common.statedb.models import (
    PENDING_STATUSES,
    Address,
    Hash32,
    MonitoredL1Tx,
    MonitoredTxStatus,
    check_bytes,
    check_int,
    check_name,
    check_opt_int,
    check_uint256,
    check_utc,
)
from services.common.statedb.rows import from_micros, micros, to_bytes, to_opt_bytes, to_opt_int
from services.common.statedb.sql import Database, Param, Row, Transaction, uint256_from_db

_COLUMNS: Final = (
    "id",
    "owner",
    "from_address",
    "to_address",
    "nonce",
    "value",
    "data",
    "gas",
    "gas_price",
    "status",
    "block_number",
    "created_at",
    "updated_at",
)
_SELECT: Final = f"SELECT {', '.join('m.' + c for c in _COLUMNS)} FROM monitored_txs m"
_ATTEMPTS: Final = (
    "SELECT a.monitored_tx_id, a.tx_hash FROM monitored_tx_attempts a "
    "JOIN monitored_txs m ON m.id = a.monitored_tx_id"
)


class MonitoredTxRepository(Protocol):
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


class SqlMonitoredTxRepository:
    """`MonitoredTxRepository` over a `Database`; safe to share between threads and processes."""

    def __init__(self, db: Database) -> None:
        self._db = db
        dialect = db.dialect
        self._insert = dialect.insert_or_ignore("monitored_txs", _COLUMNS, ("id",))
        self._insert_attempt = dialect.insert_or_ignore(
            "monitored_tx_attempts", ("monitored_tx_id", "tx_hash", "created_at"), ("tx_hash",)
        )

    def add(self, tx: MonitoredL1Tx) -> bool:
        """Store `tx` unless its id is already stored; True if this call stored it."""
        with self._db.transaction() as dbtx:
            inserted = dbtx.execute(self._insert, self._params(dbtx, tx)) == 1
            if inserted:
                for attempt in tx.attempts:
                    self._append(dbtx, tx.id, attempt, tx.created_at)
        return inserted

    def get(self, tx_id: str) -> MonitoredL1Tx | None:
        check_name("monitored tx id", tx_id)
        found = self._select("m.id = ?", (tx_id,))
        return found[0] if found else None

    def add_attempt(
        self, tx_id: str, tx_hash: Hash32, *, nonce: int, gas: int, gas_price: int, now: datetime
    ) -> None:
        """Append a signed version about to be sent, with the fields it was signed with; status `sent`."""
        check_name("monitored tx id", tx_id)
        check_bytes("attempt tx_hash", tx_hash, 32)
        check_int("MonitoredL1Tx.nonce", nonce)
        check_int("MonitoredL1Tx.gas", gas)
        check_uint256("MonitoredL1Tx.gas_price", gas_price)
        check_utc("now", now)
        with self._db.transaction() as dbtx:
            changed = dbtx.execute(
                "UPDATE monitored_txs SET nonce = ?, gas = ?, gas_price = ?, status = ?, updated_at = ? "
                "WHERE id = ?",
                (
                    nonce,
                    gas,
                    dbtx.dialect.uint256(gas_price),
                    MonitoredTxStatus.SENT.value,
                    micros(now),
                    tx_id,
                ),
            )
            if not changed:
                raise StateConflict(f"monitored tx {tx_id!r} does not exist")
            self._append(dbtx, tx_id, tx_hash, now)

    def set_status(
        self, tx_id: str, status: MonitoredTxStatus, *, block_number: int | None, now: datetime
    ) -> None:
        """Set the status and the L1 block it was mined in (None when not, or no longer, mined)."""
        check_name("monitored tx id", tx_id)
        if not isinstance(status, MonitoredTxStatus):
            raise ValueError(f"status must be a MonitoredTxStatus, got {status!r}")
        check_opt_int("block_number", block_number)
        check_utc("now", now)
        with self._db.transaction() as dbtx:
            changed = dbtx.execute(
                "UPDATE monitored_txs SET status = ?, block_number = ?, updated_at = ? WHERE id = ?",
                (status.value, block_number, micros(now), tx_id),
            )
            if not changed:
                raise StateConflict(f"monitored tx {tx_id!r} does not exist")

    def list_by_status(
        self, statuses: Collection[MonitoredTxStatus] = PENDING_STATUSES, *, owner: str | None = None
    ) -> list[MonitoredL1Tx]:
        """The transactions in any of `statuses` (of one owner if given), oldest first."""
        wanted = sorted({MonitoredTxStatus(s).value for s in statuses})
        if not wanted:
            return []
        where = f"m.status IN ({', '.join('?' for _ in wanted)})"
        params: list[Param] = list(wanted)
        if owner is not None:
            check_name("owner", owner)
            where += " AND m.owner = ?"
            params.append(owner)
        return self._select(where, params)

    # -- helpers -------------------------------------------------------------------------------

    def _append(self, dbtx: Transaction, tx_id: str, tx_hash: Hash32, now: datetime) -> None:
        if dbtx.execute(self._insert_attempt, (tx_id, tx_hash, micros(now))):
            return
        holder = dbtx.scalar(
            "SELECT monitored_tx_id FROM monitored_tx_attempts WHERE tx_hash = ?", (tx_hash,)
        )
        if holder != tx_id:
            raise StateConflict(f"L1 tx {tx_hash.hex()} is already an attempt of monitored tx {holder!r}")

    @staticmethod
    def _params(dbtx: Transaction, tx: MonitoredL1Tx) -> tuple[Param, ...]:
        return (
            tx.id,
            tx.owner,
            tx.from_address,
            tx.to_address,
            tx.nonce,
            dbtx.dialect.uint256(tx.value),
            tx.data,
            tx.gas,
            dbtx.dialect.uint256(tx.gas_price),
            tx.status.value,
            tx.block_number,
            micros(tx.created_at),
            micros(tx.updated_at),
        )

    def _select(self, where: str, params: Collection[Param]) -> list[MonitoredL1Tx]:
        with self._db.transaction(readonly=True) as dbtx:
            rows = dbtx.fetchall(f"{_SELECT} WHERE {where} ORDER BY m.created_at, m.id", tuple(params))
            attempts: dict[str, list[Hash32]] = {}
            if rows:
                for tx_id, tx_hash in dbtx.fetchall(
                    f"{_ATTEMPTS} WHERE {where} ORDER BY a.seq", tuple(params)
                ):
                    attempts.setdefault(str(tx_id), []).append(Hash32(to_bytes(tx_hash)))
        return [_from_row(row, tuple(attempts.get(str(row[0]), ()))) for row in rows]


def _from_row(row: Row, attempts: tuple[Hash32, ...]) -> MonitoredL1Tx:
    to_address = to_opt_bytes(row[3])
    return MonitoredL1Tx(
        id=str(row[0]),
        owner=str(row[1]),
        from_address=Address(to_bytes(row[2])),
        to_address=None if to_address is None else Address(to_address),
        nonce=int(row[4]),
        value=uint256_from_db(row[5]),
        data=to_bytes(row[6]),
        gas=int(row[7]),
        gas_price=uint256_from_db(row[8]),
        status=MonitoredTxStatus(str(row[9])),
        attempts=attempts,
        block_number=to_opt_int(row[10]),
        created_at=from_micros(row[11]),
        updated_at=from_micros(row[12]),
    )

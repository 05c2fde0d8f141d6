"""Reads of the trusted L2 chain for JSON-RPC: blocks, transactions, receipts, logs.

Everything here reads inside one read-only transaction per call (one snapshot), never writes, and
returns domain values; absent things are None or an empty list. `get_logs` follows geth's
eth_getLogs rules and is bounded twice, as in zkevm-node (`MaxLogsCount`, `MaxLogsBlockRange`, both
10000 by default): a block range wider than `max_block_range` or a result longer than `max_logs` is a
`QueryLimitExceeded`, never a silently truncated list.

Log matching (geth `filterLogs`)
--------------------------------
    addresses   ()                 any address
                (a, b)             a or b
    topics      ()                 any topics
                (None, (x,))       topic 1 is x, topic 0 anything — and the log has ≥ 2 topics
                ((x, y), None)     topic 0 is x or y — and the log has ≥ 2 topics
A position given as None (or an empty tuple) is a wildcard, but every position listed still needs a
topic there: a log with fewer topics than the filter has positions never matches. Results are in
(block number, log index) order.
"""

from __future__ import annotations

from typing import Final, Protocol

from services.common.statedb.errors import QueryLimitExceeded
from services.common.statedb.models import (
    BlockContents,
    Hash32,
    L2Block,
    L2Tx,
    Log,
    LogFilter,
    MinedL2Tx,
    Receipt,
    check_bytes,
    check_int,
)
from services.common.statedb.rows import (
    L2_BLOCK_COLUMNS,
    LOG_COLUMNS,
    RECEIPT_COLUMNS,
    TX_COLUMNS,
    columns,
    l2_block_from_row,
    log_from_row,
    receipt_from_row,
    tx_from_row,
)
from services.common.statedb.sql import Database, Param, Transaction

#: zkevm-node's defaults (jsonrpc `MaxLogsCount`, `MaxLogsBlockRange`)
DEFAULT_MAX_LOGS: Final = 10_000
DEFAULT_MAX_BLOCK_RANGE: Final = 10_000

_SELECT_BLOCK: Final = f"SELECT {columns(L2_BLOCK_COLUMNS)} FROM l2_blocks"
_SELECT_TX: Final = f"SELECT {columns(TX_COLUMNS)} FROM transactions"
_SELECT_LOG: Final = f"SELECT {columns(LOG_COLUMNS)} FROM logs"
_TX_WIDTH: Final = len(TX_COLUMNS)
#: the transactions of a block range with their receipts; one without a receipt is left out (a
#: transaction and its receipt are written together, so that is only ever a write in progress)
_SELECT_MINED_TXS: Final = (
    f"SELECT {columns(TX_COLUMNS, 't.')}, {columns(RECEIPT_COLUMNS, 'r.')} "
    "FROM transactions t JOIN receipts r ON r.tx_hash = t.hash "
    "WHERE t.l2_block_number BETWEEN ? AND ? ORDER BY t.l2_block_number, t.index_in_batch"
)
_SELECT_BLOCK_LOGS: Final = (
    f"{_SELECT_LOG} WHERE block_number BETWEEN ? AND ? ORDER BY block_number, log_index"
)


class BlockRepository(Protocol):
    """The reference shape of the L2 chain reads (a consumer declares the subset it uses)."""

    def latest_block_number(self) -> int | None: ...
    def block_by_number(self, number: int) -> L2Block | None: ...
    def block_by_hash(self, block_hash: Hash32) -> L2Block | None: ...
    def blocks_of_batch(self, batch_number: int) -> list[L2Block]: ...
    def txs_of_block(self, number: int) -> list[L2Tx]: ...
    def tx_by_hash(self, tx_hash: Hash32) -> L2Tx | None: ...
    def receipt_by_hash(self, tx_hash: Hash32) -> Receipt | None: ...
    def logs_of_tx(self, tx_hash: Hash32) -> list[Log]: ...
    def get_logs(self, log_filter: LogFilter) -> list[Log]: ...
    def block_contents(self, number: int) -> BlockContents | None: ...
    def block_contents_by_hash(self, block_hash: Hash32) -> BlockContents | None: ...
    def batch_contents(self, batch_number: int) -> list[BlockContents]: ...


class SqlBlockRepository:
    """`BlockRepository` over a `Database`; safe to share between threads."""

    def __init__(
        self,
        db: Database,
        *,
        max_logs: int = DEFAULT_MAX_LOGS,
        max_block_range: int = DEFAULT_MAX_BLOCK_RANGE,
    ) -> None:
        if max_logs < 1 or max_block_range < 1:
            raise ValueError(
                f"max_logs and max_block_range must be positive, got {max_logs}, {max_block_range}"
            )
        self._db = db
        self.max_logs = max_logs
        self.max_block_range = max_block_range

    def latest_block_number(self) -> int | None:
        with self._db.transaction(readonly=True) as tx:
            value = tx.scalar("SELECT MAX(number) FROM l2_blocks")
        return None if value is None else int(value)

    def block_by_number(self, number: int) -> L2Block | None:
        check_int("L2 block number", number)
        with self._db.transaction(readonly=True) as tx:
            row = tx.fetchone(f"{_SELECT_BLOCK} WHERE number = ?", (number,))
        return None if row is None else l2_block_from_row(row)

    def block_by_hash(self, block_hash: Hash32) -> L2Block | None:
        check_bytes("L2 block hash", block_hash, 32)
        with self._db.transaction(readonly=True) as tx:
            row = tx.fetchone(f"{_SELECT_BLOCK} WHERE hash = ?", (block_hash,))
        return None if row is None else l2_block_from_row(row)

    def blocks_of_batch(self, batch_number: int) -> list[L2Block]:
        check_int("batch number", batch_number)
        with self._db.transaction(readonly=True) as tx:
            rows = tx.fetchall(f"{_SELECT_BLOCK} WHERE batch_number = ? ORDER BY number", (batch_number,))
        return [l2_block_from_row(row) for row in rows]

    def txs_of_block(self, number: int) -> list[L2Tx]:
        """The block's transactions in order (in fork 6: one, or none for genesis)."""
        check_int("L2 block number", number)
        with self._db.transaction(readonly=True) as tx:
            rows = tx.fetchall(f"{_SELECT_TX} WHERE l2_block_number = ? ORDER BY index_in_batch", (number,))
        return [tx_from_row(row) for row in rows]

    def tx_by_hash(self, tx_hash: Hash32) -> L2Tx | None:
        check_bytes("transaction hash", tx_hash, 32)
        with self._db.transaction(readonly=True) as tx:
            row = tx.fetchone(f"{_SELECT_TX} WHERE hash = ?", (tx_hash,))
        return None if row is None else tx_from_row(row)

    def receipt_by_hash(self, tx_hash: Hash32) -> Receipt | None:
        check_bytes("transaction hash", tx_hash, 32)
        with self._db.transaction(readonly=True) as tx:
            row = tx.fetchone(
                f"SELECT {columns(RECEIPT_COLUMNS)} FROM receipts WHERE tx_hash = ?", (tx_hash,)
            )
        return None if row is None else receipt_from_row(row)

    def logs_of_tx(self, tx_hash: Hash32) -> list[Log]:
        check_bytes("transaction hash", tx_hash, 32)
        with self._db.transaction(readonly=True) as tx:
            rows = tx.fetchall(
                f"{_SELECT_LOG} WHERE tx_hash = ? ORDER BY block_number, log_index", (tx_hash,)
            )
        return [log_from_row(row) for row in rows]

    # -- whole blocks: a fixed number of set queries, whatever the number of transactions and logs --

    def block_contents(self, number: int) -> BlockContents | None:
        """Block `number` with its transactions, receipts and logs, read in one snapshot (three
        queries: the block, its transactions joined with their receipts, its logs)."""
        check_int("L2 block number", number)
        with self._db.transaction(readonly=True) as tx:
            row = tx.fetchone(f"{_SELECT_BLOCK} WHERE number = ?", (number,))
            return None if row is None else _contents(tx, [l2_block_from_row(row)])[0]

    def block_contents_by_hash(self, block_hash: Hash32) -> BlockContents | None:
        """As `block_contents`, for the block with this hash."""
        check_bytes("L2 block hash", block_hash, 32)
        with self._db.transaction(readonly=True) as tx:
            row = tx.fetchone(f"{_SELECT_BLOCK} WHERE hash = ?", (block_hash,))
            return None if row is None else _contents(tx, [l2_block_from_row(row)])[0]

    def batch_contents(self, batch_number: int) -> list[BlockContents]:
        """The blocks of a batch in order, each with its transactions, receipts and logs (three
        queries); empty for a batch without blocks or an unknown one."""
        check_int("batch number", batch_number)
        with self._db.transaction(readonly=True) as tx:
            rows = tx.fetchall(f"{_SELECT_BLOCK} WHERE batch_number = ? ORDER BY number", (batch_number,))
            return _contents(tx, [l2_block_from_row(row) for row in rows])

    def get_logs(self, log_filter: LogFilter) -> list[Log]:
        """The logs matching `log_filter` (module notes), at most `max_logs` of them or an error."""
        width = log_filter.to_block - log_filter.from_block + 1
        if width > self.max_block_range:
            raise QueryLimitExceeded(
                f"query exceeds max block range {self.max_block_range} "
                f"(blocks {log_filter.from_block}..{log_filter.to_block} are {width})"
            )
        where = ["block_number BETWEEN ? AND ?"]
        params: list[Param] = [log_filter.from_block, log_filter.to_block]
        if log_filter.addresses:
            where.append(f"address IN ({', '.join('?' for _ in log_filter.addresses)})")
            params.extend(log_filter.addresses)
        for position, options in enumerate(log_filter.topics):
            column = f"topic{position}"
            if options:
                where.append(f"{column} IN ({', '.join('?' for _ in options)})")
                params.extend(options)
            else:
                where.append(f"{column} IS NOT NULL")
        params.append(self.max_logs + 1)
        statement = f"{_SELECT_LOG} WHERE {' AND '.join(where)} ORDER BY block_number, log_index LIMIT ?"
        with self._db.transaction(readonly=True) as tx:
            rows = tx.fetchall(statement, params)
        if len(rows) > self.max_logs:
            raise QueryLimitExceeded(f"query returned more than {self.max_logs} results")
        return [log_from_row(row) for row in rows]


def _contents(tx: Transaction, blocks: list[L2Block]) -> list[BlockContents]:
    """`blocks` (in number order) with their transactions, receipts and logs: one query for the
    transactions and receipts and one for the logs of the whole number range."""
    if not blocks:
        return []
    span = (blocks[0].number, blocks[-1].number)
    mined_rows = tx.fetchall(_SELECT_MINED_TXS, span)
    logs: dict[bytes, list[Log]] = {}
    if mined_rows:  # a block without transactions has no logs
        for row in tx.fetchall(_SELECT_BLOCK_LOGS, span):
            log = log_from_row(row)
            logs.setdefault(log.tx_hash, []).append(log)
    txs: dict[int, list[MinedL2Tx]] = {}
    for row in mined_rows:
        l2tx = tx_from_row(row[:_TX_WIDTH])
        mined = MinedL2Tx(l2tx, receipt_from_row(row[_TX_WIDTH:]), tuple(logs.get(l2tx.hash, ())))
        txs.setdefault(l2tx.l2_block_number, []).append(mined)
    return [BlockContents(block, tuple(txs.get(block.number, ()))) for block in blocks]

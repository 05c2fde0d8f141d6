"""Unit tests of the StateDB layer that need no server: URL parsing, the dialects, value validation,
the connection pool, transactions on the in-memory twin. The repositories' behaviour on both real
backends is the conformance suite in tests/integration/test_statedb.py."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.common.statedb import (
    Address,
    Batch,
    BlockContents,
    DatabaseUnavailable,
    ForcedBatch,
    Hash32,
    L1Block,
    L2Block,
    L2Tx,
    Log,
    LogFilter,
    MinedL2Tx,
    MonitoredL1Tx,
    MonitoredTxStatus,
    Receipt,
    StateDBError,
    StateRoot,
    VerifiedBatch,
    VirtualBatch,
    open_database,
    open_statedb,
)
from services.common.statedb.sql import POSTGRESQL, SQLITE, _parse_url, _PostgresBackend, _SqliteBackend

H = Hash32(bytes(32))
A = Address(bytes(20))
NOW = datetime(2024, 1, 1, tzinfo=UTC)


def bad(value: object) -> Any:
    """A value of the wrong type or shape, passed on purpose (the static types would refuse it)."""
    return value


# -- URLs ------------------------------------------------------------------------------------------


def test_sqlite_urls(tmp_path: Path) -> None:
    absolute = _parse_url(f"sqlite:///{tmp_path}/s.db?busy_timeout_ms=250&synchronous=normal")
    assert isinstance(absolute, _SqliteBackend)
    assert absolute.path == f"{tmp_path}/s.db" and absolute.busy_timeout_ms == 250
    assert absolute.synchronous == "NORMAL"
    relative = _parse_url("sqlite:///s.db")
    assert isinstance(relative, _SqliteBackend) and relative.path == "s.db"
    memory = _parse_url("sqlite:///:memory:")
    assert isinstance(memory, _SqliteBackend) and memory.in_memory


def test_postgres_url_keeps_libpq_options_and_hides_the_password() -> None:
    backend = _parse_url("postgresql://zk:s3cret@db.example:6543/state?schema=trusted&sslmode=require")
    assert isinstance(backend, _PostgresBackend)
    assert backend.schema == "trusted"
    assert backend.conninfo == "postgresql://zk:s3cret@db.example:6543/state?sslmode=require"
    assert backend.display_url == "postgresql://zk@db.example:6543/state"
    default = _parse_url("postgres://postgres@127.0.0.1/test")
    assert isinstance(default, _PostgresBackend) and default.schema == "statedb"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://x/y", "must start with sqlite:/// or postgresql://"),
        ("sqlite://host/file.db", "sqlite:///relative/path.db"),
        ("sqlite:///", "names no file"),
        ("sqlite:///s.db?cache=shared", "unknown SQLite options"),
        ("sqlite:///s.db?busy_timeout_ms=soon", "busy_timeout_ms"),
        ("sqlite:///s.db?synchronous=off", "synchronous"),
        ("sqlite:////no/such/folder/s.db", "does not exist"),
        ("postgresql://u@h/db?schema=a;drop", "not a plain SQL identifier"),
        ("postgresql://u@h/db?connect_timeout=0", "connect_timeout"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_database(url)


def test_an_unreachable_postgres_is_unavailable() -> None:
    with pytest.raises(DatabaseUnavailable, match="cannot connect"):
        open_database("postgresql://postgres@127.0.0.1:1/none?connect_timeout=1")


# -- dialects --------------------------------------------------------------------------------------


def test_placeholders_and_percent_signs() -> None:
    statement = "SELECT a FROM t WHERE b LIKE '5%' AND c = ? AND d = ?"
    assert SQLITE.sql(statement) == statement
    assert POSTGRESQL.sql(statement) == "SELECT a FROM t WHERE b LIKE '5%%' AND c = %s AND d = %s"


def test_ddl_tokens_expand_per_backend() -> None:
    template = "CREATE TABLE t ({id:serial}, {h:bytes32} NOT NULL, {v:u256}, {ok:bool}){strict}"
    assert SQLITE.expand_ddl(template).startswith(
        "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, h BLOB CHECK (length(h) = 32) NOT NULL, v TEXT"
    )
    assert SQLITE.expand_ddl(template).endswith("ok INTEGER CHECK (ok IN (0, 1))) STRICT")
    assert POSTGRESQL.expand_ddl(template) == (
        "CREATE TABLE t (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
        "h BYTEA CHECK (octet_length(h) = 32) NOT NULL, "
        f"v NUMERIC(78, 0) CHECK (v >= 0 AND v <= {2**256 - 1}), ok BOOLEAN)"
    )
    with pytest.raises(ValueError, match="unknown column kind 'float'"):
        SQLITE.expand_ddl("{x:float}")


def test_insert_or_ignore_and_upsert() -> None:
    assert SQLITE.insert_or_ignore("t", ("a", "b"), ("a",)) == (
        "INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT (a) DO NOTHING"
    )
    assert POSTGRESQL.upsert("t", ("a", "b", "c"), ("a",)) == (
        "INSERT INTO t (a, b, c) VALUES (?, ?, ?) "
        "ON CONFLICT (a) DO UPDATE SET b = excluded.b, c = excluded.c"
    )
    assert SQLITE.uint256(5) == "5" and POSTGRESQL.uint256(5) == 5


# -- values ----------------------------------------------------------------------------------------

BATCH = Batch(1, b"", H, 1, A, None, None, None, False)
BLOCK = L2Block(1, H, H, 1, StateRoot(H), 1, A, H, 0, 0)
TX = L2Tx(H, A, None, 0, 0, 0, 0, b"", 255, 0, b"\x01", 1, 1, 0)
RECEIPT = Receipt(H, 1, 0, 0, None, 0, bytes(256))
LOG = Log(1, H, 0, 0, A, (), b"")
MONITORED = MonitoredL1Tx(
    "id", "owner", A, None, 0, 0, b"", 0, 0, MonitoredTxStatus.CREATED, (), None, NOW, NOW
)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: replace(BATCH, global_exit_root=bad(b"\x00" * 31)),
            r"Batch\.global_exit_root must be 32 bytes, got 31",
        ),
        (lambda: replace(BATCH, coinbase=bad(b"\x00" * 32)), r"Batch\.coinbase must be 20 bytes, got 32"),
        (lambda: replace(BATCH, number=-1), r"Batch\.number must be between 0 and 2\*\*63 - 1, got -1"),
        (lambda: replace(BATCH, closed=True), r"Batch\.state_root is required once the batch is closed"),
        (lambda: replace(BATCH, closed=bad(1)), r"Batch\.closed must be a bool"),
        (lambda: replace(BLOCK, parent_hash=bad("00" * 32)), r"L2Block\.parent_hash must be bytes, got str"),
        (lambda: replace(BLOCK, gas_used=2**63), r"L2Block\.gas_used must be between 0 and 2\*\*63 - 1"),
        (lambda: replace(TX, value=-1), r"L2Tx\.value must be a uint256 .* got -1"),
        (lambda: replace(TX, gas_price=2**256), r"L2Tx\.gas_price must be a uint256"),
        (
            lambda: replace(TX, effective_percentage=256),
            r"L2Tx\.effective_percentage must be between 0 and 255",
        ),
        (lambda: replace(TX, nonce=bad(True)), r"L2Tx\.nonce must be an integer, got bool"),
        (lambda: replace(TX, to_address=bad(b"\x01")), r"L2Tx\.to_address must be 20 bytes, got 1"),
        (lambda: replace(TX, encoded=b""), r"L2Tx\.encoded must be the non-empty"),
        (lambda: replace(RECEIPT, status=2), r"Receipt\.status must be 0 or 1"),
        (lambda: replace(RECEIPT, logs_bloom=bytes(255)), r"Receipt\.logs_bloom must be 256 bytes"),
        (lambda: replace(RECEIPT, effective_gas_price=-5), r"Receipt\.effective_gas_price must be a uint256"),
        (lambda: replace(LOG, topics=(H,) * 5), r"Log\.topics must be a tuple of at most 4"),
        (lambda: replace(LOG, topics=bad((H, b"\x01"))), r"Log\.topics\[1\] must be 32 bytes"),
        (
            lambda: MinedL2Tx(TX, replace(RECEIPT, tx_hash=Hash32(b"\x01" * 32)), ()),
            r"MinedL2Tx\.receipt is not the receipt of MinedL2Tx\.tx",
        ),
        (
            lambda: MinedL2Tx(TX, RECEIPT, (replace(LOG, tx_hash=Hash32(b"\x01" * 32)),)),
            r"MinedL2Tx\.logs must all be logs of MinedL2Tx\.tx",
        ),
        (
            lambda: BlockContents(replace(BLOCK, number=2), (MinedL2Tx(TX, RECEIPT, (LOG,)),)),
            r"BlockContents\.txs must all be transactions of block 2",
        ),
        (lambda: LogFilter(5, 4), r"LogFilter\.to_block \(4\) must not be below from_block \(5\)"),
        (lambda: LogFilter(0, 1, topics=bad(((b"\x01",),))), r"LogFilter\.topics\[0\]\[0\] must be 32 bytes"),
        (lambda: LogFilter(0, 1, addresses=bad((H,))), r"LogFilter\.addresses\[0\] must be 20 bytes"),
        (lambda: L1Block(1, H, bad(b"")), r"L1Block\.parent_hash must be 32 bytes"),
        (lambda: VirtualBatch(1, H, 1, A, bad(b"")), r"VirtualBatch\.acc_input_hash must be 32 bytes"),
        (lambda: VerifiedBatch(1, H, -1, StateRoot(H), A), r"VerifiedBatch\.l1_block_number must be between"),
        (lambda: ForcedBatch(1, H, 1, b"", bad(b""), 1), r"ForcedBatch\.sender must be 20 bytes"),
        (lambda: replace(MONITORED, id=""), r"MonitoredL1Tx\.id must be a non-empty string"),
        (lambda: replace(MONITORED, gas_price=-1), r"MonitoredL1Tx\.gas_price must be a uint256"),
        (lambda: replace(MONITORED, status=bad("sent")), r"MonitoredL1Tx\.status must be one of"),
        (lambda: replace(MONITORED, attempts=bad((b"",))), r"MonitoredL1Tx\.attempts\[0\] must be 32 bytes"),
        (
            lambda: replace(MONITORED, created_at=datetime(2024, 1, 1)),
            r"MonitoredL1Tx\.created_at must be a timezone-aware datetime",
        ),
    ],
)
def test_bad_values_name_their_field(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_extreme_but_valid_values_are_accepted() -> None:
    replace(TX, value=2**256 - 1, gas_price=0, nonce=2**63 - 1, effective_percentage=0)
    replace(LOG, topics=(H,) * 4)
    LogFilter(3, 3, topics=(None, (), (H,)))


# -- the in-memory twin, transactions, the pool ----------------------------------------------------


def test_the_in_memory_twin_is_the_same_code() -> None:
    statedb = open_statedb("sqlite:///:memory:")
    try:
        statedb.l1_blocks.add(L1Block(1, H, H))
        assert statedb.l1_blocks.latest() == L1Block(1, H, H)
    finally:
        statedb.close()
    with pytest.raises(ValueError, match="exactly one connection"):
        open_database("sqlite:///:memory:", max_connections=2)


def test_a_write_cannot_nest_in_a_read_only_transaction() -> None:
    db = open_database("sqlite:///:memory:")
    try:
        with pytest.raises(StateDBError, match="read-only"), db.transaction(readonly=True), db.transaction():
            pass
        with db.transaction():  # the connection went back to the pool in a clean state
            pass
    finally:
        db.close()
    with pytest.raises(StateDBError, match="closed"), db.transaction():
        pass


def test_an_exhausted_pool_is_unavailable_after_the_timeout(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path}/s.db", max_connections=1, acquire_timeout_s=0.2)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with db.transaction(readonly=True):
            holding.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        holding.wait(5)
        with (
            pytest.raises(DatabaseUnavailable, match=r"no free StateDB connection within 0\.2 s"),
            db.transaction(),
        ):
            pass
    finally:
        release.set()
        holder.join()
    with db.transaction():  # free again
        pass
    db.close()


def test_a_sqlite_write_lock_held_too_long_is_unavailable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    holder = open_statedb(url)
    waiter = open_statedb(f"{url}?busy_timeout_ms=100", migrate=False)
    try:
        with holder.database.transaction():
            holder.l1_blocks.add(L1Block(1, H, H))
            with pytest.raises(DatabaseUnavailable, match="locked"):
                waiter.l1_blocks.add(L1Block(2, Hash32(b"\x02" * 32), H))
            assert waiter.l1_blocks.latest() is None  # WAL: readers are not blocked by the writer
        waiter.l1_blocks.add(L1Block(2, Hash32(b"\x02" * 32), H))
        assert waiter.l1_blocks.latest() == L1Block(2, Hash32(b"\x02" * 32), H)
    finally:
        holder.close()
        waiter.close()


def test_sqlite_files_run_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path}/s.db")
    try:
        with db.transaction(readonly=True) as tx:
            assert tx.scalar("PRAGMA journal_mode") == "wal"
            assert tx.scalar("PRAGMA foreign_keys") == 1
            assert tx.scalar("PRAGMA busy_timeout") == 5000
    finally:
        db.close()

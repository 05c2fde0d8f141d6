"""The SQL layer under the StateDB: one dialect per backend, a small connection pool, transactions.

    open_database("sqlite:///state.db")                    relative path (three slashes)
    open_database("sqlite:////var/lib/zkseq/state.db")     absolute path (four slashes)
    open_database("sqlite:///:memory:")                    unit tests only: one connection, gone on close
    open_database("postgresql://postgres@127.0.0.1:5432/zkseq?schema=statedb")

    with db.transaction() as tx:                            all or nothing
        tx.execute("INSERT INTO l1_blocks (number, hash, parent_hash) VALUES (?, ?, ?)", (...))
    with db.transaction(readonly=True) as tx:               one consistent snapshot
        row = tx.fetchone("SELECT hash FROM l1_blocks WHERE number = ?", (7,))

Statements are written once, with `?` placeholders and the SQL both backends share (`ON CONFLICT`,
`RETURNING`, partial indexes). The `Dialect` turns `?` into the driver's placeholder, expands the
column types of the migrations (BLOB vs BYTEA, `INTEGER PRIMARY KEY AUTOINCREMENT` vs an identity
column, uint256 as TEXT vs NUMERIC(78,0)), builds insert-or-ignore / upsert statements and converts
uint256 values for the driver.

Backends
--------
SQLite (embedded default): every connection runs `journal_mode=WAL` (readers never block the writer),
`foreign_keys=ON`, a busy timeout (5 s by default, `?busy_timeout_ms=`) and `synchronous=FULL`
(`?synchronous=normal` trades the last commits on power loss for speed). Tables are `STRICT`, so a
value of the wrong type is refused instead of stored. Write transactions start with `BEGIN
IMMEDIATE`: they take the single write lock up front and wait for it under the busy timeout, instead
of failing half-way when a read lock cannot be upgraded.

PostgreSQL (production): every table lives in one schema (`?schema=`, default `statedb`) that is put
on the connection's `search_path`, so the same unqualified SQL serves both backends and several
deployments (or test runs) can share one database. Write transactions run at READ COMMITTED and
lock the rows they read-then-write (`SELECT … FOR UPDATE`, `Dialect.for_update`); read
transactions run at REPEATABLE READ READ ONLY, so a block, its transaction and its receipt come from
one snapshot.

Threading
---------
A `Database` may be shared by any number of threads; services call it from worker threads with
`asyncio.to_thread`, never on the event loop. Each transaction holds one pooled connection from
BEGIN to COMMIT on the thread that opened it: a transaction must begin and end inside one
synchronous call (never across an `await`). The pool is bounded (`max_connections`); a thread that
finds it exhausted waits up to `acquire_timeout_s`, then gets `DatabaseUnavailable`. A transaction
opened while the same thread already has one open on this database joins it as a SAVEPOINT, so
repository calls compose into one atomic unit when wiring code wraps them in `db.transaction()`.

Failures: a unique, foreign-key or check violation is a `StateConflict`; a lost connection, a lock
wait past the timeout or an exhausted pool is `DatabaseUnavailable` (the broken connection is
dropped and a new one is made on the next call). Either way the transaction is rolled back.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql as pgsql

from services.common.statedb.errors import DatabaseUnavailable, StateConflict, StateDBError

#: what a statement parameter may be
Param = bytes | int | str | bool | Decimal | None
Row = tuple[Any, ...]
_T = TypeVar("_T")

MAX_UINT256: Final = (1 << 256) - 1
#: default PostgreSQL schema holding the StateDB tables
DEFAULT_PG_SCHEMA: Final = "statedb"
DEFAULT_SQLITE_BUSY_TIMEOUT_MS: Final = 5_000
DEFAULT_PG_CONNECT_TIMEOUT_S: Final = 5
DEFAULT_ACQUIRE_TIMEOUT_S: Final = 30.0
#: pool bounds: a file SQLite database has one writer anyway; PostgreSQL serves concurrent writers
DEFAULT_MAX_CONNECTIONS: Final = {"sqlite": 4, "postgresql": 8}
#: SQLite 3.37 brought STRICT tables (3.35 RETURNING, 3.24 ON CONFLICT)
MIN_SQLITE_VERSION: Final = (3, 37, 0)

_SCHEMA_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_TYPE_TOKEN: Final = re.compile(r"\{(\w+):(\w+)\}")
_SQLITE_BUSY_WORDS: Final = ("locked", "busy", "i/o error", "unable to open", "disk is full")


# ---------------------------------------------------------------------------------------------
# dialects


@dataclass(frozen=True, slots=True)
class Dialect:
    """The SQL differences between the backends, and nothing else."""

    name: str
    #: the driver's positional placeholder ("?" for sqlite3, "%s" for psycopg)
    placeholder: str
    #: column types by kind; "{c}" stands for the column name inside CHECK constraints
    column_types: Mapping[str, str]
    #: appended to every CREATE TABLE (" STRICT" on SQLite)
    table_options: str
    begin_read: str
    begin_write: str
    #: appended to a SELECT whose rows the transaction will update
    for_update: str
    #: a statement taking a transaction-scoped lock on one integer key, or None if BEGIN suffices
    lock_statement: str | None
    #: uint256 values travel as decimal text (SQLite) or as integers (PostgreSQL NUMERIC)
    uint256_as_text: bool

    def sql(self, statement: str) -> str:
        """`statement` with its `?` placeholders in the driver's style (no `?` may appear in literals)."""
        if self.placeholder == "?":
            return statement
        return statement.replace("%", "%%").replace("?", self.placeholder)

    def expand_ddl(self, template: str) -> str:
        """Replace each `{column:kind}` token of a migration by the column name and its type here.

        Kinds: u64 (non-negative, fits a signed BIGINT), u8, u256, bool, text, bytes, bytesN
        (exactly N bytes), serial (auto-increment primary key). `{strict}` is the table suffix.
        """

        def column(match: re.Match[str]) -> str:
            name, kind = match.group(1), match.group(2)
            sized = re.fullmatch(r"bytes(\d+)", kind)
            if sized is not None:
                typ = self.column_types["bytesN"].replace("{n}", sized.group(1))
            elif kind in self.column_types:
                typ = self.column_types[kind]
            else:
                raise ValueError(f"unknown column kind {kind!r} in migration token {match.group(0)}")
            return f"{name} {typ.replace('{c}', name)}"

        return _TYPE_TOKEN.sub(column, template.replace("{strict}", self.table_options))

    def insert(self, table: str, columns: Sequence[str]) -> str:
        marks = ", ".join("?" for _ in columns)
        return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"

    def insert_or_ignore(self, table: str, columns: Sequence[str], conflict: Sequence[str]) -> str:
        """An INSERT that does nothing (rowcount 0) when a row with the same `conflict` key exists."""
        return f"{self.insert(table, columns)} ON CONFLICT ({', '.join(conflict)}) DO NOTHING"

    def upsert(self, table: str, columns: Sequence[str], conflict: Sequence[str]) -> str:
        """An INSERT that overwrites the non-key columns of an existing row with the same key."""
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in conflict)
        if not updates:
            return self.insert_or_ignore(table, columns, conflict)
        return f"{self.insert(table, columns)} ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {updates}"

    def uint256(self, value: int) -> Param:
        """A uint256 as this backend stores it (see the package notes on amounts)."""
        return str(value) if self.uint256_as_text else value


SQLITE: Final = Dialect(
    name="sqlite",
    placeholder="?",
    column_types={
        "u64": "INTEGER CHECK ({c} >= 0)",
        "u8": "INTEGER CHECK ({c} BETWEEN 0 AND 255)",
        # decimal digits, canonical (no sign, no leading zero), at most 2**256 - 1
        "u256": (
            "TEXT CHECK ({c} NOT GLOB '*[^0-9]*' AND ({c} = '0' OR {c} NOT GLOB '0*') AND "
            f"(length({{c}}) < 78 OR (length({{c}}) = 78 AND {{c}} <= '{MAX_UINT256}')))"
        ),
        "bool": "INTEGER CHECK ({c} IN (0, 1))",
        "text": "TEXT",
        "bytes": "BLOB",
        "bytesN": "BLOB CHECK (length({c}) = {n})",
        "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
    },
    table_options=" STRICT",
    begin_read="BEGIN DEFERRED",
    begin_write="BEGIN IMMEDIATE",
    for_update="",
    lock_statement=None,
    uint256_as_text=True,
)

POSTGRESQL: Final = Dialect(
    name="postgresql",
    placeholder="%s",
    column_types={
        "u64": "BIGINT CHECK ({c} >= 0)",
        "u8": "SMALLINT CHECK ({c} BETWEEN 0 AND 255)",
        "u256": f"NUMERIC(78, 0) CHECK ({{c}} >= 0 AND {{c}} <= {MAX_UINT256})",
        "bool": "BOOLEAN",
        "text": "TEXT",
        "bytes": "BYTEA",
        "bytesN": "BYTEA CHECK (octet_length({c}) = {n})",
        "serial": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    },
    table_options="",
    begin_read="BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    begin_write="BEGIN",
    for_update=" FOR UPDATE",
    lock_statement="SELECT pg_advisory_xact_lock(?)",
    uint256_as_text=False,
)


def uint256_from_db(value: object) -> int:
    """Back from either backend's uint256 form (decimal text from SQLite, Decimal from PostgreSQL)."""
    if isinstance(value, str):
        return int(value)
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise StateDBError(f"a stored uint256 has an unexpected type {type(value).__name__}")


# ---------------------------------------------------------------------------------------------
# backends: how to make a connection and how to read its errors


class _Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class _Connection(Protocol):
    """The DB-API surface sqlite3.Connection and psycopg.Connection share and this module uses."""

    def execute(self, query: Any, params: Any = ..., /) -> Any: ...
    def cursor(self) -> Any: ...
    def close(self) -> None: ...


class _Backend(Protocol):
    @property
    def dialect(self) -> Dialect: ...
    @property
    def display_url(self) -> str:
        """The URL without its password, for logs and errors."""
        ...

    @property
    def schema(self) -> str | None:
        """The PostgreSQL schema the tables live in (None for SQLite)."""
        ...

    @property
    def default_max_connections(self) -> int: ...

    def connect(self) -> _Connection: ...
    def translate(self, exc: Exception) -> StateDBError | None:
        """The StateDB error for a driver exception, or None if it is not the driver's."""
        ...

    def is_broken(self, conn: _Connection, exc: BaseException) -> bool: ...


@dataclass(frozen=True, slots=True)
class _SqliteBackend:
    path: str
    busy_timeout_ms: int
    synchronous: str
    display_url: str
    dialect: Dialect = SQLITE
    schema: str | None = None

    @property
    def in_memory(self) -> bool:
        return self.path == ":memory:"

    @property
    def default_max_connections(self) -> int:
        return 1 if self.in_memory else DEFAULT_MAX_CONNECTIONS["sqlite"]

    def connect(self) -> _Connection:
        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            raise StateDBError(
                f"SQLite {sqlite3.sqlite_version} is too old for the StateDB; "
                f"{'.'.join(map(str, MIN_SQLITE_VERSION))} or newer is needed (STRICT tables)"
            )
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout_ms / 1000,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # the pool hands a connection to one thread at a time
            )
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"cannot open SQLite database {self.display_url}: {exc}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            conn.execute("PRAGMA foreign_keys = ON")
            if not self.in_memory:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StateDBError(f"SQLite database {self.display_url} refused WAL mode ({mode})")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        except sqlite3.Error as exc:
            conn.close()
            raise DatabaseUnavailable(f"cannot set up SQLite database {self.display_url}: {exc}") from exc
        return conn

    def translate(self, exc: Exception) -> StateDBError | None:
        if isinstance(exc, sqlite3.IntegrityError):
            return StateConflict(str(exc))
        if isinstance(exc, sqlite3.OperationalError):
            text = str(exc)
            if any(word in text.lower() for word in _SQLITE_BUSY_WORDS):
                return DatabaseUnavailable(f"SQLite database {self.display_url}: {text}")
            if text.startswith("no such table"):
                return StateDBError(f"{text} (has the StateDB been migrated?)")
        return None

    def is_broken(self, conn: _Connection, exc: BaseException) -> bool:
        text = str(exc).lower()
        return isinstance(exc, sqlite3.OperationalError | sqlite3.ProgrammingError) and (
            "i/o error" in text or "closed" in text or "malformed" in text
        )


@dataclass(frozen=True, slots=True)
class _PostgresBackend:
    conninfo: str
    schema: str
    connect_timeout_s: int
    display_url: str
    dialect: Dialect = POSTGRESQL
    default_max_connections: int = DEFAULT_MAX_CONNECTIONS["postgresql"]

    def connect(self) -> _Connection:
        try:
            conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=self.connect_timeout_s)
        except psycopg.Error as exc:
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL {self.display_url}: {exc}") from exc
        try:
            conn.execute(pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(self.schema)))
        except psycopg.Error as exc:
            conn.close()
            raise DatabaseUnavailable(f"cannot set up PostgreSQL {self.display_url}: {exc}") from exc
        return conn

    def translate(self, exc: Exception) -> StateDBError | None:
        if isinstance(exc, psycopg.IntegrityError):
            return StateConflict(str(exc).strip())
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            return DatabaseUnavailable(f"PostgreSQL {self.display_url}: {str(exc).strip()}")
        if isinstance(exc, psycopg.errors.UndefinedTable):
            return StateDBError(f"{str(exc).strip()} (has the StateDB been migrated?)")
        return None

    def is_broken(self, conn: _Connection, exc: BaseException) -> bool:
        if isinstance(conn, psycopg.Connection):
            return bool(conn.closed or conn.broken)
        return True


def _parse_url(url: str) -> _Backend:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    if scheme == "sqlite":
        return _parse_sqlite(url, parts.netloc, options)
    if scheme in ("postgresql", "postgres"):
        schema = options.pop("schema", DEFAULT_PG_SCHEMA)
        if not _SCHEMA_NAME.fullmatch(schema):
            raise ValueError(f"StateDB URL: schema {schema!r} is not a plain SQL identifier")
        timeout_text = options.pop("connect_timeout", str(DEFAULT_PG_CONNECT_TIMEOUT_S))
        if not timeout_text.isdigit() or int(timeout_text) < 1:
            raise ValueError(
                f"StateDB URL: connect_timeout must be a whole number of seconds ≥ 1, got {timeout_text!r}"
            )
        conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(options), ""))
        display = urlunsplit(("postgresql", _without_password(parts.netloc), parts.path, "", ""))
        return _PostgresBackend(
            conninfo=conninfo, schema=schema, connect_timeout_s=int(timeout_text), display_url=display
        )
    raise ValueError(
        f"StateDB URL must start with sqlite:/// or postgresql://, got {_without_password_url(url)!r}"
    )


def _parse_sqlite(url: str, netloc: str, options: dict[str, str]) -> _SqliteBackend:
    if netloc or not url.lower().startswith("sqlite:///"):
        raise ValueError(
            "a SQLite StateDB URL is sqlite:///relative/path.db, sqlite:////absolute/path.db or "
            f"sqlite:///:memory:, got {url!r}"
        )
    path = url[len("sqlite:///") :].split("?", 1)[0]
    if not path:
        raise ValueError(f"SQLite StateDB URL {url!r} names no file")
    busy_text = options.pop("busy_timeout_ms", str(DEFAULT_SQLITE_BUSY_TIMEOUT_MS))
    if not busy_text.isdigit():
        raise ValueError(f"StateDB URL: busy_timeout_ms must be a whole number, got {busy_text!r}")
    synchronous = options.pop("synchronous", "full").upper()
    if synchronous not in ("FULL", "NORMAL", "EXTRA"):
        raise ValueError(
            f"StateDB URL: synchronous must be full, normal or extra, got {synchronous.lower()!r}"
        )
    if options:
        raise ValueError(f"StateDB URL: unknown SQLite options {sorted(options)}")
    if path != ":memory:" and not Path(path).parent.is_dir():
        raise ValueError(f"SQLite StateDB URL {url!r}: folder {str(Path(path).parent)!r} does not exist")
    return _SqliteBackend(path=path, busy_timeout_ms=int(busy_text), synchronous=synchronous, display_url=url)


def _without_password(netloc: str) -> str:
    if "@" not in netloc:
        return netloc
    credentials, host = netloc.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{user}@{host}"


def _without_password_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, _without_password(parts.netloc), parts.path, "", ""))


# ---------------------------------------------------------------------------------------------
# the pool


class _Pool:
    """At most `max_size` connections, created on demand and reused most-recently-released first."""

    def __init__(self, connect: Callable[[], _Connection], max_size: int, acquire_timeout_s: float) -> None:
        self._connect = connect
        self._max_size = max_size
        self._acquire_timeout_s = acquire_timeout_s
        self._idle: list[_Connection] = []
        self._size = 0
        self._closed = False
        self._cond = threading.Condition()

    def acquire(self) -> _Connection:
        deadline = time.monotonic() + self._acquire_timeout_s
        with self._cond:
            while True:
                if self._closed:
                    raise StateDBError("the StateDB has been closed")
                if self._idle:
                    return self._idle.pop()
                if self._size < self._max_size:
                    self._size += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._cond.wait(remaining):
                    raise DatabaseUnavailable(
                        f"no free StateDB connection within {self._acquire_timeout_s:g} s "
                        f"(all {self._max_size} in use)"
                    )
        try:
            return self._connect()
        except BaseException:
            with self._cond:
                self._size -= 1
                self._cond.notify()
            raise

    def release(self, conn: _Connection, *, discard: bool) -> None:
        with self._cond:
            keep = not (discard or self._closed)
            if keep:
                self._idle.append(conn)
            else:
                self._size -= 1
            self._cond.notify()
        if not keep:
            _close_quietly(conn)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._size -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            _close_quietly(conn)


def _close_quietly(conn: _Connection) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection may fail; nothing to do
        conn.close()


# ---------------------------------------------------------------------------------------------
# transactions


class Transaction:
    """The statements of one transaction; repository code only ever sees this, never a connection."""

    __slots__ = ("_backend", "_conn", "broken", "dialect", "readonly")

    def __init__(self, backend: _Backend, conn: _Connection, readonly: bool) -> None:
        self._backend = backend
        self._conn = conn
        self.dialect = backend.dialect
        self.readonly = readonly
        #: set when the connection failed under this transaction; it is dropped, not reused
        self.broken = False

    def execute(self, statement: str, params: Sequence[Param] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        return self._call(lambda: int(self._run(statement, params).rowcount))

    def executemany(self, statement: str, rows: Sequence[Sequence[Param]]) -> None:
        if rows:
            self._call(lambda: self._conn.cursor().executemany(self.dialect.sql(statement), rows))

    def fetchone(self, statement: str, params: Sequence[Param] = ()) -> Row | None:
        row = self._call(lambda: self._run(statement, params).fetchone())
        return None if row is None else tuple(row)

    def fetchall(self, statement: str, params: Sequence[Param] = ()) -> list[Row]:
        rows = self._call(lambda: self._run(statement, params).fetchall())
        return [tuple(row) for row in rows]

    def scalar(self, statement: str, params: Sequence[Param] = ()) -> Any:
        """The first column of the first row, or None when there is no row."""
        row = self.fetchone(statement, params)
        return None if row is None else row[0]

    def _run(self, statement: str, params: Sequence[Param]) -> _Cursor:
        cursor: _Cursor = self._conn.execute(self.dialect.sql(statement), tuple(params))
        return cursor

    def _call(self, action: Callable[[], _T]) -> _T:
        try:
            return action()
        except Exception as exc:
            if self._backend.is_broken(self._conn, exc):
                self.broken = True
            mapped = self._backend.translate(exc)
            if mapped is None:
                raise
            raise mapped from exc


@dataclass(slots=True)
class _Open:
    tx: Transaction
    savepoints: int = 0


class Database:
    """A pool of connections to one StateDB and the transactions over them (thread-safe)."""

    def __init__(
        self, backend: _Backend, *, max_connections: int | None = None, acquire_timeout_s: float | None = None
    ) -> None:
        size = backend.default_max_connections if max_connections is None else max_connections
        if size < 1:
            raise ValueError(f"max_connections must be at least 1, got {size}")
        if getattr(backend, "in_memory", False) and size != 1:
            raise ValueError("an in-memory SQLite StateDB has exactly one connection (max_connections=1)")
        self._backend = backend
        self.dialect = backend.dialect
        self._pool = _Pool(
            backend.connect,
            size,
            DEFAULT_ACQUIRE_TIMEOUT_S if acquire_timeout_s is None else acquire_timeout_s,
        )
        self._local = threading.local()
        # connect once now: a wrong URL or an unreachable server fails at start-up, not later
        self._pool.release(self._pool.acquire(), discard=False)

    @property
    def url(self) -> str:
        """The URL this database was opened with, without any password."""
        return self._backend.display_url

    @property
    def schema(self) -> str | None:
        """The PostgreSQL schema holding the tables (None for SQLite)."""
        return self._backend.schema

    def lock_key(self, name: str) -> int:
        """A 63-bit key for `Dialect.lock_statement`, distinct per schema and purpose."""
        return zlib.crc32(f"zkseq-statedb:{self.schema}:{name}".encode()) | (0x5A6B << 32)

    @contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[Transaction]:
        """All statements inside commit together when the block ends, or none do if it raises.

        Nested on the same thread, it becomes a SAVEPOINT of the open transaction: an exception
        rolls back the inner part only (and still propagates).
        """
        current: _Open | None = getattr(self._local, "open", None)
        if current is not None:
            if current.tx.readonly and not readonly:
                raise StateDBError("a write transaction cannot be nested in a read-only one")
            with self._savepoint(current) as tx:
                yield tx
            return
        conn = self._pool.acquire()
        tx = Transaction(self._backend, conn, readonly)
        try:
            tx.execute(self.dialect.begin_read if readonly else self.dialect.begin_write)
        except BaseException:
            self._pool.release(conn, discard=True)
            raise
        self._local.open = _Open(tx)
        try:
            yield tx
        except BaseException:
            self._local.open = None
            self._finish(tx, conn, "ROLLBACK")
            raise
        self._local.open = None
        self._finish(tx, conn, "COMMIT")

    @contextmanager
    def _savepoint(self, current: _Open) -> Iterator[Transaction]:
        current.savepoints += 1
        name = f"statedb_sp_{current.savepoints}"
        current.tx.execute(f"SAVEPOINT {name}")
        try:
            yield current.tx
        except BaseException:
            if not current.tx.broken:
                current.tx.execute(f"ROLLBACK TO SAVEPOINT {name}")
                current.tx.execute(f"RELEASE SAVEPOINT {name}")
            raise
        finally:
            current.savepoints -= 1
        current.tx.execute(f"RELEASE SAVEPOINT {name}")

    def _finish(self, tx: Transaction, conn: _Connection, statement: str) -> None:
        discard = tx.broken
        try:
            if not discard:
                tx.execute(statement)
        except BaseException:
            discard = True
            if statement == "COMMIT":
                # the commit itself failed: try to leave the connection clean, then report it
                with contextlib.suppress(Exception):  # the connection is dropped below either way
                    conn.execute("ROLLBACK")
                raise
        finally:
            self._pool.release(conn, discard=discard or tx.broken)

    def close(self) -> None:
        """Close idle connections now and the others when their transactions end."""
        self._pool.close()

    def __repr__(self) -> str:
        return f"Database({self.url!r})"


def open_database(
    url: str, *, max_connections: int | None = None, acquire_timeout_s: float | None = None
) -> Database:
    """Open the StateDB at `url` (see the module notes for the URL forms and their options).

    Raises `ValueError` for a malformed URL and `DatabaseUnavailable` when it cannot be reached. The
    tables are not created here: run `migrations.migrate` once at start-up.
    """
    return Database(_parse_url(url), max_connections=max_connections, acquire_timeout_s=acquire_timeout_s)

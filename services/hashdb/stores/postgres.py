"""The production node store: PostgreSQL, in the prover's tables.

    <schema>.nodes        (hash BYTEA PRIMARY KEY, data BYTEA NOT NULL)   96-byte nodes (spec §3.6)
    <schema>.program      (hash BYTEA PRIMARY KEY, data BYTEA NOT NULL)   bytecode
    <schema>.zkseq_flush  one row: the id of the last flush stored        (zkseq's own)

The schema is `state` by default, as in zkevm-prover / zkevm-node (`init_prover_db.sql`), so a
prover or the JavaScript tooling can read what zkseq wrote. As in the prover, rows are inserted with
`ON CONFLICT (hash) DO NOTHING` and never updated, except the row under hash 0xff…ff, whose first
four elements hold the latest state root.

The tables are created at start-up if missing (idempotent; an advisory lock keeps two processes
starting together from racing). A flush is one transaction; with PostgreSQL's default
`synchronous_commit` it is durable when `write` returns. Reads and writes use two connections, so a
flush being written never blocks tree reads; each connection is re-opened after a failure.
"""

import threading
from collections.abc import Callable, Iterable
from typing import Final, TypeVar

import psycopg
from psycopg import Connection, sql
from psycopg.rows import TupleRow

from services.hashdb.stores.base import StoredStatus, StoreError, StoreWrite
from zkevm.field import H4, Node, bytes_to_node, h4_to_bytes, node_to_bytes

#: the prover's `dbStateRootKey`: a hash no node can have (its limbs are not field elements)
STATE_ROOT_KEY: Final = b"\xff" * 32
#: rows per INSERT statement (the prover splits its multi-row inserts at 20 MB)
ROWS_PER_STATEMENT: Final = 10_000
#: an arbitrary constant naming the migration's advisory lock
_MIGRATION_LOCK: Final = 0x7A6B_5365_7148_4442

_T = TypeVar("_T")


class PostgresStore:
    def __init__(self, dsn: str, schema: str = "state", connect_timeout_s: float = 5.0) -> None:
        self._dsn = dsn
        self._schema = schema
        self._connect_timeout_s = connect_timeout_s
        self._read_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._read_conn: Connection[TupleRow] | None = None
        self._write_conn: Connection[TupleRow] | None = None
        s = sql.Identifier(schema)
        self._q_node = sql.SQL("SELECT data FROM {}.nodes WHERE hash = %s").format(s)
        self._q_program = sql.SQL("SELECT data FROM {}.program WHERE hash = %s").format(s)
        self._q_insert_nodes = sql.SQL(
            "INSERT INTO {}.nodes (hash, data) SELECT * FROM unnest(%s::bytea[], %s::bytea[]) "
            "ON CONFLICT (hash) DO NOTHING"
        ).format(s)
        self._q_insert_programs = sql.SQL(
            "INSERT INTO {}.program (hash, data) SELECT * FROM unnest(%s::bytea[], %s::bytea[]) "
            "ON CONFLICT (hash) DO NOTHING"
        ).format(s)
        self._q_set_root = sql.SQL("UPDATE {}.nodes SET data = %s WHERE hash = %s").format(s)
        self._q_set_flush_id = sql.SQL("UPDATE {}.zkseq_flush SET stored_flush_id = %s").format(s)
        self._q_flush_id = sql.SQL("SELECT stored_flush_id FROM {}.zkseq_flush").format(s)
        self.migrate()

    # -- connections ----------------------------------------------------------------------

    def _connect(self, autocommit: bool) -> Connection[TupleRow]:
        try:
            return psycopg.connect(
                self._dsn, autocommit=autocommit, connect_timeout=max(1, round(self._connect_timeout_s))
            )
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {exc}") from exc

    def _on_read_conn(self, action: Callable[[Connection[TupleRow]], _T]) -> _T:
        with self._read_lock:
            if self._read_conn is None or self._read_conn.closed:
                self._read_conn = self._connect(autocommit=True)
            try:
                return action(self._read_conn)
            except psycopg.Error as exc:
                self._read_conn.close()
                self._read_conn = None
                raise StoreError(f"PostgreSQL read failed: {exc}") from exc

    def _on_write_conn(self, action: Callable[[Connection[TupleRow]], _T]) -> _T:
        with self._write_lock:
            if self._write_conn is None or self._write_conn.closed:
                self._write_conn = self._connect(autocommit=False)
            try:
                with self._write_conn.transaction():
                    return action(self._write_conn)
            except psycopg.Error as exc:
                self._write_conn.close()
                self._write_conn = None
                raise StoreError(f"PostgreSQL write failed: {exc}") from exc

    # -- schema -----------------------------------------------------------------------------

    def migrate(self) -> None:
        """Create the schema, tables and fixed rows that are missing (safe to run any number of times)."""
        s = sql.Identifier(self._schema)
        statements = [
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.nodes (hash BYTEA PRIMARY KEY, data BYTEA NOT NULL)"
            ).format(s),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.program (hash BYTEA PRIMARY KEY, data BYTEA NOT NULL)"
            ).format(s),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.zkseq_flush "
                "(one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one), stored_flush_id BIGINT NOT NULL)"
            ).format(s),
            sql.SQL("INSERT INTO {}.zkseq_flush (stored_flush_id) VALUES (0) ON CONFLICT DO NOTHING").format(
                s
            ),
        ]

        def run(conn: Connection[TupleRow]) -> None:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            for statement in statements:
                conn.execute(statement)
            conn.execute(
                sql.SQL("INSERT INTO {}.nodes (hash, data) VALUES (%s, %s) ON CONFLICT DO NOTHING").format(s),
                (STATE_ROOT_KEY, bytes(96)),
            )

        self._on_write_conn(run)

    # -- reads ------------------------------------------------------------------------------

    def get_node(self, node_hash: H4) -> Node | None:
        row = self._on_read_conn(lambda c: c.execute(self._q_node, (h4_to_bytes(node_hash),)).fetchone())
        return None if row is None else bytes_to_node(row[0])

    def get_program(self, code_hash: H4) -> bytes | None:
        row = self._on_read_conn(lambda c: c.execute(self._q_program, (h4_to_bytes(code_hash),)).fetchone())
        return None if row is None else bytes(row[0])

    def stored_status(self) -> StoredStatus:
        def read(conn: Connection[TupleRow]) -> tuple[int, bytes]:
            flush_row = conn.execute(self._q_flush_id).fetchone()
            root_row = conn.execute(self._q_node, (STATE_ROOT_KEY,)).fetchone()
            if flush_row is None or root_row is None:
                raise StoreError(f"schema {self._schema!r} lacks its fixed rows; was it migrated?")
            return int(flush_row[0]), bytes(root_row[0])

        flush_id, root_data = self._on_read_conn(read)
        root = bytes_to_node(root_data)
        return StoredStatus(stored_flush_id=flush_id, state_root=(root[0], root[1], root[2], root[3]))

    # -- writes -----------------------------------------------------------------------------

    def write(self, batch: StoreWrite) -> None:
        nodes = [(h4_to_bytes(h), node_to_bytes(n)) for h, n in batch.nodes.items()]
        programs = [(h4_to_bytes(h), code) for h, code in batch.programs.items()]

        def run(conn: Connection[TupleRow]) -> None:
            for chunk in _chunks(nodes):
                conn.execute(self._q_insert_nodes, ([h for h, _ in chunk], [d for _, d in chunk]))
            for chunk in _chunks(programs):
                conn.execute(self._q_insert_programs, ([h for h, _ in chunk], [d for _, d in chunk]))
            if batch.state_root is not None:
                root_row = node_to_bytes((*batch.state_root, 0, 0, 0, 0, 0, 0, 0, 0))
                conn.execute(self._q_set_root, (root_row, STATE_ROOT_KEY))
            conn.execute(self._q_set_flush_id, (batch.flush_id,))

        self._on_write_conn(run)

    def close(self) -> None:
        with self._read_lock:
            if self._read_conn is not None:
                self._read_conn.close()
        with self._write_lock:
            if self._write_conn is not None:
                self._write_conn.close()


def _chunks(rows: list[tuple[bytes, bytes]]) -> Iterable[list[tuple[bytes, bytes]]]:
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        yield rows[start : start + ROWS_PER_STATEMENT]

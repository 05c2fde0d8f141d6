"""One conformance suite for every HashDB node store: the in-memory twin, LMDB and RocksDB in a
temporary directory, and a real PostgreSQL server (a schema of its own per test)."""

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from services.hashdb.stores.base import DurableStore, MemoryStore, StoredStatus, StoreWrite
from services.hashdb.stores.lmdb_store import LmdbStore
from services.hashdb.stores.postgres import ROWS_PER_STATEMENT, STATE_ROOT_KEY, PostgresStore
from services.hashdb.stores.rocksdb_store import RocksStore
from zkevm.field import H4, ZERO_H4, Node
from zkevm.poseidon import hash12

Opener = Callable[[], DurableStore]


def node(i: int) -> tuple[H4, Node]:
    n: Node = (i, i + 1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 0)
    return hash12(n), n


@pytest.fixture(params=["memory", "lmdb", "rocksdb", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the store under test; called again, opens the same data anew (a restart)."""
    opened: list[DurableStore] = []
    if request.param == "memory":
        memory = MemoryStore()

        def opener() -> DurableStore:
            return memory
    elif request.param == "lmdb":

        def opener() -> DurableStore:
            store = LmdbStore(tmp_path / "lmdb", map_size_bytes=256 * 1024**2)
            opened.append(store)
            return store
    elif request.param == "rocksdb":

        def opener() -> DurableStore:
            for earlier in opened:  # one process may hold a RocksDB directory open at a time
                earlier.close()
            opened.clear()
            store = RocksStore(tmp_path / "rocksdb")
            opened.append(store)
            return store
    else:
        dsn = request.getfixturevalue("pg_dsn")
        schema = request.getfixturevalue("pg_schema")

        def opener() -> DurableStore:
            store = PostgresStore(dsn, schema)
            opened.append(store)
            return store

    yield opener
    for store in opened:
        store.close()


def test_an_empty_store(open_store: Opener) -> None:
    store = open_store()
    h, _ = node(1)
    assert store.get_node(h) is None and store.get_program(h) is None
    assert store.stored_status() == StoredStatus(0, ZERO_H4)


def test_a_write_is_read_back_with_its_status(open_store: Opener) -> None:
    store = open_store()
    nodes = dict(node(i) for i in range(10))
    code_hash, empty_hash = (9, 9, 9, 9), (8, 8, 8, 8)
    store.write(StoreWrite(3, nodes, {code_hash: b"\x60\x01\x00", empty_hash: b""}, state_root=(1, 2, 3, 4)))
    assert all(store.get_node(h) == n for h, n in nodes.items())
    assert store.get_program(code_hash) == b"\x60\x01\x00"
    assert store.get_program(empty_hash) == b""  # empty bytecode is a value, not an absence
    assert store.stored_status() == StoredStatus(3, (1, 2, 3, 4))
    store.write(StoreWrite(4))  # a flush that names no root keeps the last one
    assert store.stored_status() == StoredStatus(4, (1, 2, 3, 4))


def test_nodes_are_inserted_if_absent_and_never_replaced(open_store: Opener) -> None:
    store = open_store()
    h, n = node(1)
    store.write(StoreWrite(1, {h: n}))
    store.write(StoreWrite(2, {h: (0,) * 12}, {h: b"first"}))
    store.write(StoreWrite(3, {h: n}, {h: b"second"}))  # writing the same flush twice is harmless
    assert store.get_node(h) == n and store.get_program(h) == b"first"
    assert store.stored_status().stored_flush_id == 3


def test_what_was_written_survives_a_reopen(open_store: Opener) -> None:
    store = open_store()
    nodes = dict(node(i) for i in range(100))
    store.write(StoreWrite(7, nodes, {(5, 5, 5, 5): b"code"}, state_root=(4, 3, 2, 1)))
    store.close()
    again = open_store()
    assert all(again.get_node(h) == n for h, n in nodes.items())
    assert again.get_program((5, 5, 5, 5)) == b"code"
    assert again.stored_status() == StoredStatus(7, (4, 3, 2, 1))


def test_a_large_write(open_store: Opener) -> None:
    store = open_store()
    nodes = dict(
        node(i) for i in range(ROWS_PER_STATEMENT + 2_345)
    )  # several INSERT statements in PostgreSQL
    store.write(StoreWrite(1, nodes))
    assert all(store.get_node(h) == n for h, n in list(nodes.items())[:: len(nodes) // 50])
    last_hash, last_node = list(nodes.items())[-1]
    assert store.get_node(last_hash) == last_node


def test_reads_on_another_thread_while_a_write_is_stored(open_store: Opener) -> None:
    store = open_store()
    first = dict(node(i) for i in range(50))
    store.write(StoreWrite(1, first))
    second = dict(node(i) for i in range(1000, 6000))
    writer = threading.Thread(target=store.write, args=(StoreWrite(2, second),))
    writer.start()
    seen = []
    while writer.is_alive():
        seen.append(all(store.get_node(h) == n for h, n in first.items()))
    writer.join()
    assert all(seen)
    assert all(store.get_node(h) == n for h, n in list(second.items())[::97])


def test_postgres_uses_the_prover_layout_and_migrates_idempotently(pg_dsn: str, pg_schema: str) -> None:
    stores = [PostgresStore(pg_dsn, pg_schema)]
    threads = [
        threading.Thread(target=lambda: stores.append(PostgresStore(pg_dsn, pg_schema))) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stores) == 4  # concurrent start-ups did not trip over each other
    h, n = node(1)
    stores[0].write(StoreWrite(1, {h: n}, state_root=(1, 2, 3, 4)))
    with psycopg.connect(pg_dsn) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name IN ('nodes', 'program') ORDER BY 1, ordinal_position",
            (pg_schema,),
        ).fetchall()
        assert columns == [
            ("nodes", "hash", "bytea", "NO"),
            ("nodes", "data", "bytea", "NO"),
            ("program", "hash", "bytea", "NO"),
            ("program", "data", "bytea", "NO"),
        ]
        query = sql.SQL("SELECT hash, data FROM {}.nodes").format(sql.Identifier(pg_schema))
        rows: dict[bytes, bytes] = {h: d for h, d in conn.execute(query)}
    # a node row is the 32-byte hash → 12 × 8 bytes big-endian; the root row holds the root in its first 4
    assert rows[bytes.fromhex("%064x" % (h[0] | h[1] << 64 | h[2] << 128 | h[3] << 192))] == b"".join(
        x.to_bytes(8, "big") for x in n
    )
    assert rows[STATE_ROOT_KEY] == b"".join(
        x.to_bytes(8, "big") for x in (1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0)
    )
    for store in stores:
        store.close()

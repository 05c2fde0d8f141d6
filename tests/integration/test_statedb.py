"""One conformance suite for the StateDB, run against both backends: SQLite in a temporary file and a
real PostgreSQL server (a fresh schema per test, created by the migrations and dropped afterwards by
the `pg_schema` fixture; no other schema is touched).

Covers migrations (idempotent, recorded, atomic, concurrent), every repository method, atomicity
(an exception leaves nothing half-written), concurrent writers from threads and from two `Database`
objects (separate pools, as separate processes would be), eth_getLogs semantics against a
pure-Python model of geth's matching, L1 reorg deletion, and uint256 round trips.
"""

from __future__ import annotations

import random
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.statedb import (
    MIGRATIONS,
    PENDING_STATUSES,
    Address,
    Batch,
    BlockContents,
    ForcedBatch,
    Hash32,
    L1Block,
    L2Block,
    L2Tx,
    Log,
    LogFilter,
    MigrationError,
    MinedL2Tx,
    MonitoredL1Tx,
    MonitoredTxStatus,
    QueryLimitExceeded,
    Receipt,
    ReorgDeletion,
    SqlBlockRepository,
    StateConflict,
    StateDB,
    StateDBError,
    StateRoot,
    VerifiedBatch,
    VirtualBatch,
    migrate,
    open_database,
    open_statedb,
    schema_version,
)
from services.common.statedb.migrations import Migration

MAX_U256 = 2**256 - 1
_T = TypeVar("_T")


# ---------------------------------------------------------------------------------------------
# fixtures: one URL per backend


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    dsn: str = request.getfixturevalue("pg_dsn")
    schema: str = request.getfixturevalue("pg_schema")
    return f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}"


@pytest.fixture
def sdb(url: str) -> Iterator[StateDB]:
    statedb = open_statedb(url)
    yield statedb
    statedb.close()


# ---------------------------------------------------------------------------------------------
# builders: a consistent little chain


def h(i: int, tag: int = 0) -> Hash32:
    return Hash32(bytes([tag]) + i.to_bytes(31, "big"))


def addr(i: int) -> Address:
    return Address(b"\xaa" + i.to_bytes(19, "big"))


COINBASE = addr(0xC0)
GER = h(1, 0x6E)


def block_hash(number: int) -> Hash32:
    return h(number, 0xB0)


def tx_hash(number: int) -> Hash32:
    return h(number, 0x70)


def genesis(statedb: StateDB) -> None:
    statedb.batches.add_genesis(
        Batch(0, b"", GER, 1_000, COINBASE, StateRoot(h(0, 0x5)), h(0), h(0), closed=True),
        L2Block(0, block_hash(0), h(0), 0, StateRoot(h(0, 0x5)), 1_000, COINBASE, None, 0, 30_000_000),
    )


def open_batch(number: int, timestamp: int | None = None) -> Batch:
    return Batch(
        number,
        b"",
        GER,
        1_000 + number if timestamp is None else timestamp,
        COINBASE,
        None,
        None,
        None,
        False,
    )


LogSpec = tuple[Address, tuple[Hash32, ...]]


def block_parts(
    number: int, batch_number: int, index_in_batch: int, logs: Sequence[LogSpec] = (), *, value: int = 1
) -> tuple[L2Block, L2Tx, Receipt, list[Log]]:
    th = tx_hash(number)
    block = L2Block(
        number=number,
        hash=block_hash(number),
        parent_hash=block_hash(number - 1),
        batch_number=batch_number,
        state_root=StateRoot(h(number, 0x5)),
        timestamp=1_000 + batch_number,
        coinbase=COINBASE,
        tx_hash=th,
        gas_used=21_000,
        gas_limit=30_000_000,
    )
    tx = L2Tx(
        hash=th,
        from_address=addr(1),
        to_address=addr(2),
        nonce=number,
        gas_price=10**9,
        gas_limit=21_000,
        value=value,
        data=b"",
        effective_percentage=255,
        effective_gas_price=10**9,
        encoded=b"rec" + number.to_bytes(4, "big"),
        l2_block_number=number,
        batch_number=batch_number,
        index_in_batch=index_in_batch,
    )
    receipt = Receipt(th, 1, 21_000, 21_000, None, 10**9, bytes(256))
    built = [Log(number, th, 0, i, a, topics, bytes([i])) for i, (a, topics) in enumerate(logs)]
    return block, tx, receipt, built


def fill_batch(statedb: StateDB, number: int, first_block: int, blocks: int) -> int:
    """Open batch `number`, add `blocks` blocks from `first_block`, close it; returns the next block."""
    statedb.batches.open_batch(open_batch(number))
    for i in range(blocks):
        statedb.batches.add_l2_block(*block_parts(first_block + i, number, i))
    statedb.batches.close_batch(
        number,
        state_root=StateRoot(h(number, 0x5)),
        local_exit_root=h(number, 0x1E),
        acc_input_hash=h(number, 0xAC),
    )
    return first_block + blocks


def latest_l2(statedb: StateDB) -> int | None:
    return statedb.blocks.latest_block_number()


def run_threads(count: int, action: Callable[[int], _T]) -> list[_T]:
    """Run action(0..count-1) on `count` threads started together; re-raise the first failure."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def body(i: int) -> None:
        barrier.wait()
        try:
            results[i] = action(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results


# ---------------------------------------------------------------------------------------------
# migrations


def test_migrations_apply_once_and_record_versions(url: str) -> None:
    db = open_database(url)
    try:
        assert schema_version(db) == 0
        assert migrate(db) == [1, 2, 3, 4]
        assert schema_version(db) == 4
        assert migrate(db) == []
        assert migrate(db) == []
        with db.transaction(readonly=True) as tx:
            rows = tx.fetchall("SELECT version, name FROM schema_migrations ORDER BY version")
        assert [(int(v), n) for v, n in rows] == [(m.version, m.name) for m in MIGRATIONS]
    finally:
        db.close()


def test_migrate_refuses_a_database_from_newer_code(url: str) -> None:
    db = open_database(url)
    try:
        migrate(db)
        with db.transaction() as tx:
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", (99, "x", 0)
            )
        with pytest.raises(MigrationError, match=r"\[99\]"):
            migrate(db)
    finally:
        db.close()


def test_migrate_refuses_a_renamed_migration(url: str) -> None:
    db = open_database(url)
    try:
        migrate(db)
        renamed = (*MIGRATIONS[:-1], replace(MIGRATIONS[-1], name="something else"))
        with pytest.raises(MigrationError, match="something else"):
            migrate(db, renamed)
    finally:
        db.close()


def test_a_failing_migration_leaves_nothing_of_itself(url: str) -> None:
    db = open_database(url)
    broken = Migration(5, "broken", ("CREATE TABLE half_done ({x:u64}){strict}", "CREATE TABLE broken ("))
    try:
        with pytest.raises((sqlite3.Error, psycopg.Error, StateDBError)):
            migrate(db, (*MIGRATIONS, broken))
        assert schema_version(db) == 4  # the good ones stay, each committed on its own
        with pytest.raises(StateDBError), db.transaction(readonly=True) as tx:
            tx.fetchall("SELECT x FROM half_done")
        assert migrate(db) == []
    finally:
        db.close()


def test_concurrent_migrations_apply_each_version_once(url: str) -> None:
    dbs = [open_database(url) for _ in range(3)]
    try:
        applied = run_threads(3, lambda i: migrate(dbs[i]))
        assert sorted(v for versions in applied for v in versions) == [1, 2, 3, 4]
        assert all(schema_version(db) == 4 for db in dbs)
    finally:
        for db in dbs:
            db.close()


# ---------------------------------------------------------------------------------------------
# batches


def test_batch_lifecycle(sdb: StateDB) -> None:
    batches = sdb.batches
    assert batches.last_batch() is None and batches.get_open_batch() is None
    genesis(sdb)
    assert batches.last_closed_batch() == batches.get_batch(0)
    batches.open_batch(open_batch(1))
    parts = [block_parts(n, 1, n - 1) for n in (1, 2, 3)]
    for part in parts:
        batches.add_l2_block(*part)
    expected_data = b"".join(tx.encoded for _, tx, _, _ in parts)
    wip = batches.get_open_batch()
    assert wip is not None and not wip.closed and wip.batch_l2_data == expected_data
    assert batches.last_batch() == wip and batches.get_batch(1) == wip
    assert batches.last_closed_batch() is not None and batches.last_closed_batch().number == 0  # type: ignore[union-attr]
    assert batches.closed_batches_after(0, 10) == []

    closed = batches.close_batch(
        1, state_root=StateRoot(h(3, 0x5)), local_exit_root=h(7), acc_input_hash=h(8)
    )
    assert closed == Batch(1, expected_data, GER, 1_001, COINBASE, StateRoot(h(3, 0x5)), h(7), h(8), True)
    assert batches.get_batch(1) == closed and batches.last_closed_batch() == closed
    assert batches.get_open_batch() is None
    assert batches.closed_batches_after(0, 10) == [closed]
    assert [batches.batch_number_of_l2_block(n) for n in (0, 1, 3, 4)] == [0, 1, 1, None]


def test_closed_batches_after_pages_in_order(sdb: StateDB) -> None:
    genesis(sdb)
    next_block = 1
    for number in range(1, 6):
        next_block = fill_batch(sdb, number, next_block, number % 3)
    sdb.batches.open_batch(open_batch(6))  # the open one is never listed
    assert [b.number for b in sdb.batches.closed_batches_after(0, 3)] == [1, 2, 3]
    assert [b.number for b in sdb.batches.closed_batches_after(3, 3)] == [4, 5]
    assert sdb.batches.closed_batches_after(5, 3) == []
    assert sdb.batches.get_batch(3) is not None and sdb.batches.get_batch(3).batch_l2_data == b""  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="limit"):
        sdb.batches.closed_batches_after(0, 0)


def test_open_batch_rules(sdb: StateDB) -> None:
    genesis(sdb)
    with pytest.raises(StateConflict, match="next batch is 1"):
        sdb.batches.open_batch(open_batch(2))
    with pytest.raises(StateConflict, match="timestamp"):
        sdb.batches.open_batch(open_batch(1, timestamp=999))
    with pytest.raises(ValueError, match="closed=False"):
        sdb.batches.open_batch(
            replace(
                open_batch(1),
                closed=True,
                state_root=StateRoot(h(1)),
                local_exit_root=h(1),
                acc_input_hash=h(1),
            )
        )
    with pytest.raises(ValueError, match=r"Batch\.batch_l2_data"):
        sdb.batches.open_batch(replace(open_batch(1), batch_l2_data=b"\x01"))
    with pytest.raises(ValueError, match=r"Batch\.state_root"):
        sdb.batches.open_batch(replace(open_batch(1), state_root=StateRoot(h(1))))
    sdb.batches.open_batch(open_batch(1))
    with pytest.raises(StateConflict, match="still open"):
        sdb.batches.open_batch(open_batch(2))
    with pytest.raises(StateConflict, match="already has batches"):
        genesis(sdb)


def test_add_l2_block_rules_leave_nothing_behind(sdb: StateDB) -> None:
    genesis(sdb)
    with pytest.raises(StateConflict, match="no batch is open"):
        sdb.batches.add_l2_block(*block_parts(1, 1, 0))
    sdb.batches.open_batch(open_batch(1))
    sdb.batches.add_l2_block(*block_parts(1, 1, 0))
    block, tx, receipt, logs = block_parts(2, 1, 1)
    bad_calls: list[tuple[type[Exception], str, tuple[L2Block, L2Tx, Receipt, list[Log]]]] = [
        (StateConflict, "is for batch 2", block_parts(2, 2, 1)),
        (StateConflict, "next L2 block is 2", block_parts(3, 1, 1)),
        (StateConflict, "parent hash", (replace(block, parent_hash=h(9)), tx, receipt, logs)),
        (StateConflict, "index_in_batch", (block, replace(tx, index_in_batch=0), receipt, logs)),
        (ValueError, "Receipt.tx_hash", (block, tx, replace(receipt, tx_hash=h(9)), logs)),
        (ValueError, "L2Block.tx_hash", (replace(block, tx_hash=h(9)), tx, receipt, logs)),
        (ValueError, r"L2Tx\.l2_block_number", (block, replace(tx, l2_block_number=5), receipt, logs)),
        (ValueError, "genesis", (replace(block, tx_hash=None), tx, receipt, logs)),
        (
            ValueError,
            r"logs\[0\]\.log_index",
            (block, tx, receipt, [Log(2, tx.hash, 0, 3, addr(1), (), b"")]),
        ),
        (ValueError, r"logs\[0\]\.tx_hash", (block, tx, receipt, [Log(2, h(9), 0, 0, addr(1), (), b"")])),
    ]
    for error, message, call in bad_calls:
        with pytest.raises(error, match=message):
            sdb.batches.add_l2_block(*call)
        assert latest_l2(sdb) == 1 and sdb.blocks.tx_by_hash(tx.hash) is None
    sdb.batches.add_l2_block(block, tx, receipt, logs)
    assert latest_l2(sdb) == 2


def test_add_l2_block_is_atomic(sdb: StateDB) -> None:
    """A block whose transaction collides in the database is stored not at all: no block, no receipt."""
    genesis(sdb)
    sdb.batches.open_batch(open_batch(1))
    sdb.batches.add_l2_block(*block_parts(1, 1, 0))
    block, tx, receipt, logs = block_parts(2, 1, 1, [(addr(5), (h(1),))])
    dup = replace(tx, hash=tx_hash(1))  # the hash of block 1's transaction
    with pytest.raises(StateConflict):
        sdb.batches.add_l2_block(
            replace(block, tx_hash=dup.hash),
            dup,
            replace(receipt, tx_hash=dup.hash),
            [replace(logs[0], tx_hash=dup.hash)],
        )
    assert latest_l2(sdb) == 1 and sdb.blocks.block_by_number(2) is None
    assert sdb.blocks.get_logs(LogFilter(0, 10)) == []
    sdb.batches.add_l2_block(block, tx, receipt, logs)
    assert sdb.blocks.get_logs(LogFilter(0, 10)) == logs


def test_close_batch_rules(sdb: StateDB) -> None:
    genesis(sdb)
    roots = {"state_root": StateRoot(h(1)), "local_exit_root": h(2), "acc_input_hash": h(3)}
    with pytest.raises(StateConflict, match="does not exist"):
        sdb.batches.close_batch(1, **roots)  # type: ignore[arg-type]
    with pytest.raises(StateConflict, match="already closed"):
        sdb.batches.close_batch(0, **roots)  # type: ignore[arg-type]
    sdb.batches.open_batch(open_batch(1))
    with pytest.raises(ValueError, match=r"Batch\.acc_input_hash must be 32 bytes, got 31"):
        sdb.batches.close_batch(
            1, state_root=StateRoot(h(1)), local_exit_root=h(2), acc_input_hash=Hash32(bytes(31))
        )
    assert sdb.batches.get_open_batch() is not None
    # an empty batch closes too (a GER change closes whatever is open)
    closed = sdb.batches.close_batch(1, **roots)  # type: ignore[arg-type]
    assert closed.closed and closed.batch_l2_data == b""


def test_a_closed_batch_is_written_whole_or_not_at_all(sdb: StateDB) -> None:
    genesis(sdb)
    parts = [block_parts(n, 1, n - 1, [(addr(5), (h(n),))]) for n in (1, 2, 3)]
    records = b"".join(tx.encoded for _, tx, _, _ in parts)
    batch = Batch(1, records, GER, 1_001, COINBASE, StateRoot(h(3, 0x5)), h(7), h(8), closed=True)
    broken = [*parts[:2], block_parts(4, 1, 2)]  # the third block does not chain on
    with pytest.raises(StateConflict, match="next L2 block is 3"):
        sdb.batches.add_closed_batch(
            replace(batch, batch_l2_data=b"".join(p[1].encoded for p in broken)), broken
        )
    assert sdb.batches.last_batch() == sdb.batches.get_batch(0)
    assert latest_l2(sdb) == 0 and sdb.blocks.get_logs(LogFilter(0, 9)) == []
    with pytest.raises(ValueError, match="records of its transactions"):
        sdb.batches.add_closed_batch(replace(batch, batch_l2_data=b"x"), parts)
    with pytest.raises(ValueError, match="closed Batch"):
        sdb.batches.add_closed_batch(open_batch(1), parts)

    sdb.batches.add_closed_batch(batch, parts)
    assert sdb.batches.get_batch(1) == batch and sdb.batches.get_open_batch() is None
    assert latest_l2(sdb) == 3 and len(sdb.blocks.get_logs(LogFilter(0, 9))) == 3


# ---------------------------------------------------------------------------------------------
# transactions: atomicity, savepoints


def test_an_exception_inside_a_transaction_leaves_nothing(sdb: StateDB) -> None:
    db = sdb.database
    with pytest.raises(RuntimeError), db.transaction() as tx:
        tx.execute("INSERT INTO l1_blocks (number, hash, parent_hash) VALUES (?, ?, ?)", (1, h(1), h(0)))
        assert tx.scalar("SELECT COUNT(*) FROM l1_blocks") == 1
        raise RuntimeError("boom")
    assert sdb.l1_blocks.latest() is None


def test_repository_calls_compose_into_one_transaction(sdb: StateDB) -> None:
    """Wiring code may wrap several repository calls; a failure undoes all of them."""
    genesis(sdb)
    with pytest.raises(StateConflict), sdb.database.transaction():
        sdb.batches.open_batch(open_batch(1))
        sdb.batches.add_l2_block(*block_parts(1, 1, 0))
        sdb.l1_blocks.add(L1Block(5, h(5), h(4)))
        sdb.l1_blocks.add(L1Block(4, h(4), h(3)))  # below the latest: conflict
    assert sdb.batches.last_batch() == sdb.batches.get_batch(0)
    assert latest_l2(sdb) == 0 and sdb.l1_blocks.latest() is None


def test_a_failing_nested_transaction_rolls_back_only_itself(sdb: StateDB) -> None:
    with sdb.database.transaction():
        sdb.l1_blocks.add(L1Block(1, h(1), h(0)))
        with pytest.raises(StateConflict):
            sdb.l1_blocks.add(L1Block(1, h(1), h(0)))
        sdb.l1_blocks.add(L1Block(2, h(2), h(1)))
    assert sdb.l1_blocks.latest() == L1Block(2, h(2), h(1))


# ---------------------------------------------------------------------------------------------
# JSON-RPC reads


def test_block_transaction_receipt_and_log_reads(sdb: StateDB) -> None:
    blocks = sdb.blocks
    assert blocks.latest_block_number() is None
    genesis(sdb)
    sdb.batches.open_batch(open_batch(1))
    parts = [block_parts(1, 1, 0, [(addr(5), (h(1),)), (addr(6), ())]), block_parts(2, 1, 1)]
    for part in parts:
        sdb.batches.add_l2_block(*part)
    (b1, t1, r1, l1), (b2, _, _, _) = parts

    assert blocks.latest_block_number() == 2
    assert blocks.block_by_number(1) == b1 and blocks.block_by_hash(b1.hash) == b1
    assert blocks.block_by_number(9) is None and blocks.block_by_hash(h(9)) is None
    assert blocks.blocks_of_batch(1) == [b1, b2] and blocks.blocks_of_batch(7) == []
    assert blocks.blocks_of_batch(0)[0].tx_hash is None
    assert blocks.txs_of_block(1) == [t1] and blocks.txs_of_block(0) == []
    assert blocks.tx_by_hash(t1.hash) == t1 and blocks.tx_by_hash(h(9)) is None
    assert blocks.receipt_by_hash(t1.hash) == r1 and blocks.receipt_by_hash(h(9)) is None
    assert blocks.logs_of_tx(t1.hash) == l1 and blocks.logs_of_tx(h(9)) == []
    with pytest.raises(ValueError, match="transaction hash must be 32 bytes"):
        blocks.tx_by_hash(Hash32(b"\x01"))


def test_whole_block_reads_agree_with_the_per_row_reads(sdb: StateDB) -> None:
    blocks = sdb.blocks
    genesis(sdb)
    sdb.batches.open_batch(open_batch(1))
    spec: list[list[LogSpec]] = [
        [],
        [(addr(5), (h(1),)), (addr(6), ()), (addr(5), (h(2), h(3)))],
        [(addr(7), ())],
    ]
    for number, logs in enumerate(spec, start=1):
        sdb.batches.add_l2_block(*block_parts(number, 1, number - 1, logs))

    def per_row(block: L2Block) -> BlockContents:
        txs = []
        for tx in blocks.txs_of_block(block.number):
            receipt = blocks.receipt_by_hash(tx.hash)
            assert receipt is not None
            txs.append(MinedL2Tx(tx, receipt, tuple(blocks.logs_of_tx(tx.hash))))
        return BlockContents(block, tuple(txs))

    stored = [blocks.block_by_number(n) for n in range(4)]
    expected = [per_row(block) for block in stored if block is not None]
    assert [len(c.txs) for c in expected] == [0, 1, 1, 1]
    assert [len(c.txs[0].logs) for c in expected[1:]] == [0, 3, 1]
    for contents in expected:
        assert blocks.block_contents(contents.block.number) == contents
        assert blocks.block_contents_by_hash(contents.block.hash) == contents
    assert blocks.batch_contents(1) == expected[1:] and blocks.batch_contents(0) == expected[:1]
    assert blocks.block_contents(4) is None and blocks.block_contents_by_hash(h(9)) is None
    assert blocks.batch_contents(2) == []
    with pytest.raises(ValueError, match="L2 block hash must be 32 bytes"):
        blocks.block_contents_by_hash(Hash32(b"\x01"))


def test_contract_creation_and_optional_fields_round_trip(sdb: StateDB) -> None:
    genesis(sdb)
    sdb.batches.open_batch(open_batch(1))
    block, tx, receipt, _ = block_parts(1, 1, 0)
    tx = replace(tx, to_address=None, data=b"\x60\x00" * 100, effective_percentage=0)
    receipt = replace(receipt, status=0, contract_address=addr(77), logs_bloom=b"\xff" * 256)
    sdb.batches.add_l2_block(block, tx, receipt, [])
    assert sdb.blocks.tx_by_hash(tx.hash) == tx
    assert sdb.blocks.receipt_by_hash(tx.hash) == receipt


@pytest.mark.parametrize("amount", [0, 1, 2**64, MAX_U256])
def test_uint256_round_trips(sdb: StateDB, amount: int) -> None:
    genesis(sdb)
    sdb.batches.open_batch(open_batch(1))
    block, tx, receipt, _ = block_parts(1, 1, 0)
    tx = replace(tx, value=amount, gas_price=amount, effective_gas_price=amount)
    receipt = replace(receipt, effective_gas_price=amount)
    sdb.batches.add_l2_block(block, tx, receipt, [])
    stored_tx, stored_receipt = sdb.blocks.tx_by_hash(tx.hash), sdb.blocks.receipt_by_hash(tx.hash)
    assert stored_tx is not None and stored_receipt is not None
    assert (stored_tx.value, stored_tx.gas_price, stored_tx.effective_gas_price) == (amount, amount, amount)
    assert stored_receipt.effective_gas_price == amount
    assert isinstance(stored_tx.value, int)
    monitored = monitored_tx("amounts", value=amount, gas_price=amount)
    assert sdb.monitored_txs.add(monitored)
    assert sdb.monitored_txs.get("amounts") == monitored


def test_the_database_itself_refuses_malformed_amounts_and_hashes(sdb: StateDB) -> None:
    """Defence in depth: CHECK constraints hold even for SQL that bypasses the domain types."""
    statement = (
        "INSERT INTO monitored_txs (id, owner, from_address, to_address, nonce, value, data, gas, gas_price, "
        "status, block_number, created_at, updated_at) "
        "VALUES (?, 'o', ?, NULL, 0, ?, ?, 0, ?, 'created', NULL, 0, 0)"
    )
    sqlite = sdb.database.dialect.name == "sqlite"
    bad_values: list[object] = ["-1", "01", "1e3", str(2**256)] if sqlite else [-1, 2**256]
    for i, bad in enumerate(bad_values):
        with pytest.raises(StateConflict), sdb.database.transaction() as tx:
            tx.execute(statement, (f"bad-{i}", addr(1), bad, b"", 0 if not sqlite else "0"))  # type: ignore[arg-type]
    with pytest.raises(StateConflict), sdb.database.transaction() as tx:
        tx.execute(
            "INSERT INTO l1_blocks (number, hash, parent_hash) VALUES (?, ?, ?)", (1, b"\x01" * 31, h(0))
        )
    with pytest.raises(StateConflict), sdb.database.transaction() as tx:
        tx.execute("INSERT INTO l1_blocks (number, hash, parent_hash) VALUES (?, ?, ?)", (-1, h(1), h(0)))


# ---------------------------------------------------------------------------------------------
# eth_getLogs


ADDRESSES = [addr(0x10 + i) for i in range(3)]
TOPICS = [h(i, 0x70) for i in range(4)]
LOG_BLOCKS = 16


def fill_logs(statedb: StateDB) -> list[Log]:
    """Blocks 1..16 in batch 1, each with 0–3 logs of 0–4 topics from small alphabets (seeded)."""
    rng = random.Random(6)
    genesis(statedb)
    statedb.batches.open_batch(open_batch(1))
    stored: list[Log] = []
    for number in range(1, LOG_BLOCKS + 1):
        specs = [
            (rng.choice(ADDRESSES), tuple(rng.choice(TOPICS) for _ in range(rng.randint(0, 4))))
            for _ in range(rng.randint(0, 3))
        ]
        block, tx, receipt, logs = block_parts(number, 1, number - 1, specs)
        statedb.batches.add_l2_block(block, tx, receipt, logs)
        stored.extend(logs)
    return stored


def geth_matches(log: Log, log_filter: LogFilter) -> bool:
    """geth's filterLogs, written out plainly: the model the SQL must agree with."""
    if not log_filter.from_block <= log.block_number <= log_filter.to_block:
        return False
    if log_filter.addresses and log.address not in log_filter.addresses:
        return False
    if len(log_filter.topics) > len(log.topics):
        return False
    return all(not options or log.topics[i] in options for i, options in enumerate(log_filter.topics))


def test_get_logs_semantics(sdb: StateDB) -> None:
    genesis(sdb)
    sdb.batches.open_batch(open_batch(1))
    t0, t1, t2 = TOPICS[:3]
    a, b = ADDRESSES[:2]
    specs: list[list[LogSpec]] = [[(a, (t0,)), (b, (t0, t1))], [(a, ()), (b, (t1, t2, t0))], [(a, (t2, t1))]]
    logs: list[Log] = []
    for number, block_specs in enumerate(specs, start=1):
        parts = block_parts(number, 1, number - 1, block_specs)
        sdb.batches.add_l2_block(*parts)
        logs.extend(parts[3])
    l1a, l1b, l2a, l2b, l3a = logs

    def query(**kw: Any) -> list[Log]:
        return sdb.blocks.get_logs(LogFilter(kw.pop("from_block", 0), kw.pop("to_block", 9), **kw))

    assert query() == logs
    assert query(from_block=2, to_block=2) == [l2a, l2b]  # inclusive range
    assert query(addresses=(a,)) == [l1a, l2a, l3a]
    assert query(addresses=(a, b), from_block=3) == [l3a]  # OR of addresses
    assert query(topics=((t0,),)) == [l1a, l1b]  # position 0 only
    assert query(topics=((t0, t2),)) == [l1a, l1b, l3a]  # OR within a position
    assert query(topics=(None, (t1,))) == [l1b, l3a]  # wildcard then position 1
    assert query(topics=((), (t1,))) == [l1b, l3a]  # an empty list is a wildcard too
    assert query(topics=(None,)) == [l1a, l1b, l2b, l3a]  # a listed wildcard needs a topic there
    assert query(topics=(None, None, None)) == [l2b]
    assert query(topics=(None, None, (t0,))) == [l2b]
    assert query(addresses=(b,), topics=((t1,), (t2,))) == [l2b]
    assert query(topics=((t2,), (t0,))) == []
    assert query(from_block=4, to_block=9) == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_get_logs_agrees_with_gethmodel(sdb: StateDB, data: st.DataObject) -> None:
    if latest_l2(sdb) is None:  # the fixture is shared by the examples: fill once
        fill_logs(sdb)
    stored = sdb.blocks.get_logs(LogFilter(0, LOG_BLOCKS))
    from_block = data.draw(st.integers(0, LOG_BLOCKS + 1))
    to_block = data.draw(st.integers(from_block, LOG_BLOCKS + 2))
    addresses = tuple(data.draw(st.lists(st.sampled_from(ADDRESSES), max_size=2, unique=True)))
    position = st.one_of(st.none(), st.lists(st.sampled_from(TOPICS), max_size=3, unique=True).map(tuple))
    topics = tuple(data.draw(st.lists(position, max_size=4)))
    log_filter = LogFilter(from_block, to_block, addresses, topics)
    assert sdb.blocks.get_logs(log_filter) == [log for log in stored if geth_matches(log, log_filter)]


def test_get_logs_is_bounded(sdb: StateDB) -> None:
    stored = fill_logs(sdb)
    limited = SqlBlockRepository(sdb.database, max_logs=len(stored), max_block_range=LOG_BLOCKS + 1)
    assert limited.get_logs(LogFilter(0, LOG_BLOCKS)) == stored  # exactly at the bound is fine
    with pytest.raises(QueryLimitExceeded, match="max block range"):
        limited.get_logs(LogFilter(0, LOG_BLOCKS + 1))
    tighter = SqlBlockRepository(sdb.database, max_logs=len(stored) - 1)
    with pytest.raises(QueryLimitExceeded, match=f"more than {len(stored) - 1} results"):
        tighter.get_logs(LogFilter(0, LOG_BLOCKS))


# ---------------------------------------------------------------------------------------------
# L1: blocks, virtual / verified / forced batches, reorgs


def forced(number: int, l1_block: int, data: bytes | None = None) -> ForcedBatch:
    return ForcedBatch(
        number, h(number, 0x6E), 5_000 + number, data or b"forced-%d" % number, addr(9), l1_block
    )


def test_l1_blocks_chain_and_refuse_a_reorg_unnoticed(sdb: StateDB) -> None:
    l1 = sdb.l1_blocks
    assert l1.latest() is None
    l1.add(L1Block(10, h(10), h(9)))
    l1.add(L1Block(11, h(11), h(10)))
    l1.add(L1Block(15, h(15), h(14)))  # gaps are fine: blocks without events may be skipped
    assert l1.latest() == L1Block(15, h(15), h(14)) and l1.get(11) == L1Block(11, h(11), h(10))
    assert l1.get(12) is None
    with pytest.raises(StateConflict, match="not above"):
        l1.add(L1Block(15, h(99), h(14)))
    with pytest.raises(StateConflict, match="reorganised"):
        l1.add(L1Block(16, h(16), h(99)))
    with pytest.raises(ValueError, match=r"virtual_batches\[0\]\.l1_block_number"):
        l1.add(L1Block(16, h(16), h(15)), virtual_batches=[VirtualBatch(1, h(1), 17, addr(1), h(1))])
    assert l1.latest() == L1Block(15, h(15), h(14))


def test_l1_block_and_its_events_are_stored_together(sdb: StateDB) -> None:
    l1 = sdb.l1_blocks
    l1.add(L1Block(10, h(10), h(9)), virtual_batches=[VirtualBatch(1, h(1, 0x11), 10, addr(1), h(1, 0xAC))])
    with pytest.raises(StateConflict):  # batch 1 is already virtual: the whole block is refused
        l1.add(
            L1Block(11, h(11), h(10)),
            virtual_batches=[
                VirtualBatch(2, h(2, 0x11), 11, addr(1), h(2)),
                VirtualBatch(1, h(3), 11, addr(1), h(3)),
            ],
            forced_batches=[forced(1, 11)],
        )
    assert l1.latest() == L1Block(10, h(10), h(9))
    assert sdb.virtual_batches.get(2) is None and sdb.forced_batches.get(1) is None


def test_virtual_batches(sdb: StateDB) -> None:
    virtual = sdb.virtual_batches
    genesis(sdb)
    fill_batch(sdb, 1, 1, 2)
    assert virtual.last_virtual_batch_number() is None and not virtual.is_block_virtualized(1)
    vb = VirtualBatch(1, h(1, 0x11), 100, addr(3), h(1, 0xAC))
    with pytest.raises(StateConflict, match="L1 block 100, which is not recorded"):
        virtual.add(vb)
    sdb.l1_blocks.add(L1Block(100, h(100), h(99)))
    virtual.add(vb)
    with pytest.raises(StateConflict):
        virtual.add(vb)
    assert virtual.get(1) == vb and virtual.get(2) is None
    assert virtual.last_virtual_batch_number() == 1
    assert virtual.is_block_virtualized(1) and virtual.is_block_virtualized(2)
    assert not virtual.is_block_virtualized(0) and not virtual.is_block_virtualized(3)


def test_verified_batches(sdb: StateDB) -> None:
    verified = sdb.verified_batches
    genesis(sdb)
    fill_batch(sdb, 1, 1, 1)
    assert verified.last_verified_batch_number() is None and not verified.is_block_verified(1)
    sdb.l1_blocks.add(L1Block(100, h(100), h(99)))
    vb = VerifiedBatch(1, h(1, 0x12), 100, StateRoot(h(1, 0x5)), addr(4))
    verified.add(vb)
    assert verified.get(1) == vb and verified.get(0) is None
    assert verified.last_verified_batch_number() == 1
    assert verified.is_block_verified(1) and not verified.is_block_verified(0)


def test_forced_batches_in_order_into_trusted_batches(sdb: StateDB) -> None:
    fbs = sdb.forced_batches
    genesis(sdb)
    assert fbs.pending() == [] and fbs.last_forced_batch_number() is None
    sdb.l1_blocks.add(L1Block(50, h(50), h(49)), forced_batches=[forced(1, 50), forced(2, 50)])
    sdb.l1_blocks.add(L1Block(60, h(60), h(59)))
    fbs.add(forced(3, 60))
    assert [f.forced_batch_number for f in fbs.pending()] == [1, 2, 3]
    assert [f.forced_batch_number for f in fbs.pending(max_l1_block=55)] == [1, 2]
    assert [f.forced_batch_number for f in fbs.pending(limit=1)] == [1]
    assert fbs.last_forced_batch_number() == 3

    def trusted(forced_batch: ForcedBatch, number: int) -> Batch:
        return replace(
            open_batch(number),
            batch_l2_data=forced_batch.batch_l2_data,
            global_exit_root=forced_batch.global_exit_root,
            forced_batch_number=forced_batch.forced_batch_number,
        )

    with pytest.raises(StateConflict, match="forced batch 1 must be sequenced before"):
        sdb.batches.open_batch(trusted(forced(2, 50), 1))
    with pytest.raises(StateConflict, match="differs from the data"):
        sdb.batches.open_batch(trusted(forced(1, 50, b"other"), 1))
    with pytest.raises(StateConflict, match="not known"):
        sdb.batches.open_batch(trusted(forced(7, 50), 1))
    assert sdb.batches.last_batch() == sdb.batches.get_batch(0)

    sdb.batches.open_batch(trusted(forced(1, 50), 1))
    assert fbs.get(1) == replace(forced(1, 50), sequenced_in_batch=1)
    assert [f.forced_batch_number for f in fbs.pending()] == [2, 3]
    # its data stays L1's, whatever the executor made of it
    sdb.batches.add_l2_block(*block_parts(1, 1, 0))
    closed = sdb.batches.close_batch(1, state_root=StateRoot(h(1)), local_exit_root=h(2), acc_input_hash=h(3))
    assert closed.batch_l2_data == b"forced-1" and closed.forced_batch_number == 1
    assert sdb.batches.get_batch(1) == closed

    fbs.mark_sequenced(2, 7)  # sequenced by someone else, as L1 tells
    fbs.mark_sequenced(2, 7)  # again: a no-op
    with pytest.raises(StateConflict, match="already in batch 7"):
        fbs.mark_sequenced(2, 8)
    with pytest.raises(StateConflict, match="not known"):
        fbs.mark_sequenced(9, 8)
    assert [f.forced_batch_number for f in fbs.pending()] == [3]


def test_reorg_deletes_blocks_and_what_came_from_them(sdb: StateDB) -> None:
    l1 = sdb.l1_blocks
    genesis(sdb)
    for n in (10, 11, 12):
        l1.add(
            L1Block(n, h(n), h(n - 1)),
            virtual_batches=[VirtualBatch(n, h(n, 0x11), n, addr(1), h(n, 0xAC))],
            verified_batches=[VerifiedBatch(n - 5, h(n, 0x12), n, StateRoot(h(n)), addr(2))],
            forced_batches=[forced(n, n)],
        )
    assert l1.delete_from(11) == ReorgDeletion(
        l1_blocks=2, virtual_batches=2, verified_batches=2, forced_batches=2
    )
    assert l1.latest() == L1Block(10, h(10), h(9))
    assert sdb.virtual_batches.last_virtual_batch_number() == 10 and sdb.virtual_batches.get(11) is None
    assert sdb.verified_batches.last_verified_batch_number() == 5
    assert [f.forced_batch_number for f in sdb.forced_batches.pending()] == [10]
    # the new branch is accepted from block 11 on
    l1.add(L1Block(11, h(11, 0xEE), h(10)), virtual_batches=[VirtualBatch(11, h(1, 0xEE), 11, addr(1), h(5))])
    assert sdb.virtual_batches.get(11) == VirtualBatch(11, h(1, 0xEE), 11, addr(1), h(5))
    assert l1.delete_from(100) == ReorgDeletion(0, 0, 0, 0)


# ---------------------------------------------------------------------------------------------
# the EthTxManager's transactions

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def monitored_tx(
    tx_id: str, *, owner: str = "sequencer", value: int = 0, gas_price: int = 10**9
) -> MonitoredL1Tx:
    return MonitoredL1Tx(
        id=tx_id,
        owner=owner,
        from_address=addr(1),
        to_address=addr(2),
        nonce=7,
        value=value,
        data=b"\x12\x34" * 50,
        gas=500_000,
        gas_price=gas_price,
        status=MonitoredTxStatus.CREATED,
        attempts=(),
        block_number=None,
        created_at=T0,
        updated_at=T0,
    )


def test_monitored_tx_lifecycle(sdb: StateDB) -> None:
    repo = sdb.monitored_txs
    first = monitored_tx("sequence-from-1-to-5")
    assert repo.get(first.id) is None
    assert repo.add(first) is True
    assert repo.get(first.id) == first
    assert repo.add(replace(first, nonce=99, data=b"other")) is False  # idempotent: the stored row wins
    assert repo.get(first.id) == first

    t1 = T0 + timedelta(seconds=5)
    repo.add_attempt(first.id, h(1, 0x51), nonce=7, gas=510_000, gas_price=2 * 10**9, now=t1)
    repo.add_attempt(first.id, h(2, 0x51), nonce=7, gas=510_000, gas_price=3 * 10**9, now=t1)
    repo.add_attempt(first.id, h(1, 0x51), nonce=7, gas=510_000, gas_price=3 * 10**9, now=t1)  # again: no-op
    sent = repo.get(first.id)
    assert sent == replace(
        first,
        gas=510_000,
        gas_price=3 * 10**9,
        status=MonitoredTxStatus.SENT,
        attempts=(h(1, 0x51), h(2, 0x51)),
        updated_at=t1,
    )

    t2 = T0 + timedelta(minutes=1)
    repo.set_status(first.id, MonitoredTxStatus.MINED, block_number=1234, now=t2)
    mined = repo.get(first.id)
    assert mined is not None and mined.status is MonitoredTxStatus.MINED and mined.block_number == 1234
    repo.set_status(first.id, MonitoredTxStatus.SENT, block_number=None, now=t2)  # L1 reorg
    assert repo.get(first.id).block_number is None  # type: ignore[union-attr]
    repo.set_status(first.id, MonitoredTxStatus.CONFIRMED, block_number=1240, now=t2)

    second = monitored_tx("verify-1-5", owner="aggregator")
    repo.add(second)
    with pytest.raises(StateConflict, match="already an attempt"):
        repo.add_attempt(second.id, h(1, 0x51), nonce=8, gas=1, gas_price=1, now=t2)
    with pytest.raises(StateConflict, match="does not exist"):
        repo.add_attempt("nope", h(9, 0x51), nonce=8, gas=1, gas_price=1, now=t2)
    with pytest.raises(StateConflict, match="does not exist"):
        repo.set_status("nope", MonitoredTxStatus.FAILED, block_number=None, now=t2)
    assert repo.get(second.id) == second


def test_monitored_txs_listed_by_status_and_owner(sdb: StateDB) -> None:
    repo = sdb.monitored_txs
    for i, (owner, status) in enumerate(
        [
            ("sequencer", "created"),
            ("sequencer", "sent"),
            ("aggregator", "sent"),
            ("sequencer", "confirmed"),
            ("sequencer", "failed"),
        ]
    ):
        tx = replace(monitored_tx(f"tx-{i}", owner=owner), created_at=T0 + timedelta(seconds=10 - i))
        repo.add(replace(tx, status=MonitoredTxStatus(status), attempts=(h(i, 0x52),)))

    def ids(found: list[MonitoredL1Tx]) -> list[str]:
        return [tx.id for tx in found]

    assert ids(repo.list_by_status()) == ["tx-2", "tx-1", "tx-0"]  # pending, oldest first
    assert ids(repo.list_by_status(owner="sequencer")) == ["tx-1", "tx-0"]
    assert ids(repo.list_by_status([MonitoredTxStatus.FAILED, MonitoredTxStatus.CONFIRMED])) == [
        "tx-4",
        "tx-3",
    ]
    assert repo.list_by_status([]) == []
    assert repo.list_by_status(owner="sequencer")[0].attempts == (h(1, 0x52),)
    assert {MonitoredTxStatus.CREATED, MonitoredTxStatus.SENT, MonitoredTxStatus.MINED} == PENDING_STATUSES


def test_concurrent_adds_of_one_id_store_exactly_one(url: str, sdb: StateDB) -> None:
    """16 threads over two pools (two 'processes') race to add the same id: one wins, none is lost."""
    other = open_statedb(url, migrate=False)
    try:
        repos = [sdb.monitored_txs, other.monitored_txs]
        candidates = [replace(monitored_tx("sequence-from-1-to-9"), nonce=i) for i in range(16)]
        won = run_threads(16, lambda i: repos[i % 2].add(candidates[i]))
        assert won.count(True) == 1
        stored = sdb.monitored_txs.get("sequence-from-1-to-9")
        assert stored == candidates[won.index(True)]
        # distinct ids added concurrently are all kept
        run_threads(16, lambda i: repos[i % 2].add(monitored_tx(f"distinct-{i}")))
        assert len(sdb.monitored_txs.list_by_status()) == 17
    finally:
        other.close()


def test_concurrent_attempts_are_all_kept(sdb: StateDB) -> None:
    repo = sdb.monitored_txs
    repo.add(monitored_tx("busy"))
    run_threads(12, lambda i: repo.add_attempt("busy", h(i, 0x53), nonce=7, gas=1, gas_price=i, now=T0))
    stored = repo.get("busy")
    assert stored is not None and sorted(stored.attempts) == sorted(h(i, 0x53) for i in range(12))


def test_readers_see_a_growing_chain_while_a_writer_writes(sdb: StateDB) -> None:
    genesis(sdb)
    sdb.batches.open_batch(open_batch(1))
    done = threading.Event()

    def write() -> list[int]:
        try:
            for n in range(1, 31):
                sdb.batches.add_l2_block(*block_parts(n, 1, n - 1))
        finally:
            done.set()
        return []

    def read() -> list[int]:
        seen: list[int] = []
        while not done.is_set():
            latest = latest_l2(sdb)
            assert latest is not None
            block = sdb.blocks.block_by_number(latest)
            assert block is not None and (latest == 0 or sdb.blocks.tx_by_hash(tx_hash(latest)) is not None)
            seen.append(latest)
        return seen

    results = run_threads(4, lambda i: write() if i == 0 else read())
    for seen in results[1:]:
        assert seen == sorted(seen)
    assert any(results[1:]), "the readers never got a read in"
    assert latest_l2(sdb) == 30
    assert sdb.batches.get_open_batch().batch_l2_data == b"".join(  # type: ignore[union-attr]
        b"rec" + n.to_bytes(4, "big") for n in range(1, 31)
    )

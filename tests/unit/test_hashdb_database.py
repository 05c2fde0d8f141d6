"""The node database: the read path through memory and the flush pipeline (services.hashdb.database)."""

import pytest

from services.hashdb.database import FlushHistoryGap, NodeDatabase
from services.hashdb.stores.base import MemoryStore, StoreWrite
from services.hashdb.stores.cache import LruCache
from zkevm.field import H4, Node

A: H4 = (1, 0, 0, 0)
B: H4 = (2, 0, 0, 0)
C: H4 = (3, 0, 0, 0)
NODE: Node = tuple(range(12))


def database(store: MemoryStore | None = None, cache_entries: int = 100, history: int = 4) -> NodeDatabase:
    return NodeDatabase(store or MemoryStore(), LruCache(cache_entries), LruCache(1000, weigh=len), history)


def store_all(db: NodeDatabase) -> None:
    batch = db.merge(db.unstored())
    db.begin_storing(batch)
    db.store.write(batch)
    db.end_storing(batch, stored=True)


def test_flushed_data_is_readable_before_and_after_it_is_stored() -> None:
    db = database(cache_entries=0)  # no cache: every read goes through the buffers
    db.put_node(A, NODE, persistent=True)
    assert db.get_node(A) == NODE  # pending
    sealed = db.seal(now=0.0)
    assert sealed.flush_id == 1 and db.get_node(A) == NODE  # sealed, not stored
    assert db.store.get_node(A) is None
    store_all(db)
    assert db.stored_flush_id == 1 and db.store.get_node(A) == NODE and db.get_node(A) == NODE


def test_cache_only_writes_never_reach_the_store() -> None:
    db = database()
    db.put_node(A, NODE, persistent=False)
    db.put_program(B, b"code", persistent=False)
    db.seal(now=0.0)
    store_all(db)
    assert db.get_node(A) == NODE and db.get_program(B) == b"code"
    store = db.store
    assert isinstance(store, MemoryStore) and store.nodes == {} and store.programs == {}


def test_flush_ids_continue_after_what_the_store_recorded() -> None:
    store = MemoryStore()
    store.write(StoreWrite(flush_id=41, state_root=C))
    db = database(store)
    assert (db.stored_flush_id, db.last_flush_id, db.stored_state_root) == (41, 41, C)
    assert db.seal(now=0.0).flush_id == 42


def test_several_flushes_are_stored_in_one_write_and_the_last_root_wins() -> None:
    db = database()
    db.put_node(A, NODE, persistent=True)
    db.set_state_root(A)
    db.seal(now=0.0)
    db.put_node(B, NODE, persistent=True)
    db.put_program(C, b"\x60\x00", persistent=True)
    db.set_state_root(B)
    db.seal(now=0.0)
    db.seal(now=0.0)  # an empty flush still gets an id
    batch = db.merge(db.unstored())
    assert batch.flush_id == 3 and set(batch.nodes) == {A, B} and batch.state_root == B
    db.begin_storing(batch)
    status = db.status()
    assert (status.storing_flush_id, status.storing_nodes, status.pending_nodes) == (3, 2, 0)
    db.store.write(batch)
    done = db.end_storing(batch, stored=True)
    assert [f.flush_id for f in done] == [1, 2, 3]
    assert db.store.stored_status().state_root == B


def test_a_failed_store_write_keeps_the_flushes_pending() -> None:
    db = database()
    db.put_node(A, NODE, persistent=True)
    db.seal(now=0.0)
    batch = db.merge(db.unstored())
    db.begin_storing(batch)
    assert db.end_storing(batch, stored=False) == []
    assert db.stored_flush_id == 0 and len(db.unstored()) == 1
    assert db.status().pending_nodes == 1


def test_stored_after_serves_from_the_history_and_reports_gaps() -> None:
    db = database(history=2)
    for h in (A, B, C):
        db.put_node(h, NODE, persistent=True)
        db.seal(now=0.0)
        store_all(db)
    assert set(db.stored_after(1).nodes) == {B, C}
    assert set(db.stored_after(2).nodes) == {C}
    assert db.stored_after(3).nodes == {}
    with pytest.raises(FlushHistoryGap, match="flush 1 is no longer held"):
        db.stored_after(0)

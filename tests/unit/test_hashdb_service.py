"""The HashDB domain API over the in-memory store twin: sessions, flushes, the writer, bad input."""

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from services.common.errors import InvalidArgument, NotFound, OutOfRange
from services.common.logs import EventLogger
from services.hashdb import wire
from services.hashdb.database import NodeDatabase
from services.hashdb.metrics import HashDBMetrics
from services.hashdb.service import HashDB, HashDBSettings
from services.hashdb.sessions import Persistence
from services.hashdb.stores.base import MemoryStore, StoreError, StoreWrite
from services.hashdb.stores.cache import LruCache
from tests.conftest import load_vector
from zkevm.bytecode import bytecode_hash
from zkevm.field import H4, ZERO_H4, Node, P, hex_to_h4
from zkevm.nodestore import MemoryNodeStore
from zkevm.smt import SparseMerkleTree

DB = Persistence.DATABASE
SETTINGS = HashDBSettings(inline_max_keys=4, flush_data_wait_s=5, writer_poll_s=0.05, write_retry_s=0.01)


class FlakyStore(MemoryStore):
    """Fails its first `failures` writes, like a database that is briefly down (or a bug in a store)."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        super().__init__()
        self.failures = failures
        self.error = error or StoreError("connection refused")

    def write(self, batch: StoreWrite) -> None:
        if self.failures:
            self.failures -= 1
            raise self.error
        super().write(batch)


async def open_hashdb(store: MemoryStore, settings: HashDBSettings = SETTINGS) -> HashDB:
    db = NodeDatabase(store, LruCache(100_000), LruCache(1 << 20, weigh=len), history_flushes=8)
    hashdb = HashDB(db, settings, HashDBMetrics(CollectorRegistry()), EventLogger("zkseq.test"))
    hashdb.start()
    return hashdb


@pytest.fixture
async def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
async def hashdb(store: MemoryStore) -> AsyncIterator[HashDB]:
    h = await open_hashdb(store)
    yield h
    await h.close(drain_timeout_s=5)


async def wait_stored(h: HashDB, flush_id: int) -> None:
    async with asyncio.timeout(5):
        while (await h.flush_status()).stored_flush_id < flush_id:
            await asyncio.sleep(0.005)


def rand_writes(rng: random.Random, n: int) -> list[tuple[H4, int]]:
    return [
        ((rng.randrange(P), rng.randrange(P), 0, 0), rng.randrange(0, 4) and rng.getrandbits(256))
        for _ in range(n)
    ]


async def put(
    h: HashDB, root: H4, key: H4, value: int, *, uuid: str = "b", tx: int = 0, p: Persistence = DB
) -> H4:
    out = await h.set(
        old_root=root,
        key=key,
        value=value,
        persistence=p,
        batch_uuid=uuid,
        tx=tx,
        details=False,
        read_log=False,
    )
    return out.result.new_root


async def value_of(h: HashDB, root: H4, key: H4, uuid: str = "") -> int:
    return (await h.get(root, key, uuid, details=False, read_log=False)).value


async def test_session_writes_are_seen_by_the_session_until_flushed(
    hashdb: HashDB, store: MemoryStore
) -> None:
    root = await put(hashdb, ZERO_H4, (1, 0, 0, 0), 10)
    root = await put(hashdb, root, (2, 0, 0, 0), 20)
    assert await value_of(hashdb, root, (2, 0, 0, 0), uuid="b") == 20
    with pytest.raises(NotFound, match="is unknown"):
        await value_of(hashdb, root, (2, 0, 0, 0))  # outside the session the root does not exist yet
    ticket = await hashdb.flush("b", root, DB)
    assert ticket.flush_id == 1
    await wait_stored(hashdb, ticket.flush_id)
    assert await value_of(hashdb, root, (1, 0, 0, 0)) == 10
    assert store.status.state_root == root
    # only what the final root needs was stored: the first write's single-leaf root is gone
    assert SparseMerkleTree(MemoryNodeStore(dict(store.nodes))).get(root, (2, 0, 0, 0)) == 20
    first_root = SparseMerkleTree(MemoryNodeStore()).set(ZERO_H4, (1, 0, 0, 0), 10).new_root
    assert first_root not in store.nodes


async def test_writes_without_a_session_go_to_the_next_flush(hashdb: HashDB, store: MemoryStore) -> None:
    root = await put(hashdb, ZERO_H4, (1, 0, 0, 0), 10, uuid="")
    assert await value_of(hashdb, root, (1, 0, 0, 0)) == 10
    ticket = await hashdb.flush("", None, DB)
    await wait_stored(hashdb, ticket.flush_id)
    assert root in store.nodes


async def test_set_many_gives_the_root_of_set_one_by_one(hashdb: HashDB) -> None:
    rng = random.Random(7)
    root = await hashdb.set_many(
        old_root=ZERO_H4, writes=rand_writes(rng, 50), persistence=DB, batch_uuid="a", tx=0
    )
    for size in (0, 1, 3, 10, 40):  # below and above inline_max_keys: inline and on the tree thread
        writes = rand_writes(rng, size) + rand_writes(rng, 2) * 2  # repeated keys: the last write wins
        expected = root
        for key, value in writes:
            expected = await put(hashdb, expected, key, value, uuid="a", tx=2)
        got = await hashdb.set_many(old_root=root, writes=writes, persistence=DB, batch_uuid="a", tx=1)
        assert got == expected
        root = got


async def test_set_many_on_an_unknown_root_even_with_no_writes(hashdb: HashDB) -> None:
    for writes in ([], [((1, 0, 0, 0), 1)]):
        with pytest.raises(
            NotFound, match="root 0x0000000000000000000000000000000000000000000000000000000000000009"
        ):
            await hashdb.set_many(old_root=(9, 0, 0, 0), writes=writes, persistence=DB, batch_uuid="", tx=0)


async def test_temporary_and_cache_writes_never_reach_the_store(hashdb: HashDB, store: MemoryStore) -> None:
    touched = await put(hashdb, ZERO_H4, (1, 0, 0, 0), 1, p=Persistence.TEMPORARY)
    cached = await put(hashdb, ZERO_H4, (2, 0, 0, 0), 2, uuid="sim", p=Persistence.CACHE)
    await wait_stored(hashdb, (await hashdb.flush("b", None, DB)).flush_id)
    await wait_stored(hashdb, (await hashdb.flush("sim", None, Persistence.CACHE)).flush_id)
    assert store.nodes == {}
    with pytest.raises(NotFound):
        await value_of(hashdb, touched, (1, 0, 0, 0))  # dropped with its session
    assert await value_of(hashdb, cached, (2, 0, 0, 0)) == 2  # kept in memory


async def test_semi_flush_and_flush_reject_roots_they_do_not_know(hashdb: HashDB) -> None:
    root = await put(hashdb, ZERO_H4, (1, 0, 0, 0), 1)
    with pytest.raises(InvalidArgument, match="is not a root transaction 0"):
        await hashdb.semi_flush("b", (5, 5, 5, 5), DB)
    with pytest.raises(InvalidArgument, match="neither the end nor the start root"):
        await hashdb.flush("b", (5, 5, 5, 5), DB)
    with pytest.raises(NotFound, match="is not a root this HashDB has"):
        await hashdb.flush("", (5, 5, 5, 5), DB)
    # the session survived both rejections
    assert await value_of(hashdb, root, (1, 0, 0, 0), uuid="b") == 1
    await hashdb.semi_flush("no-such-batch", (5, 5, 5, 5), DB)  # no session: nothing to end


@pytest.mark.parametrize("error", [StoreError("connection refused"), RuntimeError("a bug in the store")])
async def test_failed_store_writes_are_retried_and_only_then_reported(error: Exception) -> None:
    store = FlakyStore(failures=3, error=error)
    h = await open_hashdb(store)
    try:
        root = await put(h, ZERO_H4, (1, 0, 0, 0), 1)
        ticket = await h.flush("b", root, DB)
        assert (await h.flush_status()).stored_flush_id == 0
        await wait_stored(h, ticket.flush_id)
        assert store.failures == 0 and root in store.nodes
    finally:
        await h.close(drain_timeout_s=5)


async def test_close_stores_what_was_flushed() -> None:
    store = MemoryStore()
    h = await open_hashdb(store)
    root = await put(h, ZERO_H4, (1, 0, 0, 0), 1)
    await h.flush("b", root, DB)
    await h.close(drain_timeout_s=5)
    assert store.status.stored_flush_id == 1 and root in store.nodes


async def test_flush_data_waits_for_the_next_stored_flush(hashdb: HashDB) -> None:
    waiting = asyncio.create_task(hashdb.flush_data(0, wait_s=5))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    root = await put(hashdb, ZERO_H4, (1, 0, 0, 0), 1)
    await hashdb.flush("b", root, DB)
    data = await waiting
    assert data.stored_flush_id == 1 and root in data.nodes and data.state_root == root
    # nothing newer: an empty answer once the wait is over
    assert (await hashdb.flush_data(1, wait_s=0.01)).nodes == {}
    with pytest.raises(NotFound, match="flush id 9 is unknown: the last flush id is 1"):
        await hashdb.flush_data(9, wait_s=0.01)


async def test_flush_data_older_than_the_history_is_out_of_range() -> None:
    h = await open_hashdb(MemoryStore(), HashDBSettings(writer_poll_s=0.05))
    try:
        h._db._history = h._db._history.__class__(maxlen=1)
        for i in range(3):
            await put(h, ZERO_H4, (i, 0, 0, 0), 1, uuid="")
            await wait_stored(h, (await h.flush("", None, DB)).flush_id)
        with pytest.raises(OutOfRange, match="no longer held"):
            await h.flush_data(0, wait_s=0)
    finally:
        await h.close(drain_timeout_s=5)


async def test_programs_are_stored_under_their_bytecode_hash(hashdb: HashDB, store: MemoryStore) -> None:
    code = bytes.fromhex("6080604052")
    await hashdb.set_program(bytecode_hash(code), code, persistent=True)
    assert await hashdb.get_program(bytecode_hash(code)) == code
    with pytest.raises(InvalidArgument, match="is not the bytecode hash of the data"):
        await hashdb.set_program((1, 2, 3, 4), code, persistent=True)
    with pytest.raises(NotFound, match="no program under hash"):
        await hashdb.get_program((1, 2, 3, 4))
    await wait_stored(hashdb, (await hashdb.flush("", None, DB)).flush_id)
    assert store.programs == {bytecode_hash(code): code}


@pytest.mark.parametrize("batch", range(4))
async def test_load_db_accepts_the_prover_vectors_and_checks_every_hash(hashdb: HashDB, batch: int) -> None:
    vector = load_vector(f"prover-v3.0.2/batchProof/input_executor_{batch}.json")
    nodes: dict[H4, Node] = {
        hex_to_h4(h): wire.parse_node([int(x, 16) for x in fes], h) for h, fes in vector["db"].items()
    }
    await hashdb.load_nodes(nodes, persistent=False)
    root = hex_to_h4(vector["oldStateRoot"])
    # the root's path for some key is there: a Get with details walks it without a missing node
    assert (await hashdb.get(root, ZERO_H4, "", details=True, read_log=True)).read_log
    some_hash, some_node = next(iter(nodes.items()))
    with pytest.raises(InvalidArgument, match="hashes to"):
        await hashdb.load_nodes({some_hash: (*some_node[:11], some_node[11] + 1)}, persistent=False)


async def test_get_details_describe_the_path(hashdb: HashDB) -> None:
    root = await hashdb.set_many(
        old_root=ZERO_H4, writes=[((1, 0, 0, 0), 7), ((2, 0, 0, 0), 8)], persistence=DB, batch_uuid="", tx=0
    )
    found = await hashdb.get(root, (1, 0, 0, 0), "", details=True, read_log=True)
    assert found.value == 7 and found.details is not None and found.details.is_old0
    assert len(found.details.siblings) == 1 and len(found.details.siblings[0]) == 12
    assert found.proof_hash_counter == 3  # one intermediate node + 2 for the leaf (spec §3.7)
    assert found.read_log is not None and root in found.read_log
    # key 3 goes right at depth 0, where key 1's leaf is: that leaf is reported as ins_key / ins_value
    other = await hashdb.get(root, (3, 0, 0, 0), "", details=True, read_log=False)
    assert other.value == 0 and other.details is not None
    assert (other.details.is_old0, other.details.ins_key, other.details.ins_value) == (False, (1, 0, 0, 0), 7)


async def test_cancel_batch_forgets_the_session(hashdb: HashDB) -> None:
    root = await put(hashdb, ZERO_H4, (1, 0, 0, 0), 1)
    await hashdb.cancel_batch("b")
    await hashdb.cancel_batch("b")  # cancelling twice is fine
    with pytest.raises(NotFound):
        await value_of(hashdb, root, (1, 0, 0, 0), uuid="b")


async def test_idle_sessions_expire() -> None:
    h = await open_hashdb(MemoryStore(), HashDBSettings(session_ttl_s=0.05, writer_poll_s=0.02))
    try:
        root = await put(h, ZERO_H4, (1, 0, 0, 0), 1)
        await asyncio.sleep(0.2)
        with pytest.raises(NotFound):
            await value_of(h, root, (1, 0, 0, 0), uuid="b")
    finally:
        await h.close(drain_timeout_s=5)


async def test_a_cancelled_call_on_the_tree_thread_does_not_let_others_in_early(hashdb: HashDB) -> None:
    rng = random.Random(3)
    big = rand_writes(rng, 3000)
    task = asyncio.create_task(
        hashdb.set_many(old_root=ZERO_H4, writes=big, persistence=DB, batch_uuid="x", tx=0)
    )
    await asyncio.sleep(0.01)
    task.cancel()
    # every call after the cancellation is still served, one at a time, and sees consistent state
    results = await asyncio.gather(
        *(
            hashdb.set_many(old_root=ZERO_H4, writes=big[:200], persistence=DB, batch_uuid=f"s{i}", tx=0)
            for i in range(3)
        )
    )
    assert len(set(results)) == 1
    assert results[0] == SparseMerkleTree(MemoryNodeStore()).set_many(ZERO_H4, big[:200])

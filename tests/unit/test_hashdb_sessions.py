"""Batch sessions: what a transaction and a batch keep, decided by reachability (services.hashdb.sessions)."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.errors import InvalidArgument
from services.hashdb.sessions import BatchSession, Persistence, reachable_new_nodes
from zkevm.errors import MissingNodeError
from zkevm.field import H4, ZERO_H4, Node, P
from zkevm.nodestore import MemoryNodeStore, OverlayNodeStore
from zkevm.smt import SparseMerkleTree

DB = Persistence.DATABASE


def tree_nodes(store: MemoryNodeStore | dict[H4, Node], root: H4) -> dict[H4, Node]:
    """Every node of the tree under `root`; raises MissingNodeError if one is absent."""
    nodes = store if isinstance(store, dict) else store.nodes
    out: dict[H4, Node] = {}
    stack: list[tuple[H4, bool]] = [(root, False)]
    while stack:
        h, is_value = stack.pop()
        if h == ZERO_H4 or h in out:
            continue
        node = nodes.get(h)
        if node is None:
            raise MissingNodeError(str(h))
        out[h] = node
        if is_value:
            continue
        if node[8] == 1:
            stack.append((node[4:8], True))  # type: ignore[arg-type]
        else:
            stack += [(node[0:4], False), (node[4:8], False)]  # type: ignore[list-item]
    return out


def write(session: BatchSession, base: MemoryNodeStore, tx: int, root: H4, kv: tuple[H4, int]) -> H4:
    """One Set of `tx` in the session, as HashDB does it: reads see the session, writes are committed."""
    scratch = OverlayNodeStore(_SessionBase(session, base))
    new_root = SparseMerkleTree(scratch).set(root, *kv).new_root
    session.commit(tx, DB, root, new_root, scratch.nodes)
    return new_root


class _SessionBase:
    def __init__(self, session: BatchSession, base: MemoryNodeStore) -> None:
        self.read = session.reader(base.get_node)

    def get_node(self, h: H4) -> Node | None:
        return self.read(h)

    def put_node(self, h: H4, node: Node) -> None:
        raise AssertionError("writes go to the overlay")

    def get_program(self, h: H4) -> bytes | None:
        return None

    def put_program(self, h: H4, code: bytes) -> None:
        raise AssertionError


def test_reachable_new_nodes_stops_at_nodes_outside_the_pool() -> None:
    store = MemoryNodeStore()
    tree = SparseMerkleTree(store)
    r1 = tree.set(ZERO_H4, (1, 0, 0, 0), 1).new_root
    before = dict(store.nodes)
    r2 = tree.set(r1, (2, 0, 0, 0), 2).new_root
    pool = {h: n for h, n in store.nodes.items() if h not in before}
    kept = reachable_new_nodes([r2], pool)
    # the new root, the two leaves (key 1's leaf moved down a level) and key 2's value node;
    # value 1's node existed before and is not in the pool
    assert set(kept) == set(tree_nodes(store, r2)) - set(before)
    assert reachable_new_nodes([r1], pool) == {}


def test_a_transaction_keeps_only_what_its_end_root_uses() -> None:
    base = MemoryNodeStore()
    root0 = SparseMerkleTree(base).set_many(ZERO_H4, [((i, 1, 2, 3), i + 1) for i in range(20)])
    s = BatchSession("b")
    key = (5, 5, 5, 5)
    r1 = write(s, base, 0, root0, (key, 1))
    r2 = write(s, base, 0, r1, (key, 2))  # the path of r1 is superseded within the transaction
    dropped = s.end_tx(r2, DB)
    assert dropped > 0
    kept = s.kept[DB]
    needed = set(tree_nodes(base.nodes | kept, r2))
    # everything new the end root needs, nothing it does not (a re-hashed node equal to a stored one
    # may be kept too: stores insert if absent)
    assert needed - set(base.nodes) <= set(kept) <= needed
    assert r1 not in s.view  # an intermediate root of the transaction is gone from memory
    assert s.view.keys() == kept.keys()


def test_semi_flush_to_an_earlier_root_rolls_the_transaction_back() -> None:
    base = MemoryNodeStore()
    s = BatchSession("b")
    r1 = write(s, base, 0, ZERO_H4, ((1, 0, 0, 0), 10))
    write(s, base, 0, r1, ((2, 0, 0, 0), 20))  # a write the transaction reverted
    s.end_tx(r1, DB)
    kept = s.finish(r1, DB)[DB]
    assert SparseMerkleTree(MemoryNodeStore(base.nodes | kept)).get(r1, (1, 0, 0, 0)) == 10
    assert set(kept) == set(tree_nodes(kept, r1))


def test_semi_flush_names_a_root_the_transaction_did_not_pass_through() -> None:
    base = MemoryNodeStore()
    s = BatchSession("b")
    write(s, base, 0, ZERO_H4, ((1, 0, 0, 0), 10))
    with pytest.raises(InvalidArgument, match="is not a root transaction 0"):
        s.end_tx((9, 9, 9, 9), DB)


def test_semi_flush_without_writes_at_that_persistence_does_nothing() -> None:
    base = MemoryNodeStore()
    s = BatchSession("b")
    r1 = write(s, base, 0, ZERO_H4, ((1, 0, 0, 0), 10))
    assert s.end_tx(r1, Persistence.CACHE) == 0
    assert s.txs[DB][0].written  # the DATABASE transaction is still open


def test_flush_drops_transactions_after_the_final_root() -> None:
    base = MemoryNodeStore()
    s = BatchSession("b")
    r0 = write(s, base, 0, ZERO_H4, ((1, 0, 0, 0), 10))
    s.end_tx(r0, DB)
    r1 = write(s, base, 1, r0, ((2, 0, 0, 0), 20))
    s.end_tx(r1, DB)
    kept = s.finish(r0, DB)[DB]  # the batch ended after transaction 0
    assert r1 not in kept
    assert set(kept) == set(tree_nodes(kept, r0))


def test_flush_at_the_start_root_of_a_transaction_drops_it() -> None:
    base = MemoryNodeStore()
    root0 = SparseMerkleTree(base).set(ZERO_H4, (7, 0, 0, 0), 7).new_root
    s = BatchSession("b")
    write(s, base, 0, root0, ((1, 0, 0, 0), 10))
    assert s.finish(root0, DB)[DB] == {}


def test_flush_at_an_unknown_root_is_rejected() -> None:
    base = MemoryNodeStore()
    s = BatchSession("b")
    write(s, base, 0, ZERO_H4, ((1, 0, 0, 0), 10))
    with pytest.raises(InvalidArgument, match="neither the end nor the start root"):
        s.finish((3, 3, 3, 3), DB)


def test_temporary_writes_are_never_kept() -> None:
    base = MemoryNodeStore()
    s = BatchSession("b")
    scratch = OverlayNodeStore(_SessionBase(s, base))
    r = SparseMerkleTree(scratch).set(ZERO_H4, (1, 0, 0, 0), 1).new_root
    s.commit(0, Persistence.TEMPORARY, ZERO_H4, r, scratch.nodes)
    kept = s.finish(None, DB)
    assert kept[DB] == {} and kept[Persistence.CACHE] == {}
    assert Persistence.TEMPORARY not in kept


key_strategy = st.one_of(st.tuples(*[st.integers(0, 3)] * 4), st.tuples(*[st.integers(0, P - 1)] * 4))
value_strategy = st.one_of(st.just(0), st.integers(1, 2**256 - 1))
tx_strategy = st.tuples(
    st.lists(st.tuples(key_strategy, value_strategy), min_size=1, max_size=6),
    st.one_of(
        st.none(), st.integers(0, 6)
    ),  # None: the transaction keeps all its writes; i: it ends after write i
)


@settings(max_examples=60, deadline=None)
@given(st.lists(tx_strategy, min_size=1, max_size=5), st.integers(0, 2**32))
def test_flushed_nodes_hold_every_transaction_end_root_and_nothing_else(
    txs: list[tuple[list[tuple[H4, int]], int | None]], seed: int
) -> None:
    rng = random.Random(seed)
    base = MemoryNodeStore()
    root = SparseMerkleTree(base).set_many(
        ZERO_H4, [((rng.randrange(P), 0, 0, 0), rng.randrange(1, 99)) for _ in range(rng.randrange(0, 8))]
    )
    model: dict[H4, int] = {}
    session = BatchSession("b")
    end_roots: list[tuple[H4, dict[H4, int]]] = []
    for tx, (writes, keep) in enumerate(txs):
        roots = [(root, dict(model))]
        state = dict(model)
        r = root
        for key, value in writes:
            r = write(session, base, tx, r, (key, value))
            state = {**state, key: value} if value else {k: v for k, v in state.items() if k != key}
            roots.append((r, state))
        root, model = roots[len(roots) - 1 if keep is None else min(keep, len(roots) - 1)]
        session.end_tx(root, DB)
        end_roots.append((root, model))
    kept = session.finish(root, DB)[DB]
    store = MemoryNodeStore(base.nodes | kept)
    tree = SparseMerkleTree(store)
    needed: set[H4] = set()
    for end_root, expected in end_roots:
        needed |= set(tree_nodes(store, end_root))
        for key, value in expected.items():
            assert tree.get(end_root, key) == value
    assert set(kept) <= needed  # nothing flushed that no end root uses

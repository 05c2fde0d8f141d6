import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import load_vector
from zkevm.errors import EncodingError, MissingNodeError
from zkevm.field import H4, ZERO_H4, P, h4_to_hex, int_to_h4, parse_int
from zkevm.nodestore import MemoryNodeStore, OverlayNodeStore
from zkevm.smt import (
    SetMode,
    SparseMerkleTree,
    join_key,
    remove_key_bits,
    verify_proof,
)


def fresh() -> SparseMerkleTree:
    return SparseMerkleTree(MemoryNodeStore())


RAW = load_vector("merkle-tree/smt-raw.json")


@pytest.mark.parametrize("case", range(len(RAW)))
def test_smt_raw_vectors_one_by_one_and_as_a_write_set(case: int) -> None:
    c = RAW[case]
    writes = [(int_to_h4(parse_int(k)), parse_int(v)) for k, v in zip(c["keys"], c["values"], strict=True)]
    tree = fresh()
    root = ZERO_H4
    for key, value in writes:
        root = tree.set(root, key, value).new_root
    assert h4_to_hex(root) == c["expectedRoot"]
    assert h4_to_hex(fresh().set_many(ZERO_H4, writes)) == c["expectedRoot"]


# Keys drawn from a tiny space collide on long path prefixes (deep splits and collapses); keys drawn
# from the whole field look like real state keys.
small_key = st.tuples(*[st.integers(0, 3)] * 4)
field_key = st.tuples(*[st.integers(0, P - 1)] * 4)
value = st.one_of(st.just(0), st.integers(1, 3), st.integers(0, 2**256 - 1))
writes_strategy = st.lists(st.tuples(st.one_of(small_key, field_key), value), max_size=30)


def final_state(writes: list[tuple[H4, int]]) -> dict[H4, int]:
    state: dict[H4, int] = {}
    for k, v in writes:
        if v:
            state[k] = v
        else:
            state.pop(k, None)
    return state


@settings(max_examples=150, deadline=None)
@given(writes_strategy, st.randoms(use_true_random=False))
def test_root_depends_only_on_the_final_set(writes: list[tuple[H4, int]], rnd: random.Random) -> None:
    tree = fresh()
    root = ZERO_H4
    for k, v in writes:
        root = tree.set(root, k, v).new_root
    state = list(final_state(writes).items())
    rnd.shuffle(state)
    rebuilt = ZERO_H4
    other = fresh()
    for k, v in state:
        rebuilt = other.set(rebuilt, k, v).new_root
    assert root == rebuilt
    assert fresh().set_many(ZERO_H4, state) == root
    assert tree.set_many(ZERO_H4, writes) == root


@settings(max_examples=100, deadline=None)
@given(writes_strategy, writes_strategy)
def test_write_set_on_top_of_a_tree_equals_sequential_writes(
    base: list[tuple[H4, int]], batch: list[tuple[H4, int]]
) -> None:
    tree = fresh()
    root = tree.set_many(ZERO_H4, base)
    seq = root
    for k, v in batch:
        seq = tree.set(seq, k, v).new_root
    assert tree.set_many(root, batch) == seq


@settings(max_examples=100, deadline=None)
@given(writes_strategy, st.one_of(small_key, field_key))
def test_get_and_proofs(writes: list[tuple[H4, int]], probe: H4) -> None:
    tree = fresh()
    root = tree.set_many(ZERO_H4, writes)
    state = final_state(writes)
    for key in [*state, probe]:
        want = state.get(key, 0)
        assert tree.get(root, key) == want
        proof = tree.get_proof(root, key)
        assert proof.value == want
        assert verify_proof(proof)


def test_tampered_proofs_fail() -> None:
    tree = fresh()
    keys = [(i, i * 7, 3, 1) for i in range(20)]
    root = tree.set_many(ZERO_H4, [(k, 10 + i) for i, k in enumerate(keys)])
    proof = tree.get_proof(root, keys[5])
    assert verify_proof(proof)
    forged_value = replace(proof, value=proof.value + 1)
    assert not verify_proof(forged_value)
    sib = list(proof.siblings[0])
    sib[0] ^= 1
    forged_path = replace(proof, siblings=(tuple(sib), *proof.siblings[1:]))
    assert not verify_proof(forged_path)
    absent = replace(proof, value=0)
    assert not verify_proof(absent)


def test_set_reports_modes_old_values_and_counters() -> None:
    tree = fresh()
    a, b = (1, 0, 0, 0), (2, 0, 0, 0)
    r1 = tree.set(ZERO_H4, a, 1)
    assert (r1.mode, r1.old_value, r1.proof_hash_counter) == (SetMode.INSERT_NOT_FOUND, 0, 2)
    r2 = tree.set(r1.new_root, b, 2)
    assert r2.mode is SetMode.INSERT_FOUND
    # the root leaf is found (+2); the split node sits at depth 0, so it is the new root (+4, none above)
    assert r2.proof_hash_counter == 2 + 4
    r3 = tree.set(r2.new_root, a, 5)
    assert (r3.mode, r3.old_value) == (SetMode.UPDATE, 1)
    r4 = tree.set(r3.new_root, a, 0)
    assert (r4.mode, r4.old_value) == (SetMode.DELETE_FOUND, 5)
    assert r4.new_root == tree.set(ZERO_H4, b, 2).new_root
    r5 = tree.set(r4.new_root, b, 0)
    assert (r5.mode, r5.new_root) == (SetMode.DELETE_LAST, ZERO_H4)
    r6 = tree.set(r5.new_root, b, 0)
    assert (r6.mode, r6.new_root) == (SetMode.ZERO_TO_ZERO, ZERO_H4)


def test_remove_and_join_key_are_inverse() -> None:
    rng = random.Random(7)
    for _ in range(200):
        key = tuple(rng.randrange(2**64) for _ in range(4))
        n = rng.randrange(0, 256)
        assert join_key(remove_key_bits(key, n), key, n) == key  # type: ignore[arg-type]


def test_unknown_root_raises_missing_node() -> None:
    tree = fresh()
    with pytest.raises(MissingNodeError, match="not in the node store"):
        tree.get((1, 2, 3, 4), (0, 0, 0, 0))
    with pytest.raises(MissingNodeError):
        tree.set((1, 2, 3, 4), (0, 0, 0, 0), 1)


@pytest.mark.parametrize(
    ("key", "val", "message"),
    [
        ((0, 0, 0), 1, "four 64-bit limbs"),
        ((0, 0, 0, 2**64), 1, "four 64-bit limbs"),
        ((0, 0, 0, -1), 1, "four 64-bit limbs"),
        ((0, 0, 0, 0), 2**256, "uint256"),
        ((0, 0, 0, 0), -1, "uint256"),
    ],
)
def test_bad_keys_and_values_are_rejected(key: H4, val: int, message: str) -> None:
    with pytest.raises(EncodingError, match=message):
        fresh().set(ZERO_H4, key, val)
    with pytest.raises(EncodingError, match=message):
        fresh().set_many(ZERO_H4, [(key, val)])


def test_overlay_keeps_writes_apart_from_the_base() -> None:
    base = MemoryNodeStore()
    root = SparseMerkleTree(base).set_many(ZERO_H4, [((i, 0, 0, 0), i + 1) for i in range(10)])
    before = len(base)
    overlay = OverlayNodeStore(base)
    tree = SparseMerkleTree(overlay)
    new_root = tree.set(root, (3, 0, 0, 0), 99).new_root
    assert len(base) == before
    assert overlay.nodes
    assert tree.get(new_root, (3, 0, 0, 0)) == 99
    assert SparseMerkleTree(base).get(root, (3, 0, 0, 0)) == 4

"""The executor's HashDB client, pieces that need no server: what a kept batch ships, and how."""

import random
import struct

import pytest

from services.executor.hashdb_client import pack_nodes, reachable
from zkevm.field import H4, ZERO_H4, Node, P
from zkevm.nodestore import MemoryNodeStore, OverlayNodeStore
from zkevm.smt import SparseMerkleTree


def _whole_tree(root: H4, store: OverlayNodeStore) -> set[H4]:
    """Every node under `root`, found by walking the whole tree (the reference)."""
    seen: set[H4] = set()
    stack = [(root, False)]
    while stack:
        h, is_value = stack.pop()
        if h == ZERO_H4 or h in seen:
            continue
        node = store.get_node(h)
        assert node is not None
        seen.add(h)
        if is_value:
            continue
        if node[8] == 1:
            stack.append((node[4:8], True))  # type: ignore[arg-type]
        else:
            stack += [(node[0:4], False), (node[4:8], False)]  # type: ignore[list-item]
    return seen


def test_reachable_ships_exactly_the_new_nodes_the_kept_roots_use() -> None:
    rng = random.Random(3)
    base = MemoryNodeStore()
    keys = [(rng.randrange(P), rng.randrange(P), rng.randrange(P), rng.randrange(P)) for _ in range(400)]
    old_root = SparseMerkleTree(base).set_many(ZERO_H4, [(k, rng.randrange(1, 2**200)) for k in keys])
    overlay = OverlayNodeStore(base)
    tree = SparseMerkleTree(overlay)
    root, kept = old_root, []
    for step in range(30):
        writes = [(rng.choice(keys), 0 if rng.random() < 0.2 else rng.randrange(2**64)) for _ in range(4)]
        root = tree.set_many(root, writes)
        if step % 3 == 0:  # the other roots are intermediate: their own nodes are not shipped
            kept.append(root)
    shipped = reachable(kept, overlay.nodes)
    used = set().union(*(_whole_tree(r, overlay) for r in kept))
    assert set(shipped) == used & set(overlay.nodes)
    assert len(shipped) < len(overlay.nodes)  # something was dropped
    assert all(shipped[h] == overlay.nodes[h] for h in shipped)


def test_pack_nodes_is_12_little_endian_uint64_a_node() -> None:
    nodes: list[Node] = [tuple(range(12)), (P - 1,) * 8 + (0, 0, 0, 0)]
    assert pack_nodes(nodes) == b"".join(struct.pack("<12Q", *n) for n in nodes)
    assert pack_nodes([]) == b""


def test_pack_nodes_refuses_a_node_that_is_not_12_elements() -> None:
    with pytest.raises(ValueError, match="12 64-bit elements"):
        pack_nodes([(1, 2, 3)])
    with pytest.raises(ValueError, match="12 64-bit elements"):
        pack_nodes([(2**64,) * 12])

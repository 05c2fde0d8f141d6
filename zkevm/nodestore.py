"""Where the sparse Merkle tree keeps its nodes (spec §3.6).

The tree is content-addressed: a node's hash (h4) maps to its 12-element Poseidon preimage, for
intermediate nodes, leaves and value nodes alike. A second map ("program") holds contract bytecode
under its linear-Poseidon hash. Nothing is ever deleted: old roots stay readable.

`NodeStore` is the interface the tree needs. `MemoryNodeStore` is the in-memory implementation used by
unit tests, by the executor's per-batch overlay and by the HashDB service in front of its persistent
stores (LMDB, PostgreSQL), which implement the same protocol over bytes (see `field.node_to_bytes`).
"""

from collections.abc import Iterable, Iterator
from typing import Protocol

from zkevm.field import H4, Node


class NodeStore(Protocol):
    """Content-addressed storage of tree nodes and bytecode."""

    def get_node(self, node_hash: H4) -> Node | None:
        """The 12 elements stored under `node_hash`, or None if absent."""

    def put_node(self, node_hash: H4, node: Node) -> None:
        """Store `node` under `node_hash` (a no-op if it is already there)."""

    def get_program(self, code_hash: H4) -> bytes | None:
        """The bytecode stored under its hash, or None."""

    def put_program(self, code_hash: H4, code: bytes) -> None: ...


class MemoryNodeStore:
    """A dict-backed `NodeStore`."""

    __slots__ = ("nodes", "programs")

    def __init__(self, nodes: dict[H4, Node] | None = None, programs: dict[H4, bytes] | None = None) -> None:
        self.nodes: dict[H4, Node] = {} if nodes is None else nodes
        self.programs: dict[H4, bytes] = {} if programs is None else programs

    def get_node(self, node_hash: H4) -> Node | None:
        return self.nodes.get(node_hash)

    def put_node(self, node_hash: H4, node: Node) -> None:
        self.nodes[node_hash] = node

    def get_program(self, code_hash: H4) -> bytes | None:
        return self.programs.get(code_hash)

    def put_program(self, code_hash: H4, code: bytes) -> None:
        self.programs[code_hash] = code

    def __len__(self) -> int:
        return len(self.nodes)

    def items(self) -> Iterator[tuple[H4, Node]]:
        return iter(self.nodes.items())

    def update(self, nodes: Iterable[tuple[H4, Node]]) -> None:
        self.nodes.update(nodes)


class OverlayNodeStore:
    """Writes go to memory; reads fall through to a base store.

    This is how a batch or a transaction accumulates its changes before they are flushed: the
    overlay's `nodes` and `programs` are exactly what was written since it was created.
    """

    __slots__ = ("base", "nodes", "programs")

    def __init__(self, base: NodeStore) -> None:
        self.base = base
        self.nodes: dict[H4, Node] = {}
        self.programs: dict[H4, bytes] = {}

    def get_node(self, node_hash: H4) -> Node | None:
        node = self.nodes.get(node_hash)
        return node if node is not None else self.base.get_node(node_hash)

    def put_node(self, node_hash: H4, node: Node) -> None:
        self.nodes[node_hash] = node

    def get_program(self, code_hash: H4) -> bytes | None:
        code = self.programs.get(code_hash)
        return code if code is not None else self.base.get_program(code_hash)

    def put_program(self, code_hash: H4, code: bytes) -> None:
        self.programs[code_hash] = code

"""The durable node store interface, and its in-memory twin.

A store holds what flushes handed it, and nothing else:

    nodes     node hash (h4) → its 12 field elements      content-addressed, insert-if-absent
    programs  bytecode hash (h4) → bytecode                content-addressed, insert-if-absent
    status    the id of the last flush stored, the state root it named (the prover's 0xff…ff row)

`write` is atomic: after it returns, everything in the `StoreWrite` is durable and
`stored_status().stored_flush_id` is its `flush_id`; after a crash, either all of it is there or
none of it. Writes of nodes and programs never replace what is there (a hash always names the same
content), so writing the same flush twice is harmless. Reads may run on another thread than writes.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from zkevm.field import H4, ZERO_H4, Node


class StoreError(Exception):
    """The backing store failed or cannot be reached; the operation may be retried."""


@dataclass(frozen=True, slots=True)
class StoreWrite:
    """What one or more flushes hand to the store in one atomic write."""

    flush_id: int
    nodes: Mapping[H4, Node] = field(default_factory=dict)
    programs: Mapping[H4, bytes] = field(default_factory=dict)
    #: the latest state root, when a flush named one
    state_root: H4 | None = None


@dataclass(frozen=True, slots=True)
class StoredStatus:
    stored_flush_id: int
    #: the root the last flush that named one named (the empty tree's root before that)
    state_root: H4


class DurableStore(Protocol):
    """Where flushed nodes and programs live across restarts."""

    def get_node(self, node_hash: H4) -> Node | None: ...

    def get_program(self, code_hash: H4) -> bytes | None: ...

    def write(self, batch: StoreWrite) -> None:
        """Store everything in `batch` atomically and durably (see the module docstring)."""

    def stored_status(self) -> StoredStatus: ...

    def close(self) -> None: ...


class MemoryStore:
    """A dict-backed `DurableStore` for unit tests (durable only as long as the object lives)."""

    def __init__(self) -> None:
        self.nodes: dict[H4, Node] = {}
        self.programs: dict[H4, bytes] = {}
        self.status = StoredStatus(0, ZERO_H4)
        self.writes = 0

    def get_node(self, node_hash: H4) -> Node | None:
        return self.nodes.get(node_hash)

    def get_program(self, code_hash: H4) -> bytes | None:
        return self.programs.get(code_hash)

    def write(self, batch: StoreWrite) -> None:
        for h, node in batch.nodes.items():
            self.nodes.setdefault(h, node)
        for h, code in batch.programs.items():
            self.programs.setdefault(h, code)
        root = batch.state_root if batch.state_root is not None else self.status.state_root
        self.status = StoredStatus(batch.flush_id, root)
        self.writes += 1

    def stored_status(self) -> StoredStatus:
        return self.status

    def close(self) -> None:
        pass

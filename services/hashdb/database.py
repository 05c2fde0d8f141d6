"""The node database behind the tree: memory in front of a durable store, and the flush pipeline.

    read:   node cache ─▶ pending buffer ─▶ sealed flushes (newest first) ─▶ durable store
    write:  pending buffer (+ node cache)           CACHE writes: node cache only

    Flush:  pending ──seal──▶ sealed flush #n ──writer──▶ store.write ──▶ stored_flush_id = n
                                                                    └──▶ history (GetFlushData)

This is the prover's `Database` with its multi-write buffers (l1-and-protos.md §4.3): a flush
returns at once with its id; the writer hands every sealed flush to the store in one atomic
write, in order, and only then moves `stored_flush_id`. A failed write is retried; until it
succeeds the sealed data stays here and stays readable, so nothing that was acknowledged is lost
while the process lives, and nothing is reported stored before it is durable.

Flush ids continue across restarts: they start after the `stored_flush_id` the store recorded.
Nothing here is thread-safe; `HashDB` calls it under its tree lock.
"""

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from services.hashdb.stores.base import DurableStore, StoreWrite
from services.hashdb.stores.cache import LruCache
from zkevm.field import H4, Node


@dataclass(slots=True)
class _Buffer:
    nodes: dict[H4, Node] = field(default_factory=dict)
    programs: dict[H4, bytes] = field(default_factory=dict)
    state_root: H4 | None = None


@dataclass(frozen=True, slots=True)
class SealedFlush:
    """The persistent data of one Flush, from the moment it got its id."""

    flush_id: int
    nodes: Mapping[H4, Node]
    programs: Mapping[H4, bytes]
    state_root: H4 | None
    #: time.monotonic() when the flush was sealed (for the flush latency metric)
    sealed_at: float

    @property
    def size_bytes(self) -> int:
        """Bytes handed to the store: 32 + 96 per node, 32 + code length per program."""
        return 128 * len(self.nodes) + sum(32 + len(code) for code in self.programs.values())


@dataclass(frozen=True, slots=True)
class FlushStatus:
    stored_flush_id: int
    storing_flush_id: int
    last_flush_id: int
    pending_nodes: int
    pending_programs: int
    storing_nodes: int
    storing_programs: int


@dataclass(frozen=True, slots=True)
class FlushData:
    """What the flushes after some id stored (GetFlushData)."""

    stored_flush_id: int
    nodes: Mapping[H4, Node]
    programs: Mapping[H4, bytes]
    state_root: H4 | None


class FlushHistoryGap(Exception):
    """The data asked for is older than the flush history kept in memory."""


class NodeDatabase:
    def __init__(
        self,
        store: DurableStore,
        node_cache: LruCache[H4, Node],
        program_cache: LruCache[H4, bytes],
        history_flushes: int,
    ) -> None:
        self.store = store
        self.node_cache = node_cache
        self.program_cache = program_cache
        status = store.stored_status()
        self.stored_flush_id = status.stored_flush_id
        self.last_flush_id = status.stored_flush_id
        #: the id of the last flush handed to the store and not yet acknowledged by it (0 = none)
        self.storing_flush_id = 0
        self.stored_state_root = status.state_root
        self._pending = _Buffer()
        self._sealed: deque[SealedFlush] = deque()
        self._history: deque[SealedFlush] = deque(maxlen=history_flushes)
        self._storing_nodes = 0
        self._storing_programs = 0

    # -- reads ------------------------------------------------------------------------------

    def get_node(self, node_hash: H4) -> Node | None:
        node = self.node_cache.get(node_hash)
        if node is not None:
            return node
        node = self._pending.nodes.get(node_hash)
        if node is None:
            for sealed in reversed(self._sealed):
                node = sealed.nodes.get(node_hash)
                if node is not None:
                    break
            else:
                node = self.store.get_node(node_hash)
                if node is None:
                    return None
        self.node_cache.put(node_hash, node)
        return node

    def get_program(self, code_hash: H4) -> bytes | None:
        code = self.program_cache.get(code_hash)
        if code is not None:
            return code
        code = self._pending.programs.get(code_hash)
        if code is None:
            for sealed in reversed(self._sealed):
                code = sealed.programs.get(code_hash)
                if code is not None:
                    break
            else:
                code = self.store.get_program(code_hash)
                if code is None:
                    return None
        self.program_cache.put(code_hash, code)
        return code

    # -- writes -----------------------------------------------------------------------------

    def put_node(self, node_hash: H4, node: Node, persistent: bool) -> None:
        self.node_cache.put(node_hash, node)
        if persistent:
            self._pending.nodes[node_hash] = node

    def put_nodes(self, nodes: Mapping[H4, Node], persistent: bool) -> None:
        self.node_cache.put_many(nodes.items())
        if persistent:
            self._pending.nodes.update(nodes)

    def put_program(self, code_hash: H4, code: bytes, persistent: bool) -> None:
        self.program_cache.put(code_hash, code)
        if persistent:
            self._pending.programs[code_hash] = code

    def set_state_root(self, root: H4) -> None:
        """Record `root` as the latest state root at the next flush (the prover's 0xff…ff row)."""
        self._pending.state_root = root

    # -- the flush pipeline -----------------------------------------------------------------

    def seal(self, now: float) -> SealedFlush:
        """Close the pending buffer as the next flush; the writer will store it."""
        self.last_flush_id += 1
        pending = self._pending
        sealed = SealedFlush(self.last_flush_id, pending.nodes, pending.programs, pending.state_root, now)
        self._sealed.append(sealed)
        self._pending = _Buffer()
        return sealed

    def unstored(self) -> list[SealedFlush]:
        """Sealed flushes not stored yet, oldest first."""
        return list(self._sealed)

    @staticmethod
    def merge(flushes: Iterable[SealedFlush]) -> StoreWrite:
        """One store write for several consecutive flushes."""
        nodes: dict[H4, Node] = {}
        programs: dict[H4, bytes] = {}
        root: H4 | None = None
        flush_id = 0
        for f in flushes:
            nodes.update(f.nodes)
            programs.update(f.programs)
            root = f.state_root if f.state_root is not None else root
            flush_id = f.flush_id
        return StoreWrite(flush_id=flush_id, nodes=nodes, programs=programs, state_root=root)

    def begin_storing(self, batch: StoreWrite) -> None:
        self.storing_flush_id = batch.flush_id
        self._storing_nodes = len(batch.nodes)
        self._storing_programs = len(batch.programs)

    def end_storing(self, batch: StoreWrite, stored: bool) -> list[SealedFlush]:
        """After the store acknowledged `batch` (or failed it): the flushes now durable, oldest first."""
        self.storing_flush_id = self._storing_nodes = self._storing_programs = 0
        if not stored:
            return []
        done: list[SealedFlush] = []
        while self._sealed and self._sealed[0].flush_id <= batch.flush_id:
            done.append(self._sealed.popleft())
        self._history.extend(done)
        self.stored_flush_id = batch.flush_id
        if batch.state_root is not None:
            self.stored_state_root = batch.state_root
        return done

    def status(self) -> FlushStatus:
        sealed_nodes = sum(len(f.nodes) for f in self._sealed)
        sealed_programs = sum(len(f.programs) for f in self._sealed)
        return FlushStatus(
            stored_flush_id=self.stored_flush_id,
            storing_flush_id=self.storing_flush_id,
            last_flush_id=self.last_flush_id,
            pending_nodes=len(self._pending.nodes) + sealed_nodes - self._storing_nodes,
            pending_programs=len(self._pending.programs) + sealed_programs - self._storing_programs,
            storing_nodes=self._storing_nodes,
            storing_programs=self._storing_programs,
        )

    def stored_after(self, flush_id: int) -> FlushData:
        """The data of the stored flushes with ids after `flush_id`, from the history kept in memory."""
        wanted = [f for f in self._history if f.flush_id > flush_id]
        if flush_id < self.stored_flush_id and (not wanted or wanted[0].flush_id != flush_id + 1):
            oldest = self._history[0].flush_id if self._history else self.stored_flush_id + 1
            raise FlushHistoryGap(
                f"the data of flush {flush_id + 1} is no longer held in memory (the oldest held is "
                f"flush {oldest}); read the store instead"
            )
        merged = self.merge(wanted)
        return FlushData(self.stored_flush_id, merged.nodes, merged.programs, merged.state_root)

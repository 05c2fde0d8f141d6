"""The executor's engine: one ProcessBatch call from decoded request to flushed state.

    ProcessCall ──▶ Executor.process ──open a batch session──▶ StateBackend (HashDB or local)
                        │  preload test nodes (db / contracts_bytecode)
                        │  BatchProcessor.process (reads: cached per batch; one write call per tx)
                        ▼
                    session.finish(new root, keep = update_merkle_tree) ──▶ flush id

Stateless apart from caches: any number of executors can share one HashDB. The read cache of the
last persisted batch is handed to the next call that starts from its final root (the sequencer's
one-transaction-per-call pattern), which then skips those reads; leaf values at a given root never
change, so the cache is correct whatever other executors do.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from services.executor import counters
from services.executor.errors import BatchRejected
from services.executor.processor import BatchProcessor, BatchResult
from services.executor.state import LocalStateTree, StateTree
from services.executor.wire import FlushInfo, ProcessCall
from zkevm.field import H4, Node, bytes_to_h4
from zkevm.nodestore import MemoryNodeStore, NodeStore

#: leaf values kept between calls (a few hundred bytes each)
DEFAULT_READ_CACHE_ENTRIES: Final = 200_000


@dataclass(frozen=True, slots=True)
class FlushStatus:
    stored_flush_id: int = 0
    storing_flush_id: int = 0
    last_flush_id: int = 0
    pending_to_flush_nodes: int = 0
    pending_to_flush_program: int = 0
    storing_nodes: int = 0
    storing_program: int = 0
    prover_id: str = ""


class BatchSession(StateTree, Protocol):
    """The state tree as one batch sees it (a HashDB batch session)."""

    def load(self, nodes: Mapping[H4, Node], programs: Mapping[H4, bytes]) -> None:
        """Make these raw nodes and programs available to the batch (test preloads)."""

    def finish(self, new_root: H4, keep: bool, state_roots: Sequence[H4] = ()) -> FlushInfo:
        """End the batch at `new_root`: keep for good the nodes of `new_root` and of the other
        `state_roots` of the batch (after its GER write and after each transaction), or let them go."""

    def cancel(self) -> None:
        """The batch failed: drop whatever it wrote."""

    def backend_stats(self) -> tuple[int, float]:
        """(calls, seconds) spent in the backend by this session."""


class StateBackend(Protocol):
    def open(self, keep: bool) -> BatchSession: ...

    def flush_status(self) -> FlushStatus: ...


@dataclass(frozen=True, slots=True)
class BatchStats:
    seconds: float
    backend_calls: int
    backend_seconds: float


class Executor:
    """Runs ProcessBatch calls on a `StateBackend` (thread-safe; each call is independent)."""

    def __init__(
        self,
        backend: StateBackend,
        *,
        budget: counters.Counters = counters.FORK6_BUDGET,
        read_cache_entries: int = DEFAULT_READ_CACHE_ENTRIES,
        prover_id: str | None = None,
    ) -> None:
        self.backend = backend
        self.budget = budget
        self.read_cache_entries = read_cache_entries
        #: changes at every start, as the prover's does: callers learn that unflushed data is gone
        self.prover_id = prover_id or secrets.token_hex(8)
        self._lock = threading.Lock()
        self._cache_root: H4 | None = None
        self._cache_values: dict[H4, int] | None = None

    def _take_cache(self, root: H4) -> dict[H4, int] | None:
        with self._lock:
            if self._cache_root != root:
                return None
            values, self._cache_root, self._cache_values = self._cache_values, None, None
            return values

    def _put_cache(self, root: H4, values: dict[H4, int]) -> None:
        if len(values) > self.read_cache_entries:
            return
        with self._lock:
            self._cache_root, self._cache_values = root, values

    def process(self, call: ProcessCall) -> tuple[BatchResult, FlushInfo, BatchStats]:
        """Run one call; raises `BatchRejected` for a request that cannot be served."""
        start = time.perf_counter()
        session = self.backend.open(keep=call.update_merkle_tree)
        try:
            if call.preload_nodes or call.preload_programs:
                session.load(call.preload_nodes, call.preload_programs)
            use_cache = call.update_merkle_tree and not call.preload_nodes
            processor = BatchProcessor(session, self._take_cache if use_cache else None, self.budget)
            result = processor.process(call.batch)
            roots = [bytes_to_h4(result.batch_state_root)]
            if not result.out_of_counters:
                roots += [bytes_to_h4(tx.state_root) for tx in result.txs if tx.included]
            flush = session.finish(bytes_to_h4(result.new_state_root), call.update_merkle_tree, roots)
        except BaseException:
            session.cancel()
            raise
        if use_cache and processor.last_root is not None and processor.last_values is not None:
            self._put_cache(processor.last_root, processor.last_values)
        calls, seconds = session.backend_stats()
        return result, flush, BatchStats(time.perf_counter() - start, calls, seconds)

    def flush_status(self) -> FlushStatus:
        return self.backend.flush_status()


# -- the in-process backend ----------------------------------------------------------------------


class LocalSession(LocalStateTree):
    """A batch on a node store in this process; kept nodes are merged into the store at the end."""

    __slots__ = ("_backend", "_calls")

    def __init__(self, backend: LocalBackend) -> None:
        super().__init__(backend.store)
        self._backend = backend
        self._calls = 0

    def get_values(self, root: H4, keys: Sequence[H4]) -> list[int]:
        self._calls += 1
        return super().get_values(root, keys)

    def set_values(self, root: H4, writes: Sequence[tuple[H4, int]], tx: int = 0) -> H4:
        self._calls += 1
        return super().set_values(root, writes, tx)

    def load(self, nodes: Mapping[H4, Node], programs: Mapping[H4, bytes]) -> None:
        self.overlay.nodes.update(nodes)
        self.overlay.programs.update(programs)

    def finish(self, new_root: H4, keep: bool, state_roots: Sequence[H4] = ()) -> FlushInfo:
        if not keep:
            return FlushInfo()
        return self._backend.store_overlay(self.overlay.nodes, self.overlay.programs)

    def cancel(self) -> None:
        self.overlay.nodes.clear()
        self.overlay.programs.clear()

    def backend_stats(self) -> tuple[int, float]:
        return self._calls, 0.0


class LocalBackend:
    """Keeps the tree in a node store of this process (tests, `ZKSEQ_EXECUTOR_HASHDB_URL=local`)."""

    def __init__(self, store: NodeStore | None = None) -> None:
        self.store: NodeStore = MemoryNodeStore() if store is None else store
        self._lock = threading.Lock()
        self._flush_id = 0

    def open(self, keep: bool) -> LocalSession:
        return LocalSession(self)

    def store_overlay(self, nodes: Mapping[H4, Node], programs: Mapping[H4, bytes]) -> FlushInfo:
        with self._lock:
            for node_hash, node in nodes.items():
                self.store.put_node(node_hash, node)
            for code_hash, code in programs.items():
                self.store.put_program(code_hash, code)
            self._flush_id += 1
            return FlushInfo(self._flush_id, self._flush_id)

    def flush_status(self) -> FlushStatus:
        with self._lock:
            return FlushStatus(stored_flush_id=self._flush_id, last_flush_id=self._flush_id)


__all__ = ["BatchRejected", "BatchStats", "Executor", "FlushStatus", "LocalBackend", "StateBackend"]

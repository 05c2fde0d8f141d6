"""The HashDB: tree reads and writes, batch sessions and flushes, as an async domain API.

The servicer translates protobuf to the calls below and back; nothing here knows about gRPC.

Concurrency. All tree work — every call that reads or writes nodes, sessions or the flush
buffers — runs under one asyncio lock, one call at a time. A call that touches few keys runs
inline on the event loop (a thread hop costs more than it does); a larger one runs on the single
tree worker thread, so the event loop keeps serving health checks, status calls and I/O meanwhile.
A call whose client goes away keeps the lock until its work is really finished. The store writer
runs on its own thread, on flush data that is immutable once sealed; it takes the lock only to
move the flush pipeline along. (Python runs one thread at a time anyway: the lock costs no
parallelism, and it makes the session and cache code single-threaded.)

    Set / SetMany ──▶ session (batch_uuid) or, without one, the flush buffer directly
                      (then DATABASE is stored at the next Flush; CACHE and TEMPORARY stay in the cache)
    Get / GetMany ──▶ session view ─▶ node cache ─▶ flush buffers ─▶ store
    Flush         ──▶ session.finish ─▶ NodeDatabase.seal ─▶ writer ─▶ store.write ─▶ stored_flush_id
"""

import asyncio
import contextlib
import time
import uuid as uuid_module
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

from services.common.errors import InvalidArgument, NotFound, OutOfRange
from services.common.logs import EventLogger
from services.hashdb.database import FlushData, FlushHistoryGap, FlushStatus, NodeDatabase
from services.hashdb.metrics import HashDBMetrics
from services.hashdb.sessions import BatchSession, NodeReader, Persistence, reachable_new_nodes
from services.hashdb.stores.base import StoreError
from zkevm.errors import MissingNodeError
from zkevm.field import H4, ZERO_H4, Node, fea8_to_scalar, h4_to_hex
from zkevm.poseidon import hash12, linear_hash
from zkevm.smt import Proof, SetResult, SparseMerkleTree, join_key

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class HashDBSettings:
    #: calls touching at most this many keys run on the event loop, larger ones on the tree thread
    inline_max_keys: int = 16
    #: longest wait of a GetFlushData long poll
    flush_data_wait_s: float = 60.0
    #: a batch session unused for this long is dropped (its client is gone)
    session_ttl_s: float = 3600.0
    #: the writer's wake-up period when nothing is flushed (session expiry runs then)
    writer_poll_s: float = 5.0
    #: wait before retrying a failed store write
    write_retry_s: float = 1.0


@dataclass(frozen=True, slots=True)
class PathDetails:
    """The proof data of a Get or Set (`details = true`), on the tree before the call."""

    #: the intermediate nodes on the key's path, 12 elements each, from the root down
    siblings: tuple[Node, ...]
    #: the leaf of another key found where the key would go (zero and 0 when there is none)
    ins_key: H4
    ins_value: int
    is_old0: bool


@dataclass(frozen=True, slots=True)
class GetOutcome:
    value: int
    proof_hash_counter: int
    details: PathDetails | None
    read_log: Mapping[H4, Node] | None


@dataclass(frozen=True, slots=True)
class SetOutcome:
    result: SetResult
    details: PathDetails | None
    read_log: Mapping[H4, Node] | None


@dataclass(frozen=True, slots=True)
class FlushTicket:
    flush_id: int
    stored_flush_id: int


#: the view of a call outside any session
_NO_VIEW: Mapping[H4, Node] = MappingProxyType({})


class _Scratch:
    """The `NodeStore` a tree call works on: reads look here, then in `view` (a session's nodes),
    then fall through to `read`; writes are collected here and committed only if the call succeeds."""

    __slots__ = ("nodes", "read", "view")

    def __init__(self, read: NodeReader, view: Mapping[H4, Node] = _NO_VIEW) -> None:
        self.read = read
        self.view = view
        self.nodes: dict[H4, Node] = {}

    def get_node(self, node_hash: H4) -> Node | None:
        node = self.nodes.get(node_hash)
        if node is None:
            node = self.view.get(node_hash)
            if node is None:
                return self.read(node_hash)
        return node

    def put_node(self, node_hash: H4, node: Node) -> None:
        self.nodes[node_hash] = node

    def get_program(self, code_hash: H4) -> bytes | None:
        raise TypeError("the tree does not read programs")

    def put_program(self, code_hash: H4, code: bytes) -> None:
        raise TypeError("the tree does not write programs")


def _logging_reader(read: NodeReader, log: dict[H4, Node]) -> NodeReader:
    def logged(node_hash: H4) -> Node | None:
        node = read(node_hash)
        if node is not None:
            log[node_hash] = node
        return node

    return logged


def _path_details(proof: Proof, read: NodeReader) -> PathDetails:
    siblings = tuple((*s, 0, 0, 0, 0) for s in proof.siblings)
    if proof.leaf_rkey is None or proof.leaf_value_hash is None or proof.value != 0:
        return PathDetails(siblings, ZERO_H4, 0, True)
    value_node = read(proof.leaf_value_hash)
    if value_node is None:
        raise MissingNodeError(h4_to_hex(proof.leaf_value_hash))
    ins_key = join_key(proof.leaf_rkey, proof.key, len(proof.siblings))
    return PathDetails(siblings, ins_key, fea8_to_scalar(value_node[0:8]), False)


def _unknown(exc: MissingNodeError, root: H4) -> NotFound:
    """A clearer message for a missing node: an unknown root, or a hole under a known one."""
    if exc.node_hash == h4_to_hex(root):
        return NotFound(f"root {exc.node_hash} is unknown to this HashDB")
    return NotFound(f"{exc}, needed under root {h4_to_hex(root)}")


class HashDB:
    def __init__(
        self, db: NodeDatabase, settings: HashDBSettings, metrics: HashDBMetrics, log: EventLogger
    ) -> None:
        self._db = db
        self._settings = settings
        self._metrics = metrics
        self._log = log
        self._sessions: dict[str, BatchSession] = {}
        self._lock = asyncio.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hashdb-tree")
        self._flush_wanted = asyncio.Event()
        self._stored = asyncio.Condition()
        self._closing = False
        self._writer_task: asyncio.Task[None] | None = None
        #: changes at every start: clients that see it change know unflushed sessions are gone
        self.prover_id = str(uuid_module.uuid4())
        metrics.watch(db, self._sessions)

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._writer_task = asyncio.create_task(self._writer(), name="hashdb-writer")

    async def close(self, drain_timeout_s: float) -> None:
        """Store every sealed flush (for up to `drain_timeout_s`), then release the store."""
        self._closing = True
        self._flush_wanted.set()
        if self._writer_task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._writer_task), drain_timeout_s)
            except TimeoutError:
                self._log.error(
                    "flush_drain_timeout",
                    stored_flush_id=self._db.stored_flush_id,
                    last_flush_id=self._db.last_flush_id,
                )
                self._writer_task.cancel()
        if self._sessions:
            self._log.warning("sessions_dropped_at_shutdown", sessions=len(self._sessions))
        await asyncio.get_running_loop().run_in_executor(None, self._worker.shutdown)
        self._db.store.close()

    # -- running tree work ------------------------------------------------------------------

    async def _run(self, work: int, fn: Callable[[], _T]) -> _T:
        """Run `fn` under the tree lock: inline when `work` (~keys) is small, else on the tree thread."""
        await self._lock.acquire()
        if work <= self._settings.inline_max_keys:
            try:
                return fn()
            finally:
                self._lock.release()
        try:
            future = asyncio.get_running_loop().run_in_executor(self._worker, fn)
        except BaseException:
            self._lock.release()
            raise
        future.add_done_callback(self._release_after)
        return await asyncio.shield(future)

    def _release_after(self, future: "asyncio.Future[Any]") -> None:
        self._lock.release()
        if not future.cancelled():
            future.exception()  # retrieved, so a call whose client left does not log a stray warning

    def _scratch(self, batch_uuid: str) -> _Scratch:
        """A scratch store over the session's nodes (if any), then the node database."""
        session = self._sessions.get(batch_uuid) if batch_uuid else None
        if session is None:
            return _Scratch(self._db.get_node)
        return _Scratch(self._db.get_node, session.view)

    def _reader(self, batch_uuid: str) -> NodeReader:
        session = self._sessions.get(batch_uuid) if batch_uuid else None
        return self._db.get_node if session is None else session.reader(self._db.get_node)

    def _commit(
        self,
        *,
        batch_uuid: str,
        tx: int,
        persistence: Persistence,
        old_root: H4,
        new_root: H4,
        scratch: _Scratch,
    ) -> None:
        if not batch_uuid:
            self._db.put_nodes(scratch.nodes, persistent=persistence is Persistence.DATABASE)
            return
        session = self._sessions.get(batch_uuid)
        if session is None:
            session = self._sessions[batch_uuid] = BatchSession(batch_uuid)
        session.commit(tx, persistence, old_root, new_root, scratch.nodes)

    # -- tree reads and writes --------------------------------------------------------------

    async def set(
        self,
        *,
        old_root: H4,
        key: H4,
        value: int,
        persistence: Persistence,
        batch_uuid: str,
        tx: int,
        details: bool,
        read_log: bool,
    ) -> SetOutcome:
        def work() -> SetOutcome:
            log: dict[H4, Node] | None = {} if read_log else None
            read = self._reader(batch_uuid)
            if log is not None:
                read = _logging_reader(read, log)
            scratch = _Scratch(read)
            tree = SparseMerkleTree(scratch)
            try:
                path = _path_details(tree.get_proof(old_root, key), read) if details else None
                result = tree.set(old_root, key, value)
            except MissingNodeError as exc:
                raise _unknown(exc, old_root) from None
            self._commit(
                batch_uuid=batch_uuid,
                tx=tx,
                persistence=persistence,
                old_root=old_root,
                new_root=result.new_root,
                scratch=scratch,
            )
            return SetOutcome(result, path, log)

        return await self._run(1, work)

    async def get(self, root: H4, key: H4, batch_uuid: str, details: bool, read_log: bool) -> GetOutcome:
        def work() -> GetOutcome:
            log: dict[H4, Node] | None = {} if read_log else None
            read = self._reader(batch_uuid)
            if log is not None:
                read = _logging_reader(read, log)
            tree = SparseMerkleTree(_Scratch(read))
            try:
                if not details:
                    return GetOutcome(tree.get(root, key), 0, None, log)
                proof = tree.get_proof(root, key)
                return GetOutcome(proof.value, proof.proof_hash_counter, _path_details(proof, read), log)
            except MissingNodeError as exc:
                raise _unknown(exc, root) from None

        return await self._run(1, work)

    async def set_many(
        self,
        *,
        old_root: H4,
        writes: Sequence[tuple[H4, int]],
        persistence: Persistence,
        batch_uuid: str,
        tx: int,
    ) -> H4:
        def work() -> H4:
            scratch = self._scratch(batch_uuid)
            try:
                if not writes and old_root != ZERO_H4 and scratch.get_node(old_root) is None:
                    raise MissingNodeError(h4_to_hex(old_root))
                new_root = SparseMerkleTree(scratch).set_many(old_root, writes)
            except MissingNodeError as exc:
                raise _unknown(exc, old_root) from None
            self._commit(
                batch_uuid=batch_uuid,
                tx=tx,
                persistence=persistence,
                old_root=old_root,
                new_root=new_root,
                scratch=scratch,
            )
            return new_root

        return await self._run(len(writes), work)

    async def get_many(self, root: H4, keys: Sequence[H4], batch_uuid: str) -> list[int]:
        def work() -> list[int]:
            tree = SparseMerkleTree(self._scratch(batch_uuid))
            try:
                return [tree.get(root, key) for key in keys]
            except MissingNodeError as exc:
                raise _unknown(exc, root) from None

        return await self._run(len(keys), work)

    async def get_paths(self, root: H4, keys: Sequence[H4], batch_uuid: str) -> dict[H4, Node]:
        """Every node read on the way to each key under `root` (Get's read log, for many keys)."""

        def work() -> dict[H4, Node]:
            log: dict[H4, Node] = {}
            tree = SparseMerkleTree(_Scratch(_logging_reader(self._reader(batch_uuid), log)))
            try:
                for key in keys:
                    tree.get(root, key)
            except MissingNodeError as exc:
                raise _unknown(exc, root) from None
            return log

        return await self._run(len(keys), work)

    # -- programs and bulk loads ------------------------------------------------------------

    async def set_program(self, code_hash: H4, code: bytes, persistent: bool) -> None:
        actual = linear_hash(code)
        if actual != code_hash:
            raise InvalidArgument(
                f"key {h4_to_hex(code_hash)} is not the bytecode hash of the data ({h4_to_hex(actual)})"
            )
        await self._run(0, lambda: self._db.put_program(code_hash, code, persistent))

    async def get_program(self, code_hash: H4) -> bytes:
        code = await self._run(0, lambda: self._db.get_program(code_hash))
        if code is None:
            raise NotFound(f"no program under hash {h4_to_hex(code_hash)}")
        return code

    async def load_nodes(self, nodes: Mapping[H4, Node], persistent: bool) -> None:
        """Bulk-load raw nodes; each must hash to its key (a wrong one would corrupt every read under it)."""

        def work() -> None:
            for node_hash, node in nodes.items():
                actual = hash12(node)
                if actual != node_hash:
                    raise InvalidArgument(
                        f"node under {h4_to_hex(node_hash)} hashes to {h4_to_hex(actual)}, not to its key"
                    )
            self._db.put_nodes(nodes, persistent)

        await self._run(len(nodes) // 8, work)

    async def load_node_list(
        self, nodes: Sequence[Node], persistent: bool, keep_roots: Sequence[H4] | None = None
    ) -> None:
        """Bulk-load raw nodes, each stored under its own hash (LoadNodes: the caller sends no keys);
        with `keep_roots`, only those the trees under these roots use."""

        def work() -> None:
            by_hash = {hash12(node): node for node in nodes}
            if keep_roots is not None:
                by_hash = reachable_new_nodes(keep_roots, by_hash)
            self._db.put_nodes(by_hash, persistent)

        await self._run(len(nodes) // 8, work)

    async def load_programs(self, programs: Mapping[H4, bytes], persistent: bool) -> None:
        """Bulk-load bytecode; each must be stored under its bytecode hash."""

        def work() -> None:
            for code_hash, code in programs.items():
                actual = linear_hash(code)
                if actual != code_hash:
                    raise InvalidArgument(
                        f"program under {h4_to_hex(code_hash)} hashes to {h4_to_hex(actual)}, not to its key"
                    )
            for code_hash, code in programs.items():
                self._db.put_program(code_hash, code, persistent)

        await self._run(sum(len(code) for code in programs.values()) // 1024, work)

    # -- sessions and flushes ---------------------------------------------------------------

    async def semi_flush(self, batch_uuid: str, new_root: H4, persistence: Persistence) -> None:
        def work() -> None:
            session = self._sessions.get(batch_uuid)
            if session is not None:
                session.end_tx(new_root, persistence)

        await self._run(0, work)

    async def flush(self, batch_uuid: str, new_root: H4 | None, persistence: Persistence) -> FlushTicket:
        def work() -> FlushTicket:
            session = self._sessions.get(batch_uuid) if batch_uuid else None
            kept: dict[Persistence, dict[H4, Node]] = {}
            if session is not None:
                kept = session.finish(new_root, persistence)
            root_row = new_root if persistence is Persistence.DATABASE else None
            if (
                root_row is not None
                and root_row != ZERO_H4
                and root_row not in kept.get(Persistence.DATABASE, {})
                and self._db.get_node(root_row) is None
            ):
                raise NotFound(f"new_state_root {h4_to_hex(root_row)} is not a root this HashDB has")
            if session is not None:
                del self._sessions[batch_uuid]
                self._db.put_nodes(kept[Persistence.DATABASE], persistent=True)
                self._db.put_nodes(kept[Persistence.CACHE], persistent=False)
            if root_row is not None:
                self._db.set_state_root(root_row)
            sealed = self._db.seal(time.monotonic())
            self._metrics.sealed(len(sealed.nodes), sealed.size_bytes)
            return FlushTicket(sealed.flush_id, self._db.stored_flush_id)

        session = self._sessions.get(batch_uuid) if batch_uuid else None
        ticket = await self._run(0 if session is None else session.node_count // 64, work)
        self._flush_wanted.set()
        return ticket

    async def cancel_batch(self, batch_uuid: str) -> None:
        await self._run(0, lambda: self._sessions.pop(batch_uuid, None))

    async def flush_status(self) -> FlushStatus:
        return await self._run(0, self._db.status)

    async def flush_data(self, after_flush_id: int, wait_s: float | None) -> FlushData:
        """The data stored by the flushes after `after_flush_id`, waiting (up to `wait_s`, at most the
        configured long-poll time) until at least one more flush is stored."""
        if after_flush_id > self._db.last_flush_id:
            raise NotFound(
                f"flush id {after_flush_id} is unknown: the last flush id is {self._db.last_flush_id}"
            )
        limit = self._settings.flush_data_wait_s
        if wait_s is not None:
            limit = max(0.0, min(wait_s, limit))
        async with self._stored:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stored.wait_for(lambda: self._db.stored_flush_id > after_flush_id), limit
                )

        def work() -> FlushData:
            try:
                return self._db.stored_after(after_flush_id)
            except FlushHistoryGap as exc:
                raise OutOfRange(str(exc)) from None

        return await self._run(0, work)

    # -- the store writer -------------------------------------------------------------------

    async def _writer(self) -> None:
        """Store sealed flushes as they come (and every `writer_poll_s`); retry failures; expire sessions.

        It must not die: while it is down nothing is stored. An unexpected error is logged and retried.
        """
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_wanted.wait(), self._settings.writer_poll_s)
            self._flush_wanted.clear()
            try:
                stored_all = await self._store_sealed()
                await self._run(0, self._expire_sessions)
            except Exception as exc:
                self._log.exception("writer_error", error=repr(exc))
                stored_all = False
            if self._closing and stored_all:
                return
            if not stored_all:
                await asyncio.sleep(self._settings.write_retry_s)
                self._flush_wanted.set()

    async def _store_sealed(self) -> bool:
        """Hand every sealed flush to the store in one write. False if the write failed."""
        async with self._lock:
            flushes = self._db.unstored()
            if not flushes:
                return True
            batch = self._db.merge(flushes)
            self._db.begin_storing(batch)
        start = time.perf_counter()
        try:
            await asyncio.to_thread(self._db.store.write, batch)
        except Exception as exc:
            if isinstance(exc, StoreError):
                self._log.error("flush_store_failed", flush_id=batch.flush_id, error=str(exc))
            else:
                self._log.exception("flush_store_failed", flush_id=batch.flush_id, error=repr(exc))
            async with self._lock:
                self._db.end_storing(batch, stored=False)
            return False
        elapsed = time.perf_counter() - start
        async with self._lock:
            done = self._db.end_storing(batch, stored=True)
        now = time.monotonic()
        self._metrics.stored(elapsed, [now - f.sealed_at for f in done])
        self._log.debug("flush_stored", flush_id=batch.flush_id, flushes=len(done), nodes=len(batch.nodes))
        async with self._stored:
            self._stored.notify_all()
        return True

    def _expire_sessions(self) -> None:
        cutoff = time.monotonic() - self._settings.session_ttl_s
        for batch_uuid in [u for u, s in self._sessions.items() if s.last_used < cutoff]:
            session = self._sessions.pop(batch_uuid)
            self._log.warning("session_expired", batch_uuid=batch_uuid, nodes=session.node_count)

"""The executor's HashDB client: the state tree of a batch, kept in the HashDB service.

The executor computes the tree itself, on nodes it caches, and uses the HashDB as the node store —
as the prover's executor does with its in-process HashDB (`hashDBURL = local`):

    Executor.process ─▶ HashDBBackend.open(keep) ─▶ HashDBSession (one batch)
        tree      SparseMerkleTree on an overlay (the batch's new nodes) over the node cache
        reads     a node the cache lacks is fetched with its whole path: Get(batch's root, key,
                  get_db_read_log) for every key whose path is incomplete, all in flight at once
        bytecode  GetProgram, cached by hash
        updates   a (root, write set) this process already computed is replayed from the
                  `WriteSetMemo` (a closed batch's re-execution), else computed and remembered
        end       update_merkle_tree = 1: the new nodes the batch's state roots use join the cache
                  and are queued for the HashDB → an executor flush id, at once;
                  update_merkle_tree = 0: nothing is kept

    FlushPipeline (one thread): LoadNodes(written nodes, kept roots; LoadDB of the kept nodes on a
    HashDB without that zkseq extension)
    + LoadProgramDB(bytecode) + Flush(root, DATABASE), in order, retried until the HashDB takes
    them; the requests are built on that thread, off the ProcessBatch path. Executor flush id k is
    stored once the HashDB reports its own flush for k stored — GetFlushStatus translates, as the
    prover's executor reports the flushes of its HashDB.

Why the tree is computed here: a tree update is ~80 Poseidon hashes and ~0.5 ms of Python, a HashDB
round trip 0.6–1.4 ms, and fork 6 needs two roots per transaction (§6.6), each depending on the
previous one. Here a transaction costs no round trip once its paths are cached, and the HashDB
stores a batch while the next one runs: ProcessBatch returns with a flush id, and durability is
signalled later through `stored_flush_id`, which is the fork-6 protocol (zkevm-node waits for it).

The cache is content-addressed, so it is never stale, and only nodes of kept batches enter it: every
node it holds is, or will be, in the HashDB, but for the few a kept batch wrote on the way to a root
it did not keep, which no kept root reaches. Several executors can share one HashDB: one that
meets a root another executor built fetches the paths it needs, waiting up to `root_wait_s` for a
root that is still being flushed. A node that is on no fetched path (the sibling a deletion pulls
up) is fetched through a key crafted to pass through it. Nodes under the batch's root are fetched at
that root: an unchanged subtree sits at the same path prefix in every later root of the batch, and a
changed one is in the overlay.

The client is synchronous (batches run on worker threads; a blocking gRPC call releases the GIL),
every call has a deadline, and a failure of the HashDB on the batch's path (unknown root,
unreachable, deadline) raises `StateUnavailable`, answered with EXECUTOR_ERROR_DB_ERROR.
"""

from __future__ import annotations

import struct
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import starmap
from typing import Final, Generic, TypeVar

import grpc
from google.protobuf import empty_pb2
from google.protobuf.message import Message

from protos.hashdb.v1 import hashdb_pb2 as pb
from services.common.logs import EventLogger
from services.executor.errors import StateUnavailable
from services.executor.service import FlushStatus
from services.executor.wire import FlushInfo
from zkevm.errors import MissingNodeError
from zkevm.field import H4, ZERO_H4, Node, h4_to_bytes, hex_to_h4, int_to_h4
from zkevm.nodestore import OverlayNodeStore
from zkevm.smt import SparseMerkleTree, path_bit, remove_key_bits

SERVICE: Final = "hashdb.v1.HashDBService"
#: tree nodes kept between batches (about 0.7 KB each)
DEFAULT_NODE_CACHE_ENTRIES: Final = 400_000
#: write sets remembered with their result (`WriteSetMemo`): a few batches' transactions
WRITE_SET_MEMO_ENTRIES: Final = 4_096
#: bytecode kept between batches
PROGRAM_CACHE_BYTES: Final = 64 * 1024 * 1024
#: Get calls in flight at once while fetching paths
FETCH_WINDOW: Final = 64
#: keys a GetPaths call asks for (the HashDB takes at most 4096)
MAX_PATH_KEYS: Final = 1024
#: fetch rounds before a node is declared missing
MAX_FETCH_ROUNDS: Final = 8
#: nodes per LoadDB / LoadNodes call
LOAD_CHUNK_NODES: Final = 20_000
#: wait between two attempts of a flush the HashDB refused
FLUSH_RETRY_S: Final = 0.5

_Resp = TypeVar("_Resp", bound=Message)
#: receives (calls, seconds) of the calls made for one batch
_Stats = Callable[[int, float], None]
_LEAF_FLAG: Final = 1
_PACKED_NODE: Final = struct.Struct("<12Q")
_PACKED_HASHED_NODE: Final = struct.Struct("<16Q")
_LOG = EventLogger("zkseq.executor.hashdb")


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def _code(exc: grpc.RpcError) -> grpc.StatusCode | None:
    return exc.code() if isinstance(exc, grpc.Call) else None


class _Unary(Generic[_Resp]):
    """One unary method on a blocking channel, with a deadline on every call and its timing."""

    __slots__ = ("_call", "timeout_s")

    def __init__(self, channel: grpc.Channel, method: str, response: type[_Resp], timeout_s: float) -> None:
        self._call = channel.unary_unary(
            f"/{SERVICE}/{method}", request_serializer=_serialize, response_deserializer=response.FromString
        )
        self.timeout_s = timeout_s

    def __call__(self, request: Message, stats: _Stats | None = None) -> _Resp:
        return self.many([request], stats)[0]

    def many(self, requests: Sequence[Message], stats: _Stats | None = None) -> list[_Resp]:
        """All `requests` in flight at once (at most FETCH_WINDOW), answers in order; `stats` gets
        (calls, seconds). Raises `grpc.RpcError`."""
        start = time.perf_counter()
        out: list[_Resp] = []
        try:
            for i in range(0, len(requests), FETCH_WINDOW):
                futures = [
                    self._call.future(r, timeout=self.timeout_s) for r in requests[i : i + FETCH_WINDOW]
                ]
                out.extend(f.result() for f in futures)
        finally:
            if stats is not None:
                stats(len(requests), time.perf_counter() - start)
        return out


def _unavailable(exc: grpc.RpcError) -> StateUnavailable:
    details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
    return StateUnavailable(f"HashDB: {getattr(_code(exc), 'name', None)}: {details}")


def _fea(h: H4) -> pb.Fea:
    return pb.Fea(fe0=h[0], fe1=h[1], fe2=h[2], fe3=h[3])


def _hex(h: H4) -> str:
    return h4_to_bytes(h).hex()


def load_db_request(nodes: Iterable[tuple[H4, Node]], persistent: bool) -> pb.LoadDBRequest:
    """A LoadDB of `nodes` (filled entry by entry: 3× faster than building FeList messages)."""
    request = pb.LoadDBRequest(persistent=persistent)
    input_db = request.input_db
    for h, node in nodes:
        input_db[h4_to_bytes(h).hex()].fe.extend(node)
    return request


def pack_nodes(nodes: Iterable[Node]) -> bytes:
    """Nodes as LoadNodes (zkseq extension) carries them: 12 little-endian uint64 each, no keys."""
    try:
        return b"".join(starmap(_PACKED_NODE.pack, nodes))
    except struct.error as exc:
        raise ValueError(f"a tree node is 12 64-bit elements: {exc}") from None


def unpack_hashed_nodes(data: bytes) -> list[tuple[H4, Node]]:
    """A GetPaths answer's nodes: (hash, node) for each 128 bytes."""
    if len(data) % _PACKED_HASHED_NODE.size:
        raise StateUnavailable(
            f"HashDB: GetPaths answered {len(data)} bytes: not whole {_PACKED_HASHED_NODE.size}-byte nodes"
        )
    return [(v[:4], v[4:]) for v in _PACKED_HASHED_NODE.iter_unpack(data)]


# -- caches --------------------------------------------------------------------------------------


_K = TypeVar("_K")
_V = TypeVar("_V")


class Generations(Generic[_K, _V]):
    """A bounded map in two generations: the older is dropped when the newer fills up, and a hit
    in the older moves to the newer. Thread-safe for the executor's use (single dict operations
    under the GIL)."""

    def __init__(self, max_entries: int) -> None:
        self._half = max(1, max_entries // 2)
        self._young: dict[_K, _V] = {}
        self._old: dict[_K, _V] = {}

    def get(self, key: _K) -> _V | None:
        value = self._young.get(key)
        if value is None:
            value = self._old.get(key)
            if value is not None:
                self.put(key, value)
        return value

    def put(self, key: _K, value: _V) -> None:
        young = self._young
        young[key] = value
        if len(young) >= self._half:
            self._old, self._young = young, {}

    def update(self, items: Iterable[tuple[_K, _V]]) -> None:
        young = self._young
        young.update(items)
        if len(young) >= self._half:
            self._old, self._young = young, {}

    def __len__(self) -> int:
        return len(self._young) + len(self._old)


class NodeCache(Generations[H4, Node]):
    """Tree nodes by hash, bounded (`Generations`)."""

    # the `NodeStore` under a batch's overlay: read-only (one call less per node read than a wrapper)
    get_node = Generations.get

    def put_node(self, node_hash: H4, node: Node) -> None:
        raise TypeError("batch writes go to the overlay")

    def get_program(self, code_hash: H4) -> bytes | None:
        return None

    def put_program(self, code_hash: H4, code: bytes) -> None:
        raise TypeError("batch writes go to the overlay")


#: (root, write set) → (new root, every node the update put, in order)
_WriteSetKey = tuple[H4, tuple[tuple[H4, int], ...]]
_WriteSetResult = tuple[H4, tuple[tuple[H4, Node], ...]]


class WriteSetMemo:
    """Tree updates already computed in this process, by (root, write set), bounded like `NodeCache`.

    A tree update is a pure function of its root and its write set, and costs most of a transfer's
    execution (~80 Poseidon hashes and the Python around them). The sequencer executes every
    transaction twice on the same roots: once when it pre-executes it, once when the closed batch is
    re-executed whole (the sanity check, zkevm-node's `reprocessFullBatch`). The second time each
    transaction's write set is looked up here; a hit replays the nodes the first update put into
    the batch's overlay (so the batch reads and keeps exactly what computing would give) and returns
    its root. The check keeps its meaning: the EVM runs again, and a transaction whose write set
    differs in any way misses and is computed.
    """

    def __init__(self, max_entries: int) -> None:
        self._entries = Generations[_WriteSetKey, _WriteSetResult](max_entries)
        self.hits = 0
        self.misses = 0

    def get(self, key: _WriteSetKey) -> _WriteSetResult | None:
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key: _WriteSetKey, result: _WriteSetResult) -> None:
        self._entries.put(key, result)


class _JournaledOverlay(OverlayNodeStore):
    """The batch's overlay, which can also list the nodes put while `journal` is set."""

    __slots__ = ("journal",)

    def __init__(self, base: NodeCache) -> None:
        super().__init__(base)
        self.journal: list[tuple[H4, Node]] | None = None

    def put_node(self, node_hash: H4, node: Node) -> None:
        self.nodes[node_hash] = node
        if self.journal is not None:
            self.journal.append((node_hash, node))


class _ProgramCache:
    """Bytecode by hash, bounded by total size (LRU)."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._size = 0
        self._items: OrderedDict[H4, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, code_hash: H4) -> bytes | None:
        with self._lock:
            code = self._items.get(code_hash)
            if code is not None:
                self._items.move_to_end(code_hash)
            return code

    def put(self, code_hash: H4, code: bytes) -> None:
        with self._lock:
            if code_hash in self._items or len(code) > self._max:
                return
            self._items[code_hash] = code
            self._size += len(code)
            while self._size > self._max:
                _, old = self._items.popitem(last=False)
                self._size -= len(old)


def reachable(roots: Iterable[H4], pool: Mapping[H4, Node]) -> dict[H4, Node]:
    """The nodes of `pool` the trees under `roots` use (the walk stops at nodes outside `pool`,
    which are already stored, so it never enters an old subtree)."""
    out: dict[H4, Node] = {}
    get = pool.get
    stack = [r for r in roots if r in pool]
    pop, push = stack.pop, stack.append
    while stack:
        h = pop()
        if h in out:
            continue
        node = pool[h]
        out[h] = node
        if node[8] == _LEAF_FLAG:  # its value node hangs under it, and nothing else
            value_hash: H4 = node[4:8]  # type: ignore[assignment]
            value = get(value_hash)
            if value is not None:
                out[value_hash] = value
            continue
        left: H4 = node[0:4]  # type: ignore[assignment]
        right: H4 = node[4:8]  # type: ignore[assignment]
        if left in pool and left not in out:
            push(left)
        if right in pool and right not in out:
            push(right)
    return out


def _prefix_key(key: H4, depth: int) -> H4:
    """A key whose path follows `key` for `depth` bits and turns the other way at `depth`."""
    limbs = [0, 0, 0, 0]
    for d in range(depth + 1):
        bit = path_bit(key, d) ^ (d == depth)
        limbs[d & 3] |= bit << (d >> 2)
    return (limbs[0], limbs[1], limbs[2], limbs[3])


# -- the flush pipeline --------------------------------------------------------------------------


@dataclass(slots=True)
class _FlushJob:
    flush_id: int
    #: every node the batch wrote, and the roots whose nodes are kept: the flush thread ships
    #: `reachable(roots, written)`
    written: dict[H4, Node]
    roots: tuple[H4, ...]
    programs: dict[H4, bytes]
    flush: pb.FlushRequest
    #: the nodes shipped, once the flush thread has picked them
    nodes: dict[H4, Node] | None = None
    #: the HashDB's flush id, once its Flush returned
    hashdb_flush_id: int | None = None


class FlushPipeline:
    """Hands kept batches to the HashDB in order, on one thread, retrying until it takes them.

    Nodes go as LoadNodes (zkseq extension: 96 packed bytes a node, no keys; ~0.5 µs a node to build
    here against ~10 µs for LoadDB's map of hex strings and its serialization): everything the
    batch wrote, with its roots as `keep_roots`, so that the HashDB, in its own process, picks the
    nodes to keep. A HashDB that
    answers LoadNodes UNIMPLEMENTED (a fork-6 one) gets LoadDB, of the nodes picked here, from then
    on. The requests are built on the flush thread, off the ProcessBatch path."""

    def __init__(
        self,
        load_db: _Unary[empty_pb2.Empty],
        load_programs: _Unary[empty_pb2.Empty],
        flush: _Unary[pb.FlushResponse],
        load_nodes: _Unary[empty_pb2.Empty] | None = None,
    ) -> None:
        self._load_db, self._load_programs, self._flush = load_db, load_programs, flush
        self._load_nodes = load_nodes
        self._lock = threading.Condition()
        self._queue: deque[_FlushJob] = deque()
        self._sent: deque[_FlushJob] = deque()  # flushed, not yet reported stored
        self._last_id = 0
        self._stored_id = 0
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="executor-flush", daemon=True)
        self._thread.start()

    def submit(
        self, root: H4, written: dict[H4, Node], programs: dict[H4, bytes], kept_roots: Sequence[H4] = ()
    ) -> FlushInfo:
        """Queue a kept batch ending at `root`: the nodes of `written` that the trees under `root`
        and `kept_roots` use, and `programs` (the caller hands `written` over: it is not copied)."""
        flush = pb.FlushRequest(new_state_root=_hex(root), persistence=pb.PERSISTENCE_DATABASE)
        roots = tuple(dict.fromkeys((root, *kept_roots)))
        with self._lock:
            self._last_id += 1
            self._queue.append(_FlushJob(self._last_id, written, roots, programs, flush))
            self._lock.notify_all()
            return FlushInfo(self._last_id, self._stored_id)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closing:
                    self._lock.wait()
                if not self._queue:
                    return
                job = self._queue[0]
            while True:
                try:
                    self._send(job)
                    break
                except grpc.RpcError as exc:
                    _LOG.error("flush_to_hashdb_failed", flush_id=job.flush_id, error=str(_unavailable(exc)))
                    time.sleep(FLUSH_RETRY_S)
            with self._lock:
                self._queue.popleft()
                self._sent.append(job)
                self._lock.notify_all()

    def _load_nodes_call(self, request: pb.LoadNodesRequest) -> bool:
        """LoadNodes; False (and LoadDB from then on) if the HashDB does not implement it."""
        if self._load_nodes is None:
            return False
        try:
            self._load_nodes(request)
            return True
        except grpc.RpcError as exc:
            if _code(exc) is not grpc.StatusCode.UNIMPLEMENTED:
                raise
        _LOG.info("hashdb_without_load_nodes", fallback="LoadDB")
        self._load_nodes = None
        return False

    def _send_nodes(self, job: _FlushJob) -> None:
        """Everything the batch wrote and its roots in one LoadNodes, the HashDB picking the nodes the
        roots use; for a batch too big for one call, or a HashDB without LoadNodes, the nodes picked
        here, in chunks."""
        if self._load_nodes is not None and job.nodes is None and len(job.written) <= LOAD_CHUNK_NODES:
            request = pb.LoadNodesRequest(
                nodes=pack_nodes(job.written.values()),
                persistent=True,
                keep_roots=[_fea(r) for r in job.roots],
            )
            if self._load_nodes_call(request):
                return
        if job.nodes is None:
            job.nodes = reachable(job.roots, job.written)
        items = list(job.nodes.items())
        for i in range(0, len(items), LOAD_CHUNK_NODES):
            chunk = items[i : i + LOAD_CHUNK_NODES]
            if self._load_nodes is not None:
                request = pb.LoadNodesRequest(nodes=pack_nodes(n for _, n in chunk), persistent=True)
                if self._load_nodes_call(request):
                    continue
            self._load_db(load_db_request(chunk, persistent=True))

    def _send(self, job: _FlushJob) -> None:
        if job.written:
            self._send_nodes(job)
        if job.programs:
            input_program_db = {_hex(h): code for h, code in job.programs.items()}
            self._load_programs(pb.LoadProgramDBRequest(input_program_db=input_program_db, persistent=True))
        job.hashdb_flush_id = self._flush(job.flush).flush_id

    def wait_sent(self, timeout_s: float) -> bool:
        """Wait until every submitted batch has been handed to the HashDB."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._queue and time.monotonic() < deadline:
                self._lock.wait(timeout=max(0.0, deadline - time.monotonic()))
            return not self._queue

    def status(self, hashdb_stored_flush_id: int) -> tuple[int, int, int]:
        """(stored, last, pending nodes): executor flushes stored are those whose HashDB flush is."""
        with self._lock:
            while self._sent and (self._sent[0].hashdb_flush_id or 0) <= hashdb_stored_flush_id:
                self._stored_id = self._sent.popleft().flush_id
            pending = sum(len(j.written if j.nodes is None else j.nodes) for j in self._queue)
            return self._stored_id, self._last_id, pending

    def drain(self, timeout_s: float) -> bool:
        """Wait until every submitted batch is in the HashDB (or `timeout_s`); stop the thread."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            self._closing = True
            self._lock.notify_all()
            while self._queue and time.monotonic() < deadline:
                self._lock.wait(timeout=max(0.0, deadline - time.monotonic()))
            drained = not self._queue
        if drained:
            self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
        return drained


# -- backend and sessions ------------------------------------------------------------------------


class HashDBBackend:
    """A `StateBackend` on a HashDB service; thread-safe, one channel, one node cache and one flush
    pipeline for every batch of this process."""

    def __init__(
        self,
        target: str,
        timeout_s: float = 30.0,
        *,
        node_cache_entries: int = DEFAULT_NODE_CACHE_ENTRIES,
        root_wait_s: float = 5.0,
        max_message_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self.root_wait_s = root_wait_s
        self._channel = grpc.insecure_channel(
            target,
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
            ],
        )
        self.nodes = NodeCache(node_cache_entries)
        self.programs = _ProgramCache(PROGRAM_CACHE_BYTES)
        self.write_sets = WriteSetMemo(WRITE_SET_MEMO_ENTRIES)
        channel, t = self._channel, timeout_s
        self.get = _Unary(channel, "Get", pb.GetResponse, t)
        self.get_program = _Unary(channel, "GetProgram", pb.GetProgramResponse, t)
        self.load_db = _Unary(channel, "LoadDB", empty_pb2.Empty, t)
        self.load_programs = _Unary(channel, "LoadProgramDB", empty_pb2.Empty, t)
        self._status = _Unary(channel, "GetFlushStatus", pb.GetFlushStatusResponse, t)
        self.load_nodes = _Unary(channel, "LoadNodes", empty_pb2.Empty, t)
        self.get_paths: _Unary[pb.GetPathsResponse] | None = _Unary(
            channel, "GetPaths", pb.GetPathsResponse, t
        )
        self.flushes = FlushPipeline(
            self.load_db, self.load_programs, _Unary(channel, "Flush", pb.FlushResponse, t), self.load_nodes
        )

    def open(self, keep: bool) -> HashDBSession:
        return HashDBSession(self, keep)

    def read_paths(self, root: H4, keys: Sequence[H4], stats: _Stats | None = None) -> list[tuple[H4, Node]]:
        """Every node on the paths of `keys` under `root`: GetPaths (zkseq extension), one call per
        MAX_PATH_KEYS keys, or Get with its read log for each key on a HashDB without it. Raises
        `grpc.RpcError`."""
        get_paths = self.get_paths
        if get_paths is not None:
            try:
                nodes: list[tuple[H4, Node]] = []
                for i in range(0, len(keys), MAX_PATH_KEYS):
                    request = pb.GetPathsRequest(
                        root=_fea(root), keys=[_fea(k) for k in keys[i : i + MAX_PATH_KEYS]]
                    )
                    nodes += unpack_hashed_nodes(get_paths(request, stats).nodes)
                return nodes
            except grpc.RpcError as exc:
                if _code(exc) is not grpc.StatusCode.UNIMPLEMENTED:
                    raise
            _LOG.info("hashdb_without_get_paths", fallback="Get")
            self.get_paths = None
        requests = [pb.GetRequest(root=_fea(root), key=_fea(k), get_db_read_log=True) for k in keys]
        nodes = []
        for response in self.get.many(requests, stats):
            for text, fes in response.db_read_log.items():
                values = tuple(fes.fe)
                if len(values) == 8:
                    values = (*values, 0, 0, 0, 0)
                nodes.append((int_to_h4(int(text, 16)), values))
        return nodes

    def flush_status(self) -> FlushStatus:
        try:
            s = self._status(empty_pb2.Empty())
        except grpc.RpcError as exc:
            raise _unavailable(exc) from None
        stored, last, pending = self.flushes.status(s.stored_flush_id)
        return FlushStatus(
            stored_flush_id=stored,
            storing_flush_id=min(last, stored + 1) if last > stored else stored,
            last_flush_id=last,
            pending_to_flush_nodes=pending + s.pending_to_flush_nodes,
            pending_to_flush_program=s.pending_to_flush_program,
            storing_nodes=s.storing_nodes,
            storing_program=s.storing_program,
            prover_id=s.prover_id,
        )

    def close(self, drain_timeout_s: float = 30.0) -> None:
        if not self.flushes.drain(drain_timeout_s):
            _LOG.error("flushes_not_drained", timeout_s=drain_timeout_s)
        self._channel.close()


class HashDBSession:
    """One batch on the HashDB (a `BatchSession`)."""

    def __init__(self, backend: HashDBBackend, keep: bool) -> None:
        self._backend = backend
        self.keep = keep
        self.overlay = _JournaledOverlay(backend.nodes)
        self.tree = SparseMerkleTree(self.overlay)
        #: the root the batch started from: the one root of the batch the HashDB knows
        self._base_root: H4 | None = None
        #: where a node seen next to a walked path sits: a key whose path reaches it
        self._positions: dict[H4, tuple[H4, int]] = {}
        self._new_programs: dict[H4, bytes] = {}
        self.calls = 0
        self.seconds = 0.0

    def _count(self, calls: int, seconds: float) -> None:
        self.calls += calls
        self.seconds += seconds

    # -- fetching paths --------------------------------------------------------------------------

    def _walk(self, root: H4, key: H4) -> bool:
        """Whether every node `get(root, key)` needs is at hand; records the siblings' positions."""
        get_node = self.overlay.get_node
        positions = self._positions
        h, depth = root, 0
        while h != ZERO_H4:
            node = get_node(h)
            if node is None:
                return False
            if node[8] == _LEAF_FLAG:
                if node[0:4] == remove_key_bits(key, depth):
                    return get_node(node[4:8]) is not None  # type: ignore[arg-type]
                return True
            right = path_bit(key, depth)
            sibling: H4 = node[0:4] if right else node[4:8]  # type: ignore[assignment]
            if sibling != ZERO_H4 and sibling not in positions:
                positions[sibling] = (key, depth)
            h = node[4:8] if right else node[0:4]  # type: ignore[assignment]
            depth += 1
        return True

    def _fetch(self, keys: Sequence[H4]) -> None:
        """Put in the cache every node on the paths of `keys` under the batch's root (waiting a
        while for a root another executor is still flushing)."""
        base = self._base_root
        assert base is not None
        deadline = time.monotonic() + self._backend.root_wait_s
        while True:
            try:
                nodes = self._backend.read_paths(base, keys, self._count)
                break
            except grpc.RpcError as exc:
                if _code(exc) is not grpc.StatusCode.NOT_FOUND or time.monotonic() >= deadline:
                    raise _unavailable(exc) from None
                time.sleep(0.05)
        self._backend.nodes.update(nodes)

    def _ensure(self, root: H4, keys: Sequence[H4]) -> None:
        for _ in range(MAX_FETCH_ROUNDS):
            missing = [k for k in dict.fromkeys(keys) if not self._walk(root, k)]
            if not missing:
                return
            self._fetch(missing)
        raise StateUnavailable(f"tree nodes under {_hex(root)} are missing after {MAX_FETCH_ROUNDS} fetches")

    def _on_missing(self, exc: MissingNodeError, root: H4, keys: Sequence[H4], tried: set[H4]) -> None:
        """Fetch what an operation found missing: the paths of its keys, or a node next to them."""
        missing = hex_to_h4(exc.node_hash)
        if missing in tried:
            raise StateUnavailable(f"HashDB has no node {exc.node_hash} under root {_hex(root)}") from exc
        tried.add(missing)
        self._ensure(root, keys)
        position = self._positions.get(missing)
        if position is not None and self.overlay.get_node(missing) is None:
            key, depth = position
            self._fetch([_prefix_key(key, depth)])

    # -- StateTree ------------------------------------------------------------------------------

    def get_values(self, root: H4, keys: Sequence[H4]) -> list[int]:
        if self._base_root is None:
            self._base_root = root
        tried: set[H4] = set()
        while True:
            try:
                return [self.tree.get(root, k) for k in keys]
            except MissingNodeError as exc:
                self._on_missing(exc, root, keys, tried)

    def set_values(self, root: H4, writes: Sequence[tuple[H4, int]], tx: int = 0) -> H4:
        if self._base_root is None:
            self._base_root = root
        memo_key = (root, tuple(writes))
        known = self._backend.write_sets.get(memo_key)
        if known is not None:
            new_root, put = known
            self.overlay.nodes.update(put)
            return new_root
        tried: set[H4] = set()
        keys = [k for k, _ in writes]
        journal: list[tuple[H4, Node]] = []
        self.overlay.journal = journal
        try:
            while True:
                try:
                    new_root = self.tree.set_many(root, writes)
                    break
                except MissingNodeError as exc:
                    self._on_missing(exc, root, keys, tried)
        finally:
            self.overlay.journal = None
        self._backend.write_sets.put(memo_key, (new_root, tuple(journal)))
        return new_root

    def warm(self, root: H4, keys: Sequence[H4], ahead: Callable[[], Sequence[H4]]) -> None:
        """Fetch the paths of `keys` this cache lacks, and those of `ahead()` with them, in one call:
        the keys of the blocks' state roots (§6.6) land next to leaves no cache keeps any more, one a
        transaction, and a fetch for several blocks at once saves a round trip for each."""
        if self._base_root is None:
            self._base_root = root
        if all(self._walk(root, k) for k in keys):
            return
        self._fetch([k for k in dict.fromkeys((*keys, *ahead())) if not self._walk(root, k)])

    def get_program(self, code_hash: H4) -> bytes | None:
        code = self._new_programs.get(code_hash) or self._backend.programs.get(code_hash)
        if code is not None:
            return code
        try:
            code = self._backend.get_program(pb.GetProgramRequest(key=_fea(code_hash)), self._count).data
        except grpc.RpcError as exc:
            if _code(exc) is grpc.StatusCode.NOT_FOUND:
                return None
            raise _unavailable(exc) from None
        self._backend.programs.put(code_hash, code)
        return code

    def put_programs(self, programs: Mapping[H4, bytes]) -> None:
        self._new_programs.update(programs)

    # -- BatchSession ---------------------------------------------------------------------------

    def load(self, nodes: Mapping[H4, Node], programs: Mapping[H4, bytes]) -> None:
        """Test preloads go to the HashDB at once (stored only with update_merkle_tree = 1)."""
        try:
            if nodes:
                self._backend.load_db(load_db_request(nodes.items(), self.keep), self._count)
            if programs:
                request = pb.LoadProgramDBRequest(
                    input_program_db={_hex(h): code for h, code in programs.items()}, persistent=self.keep
                )
                self._backend.load_programs(request, self._count)
        except grpc.RpcError as exc:
            raise _unavailable(exc) from None

    def finish(self, new_root: H4, keep: bool, state_roots: Sequence[H4] = ()) -> FlushInfo:
        """Keep the new nodes the batch's state roots use: queued for the HashDB, which gets those
        the roots reach (picked on the flush thread, off the ProcessBatch path), and into the cache,
        which gets every node the batch wrote at once (one dict update; the few the roots do not
        reach are never read through a kept root)."""
        if not keep:
            return FlushInfo()
        written = self.overlay.nodes
        self._backend.nodes.update(written.items())
        for code_hash, code in self._new_programs.items():
            self._backend.programs.put(code_hash, code)
        return self._backend.flushes.submit(new_root, written, dict(self._new_programs), state_roots)

    def cancel(self) -> None:
        """Nothing of the batch has left this process."""

    def backend_stats(self) -> tuple[int, float]:
        return self.calls, self.seconds

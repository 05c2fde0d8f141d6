"""Batch sessions: the per-batch, per-transaction accumulation of tree writes (the prover's
StateManager, l1-and-protos.md §3.5 and §4.4).

A session is named by the client's `batch_uuid`. Every write made in it is kept in memory, visible
to the session's reads, and tracked per (persistence, transaction):

    BatchSession
    ├── view                       every node the session holds, for reads        (union of below)
    ├── kept[persistence]          nodes kept by transactions that ended (SemiFlush)
    └── txs[persistence][tx]       TxTrack: start_root, end_root, roots passed through,
                                   `written` = nodes hashed by the open transaction's writes

What to keep is decided by reachability rather than by bookkeeping of replaced nodes: the nodes a
transaction keeps are those of its writes that the tree under its end root still uses. A node
hashed for an intermediate root — the second write to a slot, a sub-call that reverted — is not
reachable from the end root and is dropped. That is exactly what the prover's sub-state purge
achieves, without having to record which node each write made obsolete.

    SemiFlush(root)   ends the current transaction at `root` (one of the roots it passed through:
                      its last, or an earlier one when the end of the transaction was rolled back);
                      keeps what `root` needs, drops the rest from memory.
    Flush(root)       ends the batch: with DATABASE persistence the transactions after the last one
                      that ended at `root` are dropped; the nodes the end roots of the remaining
                      transactions need are handed on, DATABASE to the store, CACHE to the cache;
                      TEMPORARY nodes are dropped.

Why it is enough to look only at the nodes written in the session: a node of the tree under a
transaction's end root is either in the tree it started from (so already stored, or kept by an
earlier transaction) or was hashed by one of its writes on the way from the start to the end root.
"""

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from services.common.errors import InvalidArgument
from zkevm.field import H4, ZERO_H4, Node, h4_to_hex

NodeReader = Callable[[H4], Node | None]


class Persistence(IntEnum):
    """Where the nodes of a write end up (the fork-6 `Persistence` enum, same numbers)."""

    CACHE = 0
    DATABASE = 1
    TEMPORARY = 2


_LEAF_FLAG = 1


def reachable_new_nodes(roots: Iterable[H4], pool: Mapping[H4, Node]) -> dict[H4, Node]:
    """The nodes of `pool` used by the trees under `roots`.

    The walk goes down from each root while the nodes are in `pool`; a node outside it is already
    stored, and so is everything under it (the store is closed under children).
    """
    out: dict[H4, Node] = {}
    # (hash, whether it is a value node): a value node can only be told by where it hangs
    stack: list[tuple[H4, bool]] = [(r, False) for r in roots]
    while stack:
        h, is_value = stack.pop()
        if h in out:
            continue
        node = pool.get(h)
        if node is None:
            continue
        out[h] = node
        if is_value:
            continue
        if node[8] == _LEAF_FLAG:
            stack.append((node[4:8], True))  # type: ignore[arg-type]
        else:
            left: H4 = node[0:4]  # type: ignore[assignment]
            right: H4 = node[4:8]  # type: ignore[assignment]
            if left != ZERO_H4:
                stack.append((left, False))
            if right != ZERO_H4:
                stack.append((right, False))
    return out


@dataclass(slots=True)
class TxTrack:
    """One transaction's writes at one persistence level."""

    start_root: H4
    end_root: H4
    roots: set[H4]
    written: dict[H4, Node] = field(default_factory=dict)


class BatchSession:
    __slots__ = ("current_tx", "kept", "last_used", "txs", "uuid", "view")

    def __init__(self, uuid: str) -> None:
        self.uuid = uuid
        self.view: dict[H4, Node] = {}
        self.kept: dict[Persistence, dict[H4, Node]] = {p: {} for p in Persistence}
        self.txs: dict[Persistence, dict[int, TxTrack]] = {p: {} for p in Persistence}
        #: the transaction of the last write (the one SemiFlush ends)
        self.current_tx = 0
        self.last_used = time.monotonic()

    def reader(self, base: NodeReader) -> NodeReader:
        """Reads that see the session's nodes first, then `base`."""
        view = self.view

        def read(node_hash: H4) -> Node | None:
            node = view.get(node_hash)
            return node if node is not None else base(node_hash)

        return read

    def commit(
        self, tx: int, persistence: Persistence, old_root: H4, new_root: H4, written: Mapping[H4, Node]
    ) -> None:
        """Record a successful write of `tx` from `old_root` to `new_root` that hashed `written`."""
        txs = self.txs[persistence]
        track = txs.get(tx)
        if track is None:
            track = txs[tx] = TxTrack(start_root=old_root, end_root=old_root, roots={old_root})
        track.written.update(written)
        self.view.update(written)
        track.roots.add(old_root)
        track.roots.add(new_root)
        track.end_root = new_root
        self.current_tx = tx
        self.last_used = time.monotonic()

    def end_tx(self, root: H4, persistence: Persistence) -> int:
        """SemiFlush: the current transaction ends at `root`. Returns how many nodes were dropped."""
        self.last_used = time.monotonic()
        track = self.txs[persistence].get(self.current_tx)
        if track is None:
            return 0  # no write at this persistence level in this transaction: nothing to end
        if root not in track.roots:
            raise InvalidArgument(
                f"new_state_root {h4_to_hex(root)} is not a root transaction {self.current_tx} of batch "
                f"{self.uuid!r} passed through at persistence {persistence.name} (its last root is "
                f"{h4_to_hex(track.end_root)})"
            )
        kept = reachable_new_nodes([root], track.written)
        self.kept[persistence].update(kept)
        dropped = [h for h in track.written if h not in kept]
        track.written = {}
        track.end_root = root
        track.roots = {root}
        for h in dropped:
            if not self._holds(h):
                del self.view[h]
        return len(dropped)

    def finish(self, root: H4 | None, persistence: Persistence) -> dict[Persistence, dict[H4, Node]]:
        """Flush: the nodes each persistence level keeps at the end of the batch (not TEMPORARY)."""
        database_txs = self.txs[Persistence.DATABASE]
        if root is not None and persistence is Persistence.DATABASE and database_txs:
            last = self._last_tx_at(root)
            for txs in self.txs.values():
                for tx in [t for t in txs if t > last]:
                    del txs[tx]
        out: dict[Persistence, dict[H4, Node]] = {}
        for level in (Persistence.DATABASE, Persistence.CACHE):
            pool = dict(self.kept[level])
            for track in self.txs[level].values():
                pool.update(track.written)
            out[level] = reachable_new_nodes((t.end_root for t in self.txs[level].values()), pool)
        return out

    def _last_tx_at(self, root: H4) -> int:
        """The last transaction to keep when the batch ends at `root`."""
        txs = self.txs[Persistence.DATABASE]
        ended = [tx for tx, track in txs.items() if track.end_root == root]
        if ended:
            return max(ended)
        started = [tx for tx, track in txs.items() if track.start_root == root]
        if started:
            return min(started) - 1  # the batch ends where this transaction began
        raise InvalidArgument(
            f"new_state_root {h4_to_hex(root)} is neither the end nor the start root of a transaction "
            f"of batch {self.uuid!r} (transactions end at "
            f"{', '.join(h4_to_hex(t.end_root) for t in txs.values())})"
        )

    def _holds(self, node_hash: H4) -> bool:
        """Whether a kept set or an open transaction still has `node_hash`."""
        if any(node_hash in kept for kept in self.kept.values()):
            return True
        return any(node_hash in t.written for txs in self.txs.values() for t in txs.values())

    @property
    def node_count(self) -> int:
        return len(self.view)

"""Bounded least-recently-used caches for tree nodes and bytecode.

The node cache sits in front of the durable store (the prover's `DatabaseMTCache`): the hot part of
the tree — the top levels and recently touched paths — is read from memory. It is bounded by a
weight (entries for nodes, bytes for programs) and counts its hits and misses for the
`zkseq_hashdb_cache_*` metrics. Not thread-safe: the HashDB touches it under its tree lock only.
"""

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _one(_: object) -> int:
    return 1


class LruCache(Generic[K, V]):
    """At most `max_weight` total weight of entries; the least recently used go first."""

    __slots__ = ("_entries", "_weigh", "hits", "max_weight", "misses", "weight")

    def __init__(self, max_weight: int, weigh: Callable[[V], int] = _one) -> None:
        self.max_weight = max_weight
        self._weigh = weigh
        self._entries: OrderedDict[K, V] = OrderedDict()
        self.weight = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: K) -> bool:
        return key in self._entries

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        entries = self._entries
        old = entries.get(key)
        if old is not None:
            entries.move_to_end(key)
            return  # content-addressed: the same key always holds the same value
        w = self._weigh(value)
        if w > self.max_weight:
            return
        entries[key] = value
        self.weight += w
        while self.weight > self.max_weight:
            _, evicted = entries.popitem(last=False)
            self.weight -= self._weigh(evicted)

    def put_many(self, items: Iterable[tuple[K, V]]) -> None:
        if self._weigh is not _one:
            for key, value in items:
                self.put(key, value)
            return
        # unit weights (the node cache): the same as `put` one by one, without a call per entry
        entries = self._entries
        move = entries.move_to_end
        added = 0
        for key, value in items:
            if key in entries:
                move(key)
            else:
                entries[key] = value
                added += 1
        self.weight += added
        while self.weight > self.max_weight:
            entries.popitem(last=False)
            self.weight -= 1

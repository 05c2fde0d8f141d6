"""Opportunistic batching of concurrent requests into fewer calls: `Coalescer`.

Python gRPC costs a fixed ≈0.2–0.3 ms of CPU per call on each side, whatever the call carries, so
under load the cheapest way to serve many small requests is to send them together. The coalescer
does so without ever waiting on a timer:

    caller ─▶ get(group, key) ─▶ queue ─▶ a free call slot?  yes: one call takes the whole queue
                                                            (this caller's key alone at low load)
                                                           no: it waits in the queue; when a
                                                            call returns, the next call takes
                                                            every key queued meanwhile

    * at most `max_in_flight` calls at once, so one slow call does not stall the others;
    * one call carries the keys of one group (the HashDB's GetMany reads at one state root), at
      most `max_batch` of them, the group waiting longest first;
    * with `dedupe`, a key queued twice is sent once and its answer goes to both waiters;
    * the call runs in a task of its own: a caller that is cancelled only stops waiting, the call
      and its other waiters go on (a key whose waiters have all gone before its call starts is
      not sent);
    * `fetch` answers each key with its value or an exception for that key's waiters alone; when
      `fetch` itself raises, every waiter of that call gets that exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

G = TypeVar("G", bound=Hashable)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: answers for the keys of one call, in their order: a value, or the exception to raise to its waiters
Fetch = Callable[[G, Sequence[K]], Awaitable[Sequence[V | Exception]]]


class Coalescer(Generic[G, K, V]):
    """Keys asked for concurrently, sent together to `fetch` (see the module docstring)."""

    def __init__(
        self,
        fetch: Fetch[G, K, V],
        *,
        max_in_flight: int = 3,
        max_batch: int = 256,
        dedupe: bool = True,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self._fetch = fetch
        self._max_in_flight = max_in_flight
        self._max_batch = max_batch
        self._dedupe = dedupe
        #: group → its queued requests, each a key and its waiters; groups in the order they queued
        self._queued: dict[G, list[tuple[K, list[asyncio.Future[V]]]]] = {}
        #: with dedupe: (group, key) → the waiters of that queued key
        self._index: dict[tuple[G, K], list[asyncio.Future[V]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: calls made so far (for tests and benchmarks)
        self.calls = 0

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def get(self, group: G, key: K) -> V:
        """The value of `key` in `group`, from the first call that can carry it."""
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        waiters = self._index.get((group, key)) if self._dedupe else None
        if waiters is not None:
            waiters.append(future)
        else:
            waiters = [future]
            self._queued.setdefault(group, []).append((key, waiters))
            if self._dedupe:
                self._index[(group, key)] = waiters
        self._start_calls()
        return await future

    def _start_calls(self) -> None:
        while self._queued and len(self._tasks) < self._max_in_flight:
            group, queue = next(iter(self._queued.items()))
            taken, rest = queue[: self._max_batch], queue[self._max_batch :]
            del self._queued[group]
            if rest:  # behind the groups that waited while this one was served
                self._queued[group] = rest
            if self._dedupe:
                for key, _ in taken:
                    del self._index[(group, key)]
            # a key nobody waits for any more (every waiter cancelled) is not sent
            live = [(key, waiters) for key, waiters in taken if not all(w.done() for w in waiters)]
            if not live:
                continue
            self.calls += 1
            task = asyncio.create_task(self._call(group, live))
            self._tasks.add(task)
            task.add_done_callback(self._call_done)

    def _call_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._start_calls()

    async def _call(self, group: G, requests: list[tuple[K, list[asyncio.Future[V]]]]) -> None:
        try:
            answers = await self._fetch(group, [key for key, _ in requests])
            if len(answers) != len(requests):
                raise RuntimeError(f"{len(answers)} answers to {len(requests)} keys")
        except asyncio.CancelledError:
            for _, waiters in requests:
                for waiter in waiters:
                    waiter.cancel()
            raise
        except Exception as exc:
            for _, waiters in requests:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
            return
        for (_, waiters), answer in zip(requests, answers, strict=True):
            for waiter in waiters:
                if waiter.done():
                    continue
                if isinstance(answer, Exception):
                    waiter.set_exception(answer)
                else:
                    waiter.set_result(answer)

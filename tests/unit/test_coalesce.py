"""`Coalescer`: concurrent requests share calls, each waiter gets its own answer, errors and
cancellation stay with the waiters they belong to."""

import asyncio
from collections.abc import Sequence

import pytest

from services.common.coalesce import Coalescer


class FakeFetch:
    """Answers key k with k * 10 (or the exception set for it); holds each call until released."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[int]]] = []
        self.gate = asyncio.Event()
        self.failing: dict[int, Exception] = {}
        self.call_error: Exception | None = None

    async def __call__(self, group: str, keys: Sequence[int]) -> list[int | Exception]:
        self.calls.append((group, list(keys)))
        await self.gate.wait()
        if self.call_error is not None:
            raise self.call_error
        return [self.failing.get(k, k * 10) for k in keys]

    @property
    def keys_sent(self) -> list[int]:
        return [k for _, keys in self.calls for k in keys]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_lone_request_goes_out_at_once() -> None:
    fetch = FakeFetch()
    fetch.gate.set()
    coalescer = Coalescer[str, int, int](fetch)
    assert await coalescer.get("r", 7) == 70
    assert fetch.calls == [("r", [7])]
    assert coalescer.calls == 1


async def test_requests_queued_behind_busy_calls_share_one_call() -> None:
    fetch = FakeFetch()
    coalescer = Coalescer[str, int, int](fetch, max_in_flight=2)
    waiters = [asyncio.create_task(coalescer.get("r", k)) for k in range(100)]
    await settle()
    assert fetch.calls == [("r", [0]), ("r", [1])]  # the first two went out alone, the rest wait
    fetch.gate.set()
    assert await asyncio.gather(*waiters) == [k * 10 for k in range(100)]
    assert len(fetch.calls) == 3 and fetch.calls[2] == ("r", list(range(2, 100)))
    assert sorted(fetch.keys_sent) == list(range(100))


async def test_a_batch_is_at_most_max_batch_keys_of_one_group() -> None:
    fetch = FakeFetch()
    coalescer = Coalescer[str, int, int](fetch, max_in_flight=1, max_batch=4)
    requests = [("a", 0), ("a", 1), ("b", 2), ("a", 3), ("b", 4), ("a", 5), ("a", 6), ("a", 7), ("a", 8)]
    waiters = [asyncio.create_task(coalescer.get(g, k)) for g, k in requests]
    await settle()
    fetch.gate.set()
    assert await asyncio.gather(*waiters) == [k * 10 for _, k in requests]
    # the group queued first goes first, four keys at most per call
    assert fetch.calls == [("a", [0]), ("a", [1, 3, 5, 6]), ("b", [2, 4]), ("a", [7, 8])]


async def test_a_key_queued_twice_is_sent_once_unless_dedupe_is_off() -> None:
    fetch = FakeFetch()
    coalescer = Coalescer[str, int, int](fetch, max_in_flight=1)
    waiters = [asyncio.create_task(coalescer.get("r", k)) for k in (1, 2, 2, 3, 2)]
    await settle()
    fetch.gate.set()
    assert await asyncio.gather(*waiters) == [10, 20, 20, 30, 20]
    assert fetch.calls == [("r", [1]), ("r", [2, 3])]

    fetch = FakeFetch()
    fetch.gate.set()
    coalescer = Coalescer[str, int, int](fetch, max_in_flight=1, dedupe=False)
    waiters = [asyncio.create_task(coalescer.get("r", k)) for k in (1, 2, 2)]
    assert await asyncio.gather(*waiters) == [10, 20, 20]
    assert fetch.calls == [("r", [1]), ("r", [2, 2])]


async def test_a_failed_call_fails_its_waiters_only() -> None:
    fetch = FakeFetch()
    coalescer = Coalescer[str, int, int](fetch, max_in_flight=1)
    first = asyncio.create_task(coalescer.get("r", 1))
    await settle()
    queued = [asyncio.create_task(coalescer.get("r", k)) for k in (2, 3)]
    await settle()
    fetch.call_error = ConnectionError("backend down")
    fetch.gate.set()
    with pytest.raises(ConnectionError, match="backend down"):
        await first
    for waiter in queued:  # the next call failed the same way, with the same message
        with pytest.raises(ConnectionError, match="backend down"):
            await waiter
    fetch.call_error = None
    assert await coalescer.get("r", 4) == 40  # and the coalescer still serves


async def test_an_answer_that_is_an_exception_goes_to_its_key_alone() -> None:
    fetch = FakeFetch()
    fetch.failing[2] = ValueError("key 2 refused")
    coalescer = Coalescer[str, int, int](fetch, max_in_flight=1)
    waiters = [asyncio.create_task(coalescer.get("r", k)) for k in (1, 2, 3, 2)]
    await settle()
    fetch.gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert results[0] == 10 and results[2] == 30
    for refused in (results[1], results[3]):
        assert isinstance(refused, ValueError) and str(refused) == "key 2 refused"


async def test_a_wrong_number_of_answers_fails_the_call() -> None:
    async def short(group: str, keys: Sequence[int]) -> list[int | Exception]:
        return [1]

    coalescer = Coalescer[str, int, int](short, max_in_flight=1)
    waiters = [asyncio.create_task(coalescer.get("r", k)) for k in (1, 2, 3)]
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert results[0] == 1
    for failed in results[1:]:
        assert isinstance(failed, RuntimeError) and str(failed) == "1 answers to 2 keys"


async def test_a_cancelled_waiter_does_not_disturb_the_others() -> None:
    fetch = FakeFetch()
    coalescer = Coalescer[str, int, int](fetch, max_in_flight=1)
    first = asyncio.create_task(coalescer.get("r", 1))
    await settle()
    sharing = [asyncio.create_task(coalescer.get("r", k)) for k in (2, 2, 3)]
    gone = asyncio.create_task(coalescer.get("r", 4))
    await settle()
    first.cancel()  # in flight: its call goes on
    sharing[0].cancel()  # queued, and shares key 2 with a waiter that stays
    gone.cancel()  # queued alone: key 4 is never sent
    await settle()
    fetch.gate.set()
    assert list(await asyncio.gather(sharing[1], sharing[2])) == [20, 30]
    for cancelled in (first, sharing[0], gone):
        with pytest.raises(asyncio.CancelledError):
            await cancelled
    assert fetch.calls == [("r", [1]), ("r", [2, 3])]
    assert coalescer.in_flight == 0


async def test_bad_limits_are_refused() -> None:
    fetch = FakeFetch()
    with pytest.raises(ValueError, match="max_in_flight must be at least 1, got 0"):
        Coalescer[str, int, int](fetch, max_in_flight=0)
    with pytest.raises(ValueError, match="max_batch must be at least 1, got 0"):
        Coalescer[str, int, int](fetch, max_batch=0)

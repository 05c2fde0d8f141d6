"""The bounded LRU caches in front of the node store."""

import random

from services.hashdb.stores.cache import LruCache


def test_least_recently_used_entries_go_first() -> None:
    cache: LruCache[int, str] = LruCache(3)
    for k in (1, 2, 3):
        cache.put(k, str(k))
    assert cache.get(1) == "1"  # 1 is now the most recent
    cache.put(4, "4")
    assert 2 not in cache
    assert [k for k in (1, 3, 4) if k in cache] == [1, 3, 4]
    assert len(cache) == 3


def test_weights_bound_the_total() -> None:
    cache: LruCache[str, bytes] = LruCache(10, weigh=len)
    cache.put("a", b"12345")
    cache.put("b", b"123")
    cache.put("c", b"1234")  # 12 > 10: "a" goes
    assert "a" not in cache and cache.weight == 7
    cache.put("huge", b"x" * 11)  # heavier than the whole cache: not kept, nothing evicted
    assert "huge" not in cache and len(cache) == 2


def test_hits_and_misses_are_counted() -> None:
    cache: LruCache[int, int] = LruCache(2)
    cache.put(1, 10)
    assert cache.get(1) == 10
    assert cache.get(2) is None
    assert (cache.hits, cache.misses) == (1, 1)


def test_a_zero_sized_cache_keeps_nothing() -> None:
    cache: LruCache[int, int] = LruCache(0)
    cache.put(1, 1)
    assert cache.get(1) is None and len(cache) == 0


def test_put_many_is_put_one_by_one() -> None:
    rng = random.Random(5)
    for max_weight in (0, 1, 7, 50):
        one, many = LruCache[int, str](max_weight), LruCache[int, str](max_weight)
        for _ in range(40):
            items = [(rng.randrange(60), "v") for _ in range(rng.randrange(12))]
            for key, value in items:
                one.put(key, value)
            many.put_many(items)
            probe = rng.randrange(60)
            assert one.get(probe) == many.get(probe)
            assert list(one._entries.items()) == list(many._entries.items())
            assert one.weight == many.weight <= max_weight

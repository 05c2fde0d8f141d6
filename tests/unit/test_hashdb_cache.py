"""The bounded LRU caches in front of the node store."""

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

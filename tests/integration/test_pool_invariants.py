"""The store's invariants hold after any sequence of operations, checked in the real Redis.

Hypothesis drives random sequences of adds (new nonces, replacements, gaps, stale nonces), selects
(one, or several with their followers), includes (one or several), reads of the ready ones (with
followers or not), failures of every kind (with and without the executor's nonce), invalidations, releases,
state nonces moving on and expiry; after every step the keys themselves are read back and checked
against the invariants store.py promises:

  * a transaction's status names the one status set it is in, and every member of a status set is
    a transaction with that status;
  * the live (pending or selected) transactions of a sender are exactly its account's nonce fields,
    one per nonce, none below the sender's next nonce;
  * the ready set is exactly the pending transactions whose nonce is their sender's next nonce.
"""

import asyncio
import uuid
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from services.common.errors import ServiceError
from services.common.logs import EventLogger
from services.pool.metrics import PoolMetrics
from services.pool.pool import Pool, PoolSettings
from services.pool.state import MemoryAccountState
from services.pool.store import FailureKind, RedisPoolStore
from services.pool.validation import PoolLimits
from tests.integration.pool_fixtures import ETHER, GWEI, REDIS_URL, FakeClock, account, require_redis

pytestmark = pytest.mark.integration

ACCOUNTS = [account(f"invariants-{i}") for i in range(3)]
PICK = st.integers(0, 63)
ADD = st.tuples(st.just("add"), st.integers(0, 2), st.integers(0, 5), st.integers(1, 4), st.integers(0, 1))
OPERATIONS = st.one_of(
    ADD,
    ADD,
    ADD,
    st.tuples(st.just("select"), PICK),
    st.tuples(st.just("select_many"), st.lists(PICK, min_size=1, max_size=4)),
    st.tuples(st.just("include_many"), st.lists(PICK, min_size=1, max_size=4)),
    st.tuples(st.just("ready"), st.integers(1, 8), st.booleans()),
    st.tuples(st.just("include"), PICK),
    st.tuples(st.just("fail"), PICK, st.sampled_from(list(FailureKind)), st.none() | st.integers(0, 6)),
    st.tuples(st.just("invalid"), PICK),
    st.tuples(st.just("release")),
    st.tuples(st.just("state"), st.integers(0, 2), st.integers(0, 6)),
    st.tuples(st.just("expire"), st.integers(0, 40)),
)


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def check_invariants(client: redis.Redis, prefix: str) -> None:
    txs: dict[str, dict[str, str]] = {}
    for key in client.scan_iter(match=prefix + "tx:*", count=1000):
        fields = client.hgetall(key)
        txs[text(key)[len(prefix) + 3 :]] = {
            text(k): text(v) for k, v in fields.items() if k not in (b"raw", b"rec")
        }
    members: dict[str, str] = {}
    for status in ("pending", "selected", "failed", "invalid"):
        for member in client.zrange(prefix + status, 0, -1):
            h = text(member)
            assert h not in members, f"{h} is in {members.get(h)} and {status}"
            members[h] = status
    assert members == {h: f["st"] for h, f in txs.items()}, "status sets and tx keys disagree"

    next_nonce: dict[str, int] = {}
    live_by_account: dict[str, set[str]] = {}
    for key in client.scan_iter(match=prefix + "acct:*", count=1000):
        sender = text(key)[len(prefix) + 5 :]
        nonces = {text(k): text(v) for k, v in client.hgetall(key).items()}
        nxt = int(nonces.pop("next", "0"))
        next_nonce[sender] = nxt
        live_by_account[sender] = set(nonces.values())
        assert len(set(nonces.values())) == len(nonces), "one hash under two nonces"
        for nonce, h in nonces.items():
            tx = txs[h]
            assert tx["st"] in ("pending", "selected") and tx["from"] == sender and tx["nonce"] == nonce
            assert int(nonce) >= nxt, f"live nonce {nonce} below the next nonce {nxt}"
    for h, tx in txs.items():
        if tx["st"] in ("pending", "selected"):
            assert h in live_by_account.get(tx["from"], set()), f"live {h} is not in its account"

    ready = {text(m) for m in client.zrange(prefix + "ready", 0, -1)}
    expected = {
        tx["rk"]
        for tx in txs.values()
        if tx["st"] == "pending" and int(tx["nonce"]) == next_nonce.get(tx["from"], 0)
    }
    assert ready == expected, "the ready set is not the pending next-nonce transactions"


async def run(operations: list[tuple[Any, ...]]) -> None:
    prefix = f"zkseq:{{invariants-{uuid.uuid4().hex[:12]}}}:"
    client = aioredis.Redis.from_url(REDIS_URL)
    sync = redis.Redis.from_url(REDIS_URL)
    state = MemoryAccountState({a.address: (0, ETHER) for a in ACCOUNTS})
    clock = FakeClock()
    settings_ = PoolSettings(
        limits=PoolLimits(nonce_window=6, max_txs=12, max_txs_per_account=5),
        tx_lifetime_s=60,
        finished_retention_s=30,
    )
    pool = Pool(
        RedisPoolStore(client, prefix),
        state,
        settings_,
        PoolMetrics(CollectorRegistry()),
        EventLogger("t"),
        clock=clock,
    )
    hashes: list[bytes] = []
    try:
        for op in operations:
            try:
                match op:
                    case ("add", who, nonce, price, variant):
                        raw = ACCOUNTS[who].tx(nonce, price * GWEI, value=1 + variant)
                        hashes.append((await pool.add(raw)).tx_hash)
                    case ("select", i) if hashes:
                        await pool.mark_selected(hashes[i % len(hashes)])
                    case ("select_many", picks) if hashes:
                        await pool.select_many([hashes[i % len(hashes)] for i in picks])
                    case ("include_many", picks) if hashes:
                        await pool.mark_included_many([hashes[i % len(hashes)] for i in picks])
                    case ("ready", limit, followers):
                        offered = await pool.ready(limit, followers)
                        assert len(offered) <= limit
                        assert len({t.hash for t in offered}) == len(offered)
                    case ("include", i) if hashes:
                        await pool.mark_included(hashes[i % len(hashes)])
                    case ("fail", i, kind, state_nonce) if hashes:
                        await pool.mark_failed(hashes[i % len(hashes)], kind, "test", state_nonce)
                    case ("invalid", i) if hashes:
                        await pool.mark_invalid(hashes[i % len(hashes)], "test")
                    case ("release",):
                        await pool.release_selected()
                    case ("state", who, nonce):
                        address = ACCOUNTS[who].address
                        state.set_account(address, nonce=max(nonce, await state.get_nonce(address)))
                    case ("expire", seconds):
                        clock.advance(seconds)
                        await pool.expire_once()
            except ServiceError:
                pass  # a refused operation must leave the invariants intact too
            check_invariants(sync, prefix)
        counts = await pool.counts()
        assert counts.ready <= len(ACCOUNTS)
        assert counts.pending + counts.selected <= settings_.limits.max_txs
    finally:
        keys = list(sync.scan_iter(match=prefix + "*", count=1000))
        if keys:
            sync.delete(*keys)
        sync.close()
        await client.aclose()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPERATIONS, min_size=10, max_size=50))
def test_invariants_hold_after_any_sequence(operations: list[tuple[Any, ...]]) -> None:
    asyncio.run(run(operations))


def setup_module() -> None:
    require_redis()

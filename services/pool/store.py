"""The pool's Redis data model, and the Lua scripts that change it atomically.

Everything the pool knows lives in Redis, so the pool process holds no state of its own: restart it,
run two of them, nothing is lost or duplicated. Every change is one Lua script — Redis runs a
script alone, start to end — so two clients racing the same sender and nonce are serialised and
exactly one of them takes the nonce (unless the second is a valid replacement of the first).

Keys
----
All keys start with the configured prefix P (default ``zkseq:{pool}:``). The braces are a Redis
Cluster hash tag: every key of one pool lives in one slot, which is what lets a script touch keys it
builds itself (a tx's key, its sender's key). One pool is one shard; run several pools (prefixes) to
spread the load.

::

    P tx:<hash>      HASH    one transaction (hash: 64 hex digits of the L2 tx hash)
                             raw   the signed transaction as received      rec  its fork-6 record
                             from  sender, 40 hex digits                    nonce decimal
                             gp    gasPrice, 64 hex digits                  gas  gasLimit, decimal
                             ep    effective percentage                     at   received (Unix ms)
                             rk    its member of P ready (see below)        st   status
                             why   why it failed / is invalid (or the last failure of a pending one)
                             upd   when the status last changed (Unix ms)
    P acct:<sender>  HASH    one sender: "next" → the next nonce as the pool believes it;
                             "<nonce>" → hash of the live (pending or selected) tx with that nonce.
                             Once the sender has no live transaction the key expires after
                             ACCOUNT_TTL (by then the state the pool reads has caught up).
    P ready          ZSET    the ready transactions, all with score 0, ordered by member:
                             64 hex digits of (2^256 - 1 - effective gas price) ‖ 16 hex digits of
                             the arrival number ‖ hash — so ZRANGEBYLEX is "best price first, then
                             first come", exactly, with no float rounding of uint256 prices
    P pending        ZSET    hash → received (Unix ms)            the expiry index and the counts
    P selected       ZSET    hash → selected (Unix ms)
    P failed         ZSET    hash → failed (Unix ms)              kept FINISHED_RETENTION, then
    P invalid        ZSET    hash → found invalid (Unix ms)       the tx key is deleted
    P seq            STRING  arrival counter (INCR)

Invariants (every script keeps them): a tx key's ``st`` names the one status set it is in; the live
transactions of a sender are exactly the nonce fields of its account key, one per nonce; a tx is in
P ready iff it is pending and its nonce equals its sender's ``next``; a pending or selected tx never
has a nonce below ``next`` (a script that raises ``next`` fails those as stale).

State machine
-------------
::

                 add (new nonce, or replacing a pending tx with a strictly higher gas price)
                  │
                  ▼          select (only if ready)            include
    ┌───────▶  pending  ───────────────────────▶  selected  ──────────────▶  (deleted; sender's
    │             │  ▲                                │                        next = nonce + 1)
    │             │  └─── fail(nonce | balance), ─────┤
    │             │       release_selected            │ expire, fail(other), stale nonce
    │             │ replaced, expire, fail(other),    ▼
    │             └─ stale nonce, invalid ──────▶  failed / invalid ──retention──▶ (deleted)
    │                                                 │
    └──────────── add again (the same raw tx) ────────┘

* *select_many* / *include_many* (SelectMany, MarkIncludedMany) run *select* / *include* for each
  hash in turn inside one script: the same transitions, atomic as a whole, one round trip.
  *select_many* also selects a *follower*: a pending tx whose sender's nonces from ``next`` up to
  it are all selected (the sequencer executes a sender's consecutive nonces in one group, in
  order). A selected follower is above ``next``; it is never ready, so the ready invariant holds.
  If a tx before it goes back to pending (fail), the follower stays selected until the sequencer
  executes it (a nonce failure brings it back) or releases it.
* *include* is accepted in every status (a tx that expired while the sequencer executed it is still
  in the state) and removes the tx at once; the sender's ``next`` only ever grows through it.
* *fail(nonce)* may carry the nonce the executor saw; ``next`` is then set to it (up or down) and
  every live tx of the sender is re-settled against it.
* Readiness is re-settled for the whole sender (at most NONCE_WINDOW transactions) whenever its
  ``next`` changes, so the next-nonce tx becomes ready as soon as its predecessor is included.

Nonces are Lua numbers (doubles): exact below 2^53, which validation enforces.

Repeating a script is safe. The client retries a call whose connection failed, so a script that ran
but whose reply was lost may run twice: the second *add* answers "already known" (the transaction is
in), the second *include* answers "unknown" (it already left), and every other script finds the
state it would have made and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.common.errors import Unavailable
from services.pool.validation import CheckedTransaction
from zkevm.state_keys import Address
from zkevm.transaction import effective_gas_price

DEFAULT_PREFIX: Final = "zkseq:{pool}:"
_UINT256_MAX: Final = 2**256 - 1


class TxStatus(StrEnum):
    PENDING = "pending"
    SELECTED = "selected"
    FAILED = "failed"
    INVALID = "invalid"


class FailureKind(StrEnum):
    NONCE = "nonce"
    BALANCE = "balance"
    OTHER = "other"


class Conflict(StrEnum):
    """Why the add script refused a transaction (validation rules 10–15)."""

    ALREADY_KNOWN = "already_known"
    NONCE_TOO_LOW = "nonce_too_low"
    NONCE_TOO_HIGH = "nonce_too_high"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    SELECTED = "selected"
    UNDERPRICED = "underpriced"
    POOL_FULL = "pool_full"
    #: behind a nonce gap (a nonce between the sender's next one and its own is not waiting), and
    #: the pool holds `max_txs_with_gap` or more live transactions
    POOL_FULL_GAP = "pool_full_gap"
    ACCOUNT_FULL = "account_full"


@dataclass(frozen=True, slots=True)
class PoolTransaction:
    hash: bytes
    raw: bytes
    batch_l2_data: bytes
    effective_percentage: int
    sender: Address
    nonce: int
    gas_price: int
    gas_limit: int
    received_at_ms: int

    @property
    def effective_gas_price(self) -> int:
        return effective_gas_price(self.gas_price, self.effective_percentage)


@dataclass(frozen=True, slots=True)
class StoredTransaction:
    tx: PoolTransaction
    status: TxStatus
    reason: str
    ready: bool
    status_changed_at_ms: int


@dataclass(frozen=True, slots=True)
class Added:
    #: the transaction this one replaced (now failed), if any
    replaced: bytes | None


@dataclass(frozen=True, slots=True)
class AddConflict:
    kind: Conflict
    #: NONCE_TOO_LOW / NONCE_TOO_HIGH: the sender's next nonce
    next_nonce: int = 0
    #: SELECTED / UNDERPRICED: the transaction holding the nonce, and its gas price
    other_hash: bytes = b""
    other_gas_price: int = 0
    #: POOL_FULL / POOL_FULL_GAP / ACCOUNT_FULL: the live transactions counted
    count: int = 0
    #: ALREADY_KNOWN: the status it has
    status: TxStatus | None = None
    #: POOL_FULL_GAP: the highest nonce below this one that is not waiting
    missing_nonce: int = 0


@dataclass(frozen=True, slots=True)
class SelectOutcome:
    #: None: the pool does not hold the transaction
    status: TxStatus | None
    #: set when the tx is pending but not ready: the sender's next nonce and the tx's nonce
    not_ready: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class PoolCounts:
    pending: int
    selected: int
    failed: int
    invalid: int
    ready: int


@dataclass(frozen=True, slots=True)
class ExpiryResult:
    expired: int
    purged: int


# --------------------------------------------------------------------------------------------------
# Lua. Every script starts with _LIB; ARGV[1] is always the key prefix.

_LIB = r"""
local P = ARGV[1]
local function fmt(n) return string.format('%d', n) end
local function txkey(h) return P .. 'tx:' .. h end
local function acctkey(a) return P .. 'acct:' .. a end

-- a > b for two 64-digit hex strings (uint256s), in 32-bit chunks: Lua numbers are doubles
local function hex_gt(a, b)
  for i = 1, 64, 8 do
    local x = tonumber(string.sub(a, i, i + 7), 16)
    local y = tonumber(string.sub(b, i, i + 7), 16)
    if x ~= y then return x > y end
  end
  return false
end

local function next_nonce(acct)
  return tonumber(redis.call('HGET', acct, 'next') or '0')
end

-- a sender without live transactions is forgotten after a while
local function maybe_expire(acct, ttl)
  if redis.call('HLEN', acct) <= 1 then redis.call('PEXPIRE', acct, ttl) end
end

-- a live tx leaves pending/selected and the ready set, frees its nonce, becomes failed or invalid
local function finish(h, status, why, now)
  local k = txkey(h)
  local f = redis.call('HMGET', k, 'st', 'from', 'nonce', 'rk')
  redis.call('ZREM', P .. f[1], h)
  redis.call('ZREM', P .. 'ready', f[4])
  local acct = acctkey(f[2])
  if redis.call('HGET', acct, f[3]) == h then redis.call('HDEL', acct, f[3]) end
  redis.call('HSET', k, 'st', status, 'why', why, 'upd', now)
  redis.call('ZADD', P .. status, now, h)
  return acct
end

-- make a sender's live txs agree with its next nonce: lower ones fail as stale, the one at the
-- next nonce is ready if it is pending, no other one is
local function settle(acct, now, ttl)
  local nxt = next_nonce(acct)
  local fields = redis.call('HGETALL', acct)
  for i = 1, #fields, 2 do
    local f = fields[i]
    if f ~= 'next' then
      local n = tonumber(f)
      local h = fields[i + 1]
      if n < nxt then
        finish(h, 'failed', 'nonce too low: the sender\'s next nonce is now ' .. fmt(nxt), now)
      else
        local s = redis.call('HMGET', txkey(h), 'st', 'rk')
        if n == nxt and s[1] == 'pending' then
          redis.call('ZADD', P .. 'ready', 0, s[2])
        else
          redis.call('ZREM', P .. 'ready', s[2])
        end
      end
    end
  end
  maybe_expire(acct, ttl)
end

-- pending and ready → selected; {'selected'}, {'unknown'}, {'not_ready', next, nonce} or {status}
local function select_one(h, now)
  local k = txkey(h)
  local f = redis.call('HMGET', k, 'st', 'rk', 'from', 'nonce')
  if not f[1] then return {'unknown'} end
  if f[1] ~= 'pending' then return {f[1]} end
  if not redis.call('ZSCORE', P .. 'ready', f[2]) then
    return {'not_ready', fmt(next_nonce(acctkey(f[3]))), f[4]}
  end
  redis.call('ZREM', P .. 'ready', f[2])
  redis.call('ZREM', P .. 'pending', h)
  redis.call('ZADD', P .. 'selected', now, h)
  redis.call('HSET', k, 'st', 'selected', 'upd', now)
  return {'selected'}
end

-- an included tx leaves the pool; {'unknown'} or {'included', the sender's next nonce}
local function include_one(h, now, ttl)
  local k = txkey(h)
  local f = redis.call('HMGET', k, 'st', 'from', 'nonce', 'rk')
  if not f[1] then return {'unknown'} end
  redis.call('ZREM', P .. f[1], h)
  redis.call('ZREM', P .. 'ready', f[4])
  local acct = acctkey(f[2])
  if redis.call('HGET', acct, f[3]) == h then redis.call('HDEL', acct, f[3]) end
  redis.call('DEL', k)
  local n = tonumber(f[3]) + 1
  if n > next_nonce(acct) then redis.call('HSET', acct, 'next', fmt(n)) end
  settle(acct, now, ttl)
  return {'included', redis.call('HGET', acct, 'next')}
end
"""

# ARGV: P hash from nonce gp64 order64 gas ep raw rec now state_nonce funds_ok window max_txs
#       max_per_account account_ttl max_with_gap
_ADD = r"""
local h, from, nonce_s = ARGV[2], ARGV[3], ARGV[4]
local nonce = tonumber(nonce_s)
local now = tonumber(ARGV[11])
local ttl = tonumber(ARGV[17])
local k = txkey(h)
local st = redis.call('HGET', k, 'st')
if st == 'pending' or st == 'selected' then return {'already_known', st} end
local acct = acctkey(from)
local nxt = next_nonce(acct)
local state_nonce = tonumber(ARGV[12])
if state_nonce > nxt then
  nxt = state_nonce
  redis.call('HSET', acct, 'next', fmt(nxt))
  settle(acct, now, ttl)
end
if nonce < nxt then return {'nonce_too_low', fmt(nxt)} end
if nonce >= nxt + tonumber(ARGV[14]) then return {'nonce_too_high', fmt(nxt)} end
if ARGV[13] ~= '1' then return {'insufficient_funds'} end
local old = redis.call('HGET', acct, nonce_s)
if old then
  local o = redis.call('HMGET', txkey(old), 'st', 'gp')
  if o[1] == 'selected' then return {'selected', old, o[2]} end
  if not hex_gt(ARGV[5], o[2]) then return {'underpriced', old, o[2]} end
else
  local live = redis.call('ZCARD', P .. 'pending') + redis.call('ZCARD', P .. 'selected')
  if live >= tonumber(ARGV[15]) then return {'pool_full', fmt(live)} end
  if nonce > nxt and live >= tonumber(ARGV[18]) then
    -- it can run only if every nonce from the next one up to it is waiting (a run behind a
    -- missing nonce cannot run either, however long); at most the nonce window of lookups
    local n = nonce - 1
    while n >= nxt and redis.call('HEXISTS', acct, fmt(n)) == 1 do n = n - 1 end
    if n >= nxt then return {'pool_full_gap', fmt(live), fmt(nxt), fmt(n)} end
  end
  local mine = redis.call('HLEN', acct) - redis.call('HEXISTS', acct, 'next')
  if mine >= tonumber(ARGV[16]) then return {'account_full', fmt(mine)} end
end
if old then finish(old, 'failed', 'replaced by 0x' .. h, now) end
if st then redis.call('ZREM', P .. st, h) end
local seq = redis.call('INCR', P .. 'seq')
local rk = ARGV[6] .. string.format('%016x', seq) .. h
redis.call('DEL', k)
redis.call('HSET', k, 'raw', ARGV[9], 'rec', ARGV[10], 'from', from, 'nonce', nonce_s, 'gp', ARGV[5],
  'gas', ARGV[7], 'ep', ARGV[8], 'rk', rk, 'at', ARGV[11], 'st', 'pending', 'upd', ARGV[11])
redis.call('ZADD', P .. 'pending', now, h)
redis.call('HSET', acct, 'next', fmt(nxt), nonce_s, h)
redis.call('PERSIST', acct)
if nonce == nxt then redis.call('ZADD', P .. 'ready', 0, rk) end
return {'added', old or ''}
"""

# ARGV: P limit followers('1' = yes) → flat list of (hash raw rec from nonce gp gas ep at): the ready
# ones best first, then (followers) the pending ones right after a ready or selected one of their
# sender, a sender's run in nonce order
_READY = r"""
local limit = tonumber(ARGV[2])
local members = redis.call('ZRANGEBYLEX', P .. 'ready', '-', '+', 'LIMIT', 0, limit)
local out, seen, count = {}, {}, 0
local function emit(h)
  out[#out + 1] = h
  local f = redis.call('HMGET', txkey(h), 'raw', 'rec', 'from', 'nonce', 'gp', 'gas', 'ep', 'at')
  for j = 1, 8 do out[#out + 1] = f[j] end
  seen[h] = true
  count = count + 1
end
local heads = {}
for _, m in ipairs(members) do
  local h = string.sub(m, -64)
  emit(h)
  heads[#heads + 1] = h
end
if ARGV[3] == '1' then
  for _, h in ipairs(redis.call('ZRANGE', P .. 'selected', 0, limit - 1)) do heads[#heads + 1] = h end
  for _, h in ipairs(heads) do
    if count >= limit then break end
    local f = redis.call('HMGET', txkey(h), 'from', 'nonce')
    local acct = acctkey(f[1])
    local n = tonumber(f[2]) + 1
    while count < limit do
      local nh = redis.call('HGET', acct, fmt(n))
      if not nh then break end
      local st = redis.call('HGET', txkey(nh), 'st')
      if st == 'pending' then
        if not seen[nh] then emit(nh) end
      elseif st ~= 'selected' then
        break
      end
      n = n + 1
    end
  end
end
return out
"""

# ARGV: P hash now
_SELECT = r"""
return select_one(ARGV[2], ARGV[3])
"""

# ARGV: P now hash… → the hashes now selected, in the order given: ready ones, and followers (pending,
# every nonce of the sender from its next one up to it selected)
_SELECT_MANY = r"""
local now = ARGV[2]
local function select_follower(h)
  local k = txkey(h)
  local f = redis.call('HMGET', k, 'st', 'from', 'nonce')
  if f[1] ~= 'pending' then return false end
  local acct = acctkey(f[2])
  local n = tonumber(f[3])
  local nxt = next_nonce(acct)
  if n <= nxt then return false end
  for i = nxt, n - 1 do
    local p = redis.call('HGET', acct, fmt(i))
    if not p or redis.call('HGET', txkey(p), 'st') ~= 'selected' then return false end
  end
  redis.call('ZREM', P .. 'pending', h)
  redis.call('ZADD', P .. 'selected', now, h)
  redis.call('HSET', k, 'st', 'selected', 'upd', now)
  return true
end
local out = {}
for i = 3, #ARGV do
  local h = ARGV[i]
  local r = select_one(h, now)
  if r[1] == 'selected' or (r[1] == 'not_ready' and select_follower(h)) then out[#out + 1] = h end
end
return out
"""

# ARGV: P hash now ttl → {'unknown'} or {'included', next nonce}
_INCLUDE = r"""
return include_one(ARGV[2], ARGV[3], tonumber(ARGV[4]))
"""

# ARGV: P now ttl hash… → how many the pool held
_INCLUDE_MANY = r"""
local now, ttl = ARGV[2], tonumber(ARGV[3])
local known = 0
for i = 4, #ARGV do
  if include_one(ARGV[i], now, ttl)[1] == 'included' then known = known + 1 end
end
return known
"""

# ARGV: P hash kind reason state_nonce('' = none) now ttl → {status} or {'unknown'}
_FAIL = r"""
local h, kind, why, now, ttl = ARGV[2], ARGV[3], ARGV[4], ARGV[6], tonumber(ARGV[7])
local k = txkey(h)
local f = redis.call('HMGET', k, 'st', 'from', 'at')
if not f[1] then return {'unknown'} end
if f[1] == 'failed' or f[1] == 'invalid' then return {f[1]} end
if kind == 'other' then
  maybe_expire(finish(h, 'failed', why, now), ttl)
  return {'failed'}
end
local acct = acctkey(f[2])
if f[1] == 'selected' then
  redis.call('ZREM', P .. 'selected', h)
  redis.call('ZADD', P .. 'pending', f[3], h)
  redis.call('HSET', k, 'st', 'pending', 'upd', now)
end
redis.call('HSET', k, 'why', why)
if ARGV[5] ~= '' then redis.call('HSET', acct, 'next', ARGV[5]) end
settle(acct, now, ttl)
return {redis.call('HGET', k, 'st')}
"""

# ARGV: P hash reason now ttl
_INVALIDATE = r"""
local h, why, now, ttl = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local st = redis.call('HGET', txkey(h), 'st')
if not st then return {'unknown'} end
if st == 'failed' or st == 'invalid' then return {st} end
maybe_expire(finish(h, 'invalid', why, now), ttl)
return {'invalid'}
"""

# ARGV: P now ttl → how many were released
_RELEASE = r"""
local now, ttl = ARGV[2], tonumber(ARGV[3])
local hs = redis.call('ZRANGE', P .. 'selected', 0, -1)
for _, h in ipairs(hs) do
  local k = txkey(h)
  local f = redis.call('HMGET', k, 'from', 'at')
  redis.call('ZREM', P .. 'selected', h)
  redis.call('ZADD', P .. 'pending', f[2], h)
  redis.call('HSET', k, 'st', 'pending', 'upd', now)
  settle(acctkey(f[1]), now, ttl)
end
return #hs
"""

# ARGV: P now lifetime retention limit ttl → {expired, purged}
_EXPIRE = r"""
local now, lifetime, retention = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local limit, ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
local expired, purged = 0, 0
for _, set in ipairs({'pending', 'selected'}) do
  local hs = redis.call('ZRANGEBYSCORE', P .. set, '-inf', now - lifetime, 'LIMIT', 0, limit)
  for _, h in ipairs(hs) do
    maybe_expire(finish(h, 'failed', 'transaction expired', fmt(now)), ttl)
  end
  expired = expired + #hs
end
for _, set in ipairs({'failed', 'invalid'}) do
  local hs = redis.call('ZRANGEBYSCORE', P .. set, '-inf', now - retention, 'LIMIT', 0, limit)
  for _, h in ipairs(hs) do
    redis.call('DEL', txkey(h))
    redis.call('ZREM', P .. set, h)
  end
  purged = purged + #hs
end
return {expired, purged}
"""

# ARGV: P hash → the tx key's fields and values, then 'ready', 0 or 1 (nothing if unknown)
_GET = r"""
local k = txkey(ARGV[2])
local f = redis.call('HGETALL', k)
if #f == 0 then return f end
local ready = 0
if redis.call('ZSCORE', P .. 'ready', redis.call('HGET', k, 'rk')) then ready = 1 end
f[#f + 1] = 'ready'
f[#f + 1] = ready
return f
"""

# ARGV: P sender state_nonce → the pending nonce
_PENDING_NONCE = r"""
local acct = acctkey(ARGV[2])
local n = math.max(tonumber(ARGV[3]), next_nonce(acct))
while redis.call('HEXISTS', acct, fmt(n)) == 1 do n = n + 1 end
return fmt(n)
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _order_key(egp: int) -> str:
    """The price part of a ready-set member: higher prices sort first."""
    return format(_UINT256_MAX - egp, "064x")


class RedisPoolStore:
    """The pool in Redis. Every method is one round trip (a script, or one MULTI pipeline)."""

    def __init__(
        self, redis: aioredis.Redis, prefix: str = DEFAULT_PREFIX, account_ttl_ms: int = 3_600_000
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self._account_ttl = str(account_ttl_ms)
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(_LIB + body)
            for name, body in (
                ("add", _ADD),
                ("ready", _READY),
                ("select", _SELECT),
                ("select_many", _SELECT_MANY),
                ("include", _INCLUDE),
                ("include_many", _INCLUDE_MANY),
                ("fail", _FAIL),
                ("invalidate", _INVALIDATE),
                ("release", _RELEASE),
                ("expire", _EXPIRE),
                ("pending_nonce", _PENDING_NONCE),
                ("get", _GET),
            )
        }

    async def _run(self, script: str, *args: str | bytes | int) -> Any:
        try:
            return await self._scripts[script](args=(self.prefix, *args))
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise Unavailable(f"the pool's Redis is unreachable: {exc}") from exc

    async def ping(self) -> None:
        try:
            await self.redis.ping()
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise Unavailable(f"the pool's Redis is unreachable: {exc}") from exc

    async def add(
        self,
        checked: CheckedTransaction,
        *,
        state_nonce: int,
        funds_ok: bool,
        nonce_window: int,
        max_txs: int,
        max_txs_per_account: int,
        max_txs_with_gap: int,
        now_ms: int,
    ) -> Added | AddConflict:
        """Insert (or replace) atomically, or refuse by the pool-side rules 10–15 (validation.py)."""
        tx = checked.tx
        reply = await self._run(
            "add",
            checked.tx_hash.hex(),
            checked.sender.hex(),
            str(tx.nonce),
            format(tx.gas_price, "064x"),
            _order_key(tx.effective_gas_price()),
            str(tx.gas_limit),
            str(tx.effective_percentage),
            checked.raw,
            checked.batch_l2_data,
            str(now_ms),
            str(state_nonce),
            "1" if funds_ok else "0",
            str(nonce_window),
            str(max_txs),
            str(max_txs_per_account),
            self._account_ttl,
            str(max_txs_with_gap),
        )
        kind = _text(reply[0])
        if kind == "added":
            replaced = _text(reply[1])
            return Added(bytes.fromhex(replaced) if replaced else None)
        conflict = Conflict(kind)
        if conflict in (Conflict.NONCE_TOO_LOW, Conflict.NONCE_TOO_HIGH):
            return AddConflict(conflict, next_nonce=int(reply[1]))
        if conflict in (Conflict.SELECTED, Conflict.UNDERPRICED):
            return AddConflict(
                conflict, other_hash=bytes.fromhex(_text(reply[1])), other_gas_price=int(reply[2], 16)
            )
        if conflict in (Conflict.POOL_FULL, Conflict.ACCOUNT_FULL):
            return AddConflict(conflict, count=int(reply[1]))
        if conflict is Conflict.POOL_FULL_GAP:
            return AddConflict(
                conflict, count=int(reply[1]), next_nonce=int(reply[2]), missing_nonce=int(reply[3])
            )
        if conflict is Conflict.ALREADY_KNOWN:
            return AddConflict(conflict, status=TxStatus(_text(reply[1])))
        return AddConflict(conflict)

    async def ready(self, limit: int, followers: bool = False) -> list[PoolTransaction]:
        """Up to `limit` ready transactions, best first; with `followers`, then the pending ones right
        after a ready or selected one of their sender, each sender's in nonce order."""
        flat = await self._run("ready", str(limit), "1" if followers else "0")
        out: list[PoolTransaction] = []
        for i in range(0, len(flat), 9):
            h, raw, rec, sender, nonce, gp, gas, ep, at = flat[i : i + 9]
            if raw is None:  # cannot happen while the invariants hold; never serve half a record
                continue
            out.append(
                PoolTransaction(
                    hash=bytes.fromhex(_text(h)),
                    raw=raw,
                    batch_l2_data=rec,
                    effective_percentage=int(ep),
                    sender=Address(bytes.fromhex(_text(sender))),
                    nonce=int(nonce),
                    gas_price=int(gp, 16),
                    gas_limit=int(gas),
                    received_at_ms=int(at),
                )
            )
        return out

    async def select(self, tx_hash: bytes, now_ms: int) -> SelectOutcome:
        reply = await self._run("select", tx_hash.hex(), str(now_ms))
        kind = _text(reply[0])
        if kind == "unknown":
            return SelectOutcome(None)
        if kind == "not_ready":
            return SelectOutcome(TxStatus.PENDING, (int(reply[1]), int(reply[2])))
        return SelectOutcome(TxStatus(kind))

    async def select_many(self, tx_hashes: Sequence[bytes], now_ms: int) -> list[bytes]:
        """Select each of `tx_hashes` that is pending and ready, in one script; the ones now selected
        (an already selected one included, as `select` answers it), in the order given."""
        if not tx_hashes:
            return []
        reply = await self._run("select_many", str(now_ms), *(h.hex() for h in tx_hashes))
        return [bytes.fromhex(_text(h)) for h in reply]

    async def include_many(self, tx_hashes: Sequence[bytes], now_ms: int) -> int:
        """`include` each of `tx_hashes`, in order, in one script; how many the pool held."""
        if not tx_hashes:
            return 0
        return int(
            await self._run("include_many", str(now_ms), self._account_ttl, *(h.hex() for h in tx_hashes))
        )

    async def include(self, tx_hash: bytes, now_ms: int) -> int | None:
        """Remove an included tx; the sender's next nonce afterwards, or None if it was unknown."""
        reply = await self._run("include", tx_hash.hex(), str(now_ms), self._account_ttl)
        return None if _text(reply[0]) == "unknown" else int(reply[1])

    async def fail(
        self, tx_hash: bytes, kind: FailureKind, reason: str, state_nonce: int | None, now_ms: int
    ) -> TxStatus | None:
        reply = await self._run(
            "fail",
            tx_hash.hex(),
            kind.value,
            reason,
            "" if state_nonce is None else str(state_nonce),
            str(now_ms),
            self._account_ttl,
        )
        kind_text = _text(reply[0])
        return None if kind_text == "unknown" else TxStatus(kind_text)

    async def invalidate(self, tx_hash: bytes, reason: str, now_ms: int) -> TxStatus | None:
        reply = await self._run("invalidate", tx_hash.hex(), reason, str(now_ms), self._account_ttl)
        kind_text = _text(reply[0])
        return None if kind_text == "unknown" else TxStatus(kind_text)

    async def release_selected(self, now_ms: int) -> int:
        return int(await self._run("release", str(now_ms), self._account_ttl))

    async def expire(self, now_ms: int, lifetime_ms: int, retention_ms: int, limit: int) -> ExpiryResult:
        """Fail live txs received more than `lifetime_ms` ago (selected: selected that long ago) and
        delete failed / invalid ones older than `retention_ms`; at most `limit` of each per set."""
        reply = await self._run(
            "expire", str(now_ms), str(lifetime_ms), str(retention_ms), str(limit), self._account_ttl
        )
        return ExpiryResult(int(reply[0]), int(reply[1]))

    async def pending_nonce(self, sender: Address, state_nonce: int) -> int:
        return int(await self._run("pending_nonce", sender.hex(), str(state_nonce)))

    async def get(self, tx_hash: bytes) -> StoredTransaction | None:
        flat = await self._run("get", tx_hash.hex())
        if not flat:
            return None
        f = {_text(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}
        tx = PoolTransaction(
            hash=tx_hash,
            raw=f["raw"],
            batch_l2_data=f["rec"],
            effective_percentage=int(f["ep"]),
            sender=Address(bytes.fromhex(_text(f["from"]))),
            nonce=int(f["nonce"]),
            gas_price=int(f["gp"], 16),
            gas_limit=int(f["gas"]),
            received_at_ms=int(f["at"]),
        )
        return StoredTransaction(
            tx=tx,
            status=TxStatus(_text(f["st"])),
            reason=_text(f.get("why", b"")),
            ready=f["ready"] == 1,
            status_changed_at_ms=int(f["upd"]),
        )

    async def counts(self) -> PoolCounts:
        p = self.prefix
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for name in ("pending", "selected", "failed", "invalid", "ready"):
                    pipe.zcard(p + name)
                values = [int(v) for v in await pipe.execute()]
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise Unavailable(f"the pool's Redis is unreachable: {exc}") from exc
        return PoolCounts(*values)

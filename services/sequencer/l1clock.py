"""Batch timestamps, and the L1 time they must respect (spec §5.4; zkevm-node#936).

The L1 contract accepts a sequenced batch only if

    previous batch's timestamp ≤ timestamp ≤ block.timestamp of the L1 block that sequences it

and, for a forced batch, timestamp ≥ the L1 timestamp at which it was forced. L1 time only grows,
so a timestamp at or below the *latest L1 block's* timestamp is accepted whenever the sequence is
mined. zkevm-node took the sequencer's wall clock, which can be ahead of L1 and then fails gas
estimation with "Timestamp must be inside range" (zkevm-node#936); zkseq takes

    batch timestamp = max(previous batch's timestamp, latest L1 block timestamp)

from an `L1Clock`: `JsonRpcL1Clock` asks an L1 node (`eth_getBlockByNumber("latest")`, cached for a
second), `WallClockL1` uses this machine's clock, for the devnet and tests where no L1 runs yet.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from web3 import AsyncHTTPProvider, AsyncWeb3

from services.sequencer.ports import Unavailable

#: how long a JSON-RPC answer is reused (an L1 block is 12 s; one call per batch is plenty)
DEFAULT_CACHE_S: Final = 1.0


class L1Unavailable(Unavailable):
    pass


def batch_timestamp(previous_timestamp: int, l1_timestamp: int, min_timestamp: int = 0) -> int:
    """The timestamp of the next batch: never behind the previous batch, never ahead of L1 (except
    to stay behind neither of the other bounds: the previous batch's, a forced batch's minimum)."""
    return max(previous_timestamp, min_timestamp, l1_timestamp)


class WallClockL1:
    """L1 time taken to be this machine's clock (whole seconds)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    async def latest_block_timestamp(self) -> int:
        return int(self._clock())


class JsonRpcL1Clock:
    """The latest block's timestamp from an Ethereum JSON-RPC node (web3), cached briefly."""

    def __init__(self, url: str, *, timeout_s: float = 5.0, cache_s: float = DEFAULT_CACHE_S) -> None:
        # no retries inside web3: the sequencer's own backoff retries, and logs each failure
        provider = AsyncHTTPProvider(
            url, request_kwargs={"timeout": timeout_s}, exception_retry_configuration=None
        )
        self._w3 = AsyncWeb3(provider)
        self._cache_s = cache_s
        self._cached: tuple[float, int] | None = None
        self.url = url

    async def latest_block_timestamp(self) -> int:
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < self._cache_s:
            return self._cached[1]
        try:
            block = await self._w3.eth.get_block("latest")
        except Exception as exc:  # web3 raises many types (connection, timeout, JSON-RPC errors)
            raise L1Unavailable(f"the L1 node at {self.url} did not answer: {exc!r}") from exc
        timestamp = int(block["timestamp"])
        self._cached = (now, timestamp)
        return timestamp

    async def close(self) -> None:
        await self._w3.provider.disconnect()

"""The pool reads nonces and balances at the StateDB's latest L2 state root, not at a fixed one."""

from dataclasses import dataclass

import pytest

from services.common.errors import Unavailable
from services.pool.config import PoolConfig
from services.pool.state import StateDBLatestRoot
from zkevm.field import H4, h4_to_bytes


@dataclass
class Block:
    state_root: bytes


class Blocks:
    def __init__(self) -> None:
        self.roots: list[H4] = []
        self.reads = 0

    def latest_block_number(self) -> int | None:
        self.reads += 1
        return len(self.roots) - 1 if self.roots else None

    def block_by_number(self, number: int) -> Block | None:
        return Block(h4_to_bytes(self.roots[number])) if 0 <= number < len(self.roots) else None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


GENESIS: H4 = (1, 2, 3, 4)


async def test_follows_the_latest_block_after_the_fallback() -> None:
    blocks, clock = Blocks(), Clock()
    source = StateDBLatestRoot(blocks, GENESIS, cache_s=0.05, clock=clock)
    assert await source.latest_state_root() == GENESIS  # no block yet
    blocks.roots.append((5, 6, 7, 8))
    clock.now += 1
    assert await source.latest_state_root() == (5, 6, 7, 8)
    blocks.roots.append((9, 10, 11, 12))
    assert await source.latest_state_root() == (5, 6, 7, 8)  # within the cache window
    clock.now += 1
    assert await source.latest_state_root() == (9, 10, 11, 12)


async def test_no_block_and_no_fallback_is_unavailable() -> None:
    with pytest.raises(Unavailable, match="no L2 block yet"):
        await StateDBLatestRoot(Blocks(), None).latest_state_root()


def test_config_takes_a_statedb_url_instead_of_a_fixed_root() -> None:
    config = PoolConfig.from_env({"ZKSEQ_POOL_STATEDB_URL": "sqlite:///data/statedb.db"})
    assert config.statedb_url == "sqlite:///data/statedb.db"
    assert config.state_root is None
    with pytest.raises(Exception, match="STATE_ROOT"):
        PoolConfig.from_env({})

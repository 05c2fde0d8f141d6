"""The whole sequencing stack as real services, for the sequencer's integration tests and bench.

    HashDB (LMDB in a temp dir) ◀── executor ◀── sequencer ──▶ StateDB (SQLite file, or PostgreSQL
                 ▲                                  │           in a fresh schema)
                 └──────── pool (real Redis, a key prefix of its own) ◀──┘

Every server binds a free port. The executor and the sequencer run in this process (`start_*`) or,
where a test kills them, as child processes (`python -m …`). The sequencer writes the genesis
itself (ZKSEQ_SEQUENCER_GENESIS_FILE); the pool reads nonces and balances from the HashDB at the
genesis root. `replay_from_genesis` re-executes every closed batch with the fork-6 processor on an
in-memory tree built from the genesis — independent of every running service — and checks each
batch's state root, its blocks' roots and its accInputHash.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from grpc import aio

from protos.pool.v1 import pool_pb2 as ppb
from protos.sequencer.v1 import sequencer_pb2 as spb
from services.common.grpc_client import UnaryMethod
from services.common.l1.anvil import AnvilError, find_anvil
from services.common.l1.artifacts import CONTRACTS_DIR
from services.common.logs import EventLogger
from services.common.process import ServiceProcess, spawn_service
from services.common.statedb import StateDB, open_statedb
from services.executor.app import RunningExecutor, start_executor
from services.executor.config import ExecutorConfig
from services.hashdb.app import RunningHashDB, start_hashdb
from services.hashdb.config import HashDBConfig
from services.pool.app import RunningPool, start_pool
from services.pool.client import PoolClient
from services.sequencer.app import RunningSequencer, start_sequencer
from services.sequencer.config import SequencerConfig
from services.sequencer.genesis import Genesis, StateDBGenesisStore, ensure_genesis
from tests.chain_replay import replay_from_genesis
from tests.integration.pool_fixtures import delete_prefix, free_port, pool_config, require_redis
from tests.unit.test_executor_evm import asm
from zkevm.field import bytes_to_h4
from zkevm.genesis import GenesisAccount
from zkevm.hashing import keccak256
from zkevm.transaction import L2Transaction, sign_transaction

CHAIN_ID = 1001
GWEI = 10**9
ETHER = 10**18
COINBASE = bytes.fromhex("c0ffee0000000000000000000000000000c0ffee")
#: a fixed global exit root (the L1 watcher does not exist yet), so the GER path is exercised
GER = keccak256(b"zkseq sequencer test GER")
TRANSFER_GAS = 21_000

# -- contracts ------------------------------------------------------------------------------------

REVERTER = bytes.fromhex("00000000000000000000000000000000000000e1")
BURNER = bytes.fromhex("00000000000000000000000000000000000000e2")
HASHER = bytes.fromhex("00000000000000000000000000000000000000e3")
COUNTER = bytes.fromhex("00000000000000000000000000000000000000e4")

#: always REVERT with empty data
REVERTER_CODE = asm(0, 0, "REVERT")
#: an endless loop: any gas limit runs out
BURNER_CODE = asm("JUMPDEST", 0, "JUMP")
#: keccak(memory[0:32]) as many times as calldata word 0 says (one Keccak counter each)
HASHER_CODE = asm(
    0, "CALLDATALOAD",  # n
    "JUMPDEST",  # pc 3: loop
    "DUP1", "ISZERO", bytes((0x60, 22)), "JUMPI",
    32, 0, "SHA3", "POP",
    1, "SWAP1", "SUB",
    3, "JUMP",
    "JUMPDEST", "STOP",  # pc 22: end
)  # fmt: skip
#: slot 0 += 1, and a LOG1 with the new value as topic
COUNTER_CODE = asm(0, "SLOAD", 1, "ADD", "DUP1", 0, "SSTORE", 0, 0, "LOG1", "STOP")
assert HASHER_CODE[22] == 0x5B, "the HASHER's loop end moved"

CONTRACTS = [
    GenesisAccount(REVERTER, nonce=1, bytecode=REVERTER_CODE),
    GenesisAccount(BURNER, nonce=1, bytecode=BURNER_CODE),
    GenesisAccount(HASHER, nonce=1, bytecode=HASHER_CODE),
    GenesisAccount(COUNTER, nonce=1, bytecode=COUNTER_CODE),
]


# -- accounts -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Wallet:
    key: bytes
    address: bytes

    def tx(
        self,
        nonce: int,
        to: bytes | None,
        *,
        value: int = 0,
        data: bytes = b"",
        gas_limit: int = TRANSFER_GAS,
        gas_price: int = GWEI,
    ) -> L2Transaction:
        return sign_transaction(
            nonce=nonce,
            gas_price=gas_price,
            gas_limit=gas_limit,
            to=to,
            value=value,
            data=data,
            chain_id=CHAIN_ID,
            private_key=self.key,
        )

    def transfer(self, nonce: int, to: bytes, value: int = 1, gas_price: int = GWEI) -> L2Transaction:
        return self.tx(nonce, to, value=value, gas_price=gas_price)


def wallet(seed: int | str) -> Wallet:
    key = keccak256(f"zkseq sequencer test wallet {seed}".encode())
    probe = sign_transaction(
        nonce=0, gas_price=0, gas_limit=0, to=None, value=0, chain_id=None, private_key=key
    )
    return Wallet(key, probe.sender())


def recipient(i: int) -> bytes:
    return keccak256(b"zkseq sequencer test recipient %d" % i)[12:]


def transfers(senders: Sequence[Wallet], nonces: int, first_recipient: int) -> list[L2Transaction]:
    """Nonces 0..nonces-1 of every sender, nonce by nonce; sender i pays recipient(first_recipient + i)."""
    return [
        w.transfer(n, recipient(first_recipient + i), value=n + 1)
        for n in range(nonces)
        for i, w in enumerate(senders)
    ]


def genesis_of(wallets: Sequence[Wallet], balance: int = 1_000 * ETHER) -> Genesis:
    return Genesis((*[GenesisAccount(w.address, balance=balance) for w in wallets], *CONTRACTS), timestamp=1)


def genesis_json(genesis: Genesis) -> str:
    return json.dumps(
        {
            "timestamp": genesis.timestamp,
            "accounts": [
                {
                    "address": "0x" + a.address.hex(),
                    "balance": str(a.balance),
                    "nonce": str(a.nonce),
                    **({} if a.bytecode is None else {"bytecode": "0x" + a.bytecode.hex()}),
                    **({"storage": {hex(k): hex(v) for k, v in a.storage.items()}} if a.storage else {}),
                }
                for a in genesis.accounts
            ],
        }
    )


# -- the stack ------------------------------------------------------------------------------------


def backend_kwargs(request: pytest.FixtureRequest) -> dict[str, Any]:
    """`running_stack` arguments for a fixture parametrized with "sqlite" / "postgres"."""
    kwargs: dict[str, Any] = {"backend": request.param}
    if request.param == "postgres":
        kwargs["pg_dsn"] = request.getfixturevalue("pg_dsn")
        kwargs["pg_schema"] = request.getfixturevalue("pg_schema")
    return kwargs


def statedb_url(backend: str, tmp_path: Path, pg_dsn: str | None, pg_schema: str | None) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'statedb.db'}"
    assert pg_dsn is not None and pg_schema is not None
    return f"{pg_dsn}?schema={pg_schema}"


def sequencer_config(stack: Stack, **overrides: Any) -> SequencerConfig:
    base = SequencerConfig(
        grpc_host="127.0.0.1",
        grpc_port=0,
        metrics_enabled=False,
        executor_url=f"127.0.0.1:{stack.executor_port}",
        executor_timeout_s=30,
        pool_url=f"127.0.0.1:{stack.pool.port}",
        hashdb_url=f"127.0.0.1:{stack.hashdb.port}",
        statedb_url=stack.statedb_url,
        chain_id=CHAIN_ID,
        coinbase=COINBASE,
        global_exit_root=GER,
        genesis_file=stack.genesis_file,
        batch_time_limit_s=0.5,
        poll_interval_s=0.02,
        balance_retry_s=0.3,
        forced_batch_check_s=0.1,
        forced_batch_finality_blocks=0,
        retry_initial_s=0.02,
        retry_max_s=0.3,
        flush_poll_s=0.002,
        drain_timeout_s=5,
        shutdown_grace_s=0.5,
    )
    return replace(base, **overrides)


def sequencer_env(config: SequencerConfig) -> dict[str, str]:
    """The same configuration as ZKSEQ_SEQUENCER_* variables, for a child process."""
    c = config
    env = {
        "GRPC_ADDRESS": f"{c.grpc_host}:{c.grpc_port}",
        "METRICS_ENABLED": "false",
        "EXECUTOR_URL": c.executor_url,
        "POOL_URL": c.pool_url,
        "HASHDB_URL": c.hashdb_url,
        "STATEDB_URL": c.statedb_url,
        "CHAIN_ID": str(c.chain_id),
        "COINBASE": "0x" + c.coinbase.hex(),
        "GLOBAL_EXIT_ROOT": "0x" + c.global_exit_root.hex(),
        "GENESIS_FILE": str(c.genesis_file or ""),
        "BATCH_TIME_LIMIT_S": str(c.batch_time_limit_s),
        "MAX_TXS_PER_BATCH": str(c.limits.max_txs),
        "POLL_INTERVAL_S": str(c.poll_interval_s),
        "MAX_GROUP_TXS": str(c.max_group_txs),
        "MAX_BLOCKS_PER_WRITE": str(c.max_blocks_per_write),
        "BALANCE_RETRY_S": str(c.balance_retry_s),
        "FORCED_BATCH_CHECK_S": str(c.forced_batch_check_s),
        "FORCED_BATCH_FINALITY_BLOCKS": str(c.forced_batch_finality_blocks),
        "RETRY_INITIAL_S": str(c.retry_initial_s),
        "RETRY_MAX_S": str(c.retry_max_s),
        "FLUSH_POLL_S": str(c.flush_poll_s),
        "DRAIN_TIMEOUT_S": str(c.drain_timeout_s),
        "SHUTDOWN_GRACE_S": str(c.shutdown_grace_s),
    }
    return {f"ZKSEQ_SEQUENCER_{k}": v for k, v in env.items()}


@dataclass(slots=True)
class Stack:
    tmp_path: Path
    genesis: Genesis
    genesis_file: Path
    statedb_url: str
    hashdb: RunningHashDB
    pool: RunningPool
    pool_client: PoolClient
    pool_channel: aio.Channel
    executor: RunningExecutor | None = None
    executor_process: ServiceProcess | None = None
    executor_port: int = 0
    sequencer: RunningSequencer | None = None
    sequencer_process: ServiceProcess | None = None
    statedb: StateDB | None = None
    extra: list[Callable[[], Any]] = field(default_factory=list)

    # -- services ----------------------------------------------------------------------------------

    async def start_executor(self, *, subprocess: bool = False) -> None:
        if subprocess:
            self.executor_port = self.executor_port or free_port()
            self.executor_process = await spawn_service(
                "services.executor",
                {
                    "ZKSEQ_EXECUTOR_GRPC_ADDRESS": f"127.0.0.1:{self.executor_port}",
                    "ZKSEQ_EXECUTOR_METRICS_ENABLED": "false",
                    "ZKSEQ_EXECUTOR_HASHDB_URL": f"127.0.0.1:{self.hashdb.port}",
                    "ZKSEQ_EXECUTOR_ROOT_WAIT_S": "0.5",
                    "ZKSEQ_EXECUTOR_HASHDB_TIMEOUT_S": "5",
                },
                "executor_serving",
            )
            return
        config = ExecutorConfig(
            grpc_host="127.0.0.1",
            grpc_port=self.executor_port,
            metrics_enabled=False,
            hashdb_url=f"127.0.0.1:{self.hashdb.port}",
            hashdb_timeout_s=5,
            root_wait_s=0.5,
            shutdown_grace_s=0.5,
        )
        self.executor = await start_executor(config)
        self.executor_port = self.executor.port

    async def stop_executor(self) -> None:
        if self.executor is not None:
            await self.executor.stop()
            self.executor = None
        if self.executor_process is not None:
            await self.executor_process.stop(5)
            self.executor_process = None

    async def start_sequencer(self, **overrides: Any) -> RunningSequencer:
        self.sequencer = await start_sequencer(sequencer_config(self, **overrides))
        return self.sequencer

    async def stop_sequencer(self) -> None:
        if self.sequencer is not None:
            await self.sequencer.stop()
            self.sequencer = None

    async def spawn_sequencer(self, port: int = 0, **overrides: Any) -> ServiceProcess:
        config = sequencer_config(self, grpc_port=port or free_port(), **overrides)
        self.sequencer_process = await spawn_service(
            "services.sequencer", sequencer_env(config), "sequencer_serving"
        )
        return self.sequencer_process

    async def write_genesis(self) -> bytes:
        """The genesis step on its own (the sequencer then only checks it at start)."""
        async with aio.insecure_channel(f"127.0.0.1:{self.hashdb.port}") as channel:
            return await ensure_genesis(
                StateDBGenesisStore(self.db()), channel, self.genesis, COINBASE, EventLogger("test.genesis")
            )

    def db(self) -> StateDB:
        if self.statedb is None:
            self.statedb = open_statedb(self.statedb_url)
        return self.statedb

    # -- transactions ------------------------------------------------------------------------------

    async def submit(self, *txs: L2Transaction) -> list[bytes]:
        hashes = []
        for tx in txs:
            response = await self.pool_client.AddTransaction(ppb.AddTransactionRequest(raw=tx.to_raw()))
            hashes.append(response.hash)
        return hashes

    async def pool_status(self, tx_hash: bytes) -> tuple[int, str]:
        response = await self.pool_client.GetStatus(ppb.GetStatusRequest(hash=tx_hash))
        return response.status, response.reason

    async def pool_stats(self) -> ppb.PoolStats:
        return await self.pool_client.GetPoolStats(ppb.GetPoolStatsRequest())

    # -- the chain ---------------------------------------------------------------------------------

    async def recorded_hashes(self) -> list[bytes]:
        """Every transaction hash in the StateDB, in block order."""

        def read() -> list[bytes]:
            blocks = self.db().blocks
            latest = blocks.latest_block_number() or 0
            out: list[bytes] = []
            for n in range(1, latest + 1):
                block = blocks.block_by_number(n)
                assert block is not None and block.tx_hash is not None
                out.append(block.tx_hash)
            return out

        return await asyncio.to_thread(read)

    async def wait_recorded(self, hashes: Sequence[bytes], timeout_s: float = 30.0) -> None:
        wanted = set(hashes)

        async def done() -> bool:
            return wanted <= set(await self.recorded_hashes())

        await wait_until(done, timeout_s, f"{len(wanted)} transactions in the StateDB")

    async def closed_batches(self) -> list[Any]:
        return await asyncio.to_thread(lambda: self.db().batches.closed_batches_after(0, 1000))

    async def wait_closed(self, count: int, timeout_s: float = 30.0) -> list[Any]:
        async def done() -> bool:
            return len(await self.closed_batches()) >= count

        await wait_until(done, timeout_s, f"{count} closed batches")
        return await self.closed_batches()

    def closed_by(self, reason: str) -> float:
        assert self.sequencer is not None
        return (
            self.sequencer.registry.get_sample_value(
                "zkseq_sequencer_batches_closed_total", {"reason": reason}
            )
            or 0.0
        )

    async def wait_closed_by(self, reason: str, count: int, timeout_s: float = 30.0) -> None:
        """The metric moves just after the StateDB write a reader may already see: wait for it."""

        async def done() -> bool:
            return self.closed_by(reason) >= count

        await wait_until(done, timeout_s, f"{count} batches closed by {reason}")

    def txs_by_outcome(self, outcome: str) -> float:
        assert self.sequencer is not None
        return (
            self.sequencer.registry.get_sample_value("zkseq_sequencer_txs_total", {"outcome": outcome}) or 0.0
        )

    async def check_chain(self, hashes: Sequence[bytes], txs: Sequence[L2Transaction]) -> bytes:
        """Every transaction of `hashes` recorded once, nonces in order per sender, the pool empty,
        the closed batches re-executed from the genesis; returns the final state root."""
        recorded = await self.recorded_hashes()
        assert len(recorded) == len(set(recorded)), "a transaction was included twice"
        assert set(recorded) == set(hashes), "a transaction was lost"
        by_hash = {tx.tx_hash(): tx for tx in txs}
        last_nonce: dict[bytes, int] = {}
        for tx_hash in recorded:
            tx = by_hash[tx_hash]
            assert last_nonce.get(tx.sender(), -1) == tx.nonce - 1, "nonce order broken"
            last_nonce[tx.sender()] = tx.nonce
        stats = await self.pool_stats()
        assert (stats.pending, stats.selected, stats.failed, stats.invalid) == (0, 0, 0, 0)
        return await self.replay_from_genesis()

    async def replay_from_genesis(self) -> bytes:
        """Re-execute every closed batch from the genesis, independently of the services; check each
        batch's state root, its blocks' roots and accInputHash; return the final state root."""
        return await asyncio.to_thread(replay_from_genesis, self.genesis, self.db(), CHAIN_ID)


async def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running_stack(
    tmp_path: Path,
    genesis: Genesis,
    *,
    backend: str = "sqlite",
    pg_dsn: str | None = None,
    pg_schema: str | None = None,
    executor_subprocess: bool = False,
    pool_overrides: dict[str, Any] | None = None,
) -> AsyncIterator[Stack]:
    """HashDB, executor and pool running, the genesis file written; the sequencer is started by the
    test (`stack.start_sequencer` or `stack.spawn_sequencer`)."""
    require_redis()
    hashdb = await start_hashdb(
        HashDBConfig(
            grpc_host="127.0.0.1",
            grpc_port=0,
            metrics_enabled=False,
            lmdb_path=tmp_path / "hashdb",
            lmdb_sync=False,
            shutdown_grace_s=0.5,
        )
    )
    root = genesis.state_root()
    pool_cfg = pool_config(
        state_root=bytes_to_h4(root),
        hashdb_url=f"127.0.0.1:{hashdb.port}",
        chain_id=CHAIN_ID,
        max_txs=100_000,
        max_txs_per_account=1000,
        nonce_window=1000,
        **(pool_overrides or {}),
    )
    pool = await start_pool(pool_cfg, background=False)
    genesis_file = tmp_path / "genesis.json"
    genesis_file.write_text(genesis_json(genesis))
    channel = aio.insecure_channel(f"127.0.0.1:{pool.port}")
    stack = Stack(
        tmp_path=tmp_path,
        genesis=genesis,
        genesis_file=genesis_file,
        statedb_url=statedb_url(backend, tmp_path, pg_dsn, pg_schema),
        hashdb=hashdb,
        pool=pool,
        pool_client=PoolClient(channel, timeout_s=10),
        pool_channel=channel,
    )
    try:
        await stack.start_executor(subprocess=executor_subprocess)
        yield stack
    finally:
        if stack.sequencer_process is not None:
            await stack.sequencer_process.stop(10)
        await stack.stop_sequencer()
        await stack.stop_executor()
        await channel.close(None)
        await pool.stop()
        with contextlib.suppress(Exception):
            await delete_prefix(pool_cfg.redis_url, pool_cfg.key_prefix)
        await hashdb.stop()
        if stack.statedb is not None:
            stack.statedb.close()


def ensure_anvil() -> None:
    """anvil comes from contracts/node_modules: `npm ci` there if it is missing (as the L1 contract
    tests do); skip when npm cannot provide it."""
    try:
        find_anvil()
        return
    except AnvilError:
        pass
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed, so anvil cannot be installed into contracts/node_modules")
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        check=False,
        cwd=CONTRACTS_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        pytest.skip(f"`npm ci` in contracts/ failed, so there is no anvil:\n{result.stderr[-2000:]}")


async def sequencer_status(port: int) -> spb.GetStatusResponse:
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = UnaryMethod[spb.GetStatusRequest, spb.GetStatusResponse](
            channel, "/zkseq.sequencer.v1.SequencerService/GetStatus", spb.GetStatusResponse, 5
        )
        return await call(spb.GetStatusRequest())

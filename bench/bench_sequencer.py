"""Sequencer throughput: pool → closed batch, next to the executor alone on the same transactions.

Every service is its own process, as in production: HashDB (LMDB, fsync on), executor, pool (the
Redis on 127.0.0.1:6379, a key prefix of its own), sequencer (StateDB: a SQLite file, or PostgreSQL
with --statedb-url). For ETH transfers, then ERC-20 transfers (the minimal token of
bench_executor.py), each from --senders senders with a fresh recipient per transaction:

  * sequencer   the pool is loaded first (sequencer stopped), then the sequencer starts and the clock
                runs until every transaction is in the StateDB (recorded) and in a closed batch;
                default limits (300 txs per batch …), batch time limit 1 s for the last batch;
  * baseline    the ETH transfers run twice on one chain (different nonces): first with
                MAX_GROUP_TXS=1 (one transaction per ProcessBatch call, the sequencer before groups),
                then with --group-txs (several ready transactions per call, finalizer.py)
  * executor    the same signed transactions, one ProcessBatch per transaction on the previous
                root (update_merkle_tree = 1, as the sequencer calls it), and in calls of
                --group-txs transactions, on a fresh HashDB and executor: what the sequencer could
                reach if everything around the executor were free;
  * stages      the sequencer's own /metrics: time per stage of the hot path (mean per call, and
                total seconds over the run).

--mixed N adds a sustained run: N transactions (ETH and ERC-20 transfers, counter calls, reverts,
out-of-gas calls) from --senders senders, sent while the sequencer runs with the default limits
(batch time limit --batch-time-s, 10 s by default); it prints the batches
closed by reason and the transactions by outcome, and re-executes every closed batch from the
genesis with the fork-6 processor in this process: the final state root must be the chain's.

Usage: python bench/bench_sequencer.py [--txs N] [--senders N] [--group-txs N]
                                      [--mixed N [--mixed-only] [--batch-time-s S]] [--statedb-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import redis
from grpc import aio

from protos.executor.v1 import executor_pb2 as epb
from protos.pool.v1 import pool_pb2 as ppb
from services.common.grpc_client import UnaryMethod
from services.common.logs import EventLogger
from services.common.process import ServiceProcess, spawn_service
from services.common.statedb import StateDB, open_statedb
from services.executor.processor import BatchRequest
from services.executor.service import Executor, LocalBackend
from services.executor.wire import ProcessCall
from services.pool.client import PoolClient
from services.sequencer.genesis import Genesis, StateDBGenesisStore, ensure_genesis
from zkevm.field import h4_to_bytes
from zkevm.genesis import GenesisAccount, build_genesis
from zkevm.hashing import keccak256
from zkevm.nodestore import MemoryNodeStore
from zkevm.transaction import L2Transaction, sign_transaction

CHAIN_ID = 1001
GWEI = 10**9
ETHER = 10**18
COINBASE = bytes.fromhex("c0ffee0000000000000000000000000000c0ffee")
COUNTER = bytes.fromhex("00000000000000000000000000000000000000e4")
REVERTER = bytes.fromhex("00000000000000000000000000000000000000e1")
BURNER = bytes.fromhex("00000000000000000000000000000000000000e2")
#: slot 0 += 1 and a LOG1 of the new value; REVERT; an endless loop
COUNTER_CODE = bytes.fromhex("60005460010180600055600060" + "00a100")
REVERTER_CODE = bytes.fromhex("60006000fd")
BURNER_CODE = bytes.fromhex("5b600056")
TOKEN = bytes.fromhex("00000000000000000000000000000000000070c3")
TRANSFER_SELECTOR = bytes.fromhex("a9059cbb")
TRANSFER_EVENT = keccak256(b"Transfer(address,address,uint256)")
STAGES = (
    "pool_fetch",
    "pool_select",
    "executor_call",
    "flush_wait",
    "statedb_write",
    "pool_mark",
    "batch_reexecution",
    "batch_close",
)


# -- the minimal ERC-20 of bench_executor.py (transfer only; the same bytecode) ------------------------


def _push(value: int | bytes, width: int | None = None) -> bytes:
    data = (
        value
        if isinstance(value, bytes)
        else value.to_bytes(width or max(1, (value.bit_length() + 7) // 8), "big")
    )
    return bytes((0x5F + len(data),)) + data


def token_runtime() -> bytes:
    """transfer(address to, uint256 amount): balances at keccak(owner ‖ 0), a Transfer event, true."""

    def body(transfer_at: int, fail_at: int) -> tuple[bytes, int, int]:
        head = (
            _push(0) + b"\x35" + _push(0xE0) + b"\x1c"
            + _push(int.from_bytes(TRANSFER_SELECTOR), 4) + b"\x14" + _push(transfer_at, 2) + b"\x57"
            + _push(0) + b"\x80\xfd"
        )  # fmt: skip
        transfer = (
            b"\x5b"
            + b"\x33" + _push(0) + b"\x52" + _push(0) + _push(0x20) + b"\x52"
            + _push(0x40) + _push(0) + b"\x20"
            + b"\x80\x54"
            + _push(0x24) + b"\x35"
            + b"\x80\x82\x10" + _push(fail_at, 2) + b"\x57"
            + b"\x90\x03\x90\x55"
            + _push(4) + b"\x35" + _push(0) + b"\x52" + _push(0x40) + _push(0) + b"\x20"
            + b"\x80\x54" + _push(0x24) + b"\x35" + b"\x01\x90\x55"
            + _push(0x24) + b"\x35" + _push(0) + b"\x52"
            + _push(4) + b"\x35" + b"\x33" + _push(TRANSFER_EVENT) + _push(0x20) + _push(0) + b"\xa3"
            + _push(1) + _push(0) + b"\x52" + _push(0x20) + _push(0) + b"\xf3"
        )  # fmt: skip
        fail = b"\x5b" + _push(0) + b"\x80\xfd"
        return head + transfer + fail, len(head), len(head) + len(transfer)

    _, transfer_at, fail_at = body(0, 0)
    code, t, f = body(transfer_at, fail_at)
    assert (t, f) == (transfer_at, fail_at)
    return code


def balance_slot(owner: bytes) -> int:
    return int.from_bytes(keccak256(owner.rjust(32, b"\x00") + bytes(32)))


# -- the workload ---------------------------------------------------------------------------------


def key(i: int) -> bytes:
    return keccak256(b"bench sequencer sender %d" % i)


def address(k: bytes) -> bytes:
    return sign_transaction(
        nonce=0, gas_price=0, gas_limit=0, to=None, value=0, chain_id=None, private_key=k
    ).sender()


def recipient(i: int) -> bytes:
    return keccak256(b"bench sequencer recipient %d" % i)[12:]


def make_genesis(senders: Sequence[bytes]) -> Genesis:
    accounts = [GenesisAccount(a, balance=1_000 * ETHER) for a in senders]
    accounts.append(
        GenesisAccount(
            TOKEN, nonce=1, bytecode=token_runtime(), storage={balance_slot(a): 10**30 for a in senders}
        )
    )
    accounts += [
        GenesisAccount(COUNTER, nonce=1, bytecode=COUNTER_CODE),
        GenesisAccount(REVERTER, nonce=1, bytecode=REVERTER_CODE),
        GenesisAccount(BURNER, nonce=1, bytecode=BURNER_CODE),
    ]
    return Genesis(tuple(accounts), timestamp=1)


def sign(
    k: bytes, nonce: int, to: bytes, *, value: int = 0, data: bytes = b"", gas: int = 21_000
) -> L2Transaction:
    return sign_transaction(
        nonce=nonce,
        gas_price=GWEI,
        gas_limit=gas,
        to=to,
        value=value,
        data=data,
        chain_id=CHAIN_ID,
        private_key=k,
    )


def erc20(k: bytes, nonce: int, i: int) -> L2Transaction:
    data = TRANSFER_SELECTOR + recipient(i).rjust(32, b"\x00") + (1 + i).to_bytes(32, "big")
    return sign(k, nonce, TOKEN, data=data, gas=100_000)


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
                    **({"storage": {hex(s): hex(v) for s, v in a.storage.items()}} if a.storage else {}),
                }
                for a in genesis.accounts
            ],
        }
    )


# -- the services ---------------------------------------------------------------------------------


@dataclass
class Chain:
    data: Path
    genesis: Genesis
    statedb_url: str
    prefix: str
    hashdb: ServiceProcess
    executor: ServiceProcess
    pool: ServiceProcess
    sequencer: ServiceProcess | None = None

    @property
    def hashdb_url(self) -> str:
        return f"127.0.0.1:{self.hashdb.ready['port']}"

    @property
    def executor_url(self) -> str:
        return f"127.0.0.1:{self.executor.ready['port']}"

    @property
    def pool_url(self) -> str:
        return f"127.0.0.1:{self.pool.ready['port']}"

    async def start_sequencer(self, **settings: str) -> ServiceProcess:
        env = {
            "GRPC_ADDRESS": "127.0.0.1:0",
            "METRICS_ADDRESS": "127.0.0.1:0",
            "EXECUTOR_URL": self.executor_url,
            "POOL_URL": self.pool_url,
            "HASHDB_URL": self.hashdb_url,
            "STATEDB_URL": self.statedb_url,
            "CHAIN_ID": str(CHAIN_ID),
            "COINBASE": "0x" + COINBASE.hex(),
            "GENESIS_FILE": str(self.data / "genesis.json"),
            **settings,
        }
        self.sequencer = await spawn_service(
            "services.sequencer", {f"ZKSEQ_SEQUENCER_{k}": v for k, v in env.items()}, "sequencer_serving"
        )
        return self.sequencer

    async def stop_sequencer(self) -> None:
        if self.sequencer is not None:
            await self.sequencer.stop(30)
            self.sequencer = None

    async def stop(self) -> None:
        await self.stop_sequencer()
        for service in (self.pool, self.executor, self.hashdb):
            await service.stop(30)
        client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        keys = list(client.scan_iter(match=self.prefix + "*", count=1000))
        if keys:
            client.delete(*keys)


async def start_hashdb_executor(data: Path) -> tuple[ServiceProcess, ServiceProcess]:
    hashdb = await spawn_service(
        "services.hashdb",
        {
            "ZKSEQ_HASHDB_GRPC_ADDRESS": "127.0.0.1:0",
            "ZKSEQ_HASHDB_METRICS_ENABLED": "false",
            "ZKSEQ_HASHDB_LMDB_PATH": str(data / "hashdb"),
        },
        "hashdb_serving",
    )
    executor = await spawn_service(
        "services.executor",
        {
            "ZKSEQ_EXECUTOR_GRPC_ADDRESS": "127.0.0.1:0",
            "ZKSEQ_EXECUTOR_METRICS_ENABLED": "false",
            "ZKSEQ_EXECUTOR_HASHDB_URL": f"127.0.0.1:{hashdb.ready['port']}",
        },
        "executor_serving",
    )
    return hashdb, executor


async def start_chain(data: Path, genesis: Genesis, statedb_url: str) -> Chain:
    (data / "genesis.json").write_text(genesis_json(genesis))
    hashdb, executor = await start_hashdb_executor(data)
    prefix = f"zkseq:{{bench-seq-{uuid.uuid4().hex[:8]}}}:"
    root = genesis.state_root()
    pool = await spawn_service(
        "services.pool",
        {
            "ZKSEQ_POOL_GRPC_ADDRESS": "127.0.0.1:0",
            "ZKSEQ_POOL_METRICS_ENABLED": "false",
            "ZKSEQ_POOL_KEY_PREFIX": prefix,
            "ZKSEQ_POOL_CHAIN_ID": str(CHAIN_ID),
            "ZKSEQ_POOL_HASHDB_URL": f"127.0.0.1:{hashdb.ready['port']}",
            "ZKSEQ_POOL_STATE_ROOT": "0x" + root.hex(),
            "ZKSEQ_POOL_MAX_TXS": "1000000",
            "ZKSEQ_POOL_MAX_TXS_PER_ACCOUNT": "10000",
            "ZKSEQ_POOL_NONCE_WINDOW": "10000",
        },
        "pool_serving",
    )
    return Chain(data, genesis, statedb_url, prefix, hashdb, executor, pool)


# -- measuring ------------------------------------------------------------------------------------


async def submit(pool_url: str, txs: Sequence[L2Transaction], concurrency: int = 32) -> None:
    async with aio.insecure_channel(pool_url) as channel:
        client = PoolClient(channel, timeout_s=30)
        queue = list(txs)
        queue.reverse()

        async def worker() -> None:
            while queue:
                tx = queue.pop()
                await client.AddTransaction(ppb.AddTransactionRequest(raw=tx.to_raw()))

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def chain_progress(statedb: StateDB) -> tuple[int, int]:
    """(latest L2 block, last block of the last closed batch)."""
    latest = statedb.blocks.latest_block_number() or 0
    closed = statedb.batches.last_closed_batch()
    last_closed_block = 0
    if closed is not None:
        blocks = statedb.blocks.blocks_of_batch(closed.number)
        last_closed_block = blocks[-1].number if blocks else 0
        n = closed.number
        while not blocks and n > 0:  # a closed batch without blocks (a forced one): look further back
            n -= 1
            blocks = statedb.blocks.blocks_of_batch(n)
            last_closed_block = blocks[-1].number if blocks else 0
    return latest, last_closed_block


async def wait_chain(statedb: StateDB, target_block: int, timeout_s: float) -> tuple[float, float]:
    """Seconds until block `target_block` is recorded, and until it is in a closed batch."""
    start = time.perf_counter()
    recorded_at = None
    while True:
        latest, closed = await asyncio.to_thread(chain_progress, statedb)
        now = time.perf_counter()
        if recorded_at is None and latest >= target_block:
            recorded_at = now - start
        if closed >= target_block:
            return recorded_at or now - start, now - start
        if now - start > timeout_s:
            raise TimeoutError(f"block {target_block} not closed after {timeout_s} s (latest {latest})")
        await asyncio.sleep(0.02)


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def stage_table(metrics: dict[str, float], n_txs: int, wall_s: float) -> str:
    lines = [f"    {'stage':<20}{'calls':>8}{'ms/call':>10}{'total s':>10}{'ms/tx':>8}"]
    for stage in STAGES:
        count = metrics.get(f'zkseq_sequencer_stage_duration_seconds_count{{stage="{stage}"}}', 0.0)
        total = metrics.get(f'zkseq_sequencer_stage_duration_seconds_sum{{stage="{stage}"}}', 0.0)
        if count:
            lines.append(
                f"    {stage:<20}{count:>8.0f}{total / count * 1000:>10.2f}{total:>10.2f}"
                f"{total / n_txs * 1000:>8.2f}"
            )
    lines.append(f"    {'wall (pool → closed)':<38}{wall_s:>10.2f}{wall_s / n_txs * 1000:>8.2f}")
    polls = metrics.get("zkseq_sequencer_flush_status_polls_total", 0.0)
    lines.append(f"    GetFlushStatus polls while waiting: {polls:.0f} ({polls / n_txs:.2f} per transaction)")
    return "\n".join(lines)


def closed_reasons(metrics: dict[str, float]) -> str:
    prefix = 'zkseq_sequencer_batches_closed_total{reason="'
    parts = [f"{k[len(prefix) : -2]} {v:.0f}" for k, v in metrics.items() if k.startswith(prefix) and v]
    return ", ".join(sorted(parts)) or "none"


def outcomes(metrics: dict[str, float]) -> str:
    prefix = 'zkseq_sequencer_txs_total{outcome="'
    parts = [f"{k[len(prefix) : -2]} {v:.0f}" for k, v in metrics.items() if k.startswith(prefix) and v]
    return ", ".join(sorted(parts))


class ExecutorAlone:
    """A HashDB and an executor of their own, fed one transaction per ProcessBatch on the previous
    root — the sequencer's call pattern with nothing around it."""

    def __init__(self, hashdb: ServiceProcess, executor: ServiceProcess, root: bytes) -> None:
        self.hashdb, self.executor, self.root = hashdb, executor, root

    @classmethod
    async def start(cls, data: Path, genesis: Genesis) -> ExecutorAlone:
        hashdb, executor = await start_hashdb_executor(data)
        statedb = open_statedb(f"sqlite:///{data}/genesis-only.db")
        async with aio.insecure_channel(f"127.0.0.1:{hashdb.ready['port']}") as channel:
            root = await ensure_genesis(
                StateDBGenesisStore(statedb), channel, genesis, COINBASE, EventLogger("bench")
            )
        statedb.close()
        return cls(hashdb, executor, root)

    async def run(self, txs: Sequence[L2Transaction], per_call: int = 1) -> float:
        """Seconds to execute `txs`, `per_call` transactions per call, chained."""
        async with aio.insecure_channel(f"127.0.0.1:{self.executor.ready['port']}") as channel:
            process = UnaryMethod[epb.ProcessBatchRequest, epb.ProcessBatchResponse](
                channel, "/executor.v1.ExecutorService/ProcessBatch", epb.ProcessBatchResponse, 60
            )
            start = time.perf_counter()
            for at in range(0, len(txs), per_call):
                call = txs[at : at + per_call]
                response = await process(
                    epb.ProcessBatchRequest(
                        old_state_root=self.root, chain_id=CHAIN_ID, fork_id=6,
                        batch_l2_data=b"".join(tx.encode() for tx in call),
                        global_exit_root=bytes(32), eth_timestamp=int(time.time()),
                        coinbase="0x" + COINBASE.hex(), update_merkle_tree=1,
                    )
                )  # fmt: skip
                if response.error != epb.EXECUTOR_ERROR_NO_ERROR or len(response.responses) != len(call):
                    raise RuntimeError("a call failed in the executor-alone run")
                if any(r.error != 1 for r in response.responses):
                    raise RuntimeError("a transaction failed in the executor-alone run")
                self.root = response.new_state_root
            return time.perf_counter() - start

    async def stop(self) -> None:
        await self.executor.stop(30)
        await self.hashdb.stop(30)


def replay(genesis: Genesis, statedb: StateDB) -> tuple[bytes, int, int]:
    """Re-execute every closed batch from the genesis in this process; (final root, batches, txs)."""
    store = MemoryNodeStore()
    root = h4_to_bytes(build_genesis(genesis.accounts, store))
    executor = Executor(LocalBackend(store))
    acc, txs, batches, after = bytes(32), 0, 0, 0
    while chunk := statedb.batches.closed_batches_after(after, 1000):
        for batch in chunk:
            result, _, _ = executor.process(
                ProcessCall(
                    BatchRequest(
                        root, batch.batch_l2_data, batch.global_exit_root, batch.timestamp, batch.coinbase,
                        CHAIN_ID, old_acc_input_hash=acc, old_batch_num=batch.number - 1,
                    ),
                    update_merkle_tree=True,
                )
            )  # fmt: skip
            if result.new_state_root != batch.state_root or result.new_acc_input_hash != batch.acc_input_hash:
                raise RuntimeError(f"batch {batch.number} re-executes to another root or accInputHash")
            root, acc = result.new_state_root, result.new_acc_input_hash
            txs += sum(1 for t in result.txs if t.included)
            batches += 1
            after = batch.number
    return root, batches, txs


# -- runs -----------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    loaded_s: float
    recorded_s: float
    closed_s: float
    metrics: dict[str, float]
    #: CPU seconds each service process used while the sequencer ran
    cpu: dict[str, float]


async def sequence(
    chain: Chain, statedb: StateDB, txs: Sequence[L2Transaction], block: int, group_txs: int
) -> Run:
    """Load the pool, start the sequencer, wait until block `block` is in a closed batch."""
    start = time.perf_counter()
    await submit(chain.pool_url, txs)
    loaded = time.perf_counter() - start
    sequencer = await chain.start_sequencer(BATCH_TIME_LIMIT_S="1", MAX_GROUP_TXS=str(group_txs))
    services = {
        "executor": chain.executor,
        "hashdb": chain.hashdb,
        "pool": chain.pool,
        "sequencer": sequencer,
    }
    before = {name: cpu_seconds(p.pid) for name, p in services.items()}
    recorded_s, closed_s = await wait_chain(statedb, block, 600)
    cpu = {name: cpu_seconds(p.pid) - before[name] for name, p in services.items()}
    metrics = await asyncio.to_thread(scrape, int(sequencer.ready["metrics_port"]))
    await chain.stop_sequencer()
    return Run(loaded, recorded_s, closed_s, metrics, cpu)


async def throughput(args: argparse.Namespace) -> None:
    keys = [key(i) for i in range(args.senders)]
    genesis = make_genesis([address(k) for k in keys])
    per_sender = max(1, args.txs // args.senders)
    n = per_sender * args.senders
    g = args.group_txs
    # nonce 0 of every sender warms both pipelines up (caches, connections); it is not measured
    warmup = [sign(keys[s], 0, recipient(900_000 + s), value=1) for s in range(args.senders)]
    eth_single = [
        sign(keys[s], 1 + k, recipient(k * args.senders + s), value=1)
        for k in range(per_sender)
        for s in range(args.senders)
    ]
    eth = [
        sign(keys[s], 1 + per_sender + k, recipient(200_000 + k * args.senders + s), value=1)
        for k in range(per_sender)
        for s in range(args.senders)
    ]
    tokens = [
        erc20(keys[s], 1 + 2 * per_sender + k, 100_000 + k * args.senders + s)
        for k in range(per_sender)
        for s in range(args.senders)
    ]
    print(
        f"{n:,} transactions per workload, {args.senders} senders ({per_sender} each), a fresh recipient each"
    )
    print("after a warm-up of one transfer per sender in both pipelines; the executor-alone run goes right")
    print("before the sequencer's on the same transactions (the machine may be shared)")
    with tempfile.TemporaryDirectory(prefix="zkseq-bench-seq-") as tmp:
        data = Path(tmp)
        (data / "alone").mkdir()
        (data / "chain").mkdir()
        alone = await ExecutorAlone.start(data / "alone", genesis)
        statedb_url = args.statedb_url or f"sqlite:///{data / 'chain' / 'statedb.db'}"
        chain = await start_chain(data / "chain", genesis, statedb_url)
        try:
            await alone.run(warmup)
            await chain.start_sequencer()  # writes the genesis
            await chain.stop_sequencer()
            statedb = open_statedb(statedb_url)
            block = len(warmup)
            await sequence(chain, statedb, warmup, block, 1)
            workloads = (
                ("ETH transfers, baseline: MAX_GROUP_TXS=1 (one tx per call)", eth_single, 1),
                (f"ETH transfers, MAX_GROUP_TXS={g}", eth, g),
                (f"ERC-20 transfers, MAX_GROUP_TXS={g}", tokens, g),
            )
            for name, txs, group_txs in workloads:
                start_root = alone.root
                alone_s = await alone.run(txs)
                alone_group_s = 0.0
                if group_txs > 1:  # the same transactions again, from the same root, g per call
                    end_root, alone.root = alone.root, start_root
                    alone_group_s = await alone.run(txs, g)
                    if alone.root != end_root:
                        raise RuntimeError(f"{g} transactions per call end at another root than 1 per call")
                block += len(txs)
                run = await sequence(chain, statedb, txs, block, group_txs)
                recorded_s, closed_s, metrics = run.recorded_s, run.closed_s, run.metrics
                rate_in = len(txs) / run.loaded_s
                print(f"\n{name} (pool loaded in {run.loaded_s:.1f} s, {rate_in:,.0f} AddTransaction/s)")
                print(f"  executor alone, 1 tx per call          {len(txs) / alone_s:>8,.0f} tx/s")
                if alone_group_s:
                    print(f"  executor alone, {g} txs per call {len(txs) / alone_group_s:>14,.0f} tx/s")
                print(
                    f"  sequencer, pool → recorded             {len(txs) / recorded_s:>8,.0f} tx/s"
                    f"   {alone_s / recorded_s:>4.0%} of the executor alone"
                )
                print(
                    f"  sequencer, pool → closed batch         {len(txs) / closed_s:>8,.0f} tx/s"
                    f"   (batches closed: {closed_reasons(metrics)})"
                )
                print("  time per stage (the sequencer's /metrics; stages overlap: the recorder works while")
                print("  the finalizer executes the next transactions)")
                print(stage_table(metrics, len(txs), closed_s))
                calls = metrics.get("zkseq_sequencer_group_txs_count", 0.0)
                if calls:
                    kept = metrics.get("zkseq_sequencer_group_txs_sum", 0.0)
                    prefix = 'zkseq_sequencer_group_retries_total{reason="'
                    retries = {k[len(prefix) : -2]: v for k, v in metrics.items() if k.startswith(prefix)}
                    print(
                        f"  transactions per kept pre-execution call: {kept / calls:.1f} "
                        f"({calls:.0f} calls); groups not kept whole: "
                        + (", ".join(f"{k} {v:.0f}" for k, v in sorted(retries.items())) or "none")
                    )
                cpu = ", ".join(f"{k} {v / len(txs) * 1000:.2f}" for k, v in run.cpu.items())
                offered = (os.cpu_count() or 1) * closed_s / len(txs) * 1000
                print(
                    f"  CPU ms per transaction, by process: {cpu} (the machine's cores offer {offered:.2f})"
                )
            statedb.close()
        finally:
            await chain.stop()
            await alone.stop()


async def mixed(args: argparse.Namespace) -> None:
    keys = [key(i) for i in range(args.senders)]
    genesis = make_genesis([address(k) for k in keys])
    rng = random.Random(6)
    nonces = [0] * args.senders
    txs: list[L2Transaction] = []
    kinds: dict[str, int] = {}
    for i in range(args.mixed):
        s = i % args.senders
        roll = rng.random()
        if roll < 0.4:
            kind, tx = "ETH transfer", sign(keys[s], nonces[s], recipient(i), value=1 + i)
        elif roll < 0.7:
            kind, tx = "ERC-20 transfer", erc20(keys[s], nonces[s], i)
        elif roll < 0.9:
            kind, tx = "counter call", sign(keys[s], nonces[s], COUNTER, gas=60_000)
        elif roll < 0.95:
            kind, tx = "revert", sign(keys[s], nonces[s], REVERTER, gas=50_000)
        else:
            kind, tx = "out of gas", sign(keys[s], nonces[s], BURNER, gas=40_000)
        nonces[s] += 1
        kinds[kind] = kinds.get(kind, 0) + 1
        txs.append(tx)
    print(
        f"\nmixed run: {len(txs):,} transactions from {args.senders} senders, sent while the sequencer runs"
    )
    print("  " + ", ".join(f"{v:,} {k}" for k, v in kinds.items()))
    with tempfile.TemporaryDirectory(prefix="zkseq-bench-mixed-") as tmp:
        data = Path(tmp)
        statedb_url = args.statedb_url or f"sqlite:///{data / 'statedb.db'}"
        if args.statedb_url:
            raise SystemExit("--mixed runs on a fresh SQLite StateDB (pass no --statedb-url)")
        chain = await start_chain(data, genesis, statedb_url)
        try:
            sequencer = await chain.start_sequencer(BATCH_TIME_LIMIT_S=f"{args.batch_time_s:g}")
            statedb = open_statedb(statedb_url)
            start = time.perf_counter()
            await submit(chain.pool_url, txs, concurrency=16)
            sent = time.perf_counter() - start
            _, closed_s = await wait_chain(statedb, len(txs), 900)
            metrics = await asyncio.to_thread(scrape, int(sequencer.ready["metrics_port"]))
            await chain.stop_sequencer()
            print(
                f"  sent in {sent:.1f} s; all in closed batches after {closed_s:.1f} s "
                f"({len(txs) / closed_s:,.0f} tx/s)"
            )
            print(f"  batches closed by reason: {closed_reasons(metrics)}")
            print(f"  transactions by outcome:  {outcomes(metrics)}")
            last = statedb.batches.last_closed_batch()
            assert last is not None and last.state_root is not None
            start = time.perf_counter()
            root, batches, included = await asyncio.to_thread(replay, genesis, statedb)
            print(
                f"  re-executed {batches} closed batches ({included:,} transactions) from the genesis "
                f"in this process in {time.perf_counter() - start:.1f} s"
            )
            print(f"  final state root, chain:       0x{last.state_root.hex()}")
            verdict = "EQUAL" if root == last.state_root else "DIFFERENT"
            print(f"  final state root, re-executed: 0x{root.hex()}   {verdict}")
            statedb.close()
        finally:
            await chain.stop()


async def main_async(args: argparse.Namespace) -> None:
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    if not args.mixed_only:
        await throughput(args)
    if args.mixed or args.mixed_only:
        await mixed(args)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--txs", type=int, default=2_000)
    parser.add_argument("--senders", type=int, default=200)
    parser.add_argument(
        "--group-txs", type=int, default=32, help="the sequencer's MAX_GROUP_TXS (after the baseline of 1)"
    )
    parser.add_argument(
        "--mixed", type=int, default=0, help="also a sustained mixed run of this many transactions"
    )
    parser.add_argument("--mixed-only", action="store_true", help="only the mixed run")
    parser.add_argument(
        "--batch-time-s",
        type=float,
        default=10.0,
        help="the mixed run's batch time limit (default: the node's 10 s)",
    )
    parser.add_argument("--statedb-url", default="", help="postgresql://…?schema=… (default: a SQLite file)")
    args = parser.parse_args()
    if args.mixed_only and not args.mixed:
        parser.error("--mixed-only needs --mixed N")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()

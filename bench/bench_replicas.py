"""Spreading the sequencer's executor calls over two executor replicas: affinity against round robin.

The sequencer's calls, as the finalizer and the recorder make them, through the sequencer's own
`ReplicatedExecutor` (services/sequencer/executors.py) and `GrpcExecutor`, against real processes:
one HashDB (LMDB in a temp dir) and two executors (`python -m services.executor`) sharing it.

  chain         --txs ETH transfers, one per ProcessBatch (update_merkle_tree = 1), each on the root
                the previous call returned (the finalizer's pre-executions);
  re-execution  every --batch-txs transactions, that batch again in one call on its start root with
                update_merkle_tree = 0, started beside the chain (the recorder closing a batch).

Each scenario has its own senders (no call repeats another scenario's state changes):

  single        baseline: one executor (the other idle)
  primary       both configured, every call to the chain's replica (the other a standby)
  affinity      both, the chain stays on one replica, re-executions go to the other
  round_robin   both, every call to the next replica: the chain's next call usually meets a root the
                other replica built and is still flushing (ROOT_WAIT_S) and nodes its cache lacks

Printed per scenario: chain transactions/s, chain call latency p50/p99, the time until every
re-execution also answered, and the ratio to the `single` baseline of the same run.

--sequencer N measures the same scenarios end to end instead: for each, fresh processes (HashDB,
two executors, pool on the Redis at 127.0.0.1:6379 under a key prefix of its own, the sequencer with
EXECUTOR_URL the list and EXECUTOR_SPREAD the scenario's, StateDB a SQLite file); N ETH transfers
are loaded into the pool, then the sequencer starts and the clock runs until every transaction is
recorded and in a closed batch (300 per batch, the last closed by a 1 s time limit).

The machine may be shared: run it more than once and compare ratios.

Usage: python bench/bench_replicas.py [--txs N] [--senders N] [--batch-txs N] [--rounds N]
                                      [--sequencer N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import redis
from coincurve import PrivateKey
from grpc import aio

from protos.pool.v1 import pool_pb2 as ppb
from services.common.process import ServiceProcess, spawn_service
from services.common.statedb import open_statedb
from services.executor.hashdb_client import HashDBBackend
from services.pool.client import PoolClient
from services.sequencer.executors import ReplicaPort, ReplicatedExecutor, Spread, StaticResolver
from services.sequencer.genesis import Genesis
from services.sequencer.grpc_ports import GrpcExecutor
from services.sequencer.outcomes import CallOutcome, call_outcome, executor_error_name
from services.sequencer.ports import ExecRequest
from zkevm.field import ZERO_H4, h4_to_bytes
from zkevm.genesis import GenesisAccount, genesis_writes
from zkevm.hashing import keccak256
from zkevm.transaction import L2Transaction, encode_batch_l2_data, sign_transaction

CHAIN_ID = 1001
GWEI = 10**9
ETHER = 10**18
COINBASE = bytes.fromhex("c0ffee0000000000000000000000000000c0ffee")
SCENARIOS = ("single", "primary", "affinity", "round_robin")


def _key(scenario: int, n: int) -> bytes:
    return keccak256(b"bench replicas %d sender %d" % (scenario, n))


def _address(key: bytes) -> bytes:
    return keccak256(PrivateKey(key).public_key.format(compressed=False)[1:])[12:]


def transfers(scenario: int, n_txs: int, n_senders: int) -> list[L2Transaction]:
    keys = [_key(scenario, i) for i in range(n_senders)]
    txs = []
    for i in range(n_txs):
        to = keccak256(b"bench replicas recipient %d %d" % (scenario, i))[12:]
        txs.append(
            sign_transaction(
                nonce=i // n_senders,
                gas_price=GWEI,
                gas_limit=21_000,
                to=to,
                value=1 + i,
                chain_id=CHAIN_ID,
                private_key=keys[i % n_senders],
            )
        )
    return txs


def load_genesis(hashdb_port: int, accounts: Sequence[GenesisAccount]) -> bytes:
    backend = HashDBBackend(f"127.0.0.1:{hashdb_port}", 60)
    try:
        session = backend.open(keep=True)
        root = session.set_values(ZERO_H4, genesis_writes(accounts))
        session.finish(root, keep=True)
        assert backend.flushes.wait_sent(60)
        return h4_to_bytes(root)
    finally:
        backend.close()


def request(root: bytes, txs: Sequence[L2Transaction], *, keep: bool) -> ExecRequest:
    return ExecRequest(
        old_state_root=root,
        batch_l2_data=encode_batch_l2_data(txs),
        global_exit_root=bytes(32),
        timestamp=1_944_498_031,
        coinbase=COINBASE,
        chain_id=CHAIN_ID,
        old_batch_number=0,
        old_acc_input_hash=bytes(32),
        update_merkle_tree=keep,
    )


@dataclass
class Figures:
    tps: float
    p50_ms: float
    p99_ms: float
    all_done_s: float
    calls: dict[str, int]
    #: DB_ERROR answers retried: (chain, re-execution)
    retried: tuple[int, int]


async def run_scenario(addresses: Sequence[str], spread: Spread, root: bytes, txs: Sequence[L2Transaction],
                       batch_txs: int) -> Figures:  # fmt: skip
    channels: list[aio.Channel] = []

    def factory(address: str) -> ReplicaPort:
        channel = aio.insecure_channel(address)
        channels.append(channel)
        return ReplicaPort(GrpcExecutor(channel, 60), lambda: channel.close(None))

    executor = ReplicatedExecutor(StaticResolver(tuple(addresses)), factory, spread=spread)
    await executor.refresh(force=True)
    latencies: list[float] = []
    reexecutions: list[asyncio.Task[bytes]] = []
    db_errors: list[str] = []

    async def reexecute(start: bytes, batch: Sequence[L2Transaction], expected: bytes) -> bytes:
        while True:
            result = await executor.process(request(start, batch, keep=False))
            if call_outcome(result.error) is not CallOutcome.RETRY:
                break
            db_errors.append("re-execution")
            await asyncio.sleep(0.01)  # the recorder's retry: the HashDB did not answer in time
        if call_outcome(result.error) is not None or result.new_state_root != expected:
            raise RuntimeError(
                f"a re-execution answered {executor_error_name(result.error)} with root "
                f"0x{result.new_state_root.hex()}, the chain 0x{expected.hex()}"
            )
        return result.new_state_root

    start = time.perf_counter()
    batch_start, batch = root, []
    for tx in txs:
        t0 = time.perf_counter()
        while True:
            result = await executor.process(request(root, [tx], keep=True))
            if call_outcome(result.error) is not CallOutcome.RETRY:
                break
            db_errors.append("chain")
            await asyncio.sleep(0.01)  # the finalizer's retry: a root not found in time (ROOT_WAIT_S)
        latencies.append(time.perf_counter() - t0)
        root = result.new_state_root
        batch.append(tx)
        if len(batch) == batch_txs:
            reexecutions.append(asyncio.create_task(reexecute(batch_start, list(batch), root)))
            batch_start, batch = root, []
    chain_s = time.perf_counter() - start
    await asyncio.gather(*reexecutions)
    all_done_s = time.perf_counter() - start
    calls = executor.calls_by_replica()
    await executor.close()
    latencies.sort()
    return Figures(
        tps=len(txs) / chain_s,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        all_done_s=all_done_s,
        calls=calls,
        retried=(db_errors.count("chain"), db_errors.count("re-execution")),
    )


# -- end to end: the sequencer over the replicas ----------------------------------------------------


async def spawn(module: str, prefix: str, env: dict[str, str], ready: str) -> ServiceProcess:
    return await spawn_service(module, {f"{prefix}{k}": v for k, v in env.items()}, ready)


async def sequencer_run(
    data: Path, scenario: str, genesis: Genesis, txs: Sequence[L2Transaction]
) -> tuple[float, float]:
    """Seconds until every transaction is recorded, and until each is in a closed batch."""
    data.mkdir()
    (data / "genesis.json").write_text(
        json.dumps(
            {
                "timestamp": genesis.timestamp,
                "accounts": [
                    {"address": "0x" + a.address.hex(), "balance": str(a.balance), "nonce": str(a.nonce)}
                    for a in genesis.accounts
                ],
            }
        )
    )
    prefix = f"zkseq:{{bench-replicas-{uuid.uuid4().hex[:8]}}}:"
    processes: list[ServiceProcess] = []
    statedb = open_statedb(f"sqlite:///{data / 'statedb.db'}")
    try:
        off = {"METRICS_ENABLED": "false", "GRPC_ADDRESS": "127.0.0.1:0"}
        hashdb = await spawn(
            "services.hashdb", "ZKSEQ_HASHDB_", {**off, "LMDB_PATH": str(data / "hashdb")}, "hashdb_serving"
        )
        processes.append(hashdb)
        hashdb_url = f"127.0.0.1:{hashdb.ready['port']}"
        # the pool checks nonces and balances at the genesis root: the state goes in first (the
        # sequencer writes the same nodes again and the StateDB's batch 0 when it starts)
        root = await asyncio.to_thread(load_genesis, int(hashdb.ready["port"]), genesis.accounts)
        assert root == genesis.state_root()
        executors = []
        for _ in range(1 if scenario == "single" else 2):
            executor = await spawn(
                "services.executor", "ZKSEQ_EXECUTOR_", {**off, "HASHDB_URL": hashdb_url}, "executor_serving"
            )
            processes.append(executor)
            executors.append(f"127.0.0.1:{executor.ready['port']}")
        pool = await spawn(
            "services.pool",
            "ZKSEQ_POOL_",
            {
                **off,
                "KEY_PREFIX": prefix,
                "CHAIN_ID": str(CHAIN_ID),
                "HASHDB_URL": hashdb_url,
                "STATE_ROOT": "0x" + genesis.state_root().hex(),
                "MAX_TXS": "1000000",
                "MAX_TXS_PER_ACCOUNT": "10000",
                "NONCE_WINDOW": "10000",
            },
            "pool_serving",
        )
        processes.append(pool)
        pool_url = f"127.0.0.1:{pool.ready['port']}"
        async with aio.insecure_channel(pool_url) as channel:
            client = PoolClient(channel, timeout_s=30)
            for tx in txs:
                await client.AddTransaction(ppb.AddTransactionRequest(raw=tx.to_raw()))
        env = {
            **off,
            "EXECUTOR_URL": ",".join(executors),
            "EXECUTOR_SPREAD": "affinity" if scenario == "single" else scenario,
            "POOL_URL": pool_url,
            "HASHDB_URL": hashdb_url,
            "STATEDB_URL": f"sqlite:///{data / 'statedb.db'}",
            "CHAIN_ID": str(CHAIN_ID),
            "COINBASE": "0x" + COINBASE.hex(),
            "GENESIS_FILE": str(data / "genesis.json"),
            "BATCH_TIME_LIMIT_S": "1",
        }

        def progress() -> tuple[int, int]:
            closed = statedb.batches.closed_batches_after(0, 1000)
            in_closed = sum(len(statedb.blocks.blocks_of_batch(b.number)) for b in closed)
            return statedb.blocks.latest_block_number() or 0, in_closed

        processes.append(await spawn("services.sequencer", "ZKSEQ_SEQUENCER_", env, "sequencer_serving"))
        start = time.perf_counter()  # it sequences from the moment it serves
        recorded_s = None
        while True:
            latest, in_closed = await asyncio.to_thread(progress)
            now = time.perf_counter() - start
            if recorded_s is None and latest >= len(txs):
                recorded_s = now
            if in_closed >= len(txs):
                return recorded_s or now, now
            if now > 600:
                raise TimeoutError(f"{scenario}: {latest} of {len(txs)} recorded after 600 s")
            await asyncio.sleep(0.05)
    finally:
        for process in reversed(processes):
            await process.stop(30)
        statedb.close()
        client_redis = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        keys = list(client_redis.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client_redis.delete(*keys)


async def sequencer_main(args: argparse.Namespace) -> None:
    n_runs = args.rounds * len(SCENARIOS)
    accounts = tuple(
        GenesisAccount(_address(_key(s, i)), balance=1_000 * ETHER)
        for s in range(n_runs)
        for i in range(args.senders)
    )
    genesis = Genesis(accounts, timestamp=1)
    where = f"python {platform.python_version()}, {platform.machine()}"
    print(
        f"{where}: the sequencer end to end, {args.sequencer} ETH transfers per scenario, "
        f"{args.senders} senders"
    )
    run = 0
    with tempfile.TemporaryDirectory() as tmp:
        for round_no in range(args.rounds):
            figures: dict[str, tuple[float, float]] = {}
            for name in SCENARIOS:
                txs = transfers(run, args.sequencer, args.senders)
                figures[name] = await sequencer_run(Path(tmp) / f"run{run}", name, genesis, txs)
                run += 1
            base = args.sequencer / figures["single"][1]
            print(f"\nround {round_no + 1}")
            print(
                "  {:<12} {:>10} {:>10} {:>8} {:>10}".format(
                    "scenario", "recorded s", "closed s", "tx/s", "vs single"
                )
            )
            for name, (recorded_s, closed_s) in figures.items():
                tps = args.sequencer / closed_s
                print(f"  {name:<12} {recorded_s:>10.2f} {closed_s:>10.2f} {tps:>8.1f} {tps / base:>9.2f}x")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        processes: list[ServiceProcess] = []
        try:
            hashdb = await spawn_service(
                "services.hashdb",
                {
                    "ZKSEQ_HASHDB_GRPC_ADDRESS": "127.0.0.1:0",
                    "ZKSEQ_HASHDB_METRICS_ENABLED": "false",
                    "ZKSEQ_HASHDB_LMDB_PATH": str(Path(tmp) / "hashdb"),
                },
                "hashdb_serving",
            )
            processes.append(hashdb)
            hashdb_port = int(hashdb.ready["port"])
            addresses = []
            for _ in range(2):
                executor = await spawn_service(
                    "services.executor",
                    {
                        "ZKSEQ_EXECUTOR_GRPC_ADDRESS": "127.0.0.1:0",
                        "ZKSEQ_EXECUTOR_METRICS_ENABLED": "false",
                        "ZKSEQ_EXECUTOR_HASHDB_URL": f"127.0.0.1:{hashdb_port}",
                    },
                    "executor_serving",
                )
                processes.append(executor)
                addresses.append(f"127.0.0.1:{executor.ready['port']}")
            n_runs = args.rounds * len(SCENARIOS)
            accounts = [
                GenesisAccount(_address(_key(s, i)), balance=1_000 * ETHER)
                for s in range(n_runs)
                for i in range(args.senders)
            ]
            root = await asyncio.to_thread(load_genesis, hashdb_port, accounts)
            where = f"python {platform.python_version()}, {platform.machine()}"
            print(f"{where}: {args.txs} transfers per scenario, {args.senders} senders, "
                  f"a re-execution every {args.batch_txs}")  # fmt: skip
            run = 0
            for round_no in range(args.rounds):
                figures: dict[str, Figures] = {}
                for name in SCENARIOS:
                    txs = transfers(run, args.txs, args.senders)
                    run += 1
                    targets = addresses[:1] if name == "single" else addresses
                    spread = Spread.AFFINITY if name == "single" else Spread(name)
                    figures[name] = await run_scenario(targets, spread, root, txs, args.batch_txs)
                base = figures["single"]
                print(f"\nround {round_no + 1}")
                head = ("scenario", "chain tx/s", "p50 ms", "p99 ms", "all done s", "vs single", "DB retry")
                print("  {:<12} {:>10} {:>8} {:>8} {:>10} {:>10} {:>8}  calls per replica".format(*head))
                for name, f in figures.items():
                    retried = f"{f.retried[0]}/{f.retried[1]}"
                    row = (name, f.tps, f.p50_ms, f.p99_ms, f.all_done_s, f.tps / base.tps, retried)
                    calls = sorted(f.calls.values(), reverse=True)
                    print(
                        "  {:<12} {:>10.1f} {:>8.2f} {:>8.2f} {:>10.2f} {:>9.2f}x {:>8}  ".format(*row)
                        + str(calls)
                    )
        finally:
            for process in reversed(processes):
                await process.stop(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--txs", type=int, default=300)
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--batch-txs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sequencer", type=int, default=0, help="N transfers through the whole sequencer")
    arguments = parser.parse_args()
    asyncio.run(sequencer_main(arguments) if arguments.sequencer else main(arguments))

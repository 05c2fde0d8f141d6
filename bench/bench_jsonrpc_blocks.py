"""CPU cost of eth_getBlockByNumber in the JSON-RPC server: the one-read path against the former one.

A StateDB (a SQLite file by default, or --statedb-url) holds --blocks blocks of one signed transfer
each, written as the sequencer writes them. The same JSON-RPC batches of --batch
eth_getBlockByNumber(n, false) calls that `zkseq load` sends to follow the chain go through the
server's dispatcher (no HTTP) over four servers, in alternating rounds:

  * one-read   as served: the tag, the block, its transactions with receipts and its logs in one
               read (three set queries), the reads of one JSON-RPC batch grouped into one
               worker-thread hop, and the built view reused when the same block is read again
               (--latest: every read is of the newest block; without it the reads cycle through
               more blocks than the cache keeps, so every read builds its view)
  * ungrouped  the same, one worker-thread hop per read
  * uncached   the same, without the view cache
  * former     the former reads, rebuilt here from the repository's per-row methods: a hop for the
               block, then one for its transactions, each with its receipt and logs read one by one
               (1 + 3 per transaction queries), no view cache

The answers of all must be equal byte for byte (checked once before timing). Printed per path: CPU
seconds of this process (all threads) per read and reads per second of wall time, the median of
the rounds (the machine may be shared).

Usage: python bench/bench_jsonrpc_blocks.py [--blocks 2000] [--reads 5000] [--batch 32] [--full]
                                          [--latest] [--statedb-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from services.common.statedb import (
    Address,
    Batch,
    Hash32,
    L2Block,
    L2Tx,
    Log,
    Receipt,
    SqlBlockRepository,
    StateDB,
    StateRoot,
    Transaction,
    open_statedb,
)
from services.jsonrpc.api import BLOCK_VIEW_CACHE_ENTRIES, ApiSettings, EthApi
from services.jsonrpc.backends import CallOutcome, MinedBlock, MinedTx, UnsignedCall
from services.jsonrpc.calls import Calls
from services.jsonrpc.chain import StateDBChain
from services.jsonrpc.dispatch import Dispatcher, MethodRegistry
from services.jsonrpc.memory import MemoryPool, MemoryState
from services.jsonrpc.params import BlockTag
from zkevm.hashing import keccak256
from zkevm.transaction import sign_transaction

GENESIS_TIME = 1_700_000_000
COINBASE = Address(bytes.fromhex("00000000000000000000000000000000000c0ffe"))
#: a made-up key for the benchmark's transfers
KEY = keccak256(b"zkseq bench_jsonrpc_blocks sender")
ZERO = Hash32(bytes(32))


def write_chain(statedb: StateDB, blocks: int, per_batch: int = 100) -> None:
    """A genesis and `blocks` one-transfer blocks in closed batches (state roots made up)."""
    parent = L2Block(
        0,
        Hash32(keccak256(b"genesis")),
        ZERO,
        0,
        StateRoot(ZERO),
        GENESIS_TIME,
        COINBASE,
        None,
        0,
        30_000_000,
    )
    statedb.batches.add_genesis(
        Batch(0, b"", ZERO, GENESIS_TIME, COINBASE, StateRoot(ZERO), ZERO, ZERO, True), parent
    )
    batch_number = 0
    while parent.number < blocks:
        batch_number += 1
        parts: list[tuple[L2Block, L2Tx, Receipt, list[Log]]] = []
        for index in range(min(per_batch, blocks - parent.number)):
            number = parent.number + 1
            signed = sign_transaction(
                nonce=number - 1,
                gas_price=10**9,
                gas_limit=21_000,
                to=COINBASE,
                value=1,
                chain_id=1001,
                private_key=KEY,
            )
            tx_hash = Hash32(signed.tx_hash())
            root = StateRoot(keccak256(number.to_bytes(8, "big")))
            block = L2Block(
                number,
                Hash32(keccak256(root)),
                parent.hash,
                batch_number,
                root,
                GENESIS_TIME + number,
                COINBASE,
                tx_hash,
                21_000,
                30_000_000,
            )
            price = signed.effective_gas_price()
            tx = L2Tx(
                tx_hash,
                Address(signed.sender()),
                COINBASE,
                signed.nonce,
                signed.gas_price,
                signed.gas_limit,
                signed.value,
                signed.data,
                signed.effective_percentage,
                price,
                signed.encode(),
                number,
                batch_number,
                index,
            )
            parts.append((block, tx, Receipt(tx_hash, 1, 21_000, 21_000, None, price, bytes(256)), []))
            parent = block
        data = b"".join(tx.encoded for _, tx, _, _ in parts)
        statedb.batches.add_closed_batch(
            Batch(batch_number, data, ZERO, GENESIS_TIME, COINBASE, parent.state_root, ZERO, ZERO, True),
            parts,
        )


class FormerChain(StateDBChain):
    """The block reads as they were before the one-read path: several hops, per-row queries."""

    def __init__(self, statedb: StateDB) -> None:
        super().__init__(
            statedb.blocks,
            statedb.batches,
            statedb.virtual_batches,
            statedb.verified_batches,
            group_reads=False,
        )
        self._rows = statedb.blocks

    def _former_txs(self, block: L2Block) -> list[MinedTx]:
        mined = []
        for tx in self._rows.txs_of_block(block.number):
            receipt = self._rows.receipt_by_hash(tx.hash)
            if receipt is not None:
                mined.append(MinedTx(tx, receipt, tuple(self._rows.logs_of_tx(tx.hash)), block.hash))
        return mined

    async def mined_block(self, number: int | BlockTag) -> MinedBlock | None:
        resolved = number if isinstance(number, int) else await self.tagged_block_number(number)
        block = None if resolved is None else await self.block(resolved)
        if block is None:
            return None
        return MinedBlock(block, tuple(await self._read(lambda: self._former_txs(block))))


class NoExecutor:
    async def run(self, call: UnsignedCall) -> CallOutcome:
        raise AssertionError("the benchmark makes no calls")


def dispatcher(chain: StateDBChain, view_cache: int = BLOCK_VIEW_CACHE_ENTRIES) -> Dispatcher:
    state = MemoryState()
    api = EthApi(
        ApiSettings(1001, 10**9, "bench"),
        chain=chain,
        batches=chain,
        state=state,
        pool=MemoryPool(),
        calls=Calls(NoExecutor(), state),
        block_view_cache_entries=view_cache,
    )
    registry = MethodRegistry()
    api.register(registry)
    return Dispatcher(registry)


def bodies(blocks: int, reads: int, batch: int, full: bool, latest: bool) -> list[bytes]:
    out = []
    for start in range(0, reads, batch):
        calls = [
            {
                "jsonrpc": "2.0",
                "id": i,
                "method": "eth_getBlockByNumber",
                "params": ["latest" if latest else hex(1 + n % blocks), full],
            }
            for i, n in enumerate(range(start, min(reads, start + batch)))
        ]
        out.append(orjson.dumps(calls))
    return out


async def count_work(server: Dispatcher, body: bytes) -> tuple[int, int]:
    """Worker-thread hops and SQL statements of one request body (counted on a separate pass)."""
    counts = {"hops": 0, "queries": 0}
    loop = asyncio.get_running_loop()
    methods = {name: getattr(Transaction, name) for name in ("fetchone", "fetchall")}

    def counted_hop(executor: Any, func: Callable[..., Any], *args: Any) -> Any:
        counts["hops"] += 1
        return type(loop).run_in_executor(loop, executor, func, *args)

    def counted(method: Callable[..., Any]) -> Callable[..., Any]:
        def query(self: Transaction, *args: Any) -> Any:
            counts["queries"] += 1  # the reads of one body run one at a time on worker threads
            return method(self, *args)

        return query

    loop.run_in_executor = counted_hop  # type: ignore[method-assign, assignment]
    for name, method in methods.items():
        setattr(Transaction, name, counted(method))
    try:
        await server.handle(body)
    finally:
        del loop.run_in_executor  # back to the class's method
        for name, method in methods.items():
            setattr(Transaction, name, method)
    return counts["hops"], counts["queries"]


async def run(server: Dispatcher, requests: list[bytes]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    for body in requests:
        await server.handle(body)
    return time.process_time() - cpu, time.perf_counter() - wall


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = args.statedb_url or f"sqlite:///{Path(tmp) / 'statedb.db'}"
        statedb = open_statedb(url)
        try:
            write_chain(statedb, args.blocks)
            blocks = SqlBlockRepository(statedb.database)

            def chain(group_reads: bool) -> StateDBChain:
                return StateDBChain(
                    blocks,
                    statedb.batches,
                    statedb.virtual_batches,
                    statedb.verified_batches,
                    group_reads=group_reads,
                )

            servers = {
                "one-read": dispatcher(chain(group_reads=True)),
                "ungrouped": dispatcher(chain(group_reads=False)),
                "uncached": dispatcher(chain(group_reads=True), view_cache=0),
                "former": dispatcher(FormerChain(statedb), view_cache=0),
            }
            requests = bodies(args.blocks, args.reads, args.batch, args.full, args.latest)
            answers = {name: await server.handle(requests[0]) for name, server in servers.items()}
            if len(set(answers.values())) != 1:
                raise SystemExit("the paths answer differently")
            calls = orjson.loads(requests[0])
            work = {name: await count_work(server, requests[0]) for name, server in servers.items()}
            rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
            for _ in range(args.rounds):
                for name, server in servers.items():
                    rounds[name].append(await run(server, requests))
        finally:
            statedb.close()
    which = f"{'latest' if args.latest else 'n'}, {str(args.full).lower()}"
    print(
        f"eth_getBlockByNumber({which}) × {args.reads} per round, {args.rounds} rounds per path "
        f"(alternating), batches of {args.batch}, {args.blocks} one-transfer blocks, {url.split(':')[0]}; "
        "median round:"
    )
    for name, timings in rounds.items():
        cpu = statistics.median(c for c, _ in timings)
        wall = statistics.median(w for _, w in timings)
        hops, queries = (n / len(calls) for n in work[name])
        print(
            f"  {name:9} {cpu / args.reads * 1e6:7.1f} µs CPU per read  {args.reads / wall:7.0f} reads/s  "
            f"{hops:.2f} worker hops and {queries:.1f} SQL statements per read"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--reads", type=int, default=5000, help="reads per round and path")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--full", action="store_true", help="full transaction objects")
    parser.add_argument(
        "--latest", action="store_true", help='every read is of "latest" (one block, repeated)'
    )
    parser.add_argument("--statedb-url", default=None)
    asyncio.run(main(parser.parse_args()))

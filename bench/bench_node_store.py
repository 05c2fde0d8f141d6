"""The HashDB's durable node stores under the sequencer's write pattern, in one run.

A flush writes a few thousand nodes under random hashes (about 55 a transfer). For each embedded
store (LMDB, RocksDB) this fills a store with `--prefill` nodes, then times `--flushes` durable
writes of `--nodes-per-flush` new nodes each (sync on, as the HashDB runs), and prints the wall
time and the CPU time (user and system, every thread of this process) per node written. LMDB is
the baseline: the store the HashDB has used so far.

    python bench/bench_node_store.py [--prefill 2000000] [--flushes 150] [--nodes-per-flush 2000]
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from services.hashdb.stores.base import DurableStore, StoreWrite
from services.hashdb.stores.lmdb_store import LmdbStore
from services.hashdb.stores.rocksdb_store import RocksStore
from zkevm.field import H4, Node, P

PREFILL_CHUNK = 50_000


def random_nodes(rng: random.Random, count: int) -> dict[H4, Node]:
    def fe() -> int:
        return rng.randrange(P)

    nodes: dict[H4, Node] = {}
    for _ in range(count):
        nodes[(fe(), fe(), fe(), fe())] = (fe(), fe(), fe(), fe(), fe(), fe(), fe(), fe(), 0, 0, 0, 0)
    return nodes


def cpu_s() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def run(name: str, open_store: Callable[[bool], DurableStore], args: argparse.Namespace) -> dict[str, float]:
    rng = random.Random(1)
    store = open_store(False)  # filled without syncing each chunk: only the timed writes matter
    flush_id = 0
    for first in range(0, args.prefill, PREFILL_CHUNK):
        flush_id += 1
        store.write(StoreWrite(flush_id, random_nodes(rng, min(PREFILL_CHUNK, args.prefill - first))))
    store.close()
    store = open_store(True)
    flushes = [random_nodes(rng, args.nodes_per_flush) for _ in range(args.flushes)]
    user0, sys0 = cpu_s()
    start = time.perf_counter()
    for nodes in flushes:
        flush_id += 1
        store.write(StoreWrite(flush_id, nodes))
    wall = time.perf_counter() - start
    user1, sys1 = cpu_s()
    store.close()
    written = args.flushes * args.nodes_per_flush
    figures = {
        "wall_us": wall / written * 1e6,
        "user_us": (user1 - user0) / written * 1e6,
        "sys_us": (sys1 - sys0) / written * 1e6,
    }
    print(
        f"{name:8} prefill {args.prefill:>9,}: {figures['wall_us']:6.2f} µs/node wall, "
        f"CPU {figures['user_us'] + figures['sys_us']:6.2f} µs/node "
        f"(user {figures['user_us']:.2f}, sys {figures['sys_us']:.2f})"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prefill", type=int, default=2_000_000)
    parser.add_argument("--flushes", type=int, default=150)
    parser.add_argument("--nodes-per-flush", type=int, default=2_000)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="zkseq-bench-store-"))
    try:
        lmdb = run("lmdb", lambda sync: LmdbStore(base / "lmdb", 1 << 34, sync=sync), args)
        rocks = run("rocksdb", lambda sync: RocksStore(base / "rocksdb", sync=sync), args)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    lmdb_cpu = lmdb["user_us"] + lmdb["sys_us"]
    rocks_cpu = rocks["user_us"] + rocks["sys_us"]
    print(
        f"rocksdb against the lmdb baseline: wall ×{lmdb['wall_us'] / rocks['wall_us']:.2f} faster, "
        f"CPU ×{lmdb_cpu / rocks_cpu:.2f} less"
    )


if __name__ == "__main__":
    main()

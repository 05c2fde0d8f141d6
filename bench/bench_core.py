"""Protocol-core benchmark: Poseidon and the sparse Merkle tree, C extension vs the pure-Python twin.

Prints, from one run on the same 10,000 random keys:
  * Poseidon permutations/s, C extension and pure-Python twin;
  * SMT inserts/s into a tree of 100,000 leaves: C-backed single writes, C-backed as one write set
    (`set_many`), and the pure-Python twin (single writes; a sample, it is ~1,000x slower).

Usage: python bench/bench_core.py [--keys N] [--leaves N] [--twin-keys N] [--seed S]
"""

import argparse
import platform
import random
import time
from collections.abc import Callable

from zkevm import poseidon, poseidon_ref
from zkevm.field import H4, ZERO_H4, P
from zkevm.nodestore import MemoryNodeStore
from zkevm.smt import SparseMerkleTree


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f}/s"


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--leaves", type=int, default=100_000)
    parser.add_argument("--twin-keys", type=int, default=100, help="keys for the pure-Python twin")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rng = random.Random(args.seed)

    def rand_key() -> H4:
        return (rng.randrange(P), rng.randrange(P), rng.randrange(P), rng.randrange(P))

    keys = [rand_key() for _ in range(args.keys)]
    values = [rng.randrange(1, 2**256) for _ in range(args.keys)]
    states = [(*k, *k, *k) for k in keys]  # 12 elements per permutation, from the same keys
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"{args.keys:,} random keys; tree of {args.leaves:,} leaves\n")

    c_secs = timed(lambda: [poseidon.hash12(s) for s in states])
    twin_n = max(1, args.keys // 10)
    py_secs = timed(lambda: [poseidon_ref.hash12(s) for s in states[:twin_n]])
    print("Poseidon permutations")
    print(f"  C extension          {rate(len(states), c_secs)}   ({len(states):,} permutations)")
    print(f"  pure-Python twin     {rate(twin_n, py_secs)}   ({twin_n:,} permutations)  <- baseline")
    print(f"  speed-up             {(len(states) / c_secs) / (twin_n / py_secs):>12,.0f}x\n")

    store = MemoryNodeStore()
    tree = SparseMerkleTree(store)
    base = [(rand_key(), rng.randrange(1, 2**64)) for _ in range(args.leaves)]
    start = time.perf_counter()
    root = tree.set_many(ZERO_H4, base)
    build_secs = time.perf_counter() - start
    print(f"SMT: built {args.leaves:,} leaves in {build_secs:.2f} s ({len(store):,} nodes)")

    result: dict[str, H4] = {}

    def single_c() -> None:
        r = root
        for k, v in zip(keys, values, strict=True):
            r = tree.set(r, k, v).new_root
        result["single"] = r

    def write_set_c() -> None:
        result["many"] = tree.set_many(root, list(zip(keys, values, strict=True)))

    twin_tree = SparseMerkleTree(store, hasher=poseidon_ref.hash12)
    twin_keys = keys[: args.twin_keys]

    def single_twin() -> None:
        r = root
        for k, v in zip(twin_keys, values[: len(twin_keys)], strict=True):
            r = twin_tree.set(r, k, v).new_root
        result["twin"] = r

    s_secs = timed(single_c)
    m_secs = timed(write_set_c)
    t_secs = timed(single_twin)
    assert result["single"] == result["many"], "single writes and the write set disagree"
    check = root
    for k, v in zip(twin_keys, values[: len(twin_keys)], strict=True):
        check = tree.set(check, k, v).new_root
    assert check == result["twin"], "the twin and the C extension disagree"

    print(f"SMT inserts into the {args.leaves:,}-leaf tree")
    print(f"  C, one set() per key {rate(len(keys), s_secs)}   ({len(keys):,} keys)")
    print(f"  C, one set_many()    {rate(len(keys), m_secs)}   ({len(keys):,} keys in one write set)")
    print(
        f"  pure-Python twin     {rate(len(twin_keys), t_secs)}"
        f"   ({len(twin_keys):,} keys, set())  <- baseline"
    )
    print(f"  speed-up (set)       {(len(keys) / s_secs) / (len(twin_keys) / t_secs):>12,.0f}x")
    print("  target: >= 10,000 inserts/s C-backed on one core")


if __name__ == "__main__":
    main()

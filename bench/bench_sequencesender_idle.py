"""CPU of an idle sequence sender: the process with nothing to sequence, as on a quiet devnet.

An anvil of its own (a block every --block-time seconds), a freshly deployed contract suite, a
StateDB holding only the genesis batch, the EthTxManager and the sequence sender as processes with
the devnet's intervals (SEND_INTERVAL_S and WATCH_INTERVAL_S 0.5). After --warmup seconds, the
CPU seconds (user + system, from /proc) the sequence sender uses over --seconds are printed, with
the share of one core. Linux only.

Usage: python bench/bench_sequencesender_idle.py [--seconds 30] [--warmup 5] [--block-time 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from web3 import Web3

from services.common.l1.anvil import Anvil
from services.common.l1.deploy import RollupParams, deploy_rollup
from services.common.l1.testkeys import ANVIL_TEST_KEYS, anvil_test_address
from services.common.process import spawn_service
from services.common.statedb import Address, Batch, Hash32, L2Block, StateRoot, open_statedb
from zkevm.hashing import keccak256

ADMIN, SEQUENCER = 0, 1
L2_CHAIN_ID = 1001
#: a made-up state root whose 64-bit limbs are Goldilocks elements (the contract checks them)
GENESIS_ROOT = StateRoot(bytes(24) + (1).to_bytes(8, "big"))
ZERO = Hash32(bytes(32))


def prefixed(prefix: str, env: dict[str, str]) -> dict[str, str]:
    return {prefix + name: value for name, value in env.items()}


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def main(args: argparse.Namespace) -> None:
    anvil = Anvil.start(block_time_s=args.block_time)
    try:
        w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
        sequencer = anvil_test_address(SEQUENCER)
        deployment = deploy_rollup(
            w3,
            ANVIL_TEST_KEYS[ADMIN],
            RollupParams(trusted_sequencer=sequencer, chain_id=L2_CHAIN_ID, genesis_root=GENESIS_ROOT),
        )
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'statedb.db'}"
            statedb = open_statedb(url)
            timestamp = int(w3.eth.get_block("latest")["timestamp"])
            coinbase = Address(bytes.fromhex(sequencer.removeprefix("0x")))
            statedb.batches.add_genesis(
                Batch(0, b"", ZERO, timestamp, coinbase, GENESIS_ROOT, ZERO, ZERO, True),
                L2Block(
                    0,
                    Hash32(keccak256(b"genesis")),
                    ZERO,
                    0,
                    GENESIS_ROOT,
                    timestamp,
                    coinbase,
                    None,
                    0,
                    30_000_000,
                ),
            )
            statedb.close()
            txm = await spawn_service(
                "services.ethtxmanager",
                {
                    "ZKSEQ_ETHTXMANAGER_GRPC_ADDRESS": "127.0.0.1:0",
                    "ZKSEQ_ETHTXMANAGER_METRICS_ENABLED": "false",
                    "ZKSEQ_ETHTXMANAGER_L1_RPC_URL": anvil.rpc_url,
                    "ZKSEQ_ETHTXMANAGER_CHAIN_ID": str(w3.eth.chain_id),
                    "ZKSEQ_ETHTXMANAGER_PRIVATE_KEY": ANVIL_TEST_KEYS[SEQUENCER],
                    "ZKSEQ_ETHTXMANAGER_STATEDB_URL": url,
                },
                "ethtxmanager_serving",
            )
            try:
                sender = await spawn_service(
                    "services.sequencesender",
                    prefixed(
                        "ZKSEQ_SEQUENCESENDER_",
                        {
                            "GRPC_ADDRESS": "127.0.0.1:0",
                            "METRICS_ENABLED": "false",
                            "L1_RPC_URL": anvil.rpc_url,
                            "ROLLUP_ADDRESS": deployment.rollup,
                            "GLOBAL_EXIT_ROOT_MANAGER_ADDRESS": deployment.global_exit_root_manager,
                            "STATEDB_URL": url,
                            "ETHTXMANAGER_ADDRESS": f"127.0.0.1:{txm.ready['port']}",
                            "L2_COINBASE": sequencer,
                            "START_BLOCK": str(deployment.block_number),
                            "SEND_INTERVAL_S": "0.5",
                            "WATCH_INTERVAL_S": "0.5",
                        },
                    ),
                    "sequencesender_serving",
                )
                try:
                    await asyncio.sleep(args.warmup)
                    before, started = cpu_seconds(sender.pid), time.monotonic()
                    await asyncio.sleep(args.seconds)
                    used, elapsed = cpu_seconds(sender.pid) - before, time.monotonic() - started
                finally:
                    await sender.stop()
            finally:
                await txm.stop()
    finally:
        anvil.stop()
    print(
        f"idle sequence sender (SEND/WATCH_INTERVAL_S 0.5, anvil block time {args.block_time:g} s): "
        f"{used:.2f} CPU s over {elapsed:.1f} s = {100 * used / elapsed:.1f} % of a core"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--block-time", type=float, default=1.0)
    asyncio.run(main(parser.parse_args()))

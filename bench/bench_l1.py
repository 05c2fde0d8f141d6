"""L1 cost of sequencing: gas per L2 transaction and per batch, calldata per L2 transfer, and batches
per L1 transaction, with the sequence sender under a load of closed batches.

One run, on an anvil of its own mining a block every --block-time seconds:
  * the baseline: one batch per sequenceBatches transaction (what a sender that never packs pays),
    --baseline single-batch sequences sent directly with the trusted sequencer's key;
  * the load: closed batches of --transfers signed L2 transfers each are written into the StateDB
    at --rate batches/s for --seconds (as the sequencer would), while the sequence sender (in this
    process) and the EthTxManager (a process of its own) sequence them; when every batch is
    virtual, the L1 receipts of the sequencing transactions give the figures, with the time from a
    batch's closing to the watcher marking it virtual.

Both use the same batch size and a contract suite of their own. The sender runs with its defaults
except the intervals and PARTIAL_SEQUENCE_WAIT_S (--partial-wait), printed with the figures.

Usage: python bench/bench_l1.py [--seconds 20] [--rate 25] [--transfers 5] [--block-time 1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from hexbytes import HexBytes
from web3 import Web3

from services.common.l1.anvil import Anvil
from services.common.l1.deploy import RollupDeployment, RollupParams, deploy_rollup
from services.common.l1.rollup import BatchData, encode_sequence_batches
from services.common.l1.testkeys import ANVIL_TEST_KEYS, anvil_test_address
from services.common.l1.transact import send_transaction
from services.common.process import spawn_service
from services.common.statedb import StateDB, open_statedb
from services.common.statedb.models import Batch, L2Block, L2Tx, Log, Receipt, StateRoot
from services.sequencesender.app import start_sequencesender
from services.sequencesender.config import SequenceSenderConfig
from zkevm.batch import ZERO_HASH, Hash32, acc_input_hash, batch_hash_data
from zkevm.hashing import keccak256
from zkevm.state_keys import Address
from zkevm.transaction import sign_transaction

ADMIN, SEQUENCER = 0, 1
L2_CHAIN_ID = 1001
L2_COINBASE = Address(bytes.fromhex("00000000000000000000000000000000000c0ffe"))
#: a TEST-ONLY L2 key (anvil's account 4), the sender of every transfer
L2_KEY = bytes.fromhex(ANVIL_TEST_KEYS[4][2:])


def state_root(number: int) -> StateRoot:
    """A made-up state root whose 64-bit limbs are Goldilocks elements (the contract checks them)."""
    return StateRoot(bytes(24) + (number + 1).to_bytes(8, "big"))


class ChainBuilder:
    """Closed batches of signed transfers, written through the StateDB repositories as the sequencer
    writes them (the executor's state roots are made up: L1 never sees them)."""

    def __init__(self, statedb: StateDB, *, timestamp: int) -> None:
        self.statedb = statedb
        self.acc = ZERO_HASH
        self.nonce = 0
        self.number = 0
        genesis = L2Block(
            0,
            Hash32(keccak256(b"genesis")),
            ZERO_HASH,
            0,
            state_root(0),
            timestamp,
            L2_COINBASE,
            None,
            0,
            30_000_000,
        )
        statedb.batches.add_genesis(
            Batch(0, b"", ZERO_HASH, timestamp, L2_COINBASE, state_root(0), ZERO_HASH, ZERO_HASH, True),
            genesis,
        )
        self.block = genesis

    def close_batch(self, transfers: int, *, timestamp: int) -> Batch:
        self.number += 1
        blocks: list[tuple[L2Block, L2Tx, Receipt, list[Log]]] = []
        for index in range(transfers):
            tx = sign_transaction(
                nonce=self.nonce,
                gas_price=10**9,
                gas_limit=21_000,
                to=bytes(L2_COINBASE),
                value=1,
                chain_id=L2_CHAIN_ID,
                private_key=L2_KEY,
            )
            self.nonce += 1
            tx_hash = Hash32(tx.tx_hash())
            number = self.block.number + 1
            block = L2Block(
                number,
                Hash32(keccak256(number.to_bytes(32, "big"))),
                self.block.hash,
                self.number,
                state_root(number),
                timestamp,
                L2_COINBASE,
                tx_hash,
                21_000,
                30_000_000,
            )
            price = tx.effective_gas_price()
            l2tx = L2Tx(
                tx_hash,
                tx.sender(),
                L2_COINBASE,
                tx.nonce,
                tx.gas_price,
                tx.gas_limit,
                tx.value,
                tx.data,
                tx.effective_percentage,
                price,
                tx.encode(),
                number,
                self.number,
                index,
            )
            blocks.append((block, l2tx, Receipt(tx_hash, 1, 21_000, 21_000, None, price, bytes(256)), []))
            self.block = block
        data = b"".join(tx.encoded for _, tx, _, _ in blocks)
        self.acc = acc_input_hash(self.acc, batch_hash_data(data), ZERO_HASH, timestamp, L2_COINBASE)
        batch = Batch(
            self.number,
            data,
            ZERO_HASH,
            timestamp,
            L2_COINBASE,
            state_root(self.block.number),
            ZERO_HASH,
            self.acc,
            True,
        )
        self.statedb.batches.add_closed_batch(batch, blocks)
        return batch


def deploy(w3: Web3) -> RollupDeployment:
    params = RollupParams(
        trusted_sequencer=anvil_test_address(SEQUENCER),
        chain_id=L2_CHAIN_ID,
        genesis_root=state_root(0),
    )
    return deploy_rollup(w3, ANVIL_TEST_KEYS[ADMIN], params)


def latest_timestamp(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def baseline(w3: Web3, count: int, transfers: int) -> tuple[float, float]:
    """Gas and calldata bytes of one single-batch sequenceBatches transaction (averages)."""
    deployment = deploy(w3)
    statedb = open_statedb("sqlite:///:memory:")
    chain = ChainBuilder(statedb, timestamp=latest_timestamp(w3))
    gas, size = [], []
    for _ in range(count):
        batch = chain.close_batch(transfers, timestamp=latest_timestamp(w3))
        data = encode_sequence_batches(
            [BatchData(batch.batch_l2_data, batch.global_exit_root, batch.timestamp)], L2_COINBASE
        )
        receipt = send_transaction(w3, ANVIL_TEST_KEYS[SEQUENCER], to=deployment.rollup, data=data)
        gas.append(receipt["gasUsed"])
        size.append(len(data))
    statedb.close()
    return statistics.mean(gas), statistics.mean(size)


async def load(anvil: Anvil, w3: Web3, args: argparse.Namespace, workdir: Path) -> None:
    deployment = deploy(w3)
    url = f"sqlite:///{workdir / 'statedb.db'}"
    statedb = open_statedb(url)
    chain = ChainBuilder(statedb, timestamp=latest_timestamp(w3))
    txm = await spawn_service(
        "services.ethtxmanager",
        {
            "ZKSEQ_ETHTXMANAGER_GRPC_ADDRESS": "127.0.0.1:0",
            "ZKSEQ_ETHTXMANAGER_METRICS_ENABLED": "false",
            "ZKSEQ_ETHTXMANAGER_L1_RPC_URL": anvil.rpc_url,
            "ZKSEQ_ETHTXMANAGER_CHAIN_ID": str(w3.eth.chain_id),
            "ZKSEQ_ETHTXMANAGER_PRIVATE_KEY": ANVIL_TEST_KEYS[SEQUENCER],
            "ZKSEQ_ETHTXMANAGER_STATEDB_URL": url,
            "ZKSEQ_ETHTXMANAGER_POLL_INTERVAL_S": "0.1",
        },
        "ethtxmanager_serving",
    )
    config = SequenceSenderConfig(
        grpc_host="127.0.0.1",
        grpc_port=0,
        metrics_enabled=False,
        l1_rpc_url=anvil.rpc_url,
        rollup_address=deployment.rollup,
        global_exit_root_manager_address=deployment.global_exit_root_manager,
        statedb_url=url,
        ethtxmanager_address=f"127.0.0.1:{txm.ready['port']}",
        l2_coinbase="0x" + L2_COINBASE.hex(),
        partial_sequence_wait_s=args.partial_wait,
        send_interval_s=0.1,
        watch_interval_s=0.1,
        start_block=deployment.block_number,
    )
    sender = await start_sequencesender(config)
    closed_at: dict[int, float] = {}
    virtual_at: dict[int, float] = {}
    try:
        total = int(args.seconds * args.rate)
        started = time.monotonic()
        for i in range(total):
            await asyncio.sleep(max(0.0, started + i / args.rate - time.monotonic()))
            ts = await asyncio.to_thread(latest_timestamp, w3)
            batch = await asyncio.to_thread(chain.close_batch, args.transfers, timestamp=ts)
            closed_at[batch.number] = time.monotonic()
            await _note_virtual(statedb, virtual_at, closed_at)
        produced = time.monotonic() - started
        deadline = time.monotonic() + 60
        while len(virtual_at) < total:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(virtual_at)} of {total} batches became virtual within 60 s")
            await asyncio.sleep(0.1)
            await _note_virtual(statedb, virtual_at, closed_at)
        drained = time.monotonic() - started
    finally:
        await sender.stop()
        await txm.stop()

    per_tx: dict[bytes, list[int]] = defaultdict(list)
    for number in range(1, total + 1):
        row = statedb.virtual_batches.get(number)
        assert row is not None
        per_tx[bytes(row.l1_tx_hash)].append(number)
    gas = calldata = 0
    for tx_hash in per_tx:
        gas += w3.eth.get_transaction_receipt(HexBytes(tx_hash))["gasUsed"]
        calldata += len(w3.eth.get_transaction(HexBytes(tx_hash))["input"])
    statedb.close()
    transfers = total * args.transfers
    sizes = sorted(len(v) for v in per_tx.values())
    latency = sorted(virtual_at[n] - closed_at[n] for n in closed_at)

    print(f"\nload: {total} batches × {args.transfers} transfers at {args.rate}/s for {produced:.1f} s")
    print(f"  all virtual after                      {drained:>10.1f} s")
    print(f"  L1 transactions (sequenceBatches)      {len(per_tx):>10}")
    print(
        f"  batches per L1 transaction             {total / len(per_tx):>10.1f}   (min {sizes[0]}, "
        f"median {statistics.median(sizes):.0f}, max {sizes[-1]})"
    )
    print(f"  L1 gas per batch                       {gas / total:>10,.0f}")
    print(f"  L1 gas per L2 transaction              {gas / transfers:>10,.0f}")
    print(f"  calldata bytes per L2 transfer         {calldata / transfers:>10.1f}")
    median = statistics.median(latency)
    print(f"  close → virtual, median / max          {median:>10.2f} s / {latency[-1]:.2f} s")
    args.load_gas_per_batch = gas / total


async def _note_virtual(statedb: StateDB, virtual_at: dict[int, float], closed_at: dict[int, float]) -> None:
    last = await asyncio.to_thread(statedb.virtual_batches.last_virtual_batch_number)
    now = time.monotonic()
    for number in range(len(virtual_at) + 1, (last or 0) + 1):
        if number in closed_at:
            virtual_at.setdefault(number, now)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="how long batches keep closing")
    parser.add_argument("--rate", type=float, default=25.0, help="closed batches per second")
    parser.add_argument("--transfers", type=int, default=5, help="L2 transfers per batch")
    parser.add_argument("--block-time", type=float, default=1.0, help="anvil's block time, seconds")
    parser.add_argument("--partial-wait", type=float, default=1.0, help="PARTIAL_SEQUENCE_WAIT_S")
    parser.add_argument("--baseline", type=int, default=3, help="single-batch sequences for the baseline")
    args = parser.parse_args()

    anvil = Anvil.start(block_time_s=args.block_time)
    try:
        w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
        print(
            f"anvil, a block every {args.block_time:g} s; sender: MAX_IN_FLIGHT 2, "
            f"PARTIAL_SEQUENCE_WAIT_S {args.partial_wait:g}, MAX_CALLDATA_BYTES 130048, "
            "GAS_MARGIN_PERCENT 10 + GAS_OFFSET 80000 (limit only)"
        )
        gas, size = baseline(w3, args.baseline, args.transfers)
        print(
            f"\nbaseline: one batch of {args.transfers} transfers per sequenceBatches ({args.baseline} sent)"
        )
        print(f"  L1 gas per batch                       {gas:>10,.0f}")
        print(f"  L1 gas per L2 transaction              {gas / args.transfers:>10,.0f}")
        print(f"  calldata bytes per L2 transfer         {size / args.transfers:>10.1f}")
        with tempfile.TemporaryDirectory(prefix="zkseq-bench-l1-") as workdir:
            await load(anvil, w3, args, Path(workdir))
        print(f"\nload / baseline, L1 gas per batch        {args.load_gas_per_batch / gas:>10.2f}×")
    finally:
        anvil.stop()


if __name__ == "__main__":
    asyncio.run(main())

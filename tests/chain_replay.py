"""The tests' independent check of a recorded chain: every closed batch executed again from the
genesis, on an in-memory tree, must give the roots the StateDB holds."""

from __future__ import annotations

from services.common.statedb import StateDB
from services.executor.processor import BatchRequest
from services.executor.service import Executor, LocalBackend
from services.executor.wire import ProcessCall
from services.sequencer.genesis import Genesis
from zkevm.field import h4_to_bytes
from zkevm.genesis import build_genesis
from zkevm.nodestore import MemoryNodeStore


def replay_from_genesis(genesis: Genesis, statedb: StateDB, chain_id: int) -> bytes:
    """Re-execute every closed batch of `statedb` from `genesis` with the fork-6 processor in this
    process, independently of the services; check each batch's state root and accInputHash, and
    its blocks' roots and transactions; return the final state root."""
    store = MemoryNodeStore()
    root = h4_to_bytes(build_genesis(genesis.accounts, store))
    executor = Executor(LocalBackend(store))
    batches = statedb.batches.closed_batches_after(0, 1000)
    genesis_batch = statedb.batches.get_batch(0)
    assert genesis_batch is not None and genesis_batch.state_root == root, "batch 0 is not the genesis"
    acc = bytes(32)
    for batch in batches:
        result, _, _ = executor.process(
            ProcessCall(
                BatchRequest(
                    old_state_root=root,
                    batch_l2_data=batch.batch_l2_data,
                    global_exit_root=batch.global_exit_root,
                    timestamp=batch.timestamp,
                    coinbase=batch.coinbase,
                    chain_id=chain_id,
                    old_acc_input_hash=acc,
                    old_batch_num=batch.number - 1,
                ),
                update_merkle_tree=True,
            )
        )
        assert result.new_state_root == batch.state_root, f"batch {batch.number}: state root differs"
        assert result.new_acc_input_hash == batch.acc_input_hash, (
            f"batch {batch.number}: accInputHash differs"
        )
        blocks = statedb.blocks.blocks_of_batch(batch.number)
        included = [tx for tx in result.txs if tx.included]
        assert [b.state_root for b in blocks] == [tx.state_root for tx in included], (
            f"batch {batch.number}: block roots differ"
        )
        assert [b.tx_hash for b in blocks] == [tx.tx_hash for tx in included]
        root, acc = result.new_state_root, result.new_acc_input_hash
    return root

"""Read the rollup's state and events with web3.py (synchronous).

    rollup = RollupClient(w3, deployment.rollup)
    rollup.last_batch_sequenced()
    rollup.sequenced_batch(n)              # SequencedBatchData at the end of a sequence
    rollup.events(from_block, to_block)    # decoded SequenceBatches / ForceBatch / … in log order

The getters are the ones zkevm-node reads from fork 6. Sending goes through `transact.py` with
calldata from `rollup.py`; this class only reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.types import BlockIdentifier, FilterParams

from services.common.l1.artifacts import ARTIFACTS_DIR, GLOBAL_EXIT_ROOT_MANAGER, ROLLUP, load_artifact
from services.common.l1.rollup import (
    ROLLUP_EVENT_TOPICS,
    RollupEvent,
    SequencedBatchData,
    decode_rollup_log,
)
from zkevm.batch import Hash32
from zkevm.state_keys import Address


class RollupClient:
    def __init__(self, w3: Web3, address: str, artifacts_dir: Path = ARTIFACTS_DIR) -> None:
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.contract: Contract = w3.eth.contract(
            address=self.address, abi=load_artifact(ROLLUP, artifacts_dir).abi
        )

    def _call(self, name: str, *args: Any, block: BlockIdentifier = "latest") -> Any:
        return self.contract.functions[name](*args).call(block_identifier=block)

    def last_batch_sequenced(self, block: BlockIdentifier = "latest") -> int:
        return int(self._call("lastBatchSequenced", block=block))

    def last_timestamp(self, block: BlockIdentifier = "latest") -> int:
        return int(self._call("lastTimestamp", block=block))

    def last_force_batch(self, block: BlockIdentifier = "latest") -> int:
        return int(self._call("lastForceBatch", block=block))

    def last_force_batch_sequenced(self, block: BlockIdentifier = "latest") -> int:
        return int(self._call("lastForceBatchSequenced", block=block))

    def last_verified_batch(self, block: BlockIdentifier = "latest") -> int:
        return int(self._call("lastVerifiedBatch", block=block))

    def sequenced_batch(self, num_batch: int, block: BlockIdentifier = "latest") -> SequencedBatchData:
        acc, sequenced_at, previous = self._call("sequencedBatches", num_batch, block=block)
        return SequencedBatchData(Hash32(bytes(acc)), int(sequenced_at), int(previous))

    def forced_batch_hash(self, force_batch_num: int, block: BlockIdentifier = "latest") -> Hash32:
        return Hash32(bytes(self._call("forcedBatches", force_batch_num, block=block)))

    def batch_num_to_state_root(self, num_batch: int, block: BlockIdentifier = "latest") -> Hash32:
        return Hash32(bytes(self._call("batchNumToStateRoot", num_batch, block=block)))

    def trusted_sequencer(self) -> Address:
        return Address(bytes.fromhex(str(self._call("trustedSequencer"))[2:]))

    def trusted_aggregator(self) -> Address:
        return Address(bytes.fromhex(str(self._call("trustedAggregator"))[2:]))

    def force_batch_timeout(self) -> int:
        return int(self._call("forceBatchTimeout"))

    def is_forced_batch_disallowed(self) -> bool:
        return bool(self._call("isForcedBatchDisallowed"))

    def global_exit_root_manager(self) -> str:
        return Web3.to_checksum_address(self._call("globalExitRootManager"))

    def chain_id(self) -> int:
        return int(self._call("chainID"))

    def fork_id(self) -> int:
        return int(self._call("forkID"))

    def events(self, from_block: int, to_block: BlockIdentifier = "latest") -> list[RollupEvent]:
        """The rollup's events in [from_block, to_block], in log order."""
        params: FilterParams = {
            "address": self.address,
            "fromBlock": from_block,
            "toBlock": to_block,
            "topics": [[Web3.to_hex(topic) for topic in ROLLUP_EVENT_TOPICS]],
        }
        decoded = (decode_rollup_log(log) for log in self.w3.eth.get_logs(params))
        return [event for event in decoded if event is not None]


class GlobalExitRootClient:
    """Reads of the L1 global exit root manager."""

    def __init__(self, w3: Web3, address: str, artifacts_dir: Path = ARTIFACTS_DIR) -> None:
        self.address = Web3.to_checksum_address(address)
        abi = load_artifact(GLOBAL_EXIT_ROOT_MANAGER, artifacts_dir).abi
        self.contract: Contract = w3.eth.contract(address=self.address, abi=abi)

    def global_exit_root_map(self, global_exit_root: bytes, block: BlockIdentifier = "latest") -> int:
        """The L1 timestamp the root was first recorded at; 0 if it never was."""
        return int(self.contract.functions.globalExitRootMap(global_exit_root).call(block_identifier=block))

    def last_global_exit_root(self, block: BlockIdentifier = "latest") -> Hash32:
        return Hash32(bytes(self.contract.functions.getLastGlobalExitRoot().call(block_identifier=block)))

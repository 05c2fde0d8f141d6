"""Deploy the L1 contract suite onto any Ethereum JSON-RPC node with one key.

    deployment = deploy_rollup(w3, deployer_key, RollupParams(trusted_sequencer=..., chain_id=1001,
                                                             genesis_root=root, ...))

Three contract creations from the deployer, at consecutive nonces n, n+1, n+2:

    n    AcceptAnyProofVerifier
    n+1  GlobalExitRootManager(rollupAddress = the address n+2 will get, bridgeAddress)
    n+2  ZkEVMRollup(globalExitRootManager, verifier, chainID, forkID, InitializeParameters)

The manager and the rollup name each other with immutables, so the rollup's address is computed
before it exists (keccak256(rlp([deployer, n+2]))[12:]), as fork 6's own deployment does. All three
are sent at once and their receipts checked against the computed addresses: if anything else used
the deployer's nonces meanwhile, deployment fails loudly rather than wiring the wrong contracts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from eth_abi.abi import encode as abi_encode
from eth_account import Account
from web3 import Web3

from services.common.l1.artifacts import (
    ARTIFACTS_DIR,
    GLOBAL_EXIT_ROOT_MANAGER,
    ROLLUP,
    VERIFIER,
    load_artifact,
)
from services.common.l1.rollup import FORK_ID, MAX_UINT64
from services.common.l1.transact import sign_transaction
from zkevm import rlp
from zkevm.hashing import keccak256

#: one week: the contract's upper bound for forceBatchTimeout
MAX_FORCE_BATCH_TIMEOUT_S: Final = 7 * 24 * 3600
#: creation gas limits, well above what the three constructors use
_CREATE_GAS: Final = {VERIFIER: 500_000, GLOBAL_EXIT_ROOT_MANAGER: 1_500_000, ROLLUP: 5_000_000}
_INIT_PARAMS: Final = "(address,address,address,uint64,bool,bytes32,string,string,string)"


class DeploymentError(Exception):
    """A creation failed, or a contract did not land at its computed address."""


@dataclass(frozen=True, slots=True)
class RollupParams:
    """What the rollup is deployed with (fork 6's constructor plus `initialize` parameters)."""

    #: may call sequenceBatches
    trusted_sequencer: str
    #: the L2 chain id
    chain_id: int
    #: the L2 state root of batch 0
    genesis_root: bytes
    #: may call verifyBatchesTrustedAggregator; default: the deployer
    trusted_aggregator: str | None = None
    #: the admin role (setters, activateForceBatches); default: the deployer
    admin: str | None = None
    #: the account standing for the bridge: it alone sets the mainnet exit root, i.e. creates new
    #: global exit roots on L1; default: the deployer
    bridge: str | None = None
    fork_id: int = FORK_ID
    #: seconds before anyone may sequence a forced batch (fork 6: 5 days); at most one week
    force_batch_timeout_s: int = 5 * 24 * 3600
    #: True: forceBatch works at once; False: only after the admin's activateForceBatches (fork 6)
    forced_batches_allowed: bool = True
    trusted_sequencer_url: str = ""
    network_name: str = "zkseq"
    #: the version string of the UpdateZkEVMVersion event
    version: str = "zkseq-fork.6"

    def __post_init__(self) -> None:
        if len(self.genesis_root) != 32:
            raise ValueError(f"RollupParams.genesis_root must be 32 bytes, got {len(self.genesis_root)}")
        if not 0 <= self.chain_id <= MAX_UINT64 or not 0 <= self.fork_id <= MAX_UINT64:
            raise ValueError("RollupParams.chain_id and fork_id must be uint64")
        if not 0 <= self.force_batch_timeout_s <= MAX_FORCE_BATCH_TIMEOUT_S:
            raise ValueError(
                f"RollupParams.force_batch_timeout_s must be in [0, {MAX_FORCE_BATCH_TIMEOUT_S}], "
                f"got {self.force_batch_timeout_s}"
            )


@dataclass(frozen=True, slots=True)
class RollupDeployment:
    """Where the suite landed. An L1 watcher starts reading at `block_number`."""

    rollup: str
    global_exit_root_manager: str
    verifier: str
    deployer: str
    block_number: int


def create_address(sender: str, nonce: int) -> str:
    """The address a contract created by `sender` at `nonce` gets (CREATE)."""
    raw = keccak256(rlp.encode([bytes.fromhex(sender.removeprefix("0x")), nonce]))[12:]
    return Web3.to_checksum_address(raw)


def deploy_rollup(
    w3: Web3,
    deployer_key: str,
    params: RollupParams,
    *,
    timeout_s: float = 60.0,
    artifacts_dir: Path = ARTIFACTS_DIR,
) -> RollupDeployment:
    """Deploy the verifier, the global exit root manager and the rollup; return their addresses."""
    deployer = Web3.to_checksum_address(Account.from_key(deployer_key).address)
    nonce = w3.eth.get_transaction_count(deployer, "pending")
    verifier = create_address(deployer, nonce)
    manager = create_address(deployer, nonce + 1)
    rollup = create_address(deployer, nonce + 2)

    init = (
        params.admin or deployer,
        params.trusted_sequencer,
        params.trusted_aggregator or deployer,
        params.force_batch_timeout_s,
        not params.forced_batches_allowed,
        params.genesis_root,
        params.trusted_sequencer_url,
        params.network_name,
        params.version,
    )
    creations = [
        (VERIFIER, verifier, b""),
        (
            GLOBAL_EXIT_ROOT_MANAGER,
            manager,
            abi_encode(["address", "address"], [rollup, params.bridge or deployer]),
        ),
        (
            ROLLUP,
            rollup,
            abi_encode(
                ["address", "address", "uint64", "uint64", _INIT_PARAMS],
                [manager, verifier, params.chain_id, params.fork_id, init],
            ),
        ),
    ]
    hashes = []
    for offset, (name, _, constructor_args) in enumerate(creations):
        code = load_artifact(name, artifacts_dir).bytecode + constructor_args
        raw = sign_transaction(
            w3, deployer_key, to=None, data=code, nonce=nonce + offset, gas=_CREATE_GAS[name]
        )
        hashes.append(w3.eth.send_raw_transaction(raw))

    block_number = 0
    for (name, expected, _), tx_hash in zip(creations, hashes, strict=True):
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout_s, poll_latency=0.05)
        if receipt["status"] != 1:
            raise DeploymentError(f"creating {name} failed (transaction {tx_hash.hex()})")
        landed = receipt["contractAddress"]
        if landed is None or Web3.to_checksum_address(landed) != expected:
            raise DeploymentError(
                f"{name} landed at {landed}, not at {expected}: the deployer's nonce moved during deployment"
            )
        block_number = max(block_number, receipt["blockNumber"])
    return RollupDeployment(rollup, manager, verifier, deployer, block_number)

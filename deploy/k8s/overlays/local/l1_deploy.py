"""Local overlay only: deploy the L1 contracts onto the in-cluster anvil, once.

The Job l1-deploy runs this file in the zkseq image (a ConfigMap mounts it). The deployer, trusted
sequencer, aggregator and admin is the key of the Secret zkseq-l1-key. On a fresh anvil the
deployer's nonces 0, 1 and 2 put the verifier, the global exit root manager and the rollup at
addresses known in advance, which the sequence sender's ConfigMap names; this script checks that
they are the ones it is told (ZKSEQ_L1_DEPLOY_ROLLUP_ADDRESS, …) before sending anything. Run again,
it finds the rollup's code there and sends nothing, so the Job may be retried freely.

    ZKSEQ_L1_DEPLOY_L1_RPC_URL                        the L1 node (anvil)
    ZKSEQ_L1_DEPLOY_KEY_FILE                          the deployer's key (the mounted Secret)
    ZKSEQ_L1_DEPLOY_GENESIS_FILE                      the L2 genesis (its root is batch 0's)
    ZKSEQ_L1_DEPLOY_L2_CHAIN_ID                       the L2 chain id
    ZKSEQ_L1_DEPLOY_ROLLUP_ADDRESS                    where the rollup must land
    ZKSEQ_L1_DEPLOY_GLOBAL_EXIT_ROOT_MANAGER_ADDRESS  where its global exit root manager must land
    ZKSEQ_L1_DEPLOY_WAIT_S                            how long to wait for the L1 node (120)

Exit codes: 0 deployed or already there, 1 the L1 node is unreachable or the addresses cannot be
the expected ones, 2 an invalid configuration.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from eth_account import Account
from web3 import Web3

from services.common.config import ConfigError, EnvReader
from services.common.l1.deploy import RollupParams, create_address, deploy_rollup
from services.sequencer.genesis import read_genesis_file


def _report(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def main() -> int:
    env = EnvReader("ZKSEQ_L1_DEPLOY_", os.environ)
    url = env.string("L1_RPC_URL", "http://127.0.0.1:8545")
    key_file = Path(env.string("KEY_FILE", "/etc/zkseq/l1-key/private-key"))
    genesis_file = Path(env.string("GENESIS_FILE", "/etc/zkseq/genesis/genesis.json"))
    chain_id = env.integer("L2_CHAIN_ID", 1001, minimum=1, maximum=2**64 - 1)
    rollup_text = env.string("ROLLUP_ADDRESS", "")
    manager_text = env.string("GLOBAL_EXIT_ROOT_MANAGER_ADDRESS", "")
    wait_s = env.number("WAIT_S", 120.0, minimum=0)
    for name, text in (("ROLLUP_ADDRESS", rollup_text), ("GLOBAL_EXIT_ROOT_MANAGER_ADDRESS", manager_text)):
        if not Web3.is_address(text):
            env.problem(name, f"{text!r} is not a 0x-prefixed 20-byte address")
    try:
        env.finish()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    rollup = Web3.to_checksum_address(rollup_text)
    manager = Web3.to_checksum_address(manager_text)
    key = key_file.read_text().strip()
    deployer = Web3.to_checksum_address(Account.from_key(key).address)
    genesis_root = read_genesis_file(genesis_file).state_root()

    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 10}))
    deadline = time.monotonic() + wait_s
    while not w3.is_connected():
        if time.monotonic() > deadline:
            _report("l1_deploy_unreachable", l1_rpc_url=url, waited_s=wait_s)
            return 1
        time.sleep(1)

    if w3.eth.get_code(rollup):
        _report("l1_deploy_already_deployed", rollup=rollup, deployer=deployer)
        return 0
    nonce = w3.eth.get_transaction_count(deployer, "pending")
    if (create_address(deployer, nonce + 1), create_address(deployer, nonce + 2)) != (manager, rollup):
        _report(
            "l1_deploy_wrong_addresses",
            deployer=deployer,
            nonce=nonce,
            expected_rollup=rollup,
            would_be_rollup=create_address(deployer, nonce + 2),
            message="the rollup cannot land where the sequence sender looks for it: use a fresh anvil "
            "and the deployer key whose nonces 1 and 2 give these addresses",
        )
        return 1
    deployment = deploy_rollup(
        w3, key, RollupParams(trusted_sequencer=deployer, chain_id=chain_id, genesis_root=genesis_root)
    )
    _report(
        "l1_deploy_deployed",
        rollup=deployment.rollup,
        global_exit_root_manager=deployment.global_exit_root_manager,
        verifier=deployment.verifier,
        deployer=deployment.deployer,
        block_number=deployment.block_number,
        genesis_root="0x" + genesis_root.hex(),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

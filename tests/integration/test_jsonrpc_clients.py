"""Real clients against the JSON-RPC server over the real backends (`JsonRpcStack`): web3.py, ethers
v6 (node, from the npm registry) and Foundry's cast (from the npm registry). Each reads chain id,
balances, nonces, blocks, receipts and logs, calls the contract, and sends a transaction that lands
in the pool; each sends from an account of its own.

The npm packages (versions pinned in tests/integration/js/package.json and its lock file) are installed
into tests/integration/js/node_modules (git-ignored) by `npm install --no-save` when they are not
there yet; if npm cannot install them, the ethers and cast tests are skipped with the reason. (Not
`npm ci`: npm leaves the other platforms' optional cast binaries out of the lock file, and `npm ci`
then refuses it.) The
chain is legacy-only: what each client does without an explicit gas price is checked too (ethers
falls back to eth_gasPrice by itself; web3.py needs a gas price strategy; cast needs --legacy).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth.rlp.headers import BlockHeader
from eth_account import Account as EthAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3RPCError
from web3.gas_strategies.rpc import rpc_gas_price_strategy
from web3.middleware import SignAndSendRawMiddlewareBuilder
from web3.providers.rpc import HTTPProvider
from web3.types import Nonce, TxParams, Wei

from protos.pool.v1 import pool_pb2 as pool_pb
from tests.integration.test_jsonrpc_stack import (
    ALICE,
    BOB,
    CAROL,
    CHAIN_ID,
    COINBASE,
    DAVE,
    ERIN,
    ETHER,
    GWEI,
    LOGGER,
    LOGGER_CODE,
    STORED_TOPIC,
    JsonRpcStack,
    hx,
    word,
)
from zkevm.hashing import keccak256

pytestmark = pytest.mark.integration

JS_DIR = Path(__file__).resolve().parent / "js"
CAST_BIN = JS_DIR / "node_modules" / "@foundry-rs" / "cast-linux-amd64" / "bin" / "cast"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JsonRpcStack]:
    running = JsonRpcStack(tmp_path_factory.mktemp("jsonrpc-clients"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


@dataclass(frozen=True)
class JsClients:
    node: str
    cast: Path


@pytest.fixture(scope="module")
def js() -> JsClients:
    """`npm install --no-save` in tests/integration/js, unless node_modules already has both."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not installed: the ethers and cast tests need them")
    installed = (JS_DIR / "node_modules" / "ethers" / "package.json").is_file() and CAST_BIN.is_file()
    if not installed:
        try:
            result = subprocess.run(
                [npm, "install", "--no-save", "--no-audit", "--no-fund"],
                cwd=JS_DIR,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.skip("npm install in tests/integration/js took more than 5 minutes")
        if result.returncode != 0:
            pytest.skip(f"npm could not install ethers and cast: {result.stderr.strip()[-500:]}")
    if not CAST_BIN.is_file():
        pytest.skip(f"npm installed @foundry-rs/cast but not its linux-amd64 binary at {CAST_BIN}")
    return JsClients(node, CAST_BIN)


# -- web3.py -----------------------------------------------------------------------------------------


def test_web3_reads_the_chain(stack: JsonRpcStack) -> None:
    w3 = Web3(HTTPProvider(stack.url))
    chain = stack.chain
    assert w3.is_connected() and w3.eth.chain_id == CHAIN_ID and w3.eth.block_number == 5
    assert w3.eth.get_balance(Web3.to_checksum_address(BOB.address), 1) == ETHER
    assert w3.eth.get_transaction_count(Web3.to_checksum_address(ALICE.address)) == 4
    assert w3.eth.gas_price == GWEI
    block = w3.eth.get_block("latest", full_transactions=True)
    assert block["number"] == 5 and "baseFeePerGas" not in block
    assert block["miner"] == Web3.to_checksum_address(COINBASE)
    first_tx: Any = block["transactions"][0]
    assert first_tx["hash"] == chain.txs["bob"].tx_hash()
    assert w3.eth.get_block(block["hash"])["number"] == 5
    for number in range(6):  # every header the server shows hashes to the block's hash
        shown = w3.eth.get_block(number)
        header = BlockHeader(
            difficulty=shown["difficulty"],
            block_number=shown["number"],
            gas_limit=shown["gasLimit"],
            timestamp=shown["timestamp"],
            coinbase=bytes.fromhex(shown["miner"][2:]),
            parent_hash=shown["parentHash"],
            uncles_hash=shown["sha3Uncles"],
            state_root=shown["stateRoot"],
            transaction_root=shown["transactionsRoot"],
            receipt_root=shown["receiptsRoot"],
            bloom=int.from_bytes(shown["logsBloom"], "big"),
            gas_used=shown["gasUsed"],
            extra_data=shown["extraData"],
            mix_hash=shown["mixHash"],
            nonce=shown["nonce"],
        )
        assert header.hash == bytes(shown["hash"])
    assert w3.eth.get_block("safe")["number"] == 4 and w3.eth.get_block("finalized")["number"] == 3
    store_hash = HexBytes(chain.txs["store"].tx_hash())
    tx = w3.eth.get_transaction(store_hash)
    assert tx["type"] == 0 and tx["chainId"] == CHAIN_ID and tx["to"] == Web3.to_checksum_address(LOGGER)
    receipt = w3.eth.get_transaction_receipt(store_hash)
    assert receipt["status"] == 1 and receipt["blockNumber"] == 2 and receipt["type"] == 0
    (log,) = receipt["logs"]
    assert log["topics"] == [STORED_TOPIC] and bytes(log["data"]) == word(7) and log["logIndex"] == 0
    assert log["blockHash"] == receipt["blockHash"] == w3.eth.get_block(2)["hash"]
    created = w3.eth.get_transaction_receipt(HexBytes(chain.txs["deploy"].tx_hash()))["contractAddress"]
    assert created == Web3.to_checksum_address(chain.created)
    logs = w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "address": Web3.to_checksum_address(LOGGER)})
    assert [entry["transactionHash"] for entry in logs] == [store_hash]
    assert w3.eth.call({"to": Web3.to_checksum_address(LOGGER), "data": word(5)}) == word(5)
    assert w3.eth.get_code(Web3.to_checksum_address(LOGGER)) == LOGGER_CODE
    assert w3.eth.get_storage_at(Web3.to_checksum_address(LOGGER), 0) == word(7)
    with w3.batch_requests() as batch:
        batch.add(w3.eth.get_block_number())
        batch.add(w3.eth.get_balance(Web3.to_checksum_address(ALICE.address)))
        answers: list[Any] = list(batch.execute())
    number, balance = answers
    assert number == 5 and balance > 0


def test_web3_sends_legacy_transactions_into_the_pool(stack: JsonRpcStack) -> None:
    w3 = Web3(HTTPProvider(stack.url))
    sender = EthAccount.from_key(CAROL.key)
    w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(sender), layer=0)
    to = Web3.to_checksum_address(BOB.address)
    # no EIP-1559: eth_maxPriorityFeePerGas and eth_feeHistory are refused and blocks have no
    # baseFeePerGas, so web3.py cannot fill in dynamic fees by itself ...
    with (
        pytest.warns(UserWarning, match="eth_maxPriorityFeePerGas"),
        pytest.raises(Web3RPCError, match="legacy"),
    ):
        w3.eth.max_priority_fee  # noqa: B018
    with pytest.raises(Web3RPCError, match="eth_feeHistory does not exist"):
        w3.eth.fee_history(4, "latest", [50])
    with pytest.warns(UserWarning), pytest.raises(Web3RPCError, match="eth_feeHistory"):
        w3.eth.send_transaction({"from": sender.address, "to": to, "value": Wei(1)})
    # ... and with a gas price strategy it sends legacy transactions priced with eth_gasPrice
    w3.eth.set_gas_price_strategy(rpc_gas_price_strategy)
    first = w3.eth.send_transaction({"from": sender.address, "to": to, "value": Wei(10**15)})
    sent = w3.eth.get_transaction(first)
    assert sent["type"] == 0 and sent["gasPrice"] == GWEI and sent["nonce"] == 0
    assert sent["gas"] == 21_000 + 100_000  # eth_estimateGas plus web3.py's buffer
    assert sent["blockNumber"] is None and sent["from"] == sender.address and sent["value"] == 10**15
    assert w3.eth.get_transaction_count(sender.address, "pending") == 1
    # a transaction signed by eth-account and sent raw
    tx: TxParams = {
        "to": to,
        "value": Wei(2),
        "gas": 21_000,
        "gasPrice": w3.eth.gas_price,
        "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(sender.address, "pending"),
    }
    signed = sender.sign_transaction(tx)
    second = w3.eth.send_raw_transaction(signed.raw_transaction)
    assert bytes(second) == keccak256(bytes(signed.raw_transaction))
    assert w3.eth.get_transaction_count(sender.address, "pending") == 2
    assert w3.eth.get_transaction_count(sender.address, "latest") == 0
    for tx_hash in (first, second):
        stored = stack.run(
            stack.pool_client.GetTransaction(pool_pb.GetTransactionRequest(hash=bytes(tx_hash)))
        )
        assert stored.status == pool_pb.TX_STATUS_PENDING
    # the pool's refusal, in its words (the nonce is taken by the first transaction, at the same price)
    with pytest.raises(Web3RPCError, match="replacement transaction underpriced"):
        w3.eth.send_raw_transaction(
            sender.sign_transaction({**tx, "nonce": Nonce(0), "value": Wei(3)}).raw_transaction
        )
    with pytest.raises(TransactionNotFound):  # no sequencer yet: it stays in the pool
        w3.eth.get_transaction_receipt(first)


# -- ethers v6 ----------------------------------------------------------------------------------------


def test_ethers(stack: JsonRpcStack, js: JsClients) -> None:
    chain = stack.chain
    config = {
        "url": stack.url,
        "chainId": CHAIN_ID,
        "key": DAVE.key_hex,
        "bob": BOB.hex,
        "logger": hx(LOGGER),
        "storedTopic": hx(STORED_TOPIC),
        "storeHash": hx(chain.txs["store"].tx_hash()),
        "revertHash": hx(chain.txs["revert"].tx_hash()),
    }
    result = subprocess.run(
        [js.node, "ethers_client.mjs", json.dumps(config)],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    assert out["chainId"] == str(CHAIN_ID) and out["blockNumber"] == 5
    assert out["balance"] == str(ETHER - ETHER // 2 - 21_000 * GWEI)
    assert (out["latestNonce"], out["pendingNonce"]) == (0, 0)
    block = out["block"]
    assert (
        block["number"] == 5 and block["hash"] == hx(chain.blocks[5].hash) and block["baseFeePerGas"] is None
    )
    assert block["transactions"] == [
        {"hash": hx(chain.txs["bob"].tx_hash()), "type": 0, "from": Web3.to_checksum_address(BOB.address)}
    ]
    assert out["feeData"] == {"gasPrice": str(GWEI), "maxFeePerGas": None, "maxPriorityFeePerGas": None}
    receipt = out["receipt"]
    assert (
        receipt["status"] == 1
        and receipt["blockNumber"] == 2
        and receipt["blockHash"] == hx(chain.blocks[2].hash)
    )
    assert receipt["logs"] == [
        {
            "address": Web3.to_checksum_address(LOGGER),
            "topics": [hx(STORED_TOPIC)],
            "data": hx(word(7)),
            "index": 0,
        }
    ]
    assert out["revertedStatus"] == 0
    assert out["logs"] == [
        {"blockNumber": 2, "transactionHash": hx(chain.txs["store"].tx_hash()), "data": hx(word(7))}
    ]
    assert out["call"] == hx(word(9))
    assert out["revert"]["code"] == "CALL_EXCEPTION" and out["revert"]["reason"] == "nope"
    assert out["estimate"] == "21000"
    sent = out["sent"]
    assert sent["type"] == 0 and sent["gasPrice"] == str(GWEI) and sent["maxFeePerGas"] is None  # legacy
    assert (sent["nonce"], sent["gasLimit"], sent["chainId"]) == (0, "21000", str(CHAIN_ID))
    assert out["pending"] == {
        "hash": sent["hash"],
        "blockNumber": None,
        "from": Web3.to_checksum_address(DAVE.address),
        "value": "12345",
    }
    assert out["pendingNonceAfter"] == 1
    assert stack.jsonrpc is not None
    batches = stack.jsonrpc.metrics_registry.get_sample_value(
        "zkseq_jsonrpc_requests_total", {"kind": "batch"}
    )
    assert batches is not None and batches > 0  # ethers sent its concurrent reads as batches
    stored = stack.run(
        stack.pool_client.GetTransaction(pool_pb.GetTransactionRequest(hash=bytes.fromhex(sent["hash"][2:])))
    )
    assert stored.status == pool_pb.TX_STATUS_PENDING


# -- cast -----------------------------------------------------------------------------------------------


def cast(
    js: JsClients, stack: JsonRpcStack, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FOUNDRY_DISABLE_NIGHTLY_WARNING": "1", "NO_COLOR": "1"}
    result = subprocess.run(
        [str(js.cast), *args, "--rpc-url", stack.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    if check:
        assert result.returncode == 0, f"cast {' '.join(args)}: {result.stderr}"
    return result


def test_cast(stack: JsonRpcStack, js: JsClients) -> None:
    chain = stack.chain
    assert cast(js, stack, "chain-id").stdout.strip() == str(CHAIN_ID)
    assert cast(js, stack, "block-number").stdout.strip() == "5"
    assert cast(js, stack, "balance", BOB.hex, "--block", "1").stdout.strip() == str(ETHER)
    assert cast(js, stack, "nonce", ALICE.hex).stdout.strip() == "4"
    assert cast(js, stack, "gas-price").stdout.strip() == str(GWEI)
    block = json.loads(cast(js, stack, "block", "latest", "--json").stdout)
    assert int(block["number"], 16) == 5 and block["hash"] == hx(chain.blocks[5].hash)
    assert block["miner"].lower() == hx(COINBASE) and block.get("baseFeePerGas") is None
    pending = json.loads(cast(js, stack, "block", "pending", "--json").stdout)
    assert int(pending["number"], 16) == 6 and pending["parentHash"] == hx(chain.blocks[5].hash)
    full = json.loads(cast(js, stack, "block", "2", "--full", "--json").stdout)
    assert full["transactions"][0]["hash"] == hx(chain.txs["store"].tx_hash())
    receipt = json.loads(cast(js, stack, "receipt", hx(chain.txs["store"].tx_hash()), "--json").stdout)
    assert receipt["status"] == "0x1" and receipt["blockHash"] == hx(chain.blocks[2].hash)
    assert receipt["logs"][0]["topics"] == [hx(STORED_TOPIC)]
    tx = json.loads(cast(js, stack, "tx", hx(chain.txs["transfer"].tx_hash()), "--json").stdout)
    assert tx["hash"] == hx(chain.txs["transfer"].tx_hash()) and int(tx["value"], 16) == ETHER
    assert cast(js, stack, "call", hx(LOGGER), hx(word(3))).stdout.strip() == hx(word(3))
    assert cast(js, stack, "estimate", BOB.hex, "--value", "1", "--from", ERIN.hex).stdout.strip() == "21000"
    logs = cast(
        js, stack, "logs", "--from-block", "0", "--to-block", "latest", "--address", hx(LOGGER), "--json"
    )
    assert [entry["transactionHash"] for entry in json.loads(logs.stdout)] == [
        hx(chain.txs["store"].tx_hash())
    ]

    # without --legacy cast wants EIP-1559 fee data, which this chain does not have: a clear error
    refused = cast(
        js, stack, "send", "--private-key", ERIN.key_hex, "--async", BOB.hex, "--value", "1", check=False
    )
    assert refused.returncode != 0 and "legacy" in refused.stderr, refused.stderr
    sent = cast(
        js, stack, "send", "--legacy", "--private-key", ERIN.key_hex, "--async", BOB.hex, "--value", "7"
    )
    sent_hash = sent.stdout.strip()
    assert sent_hash.startswith("0x") and len(sent_hash) == 66
    raw = cast(
        js,
        stack,
        "mktx",
        "--legacy",
        "--private-key",
        ERIN.key_hex,
        "--nonce",
        "1",
        "--gas-limit",
        "21000",
        "--gas-price",
        str(GWEI),
        BOB.hex,
        "--value",
        "8",
    ).stdout.strip()
    published = cast(js, stack, "publish", raw, "--async").stdout.strip()
    assert published == hx(keccak256(bytes.fromhex(raw[2:])))
    assert cast(js, stack, "nonce", ERIN.hex, "--block", "pending").stdout.strip() == "2"
    assert cast(js, stack, "nonce", ERIN.hex).stdout.strip() == "0"
    for tx_hash, value in ((sent_hash, 7), (published, 8)):
        stored = stack.run(
            stack.pool_client.GetTransaction(pool_pb.GetTransactionRequest(hash=bytes.fromhex(tx_hash[2:])))
        )
        assert stored.status == pool_pb.TX_STATUS_PENDING
        pending = json.loads(cast(js, stack, "tx", tx_hash, "--json").stdout)
        assert pending["blockNumber"] is None and int(pending["value"], 16) == value
        assert pending["type"] == "0x0"

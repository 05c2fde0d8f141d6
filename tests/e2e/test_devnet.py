"""The whole devnet, as a developer uses it: `zkseq devnet up` as a process, then the wallet tools.

    zkseq devnet up --port-base 0 (free ports, a temporary data folder)
      ├─ web3.py   deploys LoadToken (ERC-20), gives tokens, transfers, reads balances and logs
      ├─ ethers v6 (node) sends a token transfer and an ETH transfer, reads the balance and logs
      ├─ cast      sends a token transfer (--legacy), reads balanceOf and a balance
      ├─ every batch holding them becomes virtual; the rollup contract's accInputHash at the end of
      │  every sequence on L1 equals zkseq's (zkevm_getBatchByNumber), batch by batch
      └─ SIGINT (Ctrl-C): exit code 0, every process gone
    zkseq devnet up --detach (same folder): the same chain goes on (blocks, balances, L1 rollup),
      a new transaction is included and becomes virtual; `zkseq devnet status`; `zkseq devnet down`
    zkseq devnet up (same folder) with one child SIGKILLed: the supervisor says so and stops the rest

ethers and cast come from the npm registry (versions pinned in tests/e2e/js/package.json and its
lock file), installed by `npm install --no-save` into tests/e2e/js/node_modules when missing; anvil
and Redis are installed by `zkseq devnet up` itself when missing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import pytest
from eth_account import Account
from web3 import Web3
from web3.contract import Contract
from web3.providers.rpc import HTTPProvider
from web3.types import TxParams, TxReceipt, Wei

from services.cli import load
from services.cli.devnet import SERVICES, DataDir, ensure_anvil, read_running
from services.common.l1.client import RollupClient
from services.common.l1.rollup import SequenceBatchesEvent
from services.common.l1.testkeys import ANVIL_TEST_KEYS
from tests.unit.test_cli_load import compile_with_solc_js

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO: Final = Path(__file__).resolve().parents[2]
JS_DIR: Final = Path(__file__).resolve().parent / "js"
CAST_BIN: Final = JS_DIR / "node_modules" / "@foundry-rs" / "cast-linux-amd64" / "bin" / "cast"
START_TIMEOUT_S: Final = 240.0
VIRTUAL_TIMEOUT_S: Final = 120.0
STOP_TIMEOUT_S: Final = 90.0
#: where every client sends: a fresh address nobody holds a key for
RECIPIENT: Final = Web3.to_checksum_address("0x" + "be" * 20)
DEPLOYER_KEY, ETHERS_KEY, CAST_KEY, LATER_KEY = (ANVIL_TEST_KEYS[i] for i in (1, 2, 3, 4))
SUPPLY: Final = 10**24

_T = TypeVar("_T")


def wait_until(what: str, check: Callable[[], _T | None], timeout_s: float, poll_s: float = 0.2) -> _T:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout_s} s")
        time.sleep(poll_s)


# -- the devnet process -------------------------------------------------------------------------


@dataclass
class DevnetProcess:
    popen: subprocess.Popen[bytes] | None
    data_dir: Path
    output: Path
    document: dict[str, Any]

    @property
    def l2_url(self) -> str:
        return str(self.document["l2_rpc_url"])

    @property
    def l1_url(self) -> str:
        return str(self.document["l1_rpc_url"])

    def pids(self) -> dict[str, int]:
        return {name: int(p["pid"]) for name, p in self.document["processes"].items()}

    def text(self) -> str:
        return self.output.read_text(errors="replace")


def zkseq(*args: str) -> list[str]:
    return [sys.executable, "-m", "services.cli", *args]


def start_devnet(data_dir: Path, output: Path, *extra: str) -> DevnetProcess:
    """`zkseq devnet up` in the foreground (as a child of this test); returns once it serves."""
    with output.open("ab") as out:
        popen = subprocess.Popen(
            zkseq(
                "devnet", "up", "--data-dir", str(data_dir), "--port-base", "0", "--batch-time", "1", *extra
            ),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )

    def serving() -> dict[str, Any] | None:
        if popen.poll() is not None:
            raise AssertionError(
                f"zkseq devnet up exited with {popen.returncode}:\n{output.read_text()[-4000:]}"
            )
        document = read_running(DataDir(data_dir))
        return document if document is not None and document["pid"] == popen.pid else None

    try:
        document = wait_until("the devnet serves", serving, START_TIMEOUT_S)
    except BaseException:
        popen.kill()
        popen.wait()
        raise
    return DevnetProcess(popen, data_dir, output, document)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def assert_all_gone(devnet: DevnetProcess) -> None:
    left = wait_until(
        "every devnet process exits",
        lambda: not any(alive(pid) for pid in devnet.pids().values()) or None,
        STOP_TIMEOUT_S,
    )
    assert left
    assert not (devnet.data_dir / "devnet.json").exists()


# -- wallet tools -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tools:
    node: str
    cast: Path


@pytest.fixture(scope="module")
def tools() -> Tools:
    """node with ethers v6, and cast: `npm install --no-save` in tests/e2e/js when missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm are needed (apt-get install nodejs npm): ethers and cast come from npm")
    if not ((JS_DIR / "node_modules" / "ethers" / "package.json").is_file() and CAST_BIN.is_file()):
        result = subprocess.run(
            [npm, "install", "--no-save", "--no-audit", "--no-fund"],
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, f"npm install in {JS_DIR} failed:\n{result.stderr[-2000:]}"
    assert CAST_BIN.is_file(), f"npm installed @foundry-rs/cast without its linux-amd64 binary at {CAST_BIN}"
    return Tools(node, CAST_BIN)


def w3_for(url: str) -> Web3:
    return Web3(HTTPProvider(url, request_kwargs={"timeout": 30}))


def send(w3: Web3, key: str, tx: TxParams) -> TxReceipt:
    """Sign a legacy transaction (the node's gas price, its gas estimate) and wait for its receipt."""
    account = Account.from_key(key)
    tx = {
        **tx,
        "from": account.address,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "gasPrice": w3.eth.gas_price,
        "chainId": w3.eth.chain_id,
    }
    tx["gas"] = w3.eth.estimate_gas(tx)
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.1)


def cast(tools: Tools, *args: str) -> str:
    result = subprocess.run(
        [str(tools.cast), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"cast {' '.join(args[:2])} failed:\n{result.stderr}"
    return result.stdout.strip()


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    response = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in response, response
    return response["result"]


def wait_virtual(w3: Web3, block_number: int) -> None:
    wait_until(
        f"L2 block {block_number} is virtual",
        lambda: bool(rpc(w3, "zkevm_isBlockVirtualized", hex(block_number))),
        VIRTUAL_TIMEOUT_S,
        poll_s=0.25,
    )


def check_acc_input_hashes(l2: Web3, l1: Web3, rollup_address: str, from_block: int) -> int:
    """Every sequence on L1 ends with the accInputHash zkseq computed; the last batch sequenced."""
    rollup = RollupClient(l1, rollup_address)
    last = rollup.last_batch_sequenced()
    assert last >= 1
    ends = [e.num_batch for e in rollup.events(from_block) if isinstance(e, SequenceBatchesEvent)]
    assert ends and ends[-1] == last
    for num_batch in ends:
        on_l1 = rollup.sequenced_batch(num_batch).acc_input_hash
        batch = rpc(l2, "zkevm_getBatchByNumber", hex(num_batch), False)
        assert batch["accInputHash"] == "0x" + on_l1.hex(), f"batch {num_batch}"
        assert batch["sendSequencesTxHash"] is not None
    return last


@pytest.fixture(scope="module")
def token_artifact() -> dict[str, Any]:
    # contracts/node_modules holds solc-js and anvil: `npm ci` there first on a fresh machine, as
    # `zkseq devnet up` would
    ensure_anvil(install=True, say=print)
    compiled = compile_with_solc_js(
        load.TOKEN_FILE_NAME, load.TOKEN_SOURCE, dict(load.TOKEN_COMPILER_SETTINGS)
    )
    artifact: dict[str, Any] = compiled["LoadToken"]
    assert artifact["bytecode"] == load.TOKEN_BYTECODE
    return artifact


# -- the test -----------------------------------------------------------------------------------


@pytest.fixture
def cleanup() -> Iterator[list[DevnetProcess]]:
    started: list[DevnetProcess] = []
    yield started
    for devnet in started:
        if devnet.popen is not None and devnet.popen.poll() is None:
            devnet.popen.send_signal(signal.SIGTERM)
            try:
                devnet.popen.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                devnet.popen.kill()
        for pid in devnet.pids().values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_devnet_with_web3_ethers_and_cast_then_a_restart(
    tmp_path: Path, tools: Tools, token_artifact: dict[str, Any], cleanup: list[DevnetProcess]
) -> None:
    data_dir = tmp_path / "devnet"
    output = tmp_path / "devnet-up.out"

    # -- a new chain ----------------------------------------------------------------------------
    began = time.monotonic()
    devnet = start_devnet(data_dir, output, "--fresh")
    cleanup.append(devnet)
    startup_s = time.monotonic() - began
    text = devnet.text()
    assert "TEST-ONLY" in text and ANVIL_TEST_KEYS[0] in text and devnet.l2_url in text
    l2, l1 = w3_for(devnet.l2_url), w3_for(devnet.l1_url)
    setup = devnet.document["setup"]
    assert l2.eth.chain_id == setup["l2_chain_id"] == 1001
    assert l1.eth.chain_id == setup["l1_chain_id"] == 31337
    funded = Account.from_key(ANVIL_TEST_KEYS[0]).address
    assert l2.eth.get_balance(funded) == 10_000 * 10**18

    # web3.py: deploy the ERC-20, give the other two clients tokens, transfer to the recipient
    factory = l2.eth.contract(abi=token_artifact["abi"], bytecode=token_artifact["bytecode"])
    created = send(
        l2, DEPLOYER_KEY, factory.constructor(SUPPLY).build_transaction({"gas": 0, "gasPrice": Wei(0)})
    )
    assert created["status"] == 1 and created["contractAddress"] is not None
    token: Contract = l2.eth.contract(address=created["contractAddress"], abi=token_artifact["abi"])
    deployer = Account.from_key(DEPLOYER_KEY).address
    for key in (ETHERS_KEY, CAST_KEY):
        grant = token.functions.transfer(Account.from_key(key).address, 100).build_transaction(
            {"gas": 0, "gasPrice": Wei(0)}
        )
        assert send(l2, DEPLOYER_KEY, grant)["status"] == 1
    web3_receipt = send(
        l2,
        DEPLOYER_KEY,
        token.functions.transfer(RECIPIENT, 1000).build_transaction({"gas": 0, "gasPrice": Wei(0)}),
    )
    assert web3_receipt["status"] == 1 and len(web3_receipt["logs"]) == 1
    assert send(l2, DEPLOYER_KEY, {"to": RECIPIENT, "value": Wei(10**15)})["status"] == 1
    assert token.functions.balanceOf(RECIPIENT).call() == 1000
    assert token.functions.symbol().call() == "ZKLT"

    # ethers v6
    config = {"url": devnet.l2_url, "key": ETHERS_KEY, "token": token.address, "to": RECIPIENT}
    result = subprocess.run(
        [tools.node, str(JS_DIR / "ethers_e2e.mjs"), json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["chainId"] == "1001" and seen["symbol"] == "ZKLT"
    assert seen["tokenTransfer"]["status"] == 1 and seen["tokenTransfer"]["type"] == 0
    assert seen["ethTransfer"]["status"] == 1
    assert seen["tokenBalance"] == "1007"
    assert seen["ethBalance"] == str(10**15 + 12345)
    assert [(t["from"], t["value"]) for t in seen["transfersTo"]] == [
        (deployer, "1000"),
        (Account.from_key(ETHERS_KEY).address, "7"),
    ]

    # cast
    receipt = json.loads(
        cast(
            tools,
            "send", "--legacy", "--json", "--rpc-url", devnet.l2_url, "--private-key", CAST_KEY,
            token.address, "transfer(address,uint256)", RECIPIENT, "5",
        )
    )  # fmt: skip
    assert receipt["status"] == "0x1"
    balance = cast(
        tools, "call", "--rpc-url", devnet.l2_url, token.address, "balanceOf(address)(uint256)", RECIPIENT
    )
    assert balance.split()[0] == "1012"
    assert cast(tools, "balance", "--rpc-url", devnet.l2_url, RECIPIENT) == str(10**15 + 12345)

    # web3.py reads what all three did: balances and the Transfer logs
    assert token.functions.balanceOf(RECIPIENT).call() == 1012
    logs = token.events.Transfer.get_logs(from_block=0, argument_filters={"to": RECIPIENT})
    assert [(log["args"]["from"], log["args"]["value"]) for log in logs] == [
        (deployer, 1000),
        (Account.from_key(ETHERS_KEY).address, 7),
        (Account.from_key(CAST_KEY).address, 5),
    ]
    assert token.functions.balanceOf(deployer).call() == SUPPLY - 1200

    # virtual on L1, with the accInputHash zkseq computed
    last_block = l2.eth.block_number
    wait_virtual(l2, last_block)
    last_sequenced = check_acc_input_hashes(l2, l1, setup["rollup"], setup["deployment_block"])
    assert int(rpc(l2, "zkevm_virtualBatchNumber"), 16) >= int(
        rpc(l2, "zkevm_batchNumberByBlockNumber", hex(last_block)), 16
    )
    l1_block = l1.eth.block_number

    # Ctrl-C: everything stops cleanly
    assert devnet.popen is not None
    devnet.popen.send_signal(signal.SIGINT)
    assert devnet.popen.wait(STOP_TIMEOUT_S) == 0, devnet.text()[-3000:]
    assert_all_gone(devnet)
    assert "the devnet is stopped." in devnet.text()
    assert "not cleanly" not in devnet.text()

    # -- the same chain, resumed, in the background ---------------------------------------------
    began = time.monotonic()
    detached = subprocess.run(
        zkseq(
            "devnet", "up", "--detach", "--data-dir", str(data_dir), "--port-base", "0", "--batch-time", "1"
        ),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        cwd=REPO,
        check=False,
    )
    assert detached.returncode == 0, detached.stdout + detached.stderr
    resume_s = time.monotonic() - began
    document = read_running(DataDir(data_dir))
    assert document is not None and document["resumed"] is True
    resumed = DevnetProcess(None, data_dir, output, document)
    cleanup.append(resumed)
    l2, l1 = w3_for(resumed.l2_url), w3_for(resumed.l1_url)
    assert resumed.document["setup"] == setup
    assert l1.eth.block_number >= l1_block
    assert RollupClient(l1, setup["rollup"]).last_batch_sequenced() == last_sequenced
    assert l2.eth.block_number == last_block
    token = l2.eth.contract(address=token.address, abi=token_artifact["abi"])
    assert token.functions.balanceOf(RECIPIENT).call() == 1012
    assert (
        l2.eth.get_transaction_receipt(web3_receipt["transactionHash"])["blockNumber"]
        == web3_receipt["blockNumber"]
    )

    later = send(l2, LATER_KEY, {"to": RECIPIENT, "value": Wei(1)})
    assert later["status"] == 1 and later["blockNumber"] == last_block + 1
    wait_virtual(l2, later["blockNumber"])
    assert check_acc_input_hashes(l2, l1, setup["rollup"], setup["deployment_block"]) > last_sequenced

    status = subprocess.run(
        zkseq("devnet", "status", "--json", "--data-dir", str(data_dir)),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    report = json.loads(status.stdout)
    assert report["healthy"] is True
    assert set(report["processes"]) == {"redis", "anvil", *SERVICES}
    chain = report["chain"]
    assert chain["latest_l2_block"] >= later["blockNumber"]
    assert chain["virtual_batch"] >= 1 and chain["trusted_batch"] >= chain["virtual_batch"]
    assert chain["verified_batch"] == 0
    assert chain["pool"] is not None and chain["pool"]["pending"] == 0

    down = subprocess.run(
        zkseq("devnet", "down", "--data-dir", str(data_dir)),
        capture_output=True,
        text=True,
        timeout=STOP_TIMEOUT_S + 30,
        cwd=REPO,
        check=False,
    )
    assert down.returncode == 0, down.stdout + down.stderr
    assert_all_gone(resumed)

    # -- a child that dies brings the devnet down, loudly ---------------------------------------
    crashing = start_devnet(data_dir, output)
    cleanup.append(crashing)
    os.kill(crashing.pids()["executor"], signal.SIGKILL)
    assert crashing.popen is not None
    assert crashing.popen.wait(STOP_TIMEOUT_S) == 1
    assert_all_gone(crashing)
    tail = crashing.text()[-5000:]
    assert "executor" in tail and "exited by itself" in tail and "killed by SIGKILL" in tail

    print(f"devnet start {startup_s:.1f} s (new chain), {resume_s:.1f} s (resumed)")

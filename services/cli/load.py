"""`zkseq load`: signed L2 transactions from many senders at a steady rate, and what became of them.

    zkseq load --tps 100 --duration 30 [--kind transfer|erc20|mixed] [--senders 32] [--rpc URL]

Open loop: transaction i is sent at start + i / tps whatever happened to the ones before, so a
devnet that cannot keep up shows it as growing latency and a growing pool, not as a slower client.
Every transaction is signed before the clock starts (zkevm.transaction.sign_transaction, legacy,
EIP-155, the node's eth_gasPrice), round-robin over the senders, each with its own nonce sequence.

    sender ──eth_sendRawTransaction──▶ jsonrpc ─▶ pool ─▶ sequencer ─▶ L2 block ─▶ batch ─▶ L1 (virtual)
       sent                 accepted (hash returned)       included (seen in a block)    virtual

What is measured, per transaction, from the moment its request leaves:
  accepted   eth_sendRawTransaction answered with its hash (an error answer is counted by reason)
  included   its hash is in an L2 block (the blocks are followed with eth_blockNumber and
             eth_getBlockByNumber every 50 ms, so a receipt exists from then on)
  virtual    its batch is virtual: zkevm_virtualBatchNumber passed it (zkevm_getBatchByNumber
             names the batch's transactions), i.e. the sequence is on L1

After --duration it waits up to --drain seconds for the accepted transactions to be included and
virtual (--no-virtual: included only), then prints a summary: throughput, latency percentiles,
errors by reason and, when it finds the devnet's devnet.json, where the time went: CPU per process
and the sequencer's hot-path stages from the services' /metrics.

The senders are the devnet genesis's TEST-ONLY load senders (devnet.load_sender_key). Requests go
only to a loopback address unless --allow-remote is given. Kind erc20 first deploys LoadToken (below)
from sender 0 and gives every sender tokens; mixed alternates ETH and token transfers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import math
import os
import socket
import sys
import time
import urllib.parse
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
import orjson
from eth_abi.abi import encode as abi_encode
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from services.cli import devnet
from zkevm.hashing import keccak256
from zkevm.transaction import L2Transaction, sign_transaction

#: LoadToken (TEST-ONLY ERC-20): the source, and its creation code compiled by solc-js 0.8.37
#: (contracts/node_modules/solc) with TOKEN_COMPILER_SETTINGS. tests/unit/test_cli_load.py compiles
#: the source again and compares.
TOKEN_SOURCE: Final = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// TEST-ONLY ERC-20 of the zkseq devnet (zkseq load --kind erc20, the end-to-end test).
contract LoadToken {
    string public constant name = "zkseq load token";
    string public constant symbol = "ZKLT";
    uint8 public constant decimals = 18;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor(uint256 supply) {
        totalSupply = supply;
        balanceOf[msg.sender] = supply;
        emit Transfer(address(0), msg.sender, supply);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _move(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        require(allowed >= value, "allowance");
        if (allowed != type(uint256).max) allowance[from][msg.sender] = allowed - value;
        _move(from, to, value);
        return true;
    }

    function _move(address from, address to, uint256 value) private {
        require(balanceOf[from] >= value, "balance");
        unchecked {
            balanceOf[from] -= value;
        }
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
"""
TOKEN_FILE_NAME: Final = "LoadToken.sol"
TOKEN_COMPILER_SETTINGS: Final = {
    "optimizer": {"enabled": True, "runs": 200},
    # no PUSH0 or newer: fork 6 runs it, and so does any L1
    "evmVersion": "paris",
    # no metadata hash: the code depends on the source's meaning only
    "metadata": {"appendCBOR": False},
}
TOKEN_BYTECODE: Final = bytes.fromhex(
    "6080604052348015600f57600080fd5b506040516105e33803806105e3833981016040819052602c91607b565b600081"
    "815533808252600160209081526040808420859055518481529192917fddf252ad1be2c89b69c2b068fc378daa952ba7"
    "f163c4a11628f55a4df523b3ef910160405180910390a3506093565b600060208284031215608c57600080fd5b505191"
    "9050565b610541806100a26000396000f3fe608060405234801561001057600080fd5b50600436106100935760003560"
    "e01c8063313ce56711610066578063313ce5671461012a57806370a082311461014457806395d89b4114610164578063"
    "a9059cbb14610187578063dd62ed3e1461019a57600080fd5b806306fdde0314610098578063095ea7b3146100dd5780"
    "6318160ddd1461010057806323b872dd14610117575b600080fd5b6100c7604051806040016040528060108152602001"
    "6f3d35b9b2b8903637b0b2103a37b5b2b760811b81525081565b6040516100d491906103df565b60405180910390f35b"
    "6100f06100eb366004610449565b6101c5565b60405190151581526020016100d4565b61010960005481565b60405190"
    "81526020016100d4565b6100f0610125366004610473565b610232565b610132601281565b60405160ff909116815260"
    "20016100d4565b6101096101523660046104b0565b60016020526000908152604090205481565b6100c7604051806040"
    "016040528060048152602001631692d31560e21b81525081565b6100f0610195366004610449565b6102e5565b610109"
    "6101a83660046104d2565b600260209081526000928352604080842090915290825290205481565b3360008181526002"
    "602090815260408083206001600160a01b038716808552925280832085905551919290917f8c5be1e5ebec7d5bd14f71"
    "427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925906102209086815260200190565b60405180910390a35060015b92"
    "915050565b6001600160a01b038316600090815260026020908152604080832033845290915281205482811015610297"
    "5760405162461bcd60e51b8152602060048201526009602482015268616c6c6f77616e636560b81b6044820152606401"
    "5b60405180910390fd5b60001981146102cf576102aa838261051b565b6001600160a01b038616600090815260026020"
    "90815260408083203384529091529020555b6102da8585856102fb565b506001949350505050565b60006102f2338484"
    "6102fb565b50600192915050565b6001600160a01b03831660009081526001602052604090205481111561034d576040"
    "5162461bcd60e51b815260206004820152600760248201526662616c616e636560c81b604482015260640161028e565b"
    "6001600160a01b0380841660009081526001602052604080822080548590039055918416815290812080548392906103"
    "8690849061052e565b92505081905550816001600160a01b0316836001600160a01b03167fddf252ad1be2c89b69c2b0"
    "68fc378daa952ba7f163c4a11628f55a4df523b3ef836040516103d291815260200190565b60405180910390a3505050"
    "565b602081526000825180602084015260005b8181101561040d57602081860181015160408684010152016103f0565b"
    "506000604082850101526040601f19601f83011684010191505092915050565b80356001600160a01b03811681146104"
    "4457600080fd5b919050565b6000806040838503121561045c57600080fd5b6104658361042d565b9460209390930135"
    "93505050565b60008060006060848603121561048857600080fd5b6104918461042d565b925061049f6020850161042d"
    "565b929592945050506040919091013590565b6000602082840312156104c257600080fd5b6104cb8261042d565b9392"
    "505050565b600080604083850312156104e557600080fd5b6104ee8361042d565b91506104fc6020840161042d565b90"
    "509250929050565b634e487b7160e01b600052601160045260246000fd5b8181038181111561022c5761022c61050556"
    "5b8082018082111561022c5761022c61050556"
)
#: transfer(address,uint256)
TRANSFER_SELECTOR: Final = keccak256(b"transfer(address,uint256)")[:4]
#: balanceOf(address)
BALANCE_OF_SELECTOR: Final = keccak256(b"balanceOf(address)")[:4]

KINDS: Final = ("transfer", "erc20", "mixed")
#: gas limits: an ETH transfer, a token transfer (about 52,000 to a new holder), the token creation
TRANSFER_GAS: Final = 21_000
TOKEN_TRANSFER_GAS: Final = 100_000
TOKEN_CREATE_GAS: Final = 1_500_000
#: what each ETH transfer moves, and each token transfer
TRANSFER_VALUE_WEI: Final = 10**9
TOKEN_TRANSFER_UNITS: Final = 1
#: recipients cycle over this many fixed addresses, so repeated runs do not grow the state forever
RECIPIENTS: Final = 1024
#: how often blocks and the virtual batch number are read
BLOCK_POLL_S: Final = 0.05
VIRTUAL_POLL_S: Final = 0.25
#: eth_getBlockByNumber calls per JSON-RPC batch request
BLOCKS_PER_REQUEST: Final = 200
#: most eth_sendRawTransaction requests waiting for their answer at once
MAX_IN_FLIGHT: Final = 512
#: tokens each sender gets for --kind erc20 / mixed, and the most setup transactions in flight
TOKEN_GRANT_UNITS: Final = 10**24
SETUP_CHUNK: Final = 48
MAX_TPS: Final = 10_000
MAX_DURATION_S: Final = 3_600


class LoadError(Exception):
    """The load cannot run (node unreachable, senders not funded, a remote URL, …)."""


def recipient(index: int) -> bytes:
    return keccak256(f"zkseq load recipient {index % RECIPIENTS}".encode())[12:]


def token_transfer_data(to: bytes, units: int) -> bytes:
    return TRANSFER_SELECTOR + abi_encode(["address", "uint256"], ["0x" + to.hex(), units])


def contract_address(sender: bytes, nonce: int) -> bytes:
    from zkevm import rlp  # noqa: PLC0415

    return keccak256(rlp.encode([sender, nonce]))[12:]


# -- JSON-RPC -----------------------------------------------------------------------------------


class RpcError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        #: a bounded label for the summary ("nonce too low", "http 503", "timeout", …)
        self.reason = reason


def error_reason(error: Mapping[str, Any]) -> str:
    """A JSON-RPC error as a bounded label: the pool's rule wording before the colon."""
    message = str(error.get("message", "")).strip()
    reason = message.split(":", 1)[0].strip() or f"code {error.get('code')}"
    return reason[:60]


class Rpc:
    def __init__(self, session: aiohttp.ClientSession, url: str, timeout_s: float = 30.0) -> None:
        self.session = session
        self.url = url
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._id = 0

    async def _post(self, body: bytes) -> Any:
        try:
            async with self.session.post(
                self.url, data=body, headers={"Content-Type": "application/json"}, timeout=self.timeout
            ) as response:
                payload = await response.read()
                if response.status != 200:
                    with contextlib.suppress(ValueError):
                        reply = orjson.loads(payload)
                        if isinstance(reply, dict) and "error" in reply:
                            return reply
                    raise RpcError(f"http {response.status}", payload[:200].decode(errors="replace"))
                return orjson.loads(payload)
        except TimeoutError as exc:
            raise RpcError("timeout", "no answer in time") from exc
        except aiohttp.ClientError as exc:
            raise RpcError("connection error", str(exc)) from exc

    async def call(self, method: str, *params: Any) -> Any:
        self._id += 1
        reply = await self._post(
            orjson.dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)})
        )
        if "error" in reply:
            raise RpcError(error_reason(reply["error"]), f"{method}: {reply['error'].get('message')}")
        return reply.get("result")

    async def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Several calls in one request; each answer is its result, or an RpcError."""
        if not calls:
            return []
        first = self._id + 1
        self._id += len(calls)
        body = orjson.dumps(
            [
                {"jsonrpc": "2.0", "id": first + i, "method": method, "params": list(params)}
                for i, (method, params) in enumerate(calls)
            ]
        )
        replies = await self._post(body)
        if isinstance(replies, dict):  # the whole batch refused
            error = replies.get("error", {})
            raise RpcError(error_reason(error), str(error.get("message")))
        by_id = {reply.get("id"): reply for reply in replies}
        results: list[Any] = []
        for i, (method, _) in enumerate(calls):
            reply = by_id.get(first + i, {"error": {"message": "no answer in the batch"}})
            if "error" in reply:
                results.append(RpcError(error_reason(reply["error"]), f"{method}: {reply['error']}"))
            else:
                results.append(reply.get("result"))
        return results


def check_loopback(url: str, allow_remote: bool) -> None:
    """Refuse a URL whose host is not a loopback address, unless told otherwise."""
    host = urllib.parse.urlparse(url).hostname
    if not host:
        raise LoadError(f"{url!r} is not an http:// URL")
    if allow_remote:
        return
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as exc:
        raise LoadError(f"cannot resolve {host}: {exc}") from exc
    addresses = {info[4][0] for info in infos}
    if not all(ipaddress.ip_address(str(a).split("%")[0]).is_loopback for a in addresses):
        raise LoadError(
            f"{url} is not on this machine ({', '.join(sorted(map(str, addresses)))}): "
            "zkseq load sends only to loopback addresses unless --allow-remote is given"
        )


# -- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadConfig:
    rpc_url: str
    tps: float
    duration_s: float
    kind: str = "transfer"
    senders: int = 32
    #: the first load sender used
    sender_offset: int = 0
    drain_s: float = 60.0
    wait_virtual: bool = True
    #: the running devnet's devnet.json, for CPU and metrics (None: not measured)
    devnet: Mapping[str, Any] | None = None


@dataclass(slots=True)
class Tracked:
    """What happened to every transaction, by its index in send order (None: not yet, or never)."""

    count: int
    kinds: list[str]
    senders: list[int]
    sent: list[float | None] = field(default_factory=list)
    accepted: list[float | None] = field(default_factory=list)
    included: list[float | None] = field(default_factory=list)
    virtual: list[float | None] = field(default_factory=list)
    error: list[str | None] = field(default_factory=list)
    by_hash: dict[bytes, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sent = [None] * self.count
        self.accepted = [None] * self.count
        self.included = [None] * self.count
        self.virtual = [None] * self.count
        self.error = [None] * self.count

    def counts(self) -> dict[str, int]:
        def done(times: list[float | None]) -> int:
            return self.count - times.count(None)

        return {
            "sent": done(self.sent),
            "accepted": done(self.accepted),
            "included": done(self.included),
            "virtual": done(self.virtual),
            "errors": self.count - self.error.count(None),
        }


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered) - 1e-9)))
    return ordered[rank - 1]


def latencies(starts: Sequence[float | None], ends: Sequence[float | None]) -> list[float]:
    return [
        end - start for start, end in zip(starts, ends, strict=True) if end is not None and start is not None
    ]


class ProcessCpu:
    """CPU seconds used by each devnet process, from /proc (Linux)."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self.pids = dict(pids)
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def sample(self) -> dict[str, float]:
        used = {}
        for name, pid in self.pids.items():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            used[name] = (int(fields[11]) + int(fields[12])) / self._tick
        with contextlib.suppress(OSError):
            fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
            used["zkseq load"] = (int(fields[11]) + int(fields[12])) / self._tick
        return used


def scrape_all(document: Mapping[str, Any]) -> dict[str, str]:
    pages = {}
    for name, url in devnet.iter_metrics_urls(document):
        with contextlib.suppress(OSError):
            pages[name] = devnet.scrape(url)
    return pages


def histogram_totals(page: str, family_name: str, label: str | None) -> dict[str, tuple[float, float]]:
    """{label value: (sum, count)} of a histogram in an exposition page."""
    totals: dict[str, tuple[float, float]] = {}
    for family in text_string_to_metric_families(page):
        if family.name != family_name:
            continue
        for sample in family.samples:
            key = sample.labels.get(label, "") if label else ""
            s, c = totals.get(key, (0.0, 0.0))
            if sample.name.endswith("_sum"):
                totals[key] = (s + sample.value, c)
            elif sample.name.endswith("_count"):
                totals[key] = (s, c + sample.value)
    return totals


def counter_total(page: str, family_name: str, labels: Mapping[str, str] | None = None) -> float:
    total = 0.0
    for family in text_string_to_metric_families(page):
        if family.name != family_name:
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and all(
                sample.labels.get(k) == v for k, v in (labels or {}).items()
            ):
                total += sample.value
    return total


#: (service, histogram, label) whose time per run is shown in the breakdown
HOT_PATH: Final = (
    ("sequencer", "zkseq_sequencer_stage_duration_seconds", "stage"),
    ("executor", "zkseq_executor_process_batch_duration_seconds", None),
    ("pool", "zkseq_pool_add_duration_seconds", None),
    ("jsonrpc", "zkseq_jsonrpc_call_duration_seconds", "method"),
    ("hashdb", "zkseq_hashdb_rpc_duration_seconds", "method"),
)


def stage_breakdown(
    before: Mapping[str, str], after: Mapping[str, str], wall_s: float
) -> list[dict[str, Any]]:
    """Time spent per hot-path stage between two scrapes: calls, mean ms, and busy share of the wall."""
    rows: list[dict[str, Any]] = []
    for service, family, label in HOT_PATH:
        if service not in before or service not in after:
            continue
        base = family.removesuffix("_seconds")
        old = histogram_totals(before[service], base + "_seconds", label)
        new = histogram_totals(after[service], base + "_seconds", label)
        for key, (total_s, calls) in new.items():
            old_s, old_calls = old.get(key, (0.0, 0.0))
            d_s, d_calls = total_s - old_s, calls - old_calls
            if d_calls <= 0:
                continue
            rows.append(
                {
                    "stage": f"{service} {key}".strip(),
                    "calls": int(d_calls),
                    "mean_ms": 1000 * d_s / d_calls,
                    "busy": d_s / wall_s if wall_s > 0 else 0.0,
                }
            )
    rows.sort(key=lambda r: float(r["busy"]), reverse=True)
    return rows


class LoadRun:
    def __init__(self, config: LoadConfig, console: Console) -> None:
        self.config = config
        self.console = console
        self.stop_following = asyncio.Event()
        self.first_block = 0
        self.next_block = 0
        self.virtual_batch = 0
        self.tracked: Tracked | None = None
        self.block_errors = 0
        self.max_lag_s = 0.0

    # set-up --------------------------------------------------------------------------------

    async def _sender_state(self, rpc: Rpc, keys: Sequence[bytes]) -> tuple[list[bytes], list[int]]:
        addresses = [bytes.fromhex(devnet.address_of(k)[2:]) for k in keys]
        calls: list[tuple[str, Sequence[Any]]] = []
        for address in addresses:
            calls += [
                ("eth_getTransactionCount", ["0x" + address.hex(), "pending"]),
                ("eth_getBalance", ["0x" + address.hex(), "latest"]),
            ]
        replies = await rpc.batch(calls)
        nonces = []
        for i, address in enumerate(addresses):
            nonce, balance = replies[2 * i], replies[2 * i + 1]
            if isinstance(nonce, Exception) or isinstance(balance, Exception):
                problem = nonce if isinstance(nonce, Exception) else balance
                raise LoadError(f"cannot read sender 0x{address.hex()}: {problem}")
            if int(balance, 16) < 10**18:
                raise LoadError(
                    f"load sender {i} (0x{address.hex()}) has {int(balance, 16)} wei: the node is not a "
                    "zkseq devnet (its genesis funds the TEST-ONLY load senders)"
                )
            nonces.append(int(nonce, 16))
        return addresses, nonces

    async def _wait_receipts(
        self, rpc: Rpc, hashes: Sequence[bytes], what: str, timeout_s: float = 120
    ) -> list[Any]:
        deadline = time.monotonic() + timeout_s
        receipts: dict[bytes, Any] = {}
        while len(receipts) < len(hashes):
            missing = [h for h in hashes if h not in receipts]
            replies = await rpc.batch([("eth_getTransactionReceipt", ["0x" + h.hex()]) for h in missing])
            for h, reply in zip(missing, replies, strict=True):
                if reply is not None and not isinstance(reply, Exception):
                    receipts[h] = reply
            if len(receipts) < len(hashes):
                if time.monotonic() > deadline:
                    raise LoadError(
                        f"{what}: {len(hashes) - len(receipts)} transactions not included in {timeout_s} s"
                    )
                await asyncio.sleep(0.2)
        failed = [h for h in hashes if receipts[h].get("status") != "0x1"]
        if failed:
            raise LoadError(f"{what}: transaction 0x{failed[0].hex()} failed")
        return [receipts[h] for h in hashes]

    async def _send_setup(self, rpc: Rpc, txs: Sequence[L2Transaction], what: str) -> None:
        for start in range(0, len(txs), SETUP_CHUNK):
            chunk = txs[start : start + SETUP_CHUNK]
            replies = await rpc.batch(
                [("eth_sendRawTransaction", ["0x" + tx.to_raw().hex()]) for tx in chunk]
            )
            for reply in replies:
                if isinstance(reply, Exception):
                    raise LoadError(f"{what}: {reply}")
            await self._wait_receipts(rpc, [tx.tx_hash() for tx in chunk], what)

    async def _deploy_token(
        self,
        rpc: Rpc,
        *,
        keys: Sequence[bytes],
        addresses: Sequence[bytes],
        nonces: list[int],
        chain_id: int,
        gas_price: int,
    ) -> bytes:
        """LoadToken from sender 0, then a grant to every other sender; `nonces` move on."""
        supply = TOKEN_GRANT_UNITS * (len(keys) + 1)
        create = sign_transaction(
            nonce=nonces[0],
            gas_price=gas_price,
            gas_limit=TOKEN_CREATE_GAS,
            to=None,
            value=0,
            data=TOKEN_BYTECODE + abi_encode(["uint256"], [supply]),
            chain_id=chain_id,
            private_key=keys[0],
        )
        token = contract_address(addresses[0], nonces[0])
        nonces[0] += 1
        self.console.print(f"deploying LoadToken at 0x{token.hex()} …")
        await self._send_setup(rpc, [create], "deploying LoadToken")
        grants = []
        for i in range(1, len(keys)):
            grants.append(
                sign_transaction(
                    nonce=nonces[0],
                    gas_price=gas_price,
                    gas_limit=TOKEN_TRANSFER_GAS,
                    to=token,
                    value=0,
                    data=token_transfer_data(addresses[i], TOKEN_GRANT_UNITS),
                    chain_id=chain_id,
                    private_key=keys[0],
                )
            )
            nonces[0] += 1
        if grants:
            self.console.print(f"giving {len(grants)} senders tokens …")
            await self._send_setup(rpc, grants, "granting tokens")
        return token

    # following the chain -------------------------------------------------------------------

    async def _follow_blocks(self, rpc: Rpc, tracked: Tracked) -> None:
        while True:
            try:
                head = int(await rpc.call("eth_blockNumber"), 16)
                while self.next_block <= head:
                    last = min(head, self.next_block + BLOCKS_PER_REQUEST - 1)
                    numbers = range(self.next_block, last + 1)
                    blocks = await rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
                    now = time.monotonic()
                    for block in blocks:
                        if block is None or isinstance(block, Exception):
                            raise RpcError("block", f"block missing: {block}")
                        for tx_hash in block["transactions"]:
                            index = tracked.by_hash.get(bytes.fromhex(tx_hash[2:]))
                            if index is not None and tracked.included[index] is None:
                                tracked.included[index] = now
                    self.next_block = last + 1
            except RpcError:
                self.block_errors += 1
            if self.stop_following.is_set():
                return
            await asyncio.sleep(BLOCK_POLL_S)

    async def _follow_virtual(self, rpc: Rpc, tracked: Tracked) -> None:
        while True:
            try:
                virtual = int(await rpc.call("zkevm_virtualBatchNumber"), 16)
                if virtual > self.virtual_batch:
                    numbers = range(self.virtual_batch + 1, virtual + 1)
                    batches = await rpc.batch([("zkevm_getBatchByNumber", [hex(n), False]) for n in numbers])
                    now = time.monotonic()
                    for batch in batches:
                        if batch is None or isinstance(batch, Exception):
                            raise RpcError("batch", f"batch missing: {batch}")
                        for tx_hash in batch["transactions"]:
                            index = tracked.by_hash.get(bytes.fromhex(tx_hash[2:]))
                            if index is not None and tracked.virtual[index] is None:
                                tracked.virtual[index] = now
                    self.virtual_batch = virtual
            except RpcError:
                self.block_errors += 1
            if self.stop_following.is_set():
                return
            await asyncio.sleep(VIRTUAL_POLL_S)

    # sending -------------------------------------------------------------------------------

    async def _send_one(
        self, rpc: Rpc, tracked: Tracked, index: int, raw: bytes, gate: asyncio.Semaphore
    ) -> None:
        try:
            tracked.sent[index] = time.monotonic()
            try:
                await rpc.call("eth_sendRawTransaction", "0x" + raw.hex())
            except RpcError as exc:
                tracked.error[index] = exc.reason
            else:
                tracked.accepted[index] = time.monotonic()
        finally:
            gate.release()

    async def _send_all(self, rpc: Rpc, tracked: Tracked, raws: Sequence[bytes]) -> tuple[float, float]:
        """Send on schedule; (start, end) of the sending window and the largest lag behind it."""
        gate = asyncio.Semaphore(MAX_IN_FLIGHT)
        tasks = set()
        interval = 1.0 / self.config.tps
        start = time.monotonic()
        self.max_lag_s = 0.0
        for index, raw in enumerate(raws):
            due = start + index * interval
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self.max_lag_s = max(self.max_lag_s, -delay)
            await gate.acquire()
            task = asyncio.create_task(self._send_one(rpc, tracked, index, raw, gate))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        return start, time.monotonic()

    async def run(self) -> dict[str, Any]:
        config = self.config
        connector = aiohttp.TCPConnector(limit=64, limit_per_host=64)
        async with aiohttp.ClientSession(connector=connector) as session:
            rpc = Rpc(session, config.rpc_url)
            try:
                chain_id = int(await rpc.call("eth_chainId"), 16)
                gas_price = int(await rpc.call("eth_gasPrice"), 16)
                head = int(await rpc.call("eth_blockNumber"), 16)
                virtual = int(await rpc.call("zkevm_virtualBatchNumber"), 16)
                waiting = int(await rpc.call("eth_getBlockTransactionCountByNumber", "pending"), 16)
            except RpcError as exc:
                raise LoadError(f"{config.rpc_url} does not answer like a zkseq node: {exc}") from exc
            if waiting:
                self.console.print(
                    f"[yellow]the pool already holds {waiting} pending transactions (an earlier overloaded "
                    "run leaves some behind a refused nonce): senders they belong to may see nonce "
                    "errors; --sender-offset picks other senders, `zkseq devnet up --fresh` a clean "
                    "chain[/yellow]"
                )
            first = config.sender_offset
            keys = [devnet.load_sender_key(i) for i in range(first, first + config.senders)]
            addresses, nonces = await self._sender_state(rpc, keys)
            token = None
            if config.kind in ("erc20", "mixed"):
                token = await self._deploy_token(
                    rpc, keys=keys, addresses=addresses, nonces=nonces, chain_id=chain_id, gas_price=gas_price
                )
                head = int(await rpc.call("eth_blockNumber"), 16)
                virtual = int(await rpc.call("zkevm_virtualBatchNumber"), 16)
            self.next_block = self.first_block = head + 1
            self.virtual_batch = virtual

            total = max(1, round(config.tps * config.duration_s))
            self.console.print(
                f"signing {total} transactions ({config.kind}) from {config.senders} senders "
                f"for {config.tps:g} tx/s × {config.duration_s:g} s …"
            )
            raws, kinds, senders = [], [], []
            tracked_hashes = []
            for i in range(total):
                sender = i % config.senders
                is_token = token is not None and (config.kind == "erc20" or i % 2 == 1)
                tx = sign_transaction(
                    nonce=nonces[sender],
                    gas_price=gas_price,
                    gas_limit=TOKEN_TRANSFER_GAS if is_token else TRANSFER_GAS,
                    to=token if is_token else recipient(i),
                    value=0 if is_token else TRANSFER_VALUE_WEI,
                    data=token_transfer_data(recipient(i), TOKEN_TRANSFER_UNITS) if is_token else b"",
                    chain_id=chain_id,
                    private_key=keys[sender],
                )
                nonces[sender] += 1
                raws.append(tx.to_raw())
                kinds.append("erc20" if is_token else "transfer")
                senders.append(sender)
                tracked_hashes.append(tx.tx_hash())
            tracked = Tracked(total, kinds, senders)
            tracked.by_hash = {h: i for i, h in enumerate(tracked_hashes)}
            self.tracked = tracked

            cpu = ProcessCpu(_pids(config.devnet)) if config.devnet else None
            metrics_before = await asyncio.to_thread(scrape_all, config.devnet) if config.devnet else {}
            cpu_before = cpu.sample() if cpu else {}
            followers = [
                asyncio.create_task(self._follow_blocks(rpc, tracked)),
                asyncio.create_task(self._follow_virtual(rpc, tracked)),
            ]
            progress_task = asyncio.create_task(self._show_progress(tracked))
            try:
                window = await self._send_all(rpc, tracked, raws)
                # CPU and the hot path are measured over the sending window, where the rate is steady
                end = time.monotonic()
                cpu_after = cpu.sample() if cpu else {}
                metrics_after = await asyncio.to_thread(scrape_all, config.devnet) if config.devnet else {}
                drained = await self._drain(tracked)
            finally:
                self.stop_following.set()
                await asyncio.gather(*followers, return_exceptions=True)
                progress_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await progress_task
            reverted = await self._reverted(rpc, tracked, tracked_hashes)
        return self._report(
            tracked,
            window=window,
            end=end,
            drained=drained,
            cpu_before=cpu_before,
            cpu_after=cpu_after,
            metrics_before=metrics_before,
            metrics_after=metrics_after,
            reverted=reverted,
        )

    async def _reverted(self, rpc: Rpc, tracked: Tracked, hashes: Sequence[bytes]) -> int:
        """How many included token transfers have a failed receipt (ETH transfers cannot revert)."""
        included = [
            i for i in range(tracked.count) if tracked.kinds[i] == "erc20" and tracked.included[i] is not None
        ]
        reverted = 0
        for start in range(0, len(included), 500):
            chunk = included[start : start + 500]
            receipts = await rpc.batch(
                [("eth_getTransactionReceipt", ["0x" + hashes[i].hex()]) for i in chunk]
            )
            reverted += sum(1 for r in receipts if isinstance(r, dict) and r.get("status") != "0x1")
        return reverted

    async def _drain(self, tracked: Tracked) -> bool:
        """Wait for the accepted transactions to be included (and virtual); True if all were."""
        deadline = time.monotonic() + self.config.drain_s
        while time.monotonic() < deadline:
            counts = tracked.counts()
            done = counts["included"] >= counts["accepted"]
            if self.config.wait_virtual:
                done = done and counts["virtual"] >= counts["included"]
            if done:
                return True
            await asyncio.sleep(0.1)
        return False

    # output --------------------------------------------------------------------------------

    async def _show_progress(self, tracked: Tracked) -> None:
        live = self.console.is_terminal
        progress = Progress(
            TextColumn("{task.description:>9}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=not live,
            refresh_per_second=4,
        )
        sending = progress.add_task("sent", total=tracked.count, info="")
        including = progress.add_task("included", total=tracked.count, info="")
        virtualising = progress.add_task("virtual", total=tracked.count, info="")
        last_print = time.monotonic()
        with progress:
            while True:
                counts = tracked.counts()
                recent = self._recent_latency(tracked)
                progress.update(
                    sending,
                    completed=counts["sent"],
                    info=f"accepted {counts['accepted']}  errors {counts['errors']}",
                )
                progress.update(
                    including,
                    completed=counts["included"],
                    info=""
                    if recent is None
                    else f"p50 {recent[0] * 1000:.0f} ms  p99 {recent[1] * 1000:.0f} ms (last 5 s)",
                )
                progress.update(
                    virtualising, completed=counts["virtual"], info=f"virtual batch {self.virtual_batch}"
                )
                if not live and time.monotonic() - last_print >= 5:
                    last_print = time.monotonic()
                    lat = (
                        ""
                        if recent is None
                        else f", receipt p50 {recent[0] * 1000:.0f} ms p99 {recent[1] * 1000:.0f} ms"
                    )
                    self.console.print(
                        f"sent {counts['sent']}/{tracked.count}, accepted {counts['accepted']}, included "
                        f"{counts['included']}, virtual {counts['virtual']}, errors {counts['errors']}{lat}"
                    )
                await asyncio.sleep(0.25)

    @staticmethod
    def _recent_latency(tracked: Tracked, window_s: float = 5.0) -> tuple[float, float] | None:
        now = time.monotonic()
        values = [
            inc - snt
            for snt, inc in zip(tracked.sent, tracked.included, strict=True)
            if inc is not None and snt is not None and now - inc <= window_s
        ]
        if not values:
            return None
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        assert p50 is not None and p99 is not None
        return p50, p99

    def _report(
        self,
        tracked: Tracked,
        *,
        window: tuple[float, float],
        end: float,
        drained: bool,
        cpu_before: Mapping[str, float],
        cpu_after: Mapping[str, float],
        metrics_before: Mapping[str, str],
        metrics_after: Mapping[str, str],
        reverted: int = 0,
    ) -> dict[str, Any]:
        start, send_end = window
        counts = tracked.counts()
        send_window = max(send_end - start, 1e-9)
        included_times = [t for t in tracked.included if t is not None]
        receipt = latencies(tracked.sent, tracked.included)
        to_virtual = latencies(tracked.sent, tracked.virtual)
        ack = latencies(tracked.sent, tracked.accepted)
        # latency trend over the sending window: first third vs last third of the sends
        third = tracked.count // 3
        early = latencies(tracked.sent[:third], tracked.included[:third]) if third else []
        late = latencies(tracked.sent[-third:], tracked.included[-third:]) if third else []

        errors: Counter[str] = Counter(e for e in tracked.error if e is not None)
        if reverted:
            errors["included, reverted"] = reverted
        rejected_senders = {tracked.senders[i] for i, e in enumerate(tracked.error) if e is not None}
        for i in range(tracked.count):
            if tracked.accepted[i] is not None and tracked.included[i] is None:
                if tracked.senders[i] in rejected_senders:
                    errors["not included (behind a refused nonce)"] += 1
                else:
                    errors["not included before the drain ended"] += 1
            elif self.config.wait_virtual and tracked.included[i] is not None and tracked.virtual[i] is None:
                errors["included, not virtual before the drain ended"] += 1

        def stats(values: Sequence[float]) -> dict[str, float | None]:
            return {
                "p50": percentile(values, 0.50),
                "p95": percentile(values, 0.95),
                "p99": percentile(values, 0.99),
                "max": max(values) if values else None,
            }

        wall = end - start
        cpu = {
            name: (cpu_after[name] - cpu_before[name]) / wall
            for name in cpu_after
            if name in cpu_before and wall > 0
        }
        included_in_window = sum(1 for t in included_times if t <= send_end)
        report: dict[str, Any] = {
            "config": {
                "rpc_url": self.config.rpc_url,
                "tps": self.config.tps,
                "duration_s": self.config.duration_s,
                "kind": self.config.kind,
                "senders": self.config.senders,
                "sender_offset": self.config.sender_offset,
            },
            "counts": counts,
            # how big the chain was: throughput falls as it grows (README, known limits)
            "l2_blocks_before": self.first_block - 1,
            "drained": drained,
            "send_window_s": send_window,
            "max_send_lag_s": self.max_lag_s,
            "offered_tps": counts["sent"] / send_window,
            "accepted_tps": counts["accepted"] / send_window,
            "included_tps_during_sending": included_in_window / send_window,
            "included_tps": (len(included_times) / (max(included_times) - start)) if included_times else 0.0,
            "latency_s": {
                "accept": stats(ack),
                "receipt": stats(receipt),
                "virtual": stats(to_virtual),
                "receipt_p50_first_third": percentile(early, 0.5),
                "receipt_p50_last_third": percentile(late, 0.5),
            },
            "errors": dict(errors.most_common()),
            "cpu_cores": dict(sorted(cpu.items(), key=lambda kv: -kv[1])),
            "stages": stage_breakdown(metrics_before, metrics_after, wall) if metrics_after else [],
        }
        if metrics_before and metrics_after and "sequencer" in metrics_after:
            closed_before = _closed_reasons(metrics_before["sequencer"])
            closed_after = _closed_reasons(metrics_after["sequencer"])
            report["batches_closed"] = {
                reason: int(n - closed_before.get(reason, 0))
                for reason, n in closed_after.items()
                if n - closed_before.get(reason, 0) > 0
            }
        return report


def _closed_reasons(page: str) -> dict[str, float]:
    reasons: dict[str, float] = {}
    for family in text_string_to_metric_families(page):
        if family.name == "zkseq_sequencer_batches_closed":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    reasons[sample.labels.get("reason", "")] = sample.value
    return reasons


def _pids(document: Mapping[str, Any] | None) -> dict[str, int]:
    if not document:
        return {}
    return {name: int(p["pid"]) for name, p in document["processes"].items() if p.get("pid")}


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:,.0f} ms"


def print_summary(report: Mapping[str, Any], console: Console) -> None:
    counts = report["counts"]
    config = report["config"]
    table = Table(
        title=f"zkseq load: {config['kind']} at {config['tps']:g} tx/s for {config['duration_s']:g} s, "
        f"{config['senders']} senders"
    )
    table.add_column("")
    table.add_column("value", justify="right")
    for key in ("sent", "accepted", "included", "virtual", "errors"):
        table.add_row(key, f"{counts[key]:,}")
    if report.get("l2_blocks_before") is not None:
        table.add_row("L2 blocks before the run", f"{report['l2_blocks_before']:,}")
    table.add_row("offered rate", f"{report['offered_tps']:.1f} tx/s")
    table.add_row("accepted rate", f"{report['accepted_tps']:.1f} tx/s")
    table.add_row("included rate while sending", f"{report['included_tps_during_sending']:.1f} tx/s")
    table.add_row("included rate (to the last inclusion)", f"{report['included_tps']:.1f} tx/s")
    if report["max_send_lag_s"] > 0.05:
        table.add_row("[yellow]client behind schedule by[/yellow]", _ms(report["max_send_lag_s"]))
    console.print(table)

    lat = Table(title="latency from the send")
    for column in ("to", "p50", "p95", "p99", "max"):
        lat.add_column(column, justify="right" if column != "to" else "left")
    for name, label in (
        ("accept", "RPC answer"),
        ("receipt", "receipt (in an L2 block)"),
        ("virtual", "virtual (on L1)"),
    ):
        s = report["latency_s"][name]
        lat.add_row(label, _ms(s["p50"]), _ms(s["p95"]), _ms(s["p99"]), _ms(s["max"]))
    console.print(lat)
    first, last = (
        report["latency_s"]["receipt_p50_first_third"],
        report["latency_s"]["receipt_p50_last_third"],
    )
    if first is not None and last is not None:
        trend = (
            "flat"
            if last <= max(2 * first, first + 0.25)
            else "[red]rising: the devnet is not keeping up[/red]"
        )
        console.print(
            f"receipt latency p50, first third of the sends {_ms(first)}, last third {_ms(last)}: {trend}"
        )

    if report["errors"]:
        errors = Table(title="errors by reason")
        errors.add_column("reason")
        errors.add_column("count", justify="right")
        for reason, n in report["errors"].items():
            errors.add_row(reason, f"{n:,}")
        console.print(errors)
    if report["cpu_cores"]:
        cpu = Table(title="CPU while sending (1.00 = a core)")
        cpu.add_column("process")
        cpu.add_column("cores", justify="right")
        for name, cores in report["cpu_cores"].items():
            cpu.add_row(name, f"{cores:.2f}")
        console.print(cpu)
    if report["stages"]:
        stages = Table(
            title="hot path while sending, from the services' /metrics (busy = time in the stage / wall time)"
        )
        for column in ("stage", "calls", "mean", "busy"):
            stages.add_column(column, justify="left" if column == "stage" else "right")
        for row in report["stages"][:14]:
            stages.add_row(
                row["stage"], f"{row['calls']:,}", f"{row['mean_ms']:.2f} ms", f"{row['busy']:.0%}"
            )
        console.print(stages)
    if report.get("batches_closed"):
        console.print(
            "batches closed: "
            + ", ".join(f"{n} by {reason}" for reason, n in report["batches_closed"].items())
        )


# -- argparse -----------------------------------------------------------------------------------


def add_parser(sub: Any) -> None:
    load = sub.add_parser("load", help="send signed transactions at a steady rate and measure them")
    load.add_argument("--tps", type=float, required=True, help="transactions per second to send")
    load.add_argument("--duration", type=float, required=True, help="seconds to send for")
    load.add_argument(
        "--kind", choices=KINDS, default="transfer", help="ETH transfers, ERC-20 transfers or both"
    )
    load.add_argument(
        "--senders", type=int, default=32, help=f"sending accounts, 1..{devnet.LOAD_SENDERS} (default 32)"
    )
    load.add_argument(
        "--sender-offset", type=int, default=0, help="use the load senders from this one on (default 0)"
    )
    load.add_argument("--rpc", default=None, help="L2 JSON-RPC URL (default: the devnet's, else :8123)")
    load.add_argument(
        "--data-dir",
        type=Path,
        default=devnet.DEFAULT_DATA_DIR,
        help="the devnet's data folder (for its endpoints)",
    )
    load.add_argument("--drain", type=float, default=60.0, help="longest wait after sending, in s (60)")
    load.add_argument("--no-virtual", action="store_true", help="do not wait for the batches to be virtual")
    load.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --rpc")
    load.add_argument("--json", type=Path, default=None, help="also write the summary as JSON to this file")
    load.set_defaults(func=_load_command)


def _load_command(args: argparse.Namespace) -> int:
    console = Console()
    problems = []
    if not 0 < args.tps <= MAX_TPS:
        problems.append(f"--tps must be in (0, {MAX_TPS}]")
    if not 0 < args.duration <= MAX_DURATION_S:
        problems.append(f"--duration must be in (0, {MAX_DURATION_S}] s")
    if args.sender_offset < 0 or args.sender_offset + args.senders > devnet.LOAD_SENDERS:
        problems.append(
            f"--sender-offset + --senders must stay within the {devnet.LOAD_SENDERS} load senders"
        )
    if not 1 <= args.senders <= devnet.LOAD_SENDERS:
        problems.append(
            f"--senders must be in [1, {devnet.LOAD_SENDERS}] (the devnet genesis funds that many)"
        )
    if not 0 <= args.drain <= 3600:
        problems.append("--drain must be in [0, 3600] s")
    if problems:
        for problem in problems:
            print(f"zkseq load: {problem}", file=sys.stderr)
        return 2
    document = devnet.read_running(devnet.DataDir(args.data_dir.resolve()))
    rpc_url = args.rpc or (document["l2_rpc_url"] if document else "http://127.0.0.1:8123")
    if args.rpc and document and args.rpc.rstrip("/") != document["l2_rpc_url"]:
        document = None  # another node: its processes are not the devnet's
    config = LoadConfig(
        rpc_url=rpc_url,
        tps=args.tps,
        duration_s=args.duration,
        kind=args.kind,
        senders=args.senders,
        sender_offset=args.sender_offset,
        drain_s=args.drain,
        wait_virtual=not args.no_virtual,
        devnet=document,
    )
    try:
        check_loopback(rpc_url, args.allow_remote)
        report = asyncio.run(LoadRun(config, console).run())
    except LoadError as exc:
        print(f"zkseq load: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("zkseq load: interrupted", file=sys.stderr)
        return 130
    print_summary(report, console)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    failed = report["counts"]["accepted"] == 0
    return 1 if failed else 0

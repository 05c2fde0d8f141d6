"""The L1 node as the EthTxManager sees it: a few JSON-RPC methods over HTTP (aiohttp), and what the
node's refusals of `eth_sendRawTransaction` mean.

The manager signs locally and only ever broadcasts raw transactions; it reads blocks, nonces,
fees, transactions and receipts. Every call has a deadline. A node that cannot be reached, times
out, or answers something that is not JSON-RPC raises `L1Unavailable` (the monitor retries on its
next tick); a JSON-RPC error object raises `RpcError` with the node's own words.

Refusals of a broadcast, as geth, anvil, erigon and nethermind word them (`classify_rejection`):

    ALREADY_KNOWN        "already known", "transaction already imported", "known transaction"
                         → the node has exactly this transaction: success
    NONCE_TOO_LOW        "nonce too low", "OldNonce" → some transaction with this nonce was mined:
                         look for which one of ours (the monitor's receipts check)
    UNDERPRICED          "replacement transaction underpriced", "transaction underpriced"
                         → raise the fees more and send again
    FEE_BELOW_BASE_FEE   "max fee per gas less than block base fee" → same: raise the fees
    INSUFFICIENT_FUNDS   "insufficient funds" → nothing to do but wait for the operator
    OTHER                anything else; logged, retried on the next tick
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from services.ethtxmanager.fees import FeeKind, Fees

#: the tip the node's eth_maxPriorityFeePerGas is replaced by where that method is missing (1 gwei)
DEFAULT_TIP_WEI: Final = 10**9


class L1Unavailable(Exception):
    """The L1 node could not be reached, timed out, or did not answer with JSON-RPC."""


class RpcError(Exception):
    """The node answered a JSON-RPC error object."""

    def __init__(self, method: str, code: int, message: str, data: object = None) -> None:
        super().__init__(f"{method}: {message} (code {code})")
        self.method = method
        self.code = code
        self.message = message
        self.data = data

    def revert_data(self) -> bytes | None:
        """The revert data of an `execution reverted` error (geth/anvil put it in `data`)."""
        data = self.data
        if isinstance(data, dict):  # some nodes nest it: {"data": "0x…"}
            data = data.get("data")
        if isinstance(data, str) and data.startswith("0x"):
            try:
                return bytes.fromhex(data[2:])
            except ValueError:
                return None
        return None

    def is_revert(self) -> bool:
        return self.code == 3 or "revert" in self.message.lower()


class Rejection(enum.StrEnum):
    """Why a node refused a raw transaction (see the module docstring)."""

    ALREADY_KNOWN = "already_known"
    NONCE_TOO_LOW = "nonce_too_low"
    UNDERPRICED = "underpriced"
    FEE_BELOW_BASE_FEE = "fee_below_base_fee"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    OTHER = "other"


_REJECTIONS: Final = (
    (Rejection.ALREADY_KNOWN, ("already known", "already imported", "known transaction", "alreadyknown")),
    (Rejection.NONCE_TOO_LOW, ("nonce too low", "oldnonce", "nonce has already been used")),
    (Rejection.FEE_BELOW_BASE_FEE, ("less than block base fee", "feecap below base fee", "fee cap less")),
    (Rejection.UNDERPRICED, ("underpriced", "feetoolow")),
    (Rejection.INSUFFICIENT_FUNDS, ("insufficient funds", "insufficientfunds")),
)


def classify_rejection(message: str) -> Rejection:
    """The kind of a node's refusal of `eth_sendRawTransaction`, from its message."""
    lowered = message.lower()
    for kind, needles in _REJECTIONS:
        if any(needle in lowered for needle in needles):
            return kind
    return Rejection.OTHER


@dataclass(frozen=True, slots=True)
class L1Block:
    number: int
    hash: bytes
    #: None on a chain without EIP-1559
    base_fee: int | None
    gas_limit: int


@dataclass(frozen=True, slots=True)
class L1Receipt:
    tx_hash: bytes
    block_number: int
    block_hash: bytes
    #: 1 success, 0 reverted
    status: int
    gas_used: int
    effective_gas_price: int


@dataclass(frozen=True, slots=True)
class L1Transaction:
    """A transaction the node knows (pending, or mined when `block_number` is set)."""

    hash: bytes
    nonce: int
    fees: Fees
    block_number: int | None


def _int(value: object, what: str) -> int:
    if isinstance(value, str) and value.startswith("0x"):
        return int(value, 16)
    if isinstance(value, int):
        return value
    raise L1Unavailable(f"the node answered {what} = {value!r}, not a quantity")


def _bytes(value: object, what: str) -> bytes:
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            pass
    raise L1Unavailable(f"the node answered {what} = {value!r}, not hex data")


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


class JsonRpcL1Client:
    """The L1 node over HTTP JSON-RPC; `close()` when done."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._next_id = 0

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, method: str, params: list[Any]) -> Any:
        """One JSON-RPC call; the `result`, or `RpcError` / `L1Unavailable`."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        self._next_id += 1
        body = {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params}
        try:
            async with self._session.post(self.url, json=body) as response:
                if response.status != 200:
                    text = (await response.text())[:200]
                    raise L1Unavailable(f"{method}: HTTP {response.status} from {self.url}: {text}")
                reply = json.loads(await response.read())
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise L1Unavailable(f"{method}: {self.url} unreachable: {exc!r}") from exc
        if not isinstance(reply, dict):
            raise L1Unavailable(f"{method}: {self.url} answered {reply!r}, not a JSON-RPC response")
        error = reply.get("error")
        if error is not None:
            if not isinstance(error, dict):
                raise L1Unavailable(f"{method}: malformed error {error!r}")
            raise RpcError(
                method, int(error.get("code", 0)), str(error.get("message", "")), error.get("data")
            )
        return reply.get("result")

    async def chain_id(self) -> int:
        return _int(await self.call("eth_chainId", []), "eth_chainId")

    async def block_number(self) -> int:
        return _int(await self.call("eth_blockNumber", []), "eth_blockNumber")

    async def block(self, tag: int | str) -> L1Block | None:
        """A block by number, or "latest" / "pending"; None if the node has no such block."""
        ref = hex(tag) if isinstance(tag, int) else tag
        raw = await self.call("eth_getBlockByNumber", [ref, False])
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise L1Unavailable(f"eth_getBlockByNumber({ref}) answered {raw!r}")
        base_fee = raw.get("baseFeePerGas")
        number = raw.get("number")
        block_hash = raw.get("hash")
        return L1Block(
            number=_int(number, "block number") if number is not None else -1,
            hash=_bytes(block_hash, "block hash") if block_hash is not None else b"",
            base_fee=None if base_fee is None else _int(base_fee, "baseFeePerGas"),
            gas_limit=_int(raw.get("gasLimit"), "gasLimit"),
        )

    async def nonce(self, address: bytes, tag: str) -> int:
        return _int(
            await self.call("eth_getTransactionCount", [_hex(address), tag]), "eth_getTransactionCount"
        )

    async def balance(self, address: bytes) -> int:
        return _int(await self.call("eth_getBalance", [_hex(address), "latest"]), "eth_getBalance")

    async def gas_price(self) -> int:
        return _int(await self.call("eth_gasPrice", []), "eth_gasPrice")

    async def max_priority_fee(self) -> int:
        """The node's suggested tip; DEFAULT_TIP_WEI where the node lacks the method."""
        try:
            return _int(await self.call("eth_maxPriorityFeePerGas", []), "eth_maxPriorityFeePerGas")
        except RpcError:
            return DEFAULT_TIP_WEI

    async def estimate_gas(self, sender: bytes, to: bytes | None, data: bytes, value: int) -> int:
        """eth_estimateGas; a revert raises `RpcError` whose `is_revert()` is True."""
        params: dict[str, str] = {"from": _hex(sender), "data": _hex(data), "value": hex(value)}
        if to is not None:
            params["to"] = _hex(to)
        return _int(await self.call("eth_estimateGas", [params]), "eth_estimateGas")

    async def send_raw_transaction(self, raw: bytes) -> None:
        """Broadcast; a refusal raises `RpcError` (see `classify_rejection`)."""
        await self.call("eth_sendRawTransaction", [_hex(raw)])

    async def transaction(self, tx_hash: bytes) -> L1Transaction | None:
        """The transaction if the node knows it (in its pool or in a block)."""
        raw = await self.call("eth_getTransactionByHash", [_hex(tx_hash)])
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise L1Unavailable(f"eth_getTransactionByHash answered {raw!r}")
        if raw.get("maxFeePerGas") is not None:
            fees = Fees(
                FeeKind.EIP1559,
                _int(raw["maxFeePerGas"], "maxFeePerGas"),
                _int(raw.get("maxPriorityFeePerGas"), "maxPriorityFeePerGas"),
            )
        else:
            fees = Fees(FeeKind.LEGACY, _int(raw.get("gasPrice"), "gasPrice"))
        block_number = raw.get("blockNumber")
        return L1Transaction(
            hash=tx_hash,
            nonce=_int(raw.get("nonce"), "nonce"),
            fees=fees,
            block_number=None if block_number is None else _int(block_number, "blockNumber"),
        )

    async def receipt(self, tx_hash: bytes) -> L1Receipt | None:
        raw = await self.call("eth_getTransactionReceipt", [_hex(tx_hash)])
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise L1Unavailable(f"eth_getTransactionReceipt answered {raw!r}")
        if raw.get("blockHash") is None or raw.get("blockNumber") is None:
            return None  # some nodes answer a pending "receipt"
        return L1Receipt(
            tx_hash=tx_hash,
            block_number=_int(raw["blockNumber"], "blockNumber"),
            block_hash=_bytes(raw["blockHash"], "blockHash"),
            status=_int(raw.get("status"), "status"),
            gas_used=_int(raw.get("gasUsed"), "gasUsed"),
            effective_gas_price=_int(raw.get("effectiveGasPrice"), "effectiveGasPrice"),
        )

    async def revert_data(self, tx_hash: bytes) -> bytes | None:
        """The revert data of a mined, failed transaction from the node's call tracer
        (debug_traceTransaction, served by geth and anvil); None when the node has no tracer."""
        try:
            result = await self.call("debug_traceTransaction", [_hex(tx_hash), {"tracer": "callTracer"}])
        except RpcError:
            return None
        if not isinstance(result, dict):
            return None
        output = result.get("output")
        if not isinstance(output, str) or not output.startswith("0x"):
            return b"" if output is None else None
        try:
            return bytes.fromhex(output[2:])
        except ValueError:
            return None

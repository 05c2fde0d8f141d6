"""`Web3L1`: the L1 ports (`L1Reader` for the watcher, `L1Sequencing` for the sender) over an
Ethereum JSON-RPC node with web3.py's AsyncWeb3, so no call blocks the event loop.

The reads made every tick (the block number, headers, the rollup's view functions) skip web3's
middleware and contract machinery, which cost more CPU than the round trips themselves (and asked
the node for eth_chainId twice per eth_call): they are sent as plain JSON-RPC requests through the
provider, the view functions ABI-encoded and decoded here with eth_abi (selectors and types from
the contract's ABI); `sequenced_state` sends its three independent views in one JSON-RPC batch and
then `sequencedBatches(last)`, all pinned to one block. Event logs, transactions and gas
estimates still go through web3.

Transport failures, timeouts, node errors and answers that do not decode become `L1Unavailable`
(retried by the callers); a revert of eth_estimateGas becomes the contract's named error
(`services.common.l1.errors`), and a failed estimate without revert data `GasEstimateFailed` with
the node's message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import aiohttp
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from hexbytes import HexBytes
from web3 import AsyncHTTPProvider, AsyncWeb3, Web3
from web3.exceptions import ContractLogicError, Web3Exception, Web3RPCError
from web3.types import FilterParams, RPCEndpoint, TxParams

from services.common.l1.artifacts import ROLLUP, load_artifact
from services.common.l1.errors import UnknownRevert, revert_from_web3
from services.common.l1.rollup import ROLLUP_EVENT_TOPICS, RollupEvent, SequencedBatchData, decode_rollup_log
from services.sequencesender.models import L1Header, L1Tx, SequencedState
from services.sequencesender.ports import GasEstimateFailed, L1Unavailable
from zkevm.batch import Hash32
from zkevm.hashing import keccak256
from zkevm.state_keys import Address

T = TypeVar("T")

#: what a failing JSON-RPC round trip raises, besides web3's own exceptions (ValueError: an answer
#: that is not JSON)
_TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError, OSError, ValueError)
#: the JSON-RPC error code of a reverted eth_call (geth, anvil)
_REVERT_CODE = 3

Block = int | Literal["latest"]


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return bytes.fromhex(str(value).removeprefix("0x"))


@dataclass(frozen=True, slots=True)
class ViewFunction:
    """A view function of a contract: its selector and its argument and result types."""

    name: str
    selector: bytes
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    def calldata(self, args: Sequence[Any]) -> str:
        return "0x" + (self.selector + abi_encode(self.inputs, args)).hex()

    def decode(self, result: bytes) -> Any:
        """The single result, or the tuple of results (as web3's contract calls answer)."""
        values = abi_decode(self.outputs, result)
        return values[0] if len(values) == 1 else values


def view_functions(abi: Sequence[Mapping[str, Any]]) -> dict[str, ViewFunction]:
    """The view and pure functions of `abi` whose arguments and results are plain ABI types."""
    found: dict[str, ViewFunction] = {}
    for entry in abi:
        if entry.get("type") != "function" or entry.get("stateMutability") not in ("view", "pure"):
            continue
        inputs = tuple(str(item["type"]) for item in entry.get("inputs", ()))
        outputs = tuple(str(item["type"]) for item in entry.get("outputs", ()))
        if any(t.startswith("tuple") for t in inputs + outputs):
            continue  # none of the views read here; struct types would need their components
        name = str(entry["name"])
        selector = keccak256(f"{name}({','.join(inputs)})".encode())[:4]
        found[name] = ViewFunction(name, selector, inputs, outputs)
    return found


class Web3L1:
    """Reads of one rollup contract and its chain; gas estimates from the trusted sequencer."""

    def __init__(self, rpc_url: str, rollup_address: str, *, timeout_s: float = 10.0) -> None:
        provider = AsyncHTTPProvider(rpc_url, request_kwargs={"timeout": aiohttp.ClientTimeout(timeout_s)})
        self.w3 = AsyncWeb3(provider)
        self._provider = provider
        self.rollup_address = Web3.to_checksum_address(rollup_address)
        self._views = view_functions(load_artifact(ROLLUP).abi)
        self._sequencer: str | None = None

    async def close(self) -> None:
        await self.w3.provider.disconnect()

    async def _guard(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except ContractLogicError as exc:
            raise L1Unavailable(f"{what}: the call reverted: {exc}") from exc
        except (*_TRANSPORT_ERRORS, Web3Exception) as exc:
            raise L1Unavailable(f"{what}: {type(exc).__name__}: {exc}") from exc

    # -- plain JSON-RPC ---------------------------------------------------------------------------

    async def _request(self, what: str, method: str, params: list[Any]) -> Any:
        """One JSON-RPC request, straight through the provider; its result."""
        response = await self._guard(what, lambda: self._provider.make_request(RPCEndpoint(method), params))
        return _result(what, response)

    async def _batch(self, what: str, requests: list[tuple[str, list[Any]]]) -> list[Any]:
        """Several requests in one JSON-RPC batch (one HTTP round trip); their results in order."""
        batch = [(RPCEndpoint(method), params) for method, params in requests]
        responses = await self._guard(what, lambda: self._provider.make_batch_request(batch))
        if not isinstance(responses, list) or len(responses) != len(requests):
            raise L1Unavailable(f"{what}: the node did not answer the batch: {_result(what, responses)!r}")
        return [_result(what, response) for response in responses]

    def _call_params(self, name: str, args: Sequence[Any], block: Block) -> list[Any]:
        call = {"to": self.rollup_address, "data": self._views[name].calldata(args)}
        return [call, block if block == "latest" else hex(block)]

    def _decode(self, name: str, args: Sequence[Any], result: Any) -> Any:
        what = f"{name}({', '.join(map(str, args))})"
        try:
            return self._views[name].decode(_bytes(result))
        except (DecodingError, ValueError, TypeError) as exc:
            raise L1Unavailable(f"{what}: the answer {result!r} does not decode: {exc}") from exc

    async def _view(self, name: str, *args: Any, block: Block = "latest") -> Any:
        result = await self._request(f"{name}()", "eth_call", self._call_params(name, args, block))
        return self._decode(name, args, result)

    async def _block(self, what: str, block: Block) -> L1Header | None:
        tag = block if block == "latest" else hex(block)
        found = await self._request(what, "eth_getBlockByNumber", [tag, False])
        return None if found is None else _header(what, found)

    # -- L1Reader ---------------------------------------------------------------------------------

    async def head_number(self) -> int:
        result = await self._request("eth_blockNumber", "eth_blockNumber", [])
        return _quantity("eth_blockNumber", result)

    async def header(self, number: int) -> L1Header | None:
        return await self._block(f"eth_getBlockByNumber({number})", number)

    async def rollup_events(self, from_block: int, to_block: int) -> list[RollupEvent]:
        params: FilterParams = {
            "address": self.rollup_address,
            "fromBlock": from_block,
            "toBlock": to_block,
            "topics": [[Web3.to_hex(topic) for topic in ROLLUP_EVENT_TOPICS]],
        }
        logs = await self._guard(
            f"eth_getLogs({from_block}..{to_block})", lambda: self.w3.eth.get_logs(params)
        )
        decoded = (decode_rollup_log(log) for log in logs)
        return [event for event in decoded if event is not None]

    async def transaction(self, tx_hash: Hash32) -> L1Tx:
        what = f"eth_getTransactionByHash(0x{tx_hash.hex()})"
        tx = await self._guard(what, lambda: self.w3.eth.get_transaction(HexBytes(tx_hash)))
        return L1Tx(Hash32(bytes(tx_hash)), Address(_bytes(tx["from"])), _bytes(tx["input"]))

    async def sequenced_batch(self, num_batch: int, block_number: int) -> SequencedBatchData:
        acc, sequenced_at, previous = await self._view("sequencedBatches", num_batch, block=block_number)
        return SequencedBatchData(Hash32(bytes(acc)), int(sequenced_at), int(previous))

    # -- L1Sequencing -----------------------------------------------------------------------------

    async def latest_header(self) -> L1Header:
        what = "eth_getBlockByNumber(latest)"
        header = await self._block(what, "latest")
        if header is None:
            raise L1Unavailable(f"{what}: the node has no latest block")
        return header

    async def sequenced_state(self) -> SequencedState:
        number = await self.head_number()
        names = ("lastBatchSequenced", "lastTimestamp", "lastForceBatchSequenced")
        results = await self._batch(
            f"{', '.join(names)} at block {number}",
            [("eth_call", self._call_params(name, (), number)) for name in names],
        )
        last, last_timestamp, last_forced = (
            int(self._decode(name, (), result)) for name, result in zip(names, results, strict=True)
        )
        acc, _, _ = await self._view("sequencedBatches", last, block=number)
        return SequencedState(
            block_number=number,
            last_batch_sequenced=last,
            acc_input_hash=Hash32(bytes(acc)),
            last_timestamp=last_timestamp,
            last_force_batch_sequenced=last_forced,
        )

    async def trusted_sequencer(self) -> str:
        if self._sequencer is None:
            self._sequencer = Web3.to_checksum_address(await self._view("trustedSequencer"))
        return self._sequencer

    async def global_exit_root_manager(self) -> str:
        return Web3.to_checksum_address(await self._view("globalExitRootManager"))

    async def estimate_gas(self, data: bytes) -> int:
        params: TxParams = {"from": await self.trusted_sequencer(), "to": self.rollup_address, "data": data}
        try:
            return int(await self.w3.eth.estimate_gas(params))
        except ContractLogicError as exc:
            raise (revert_from_web3(exc) or UnknownRevert(b"", str(exc))) from exc
        except Web3RPCError as exc:
            raise GasEstimateFailed(str(exc)) from exc
        except (*_TRANSPORT_ERRORS, Web3Exception) as exc:
            raise L1Unavailable(f"eth_estimateGas: {type(exc).__name__}: {exc}") from exc


def _result(what: str, response: Any) -> Any:
    """The result of a JSON-RPC response; its error (or no result at all) as `L1Unavailable`."""
    if not isinstance(response, Mapping):
        raise L1Unavailable(f"{what}: the node answered {response!r}, not a JSON-RPC response")
    error = response.get("error")
    if error is not None:
        if isinstance(error, Mapping) and error.get("code") == _REVERT_CODE:
            message, data = error.get("message"), error.get("data")
            raise L1Unavailable(f"{what}: the call reverted: {message} (data {data})")
        raise L1Unavailable(f"{what}: the node answered an error: {error}")
    if "result" not in response:
        raise L1Unavailable(f"{what}: the node answered neither a result nor an error: {response!r}")
    return response["result"]


def _quantity(what: str, value: Any) -> int:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise L1Unavailable(f"{what}: expected a hex quantity, got {value!r}")
    try:
        return int(value, 16)
    except ValueError as exc:
        raise L1Unavailable(f"{what}: expected a hex quantity, got {value!r}") from exc


def _header(what: str, block: Any) -> L1Header:
    try:
        return L1Header(
            number=_quantity(what, block["number"]),
            hash=Hash32(_bytes(block["hash"])),
            parent_hash=Hash32(_bytes(block["parentHash"])),
            timestamp=_quantity(what, block["timestamp"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise L1Unavailable(f"{what}: the block does not parse: {type(exc).__name__}: {exc}") from exc

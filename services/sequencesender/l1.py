"""`Web3L1`: the L1 ports (`L1Reader` for the watcher, `L1Sequencing` for the sender) over an
Ethereum JSON-RPC node with web3.py's AsyncWeb3, so no call blocks the event loop.

Transport failures, timeouts and node errors become `L1Unavailable` (retried by the callers); a
revert of eth_estimateGas becomes the contract's named error (`services.common.l1.errors`), and a
failed estimate without revert data `GasEstimateFailed` with the node's message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from hexbytes import HexBytes
from web3 import AsyncHTTPProvider, AsyncWeb3, Web3
from web3.exceptions import BlockNotFound, ContractLogicError, Web3Exception, Web3RPCError
from web3.types import BlockIdentifier, FilterParams, TxParams

from services.common.l1.artifacts import ROLLUP, load_artifact
from services.common.l1.errors import UnknownRevert, revert_from_web3
from services.common.l1.rollup import ROLLUP_EVENT_TOPICS, RollupEvent, SequencedBatchData, decode_rollup_log
from services.sequencesender.models import L1Header, L1Tx, SequencedState
from services.sequencesender.ports import GasEstimateFailed, L1Unavailable
from zkevm.batch import Hash32
from zkevm.state_keys import Address

T = TypeVar("T")

#: what a failing JSON-RPC round trip raises, besides web3's own exceptions
_TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return bytes.fromhex(str(value).removeprefix("0x"))


class Web3L1:
    """Reads of one rollup contract and its chain; gas estimates from the trusted sequencer."""

    def __init__(self, rpc_url: str, rollup_address: str, *, timeout_s: float = 10.0) -> None:
        provider = AsyncHTTPProvider(rpc_url, request_kwargs={"timeout": aiohttp.ClientTimeout(timeout_s)})
        self.w3 = AsyncWeb3(provider)
        self.rollup_address = Web3.to_checksum_address(rollup_address)
        self._rollup = self.w3.eth.contract(address=self.rollup_address, abi=load_artifact(ROLLUP).abi)
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

    async def _view(self, name: str, *args: Any, block: BlockIdentifier = "latest") -> Any:
        function = self._rollup.functions[name](*args)
        return await self._guard(f"{name}()", lambda: function.call(block_identifier=block))

    # -- L1Reader ---------------------------------------------------------------------------------

    async def head_number(self) -> int:
        return int(await self._guard("eth_blockNumber", lambda: self.w3.eth.block_number))

    async def header(self, number: int) -> L1Header | None:
        try:
            block = await self._guard(
                f"eth_getBlockByNumber({number})", lambda: self.w3.eth.get_block(number)
            )
        except L1Unavailable as exc:
            if isinstance(exc.__cause__, BlockNotFound):
                return None
            raise
        return _header(block)

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
        block = await self._guard("eth_getBlockByNumber(latest)", lambda: self.w3.eth.get_block("latest"))
        return _header(block)

    async def sequenced_state(self) -> SequencedState:
        number = await self.head_number()
        last = int(await self._view("lastBatchSequenced", block=number))
        acc, _, _ = await self._view("sequencedBatches", last, block=number)
        return SequencedState(
            block_number=number,
            last_batch_sequenced=last,
            acc_input_hash=Hash32(bytes(acc)),
            last_timestamp=int(await self._view("lastTimestamp", block=number)),
            last_force_batch_sequenced=int(await self._view("lastForceBatchSequenced", block=number)),
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


def _header(block: Any) -> L1Header:
    return L1Header(
        number=int(block["number"]),
        hash=Hash32(_bytes(block["hash"])),
        parent_hash=Hash32(_bytes(block["parentHash"])),
        timestamp=int(block["timestamp"]),
    )

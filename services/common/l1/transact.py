"""Send one signed transaction and wait for it, with reverts raised as named exceptions.

This is the plain path for deployments, tests, the devnet bootstrap and tools: one key, the node's
pending nonce, EIP-1559 fees from the latest block, no resending. The sequencing hot path goes
through the EthTxManager instead, which owns nonces, re-prices, and survives restarts.

    receipt = send_transaction(w3, key, to=rollup, data=encode_sequence_batches(...))

By default the call is first simulated with eth_call on the pending block, so a revert raises its
`RollupRevert` subclass before anything is signed (zkevm-node estimates gas first, to the same
effect). With `preflight=False` and an explicit `gas`, the transaction is mined even if it reverts;
`TransactionReverted` then carries the revert, read back with `mined_revert`.
"""

from __future__ import annotations

from typing import Any, Final, cast

from eth_account import Account
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.types import BlockIdentifier, TxParams, TxReceipt

from services.common.l1.errors import RollupRevert, UnknownRevert, decode_revert, revert_from_web3

#: gas added to eth_estimateGas's answer (the estimate is exact on anvil; the margin covers a
#: state change between estimation and inclusion, such as a new lastTimestamp)
GAS_MARGIN: Final = 1.2
#: the tip offered above the base fee
PRIORITY_FEE_WEI: Final = 1_000_000_000


class TransactionReverted(Exception):
    """A mined transaction has status 0."""

    def __init__(self, receipt: TxReceipt, revert: RollupRevert | None) -> None:
        reason = revert.name if revert is not None else "no revert data"
        super().__init__(f"transaction {receipt['transactionHash'].hex()} reverted: {reason}")
        self.receipt = receipt
        self.revert = revert


def simulate(w3: Web3, sender: str, to: str, data: bytes, block: BlockIdentifier = "pending") -> bytes:
    """eth_call from `sender`; the return data, or the contract's revert raised as `RollupRevert`."""
    params: TxParams = {
        "from": Web3.to_checksum_address(sender),
        "to": Web3.to_checksum_address(to),
        "data": data,
    }
    try:
        return bytes(w3.eth.call(params, block))
    except ContractLogicError as exc:
        raise (revert_from_web3(exc) or UnknownRevert(b"", str(exc))) from exc


def fee_fields(w3: Web3) -> dict[str, int]:
    """maxFeePerGas = 2 × base fee + tip (the usual margin for a base fee rising over a few blocks),
    or a legacy gasPrice on a chain without a base fee."""
    base_fee = w3.eth.get_block("latest").get("baseFeePerGas")
    if base_fee is None:
        return {"gasPrice": w3.eth.gas_price}
    return {"maxFeePerGas": 2 * base_fee + PRIORITY_FEE_WEI, "maxPriorityFeePerGas": PRIORITY_FEE_WEI}


def sign_transaction(
    w3: Web3, key: str, *, to: str | None, data: bytes, nonce: int, gas: int, value: int = 0
) -> HexBytes:
    tx: dict[str, Any] = {
        "chainId": w3.eth.chain_id,
        "nonce": nonce,
        "gas": gas,
        "value": value,
        "data": data,
        **fee_fields(w3),
    }
    if to is not None:
        tx["to"] = Web3.to_checksum_address(to)
    return HexBytes(Account.sign_transaction(tx, key).raw_transaction)


def send_transaction(
    w3: Web3,
    key: str,
    *,
    to: str,
    data: bytes,
    gas: int | None = None,
    preflight: bool = True,
    timeout_s: float = 30.0,
) -> TxReceipt:
    """Sign with `key`, send, wait for the receipt; raise the contract's revert if there is one."""
    sender = str(Account.from_key(key).address)
    if preflight:
        simulate(w3, sender, to, data)
    if gas is None:
        params: TxParams = {"from": sender, "to": Web3.to_checksum_address(to), "data": data}
        try:
            gas = int(w3.eth.estimate_gas(params) * GAS_MARGIN)
        except ContractLogicError as exc:
            raise (revert_from_web3(exc) or UnknownRevert(b"", str(exc))) from exc
    nonce = w3.eth.get_transaction_count(Web3.to_checksum_address(sender), "pending")
    raw = sign_transaction(w3, key, to=to, data=data, nonce=nonce, gas=gas)
    tx_hash = w3.eth.send_raw_transaction(raw)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout_s, poll_latency=0.05)
    if receipt["status"] != 1:
        raise TransactionReverted(receipt, mined_revert(w3, tx_hash))
    return receipt


def mined_revert(w3: Web3, tx_hash: bytes) -> RollupRevert | None:
    """The revert of a mined, failed transaction, from the node's call tracer
    (`debug_traceTransaction`, which anvil and geth serve); None when the node has no tracer."""
    try:
        response = w3.provider.make_request(
            cast(Any, "debug_traceTransaction"), [HexBytes(tx_hash).to_0x_hex(), {"tracer": "callTracer"}]
        )
    except (OSError, ValueError):
        return None
    result = response.get("result")
    if not isinstance(result, dict) or not isinstance(result.get("output"), str):
        return None
    return decode_revert(bytes.fromhex(result["output"].removeprefix("0x")))

"""The sequencer's L1 key, held in memory and used for nothing but signing (eth-account, with the
coincurve backend of eth-keys). Signatures are deterministic (RFC 6979): signing the same fields
again gives the same raw transaction and hash, which is how a restarted manager re-creates an
attempt it already stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_utils.address import to_checksum_address

from services.ethtxmanager.fees import Fees


@dataclass(frozen=True, slots=True)
class SignedTx:
    raw: bytes
    hash: bytes


class LocalSigner:
    """Signs EIP-155 legacy and EIP-1559 transactions for one chain with one key."""

    __slots__ = ("_account", "address", "chain_id")

    def __init__(self, private_key: str, chain_id: int) -> None:
        self._account = Account.from_key(private_key)
        self.address = bytes.fromhex(str(self._account.address)[2:])
        self.chain_id = chain_id

    def __repr__(self) -> str:  # never the key
        return f"LocalSigner(address=0x{self.address.hex()}, chain_id={self.chain_id})"

    def sign(
        self, *, nonce: int, gas: int, to: bytes | None, value: int, data: bytes, fees: Fees
    ) -> SignedTx:
        tx: dict[str, Any] = {
            "chainId": self.chain_id,
            "nonce": nonce,
            "gas": gas,
            "value": value,
            "data": data,
            **fees.fields(),
        }
        if to is not None:
            tx["to"] = to_checksum_address(to)
        signed = self._account.sign_transaction(tx)
        return SignedTx(bytes(signed.raw_transaction), bytes(signed.hash))

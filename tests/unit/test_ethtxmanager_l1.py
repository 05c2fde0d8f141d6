"""What the node's refusals of a broadcast mean (geth, anvil, erigon and nethermind wordings), and
revert data out of JSON-RPC errors."""

from __future__ import annotations

import pytest

from services.ethtxmanager.l1 import Rejection, RpcError, classify_rejection
from services.ethtxmanager.monitor import revert_of
from zkevm.hashing import keccak256


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("already known", Rejection.ALREADY_KNOWN),  # geth
        ("transaction already imported", Rejection.ALREADY_KNOWN),  # anvil
        ("known transaction: 0xabc", Rejection.ALREADY_KNOWN),  # older geth
        ("AlreadyKnown", Rejection.ALREADY_KNOWN),  # nethermind
        ("nonce too low", Rejection.NONCE_TOO_LOW),
        ("nonce too low: next nonce 185, tx nonce 184", Rejection.NONCE_TOO_LOW),  # cdk-validium-node#85
        ("OldNonce", Rejection.NONCE_TOO_LOW),
        ("replacement transaction underpriced", Rejection.UNDERPRICED),
        ("transaction underpriced", Rejection.UNDERPRICED),
        ("max fee per gas less than block base fee", Rejection.FEE_BELOW_BASE_FEE),  # anvil, geth
        ("Insufficient funds for gas * price + value", Rejection.INSUFFICIENT_FUNDS),  # anvil
        ("insufficient funds for gas * price + value: balance 0", Rejection.INSUFFICIENT_FUNDS),
        ("intrinsic gas too low", Rejection.OTHER),
        ("invalid chain id for signer", Rejection.OTHER),
    ],
)
def test_refusals_are_classified(message: str, kind: Rejection) -> None:
    assert classify_rejection(message) is kind


def test_revert_data_from_an_rpc_error() -> None:
    selector = keccak256(b"SequencedTimestampInvalid()")[:4]
    error = RpcError("eth_estimateGas", 3, "execution reverted", "0x" + selector.hex())
    assert error.is_revert() and error.revert_data() == selector
    nested = RpcError("eth_estimateGas", -32000, "execution reverted", {"data": "0x" + selector.hex()})
    assert nested.revert_data() == selector
    assert RpcError("eth_estimateGas", -32000, "out of gas").revert_data() is None


def test_reverts_are_named_as_services_common_l1_errors_names_them() -> None:
    custom = revert_of(keccak256(b"OnlyTrustedSequencer()")[:4])
    assert custom is not None and custom.reason == "OnlyTrustedSequencer"
    error_string = revert_of(
        bytes.fromhex(
            "08c379a0"
            "0000000000000000000000000000000000000000000000000000000000000020"
            "0000000000000000000000000000000000000000000000000000000000000002"
            "6e6f000000000000000000000000000000000000000000000000000000000000"
        )
    )
    assert error_string is not None and error_string.reason == "Error('no')"
    unknown = revert_of(b"")
    assert unknown is not None and unknown.reason.startswith("unknown revert data")
    assert revert_of(None) is None

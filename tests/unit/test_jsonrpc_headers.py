"""The computed header fields checked against py-evm, an independent implementation: ordered trie
roots (transactions, receipts), the header RLP and hash, the receipt encoding, the block size."""

from __future__ import annotations

import random

import pytest
import rlp  # type: ignore[import-untyped]
from eth.db.trie import _make_trie_root_and_nodes
from eth.rlp.headers import BlockHeader
from eth.rlp.logs import Log as PyEvmLog
from eth.rlp.receipts import Receipt as PyEvmReceipt

from services.common.statedb import Address, Hash32, Log, Receipt
from services.jsonrpc.headers import (
    EMPTY_TRIE_ROOT,
    EMPTY_UNCLE_HASH,
    Header,
    block_size,
    or_blooms,
    ordered_trie_root,
    receipt_rlp,
)
from zkevm.rlp import encode_list


@pytest.mark.parametrize("count", [0, 1, 2, 3, 15, 16, 17, 127, 128, 129, 300])
def test_ordered_trie_root_matches_py_evm(count: int) -> None:
    rng = random.Random(count)
    values = [rng.randbytes(rng.choice([1, 5, 31, 32, 33, 90, 200])) for _ in range(count)]
    expected, _ = _make_trie_root_and_nodes(tuple(values))
    assert ordered_trie_root(values) == expected


def test_empty_constants() -> None:
    assert EMPTY_TRIE_ROOT.hex() == "56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
    assert EMPTY_UNCLE_HASH.hex() == "1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"


def test_header_rlp_and_hash_match_py_evm() -> None:
    rng = random.Random(7)
    header = Header(
        parent_hash=rng.randbytes(32),
        coinbase=rng.randbytes(20),
        state_root=rng.randbytes(32),
        transactions_root=rng.randbytes(32),
        receipts_root=rng.randbytes(32),
        logs_bloom=rng.randbytes(256),
        number=123_456,
        gas_limit=30_000_000,
        gas_used=52_345,
        timestamp=1_700_000_123,
    )
    reference = BlockHeader(
        difficulty=0,
        block_number=header.number,
        gas_limit=header.gas_limit,
        timestamp=header.timestamp,
        coinbase=header.coinbase,
        parent_hash=header.parent_hash,
        uncles_hash=header.uncle_hash,
        state_root=header.state_root,
        transaction_root=header.transactions_root,
        receipt_root=header.receipts_root,
        bloom=int.from_bytes(header.logs_bloom, "big"),
        gas_used=header.gas_used,
        extra_data=b"",
        mix_hash=bytes(32),
        nonce=bytes(8),
    )
    assert header.rlp() == rlp.encode(reference)
    assert header.hash() == reference.hash
    raw_tx = encode_list([b"\x01", b"\x02"])
    assert block_size(header, [raw_tx]) == len(rlp.encode([reference, [rlp.decode(raw_tx)], []]))


@pytest.mark.parametrize("status", [0, 1])
def test_receipt_rlp_matches_py_evm(status: int) -> None:
    rng = random.Random(status)
    tx_hash = Hash32(rng.randbytes(32))
    logs = [
        Log(
            1,
            tx_hash,
            0,
            i,
            Address(rng.randbytes(20)),
            tuple(Hash32(rng.randbytes(32)) for _ in range(i)),
            rng.randbytes(i * 20),
        )
        for i in range(3)
    ]
    receipt = Receipt(tx_hash, status, 50_000, 73_000, None, 10**9, rng.randbytes(256))
    reference = PyEvmReceipt(
        state_root=b"\x01" if status else b"",
        gas_used=73_000,
        bloom=int.from_bytes(receipt.logs_bloom, "big"),
        logs=[
            PyEvmLog(log.address, tuple(int.from_bytes(t, "big") for t in log.topics), log.data)
            for log in logs
        ],
    )
    assert receipt_rlp(receipt, logs) == rlp.encode(reference)


def test_or_blooms() -> None:
    a, b = bytes(255) + b"\x01", b"\x80" + bytes(255)
    assert or_blooms([a]) == a
    assert or_blooms([a, b]) == b"\x80" + bytes(254) + b"\x01"

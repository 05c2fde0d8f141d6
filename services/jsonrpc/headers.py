"""The Ethereum header fields an L2 block shows that the StateDB does not store: transactions root,
receipts root, header RLP and block size — computed the way go-ethereum computes them.

A fork-6 L2 block is shown as a pre-London (legacy) block: no baseFeePerGas, difficulty 0, the
empty uncle hash, a zero mix hash and nonce. zkevm-node builds its blocks with geth's
`types.NewBlock`, so these fields follow geth:

    transactionsRoot   ordered trie of the signed transactions: key RLP(index), value the raw tx
    receiptsRoot       ordered trie of the consensus receipts:
                       RLP([status, cumulativeGasUsed, logsBloom, [[address, [topics], data] …]])
    size               len(RLP([header, [raw txs], []]))
    header             RLP([parentHash, sha3Uncles, miner, stateRoot, transactionsRoot,
                            receiptsRoot, logsBloom, difficulty, number, gasLimit, gasUsed,
                            timestamp, extraData, mixHash, nonce])

The block hash itself is the sequencer's (stored with the block); `header_hash` is used only for
the "pending" block, which is never stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from services.common.statedb.models import Log, Receipt
from zkevm.hashing import keccak256
from zkevm.rlp import encode_bytes, encode_list, encode_uint

#: keccak(RLP("")): the root of an empty trie
EMPTY_TRIE_ROOT: Final = keccak256(b"\x80")
#: keccak(RLP([])): the hash of an empty uncle list
EMPTY_UNCLE_HASH: Final = keccak256(b"\xc0")
BLOOM_BYTES: Final = 256
ZERO_BLOOM: Final = bytes(BLOOM_BYTES)
ZERO_HASH: Final = bytes(32)
ZERO_NONCE: Final = bytes(8)

_EMPTY_STRING: Final = b"\x80"


@dataclass(frozen=True, slots=True)
class Header:
    parent_hash: bytes
    coinbase: bytes
    state_root: bytes
    transactions_root: bytes
    receipts_root: bytes
    logs_bloom: bytes
    number: int
    gas_limit: int
    gas_used: int
    timestamp: int
    uncle_hash: bytes = EMPTY_UNCLE_HASH
    difficulty: int = 0
    extra_data: bytes = b""
    mix_hash: bytes = ZERO_HASH
    nonce: bytes = ZERO_NONCE

    def rlp(self) -> bytes:
        return encode_list(
            [
                encode_bytes(self.parent_hash),
                encode_bytes(self.uncle_hash),
                encode_bytes(self.coinbase),
                encode_bytes(self.state_root),
                encode_bytes(self.transactions_root),
                encode_bytes(self.receipts_root),
                encode_bytes(self.logs_bloom),
                encode_uint(self.difficulty),
                encode_uint(self.number),
                encode_uint(self.gas_limit),
                encode_uint(self.gas_used),
                encode_uint(self.timestamp),
                encode_bytes(self.extra_data),
                encode_bytes(self.mix_hash),
                encode_bytes(self.nonce),
            ]
        )

    def hash(self) -> bytes:
        return keccak256(self.rlp())


def block_size(header: Header, raw_txs: Sequence[bytes]) -> int:
    """len(RLP([header, [txs], uncles])) of a legacy block (a legacy raw tx is its own RLP)."""
    return len(encode_list([header.rlp(), encode_list(raw_txs), encode_list([])]))


def receipt_rlp(receipt: Receipt, logs: Sequence[Log]) -> bytes:
    """The consensus encoding of a post-Byzantium legacy receipt."""
    encoded_logs = [
        encode_list(
            [
                encode_bytes(log.address),
                encode_list([encode_bytes(topic) for topic in log.topics]),
                encode_bytes(log.data),
            ]
        )
        for log in logs
    ]
    return encode_list(
        [
            encode_uint(receipt.status),
            encode_uint(receipt.cumulative_gas_used),
            encode_bytes(receipt.logs_bloom),
            encode_list(encoded_logs),
        ]
    )


def or_blooms(blooms: Sequence[bytes]) -> bytes:
    """The block's bloom: the OR of its receipts' blooms."""
    if len(blooms) == 1:
        return blooms[0]
    value = 0
    for bloom in blooms:
        value |= int.from_bytes(bloom, "big")
    return value.to_bytes(BLOOM_BYTES, "big")


# -- the ordered Merkle-Patricia trie root (geth DeriveSha) ---------------------------------------


def ordered_trie_root(values: Sequence[bytes]) -> bytes:
    """The root of the trie mapping RLP(i) to values[i] (transactions, receipts)."""
    if not values:
        return EMPTY_TRIE_ROOT
    items = sorted((_nibbles(encode_uint(i)), value) for i, value in enumerate(values))
    return keccak256(_node(items, 0))


def _nibbles(key: bytes) -> tuple[int, ...]:
    return tuple(n for byte in key for n in (byte >> 4, byte & 0x0F))


def _hex_prefix(nibbles: Sequence[int], leaf: bool) -> bytes:
    flag = 2 if leaf else 0
    if len(nibbles) % 2:
        first, rest = bytes(((flag + 1) << 4 | nibbles[0],)), nibbles[1:]
    else:
        first, rest = bytes((flag << 4,)), nibbles
    return first + bytes(rest[i] << 4 | rest[i + 1] for i in range(0, len(rest), 2))


def _reference(node: bytes) -> bytes:
    """How a parent holds a child node: inline when its RLP is shorter than 32 bytes, else by hash."""
    return node if len(node) < 32 else encode_bytes(keccak256(node))


def _node(items: Sequence[tuple[tuple[int, ...], bytes]], depth: int) -> bytes:
    """The RLP of the node holding `items` (sorted, distinct keys), whose keys agree up to `depth`."""
    if len(items) == 1:
        key, value = items[0]
        return encode_list([encode_bytes(_hex_prefix(key[depth:], leaf=True)), encode_bytes(value)])
    first, last = items[0][0], items[-1][0]  # sorted: their common prefix is everyone's
    shared = 0
    while depth + shared < min(len(first), len(last)) and first[depth + shared] == last[depth + shared]:
        shared += 1
    if shared:
        child = _node(items, depth + shared)
        path = _hex_prefix(first[depth : depth + shared], leaf=False)
        return encode_list([encode_bytes(path), _reference(child)])
    branches: list[list[tuple[tuple[int, ...], bytes]]] = [[] for _ in range(16)]
    value = b""
    for key, item_value in items:
        if len(key) == depth:
            value = item_value
        else:
            branches[key[depth]].append((key, item_value))
    children = [_reference(_node(branch, depth + 1)) if branch else _EMPTY_STRING for branch in branches]
    return encode_list([*children, encode_bytes(value)])

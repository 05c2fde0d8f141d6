"""The L2 block of one transaction (fork 6: every transaction is its own block, spec §6), and its hash.

Block hash
----------
The hash of an L2 block is the keccak of its go-ethereum legacy header, as zkevm-node builds it with
geth's `types.NewBlock` and as the JSON-RPC service shows it:

    hash = keccak(RLP([parentHash, keccak(RLP([])), coinbase, stateRoot, transactionsRoot,
                       receiptsRoot, logsBloom, difficulty 0, number, gasLimit 30000000, gasUsed,
                       timestamp, extraData "", mixHash 0x00…, nonce 0x0000000000000000]))

    transactionsRoot  root of the ordered trie {RLP(0): the signed transaction} (empty trie: genesis)
    receiptsRoot      root of the ordered trie {RLP(0): RLP([status, cumulativeGas, bloom, logs])}
    logsBloom         the 2048-bit Ethereum bloom of the block's log addresses and topics

So the hash commits to the parent hash, the state root after the transaction, the transaction, its
receipt and logs, the number, the batch timestamp and the coinbase, and anyone can recompute it from
`eth_getBlockByNumber` with standard tooling. It is a sequencer-side identifier: the ROM and L1 never
see it (fork 6 keeps no block hashes in the state; `BLOCKHASH(n)` reads the state root after tx n).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from services.common.statedb.models import Address, Hash32, L2Block, L2Tx, Log, Receipt, StateRoot
from services.sequencer.ports import BlockParts, ExecLog, ExecTx, PoolTx
from zkevm.hashing import keccak256
from zkevm.rlp import encode_bytes, encode_list, encode_uint

#: the gas limit of an L2 block: one transaction's limit, TX_GAS_LIMIT (spec §6.1)
L2_BLOCK_GAS_LIMIT: Final = 30_000_000
BLOOM_BYTES: Final = 256
ZERO_HASH: Final = Hash32(bytes(32))
#: keccak(RLP(""))
EMPTY_TRIE_ROOT: Final = keccak256(b"\x80")
#: keccak(RLP([]))
EMPTY_UNCLE_HASH: Final = keccak256(b"\xc0")
#: the trie key of the first (only) item: hex-prefix of the nibbles of RLP(0) = 0x80, leaf flag
_FIRST_ITEM_PATH: Final = b"\x20\x80"


def logs_bloom(logs: Sequence[ExecLog]) -> bytes:
    """The Ethereum bloom: 3 bits per address and topic, from the low 11 bits of byte pairs of its keccak."""
    bits = 0
    for log in logs:
        for item in (log.address, *log.topics):
            digest = keccak256(item)
            for i in (0, 2, 4):
                bits |= 1 << (((digest[i] << 8) | digest[i + 1]) & 2047)
    return bits.to_bytes(BLOOM_BYTES, "big")


def single_item_trie_root(value: bytes) -> bytes:
    """The root of an ordered trie holding one item (key RLP(0)): a single leaf node."""
    return keccak256(encode_list([encode_bytes(_FIRST_ITEM_PATH), encode_bytes(value)]))


def receipt_rlp(status: int, cumulative_gas_used: int, bloom: bytes, logs: Sequence[ExecLog]) -> bytes:
    """The consensus encoding of a post-Byzantium legacy receipt."""
    return encode_list(
        [
            encode_uint(status),
            encode_uint(cumulative_gas_used),
            encode_bytes(bloom),
            encode_list(
                [
                    encode_list(
                        [
                            encode_bytes(log.address),
                            encode_list([encode_bytes(t) for t in log.topics]),
                            encode_bytes(log.data),
                        ]
                    )
                    for log in logs
                ]
            ),
        ]
    )


def header_hash(
    *,
    parent_hash: bytes,
    coinbase: bytes,
    state_root: bytes,
    transactions_root: bytes,
    receipts_root: bytes,
    bloom: bytes,
    number: int,
    gas_used: int,
    timestamp: int,
    gas_limit: int = L2_BLOCK_GAS_LIMIT,
) -> Hash32:
    header = encode_list(
        [
            encode_bytes(parent_hash),
            encode_bytes(EMPTY_UNCLE_HASH),
            encode_bytes(coinbase),
            encode_bytes(state_root),
            encode_bytes(transactions_root),
            encode_bytes(receipts_root),
            encode_bytes(bloom),
            encode_uint(0),
            encode_uint(number),
            encode_uint(gas_limit),
            encode_uint(gas_used),
            encode_uint(timestamp),
            encode_bytes(b""),
            encode_bytes(ZERO_HASH),
            encode_bytes(bytes(8)),
        ]
    )
    return Hash32(keccak256(header))


def genesis_block(*, state_root: bytes, timestamp: int, coinbase: bytes) -> L2Block:
    """Block 0 of batch 0: no transaction, the genesis state root."""
    bloom = bytes(BLOOM_BYTES)
    return L2Block(
        number=0,
        hash=header_hash(
            parent_hash=ZERO_HASH,
            coinbase=coinbase,
            state_root=state_root,
            transactions_root=EMPTY_TRIE_ROOT,
            receipts_root=EMPTY_TRIE_ROOT,
            bloom=bloom,
            number=0,
            gas_used=0,
            timestamp=timestamp,
        ),
        parent_hash=ZERO_HASH,
        batch_number=0,
        state_root=StateRoot(state_root),
        timestamp=timestamp,
        coinbase=Address(coinbase),
        tx_hash=None,
        gas_used=0,
        gas_limit=L2_BLOCK_GAS_LIMIT,
    )


def build_block(
    *,
    tx: PoolTx,
    executed: ExecTx,
    number: int,
    parent_hash: bytes,
    batch_number: int,
    index_in_batch: int,
    timestamp: int,
    coinbase: bytes,
) -> BlockParts:
    """The L2 block, transaction, receipt and logs of an included transaction."""
    status = 1 if executed.rom_error == 1 else 0  # ROM_ERROR_NO_ERROR
    bloom = logs_bloom(executed.logs)
    raw = executed.rlp_tx or tx.tx.to_raw()
    tx_hash = Hash32(tx.hash)
    block_hash = header_hash(
        parent_hash=parent_hash,
        coinbase=coinbase,
        state_root=executed.state_root,
        transactions_root=single_item_trie_root(raw),
        receipts_root=single_item_trie_root(receipt_rlp(status, executed.gas_used, bloom, executed.logs)),
        bloom=bloom,
        number=number,
        gas_used=executed.gas_used,
        timestamp=timestamp,
    )
    block = L2Block(
        number=number,
        hash=block_hash,
        parent_hash=Hash32(parent_hash),
        batch_number=batch_number,
        state_root=StateRoot(executed.state_root),
        timestamp=timestamp,
        coinbase=Address(coinbase),
        tx_hash=tx_hash,
        gas_used=executed.gas_used,
        gas_limit=L2_BLOCK_GAS_LIMIT,
    )
    l2tx = L2Tx(
        hash=tx_hash,
        from_address=Address(tx.sender),
        to_address=None if tx.tx.to is None else Address(tx.tx.to),
        nonce=tx.tx.nonce,
        gas_price=tx.tx.gas_price,
        gas_limit=tx.tx.gas_limit,
        value=tx.tx.value,
        data=tx.tx.data,
        effective_percentage=executed.effective_percentage,
        effective_gas_price=executed.effective_gas_price,
        encoded=tx.record,
        l2_block_number=number,
        batch_number=batch_number,
        index_in_batch=index_in_batch,
    )
    receipt = Receipt(
        tx_hash=tx_hash,
        status=status,
        gas_used=executed.gas_used,
        cumulative_gas_used=executed.gas_used,
        contract_address=None if executed.create_address is None else Address(executed.create_address),
        effective_gas_price=executed.effective_gas_price,
        logs_bloom=bloom,
    )
    logs = [
        Log(
            block_number=number,
            tx_hash=tx_hash,
            tx_index=0,
            log_index=i,
            address=Address(log.address),
            topics=tuple(Hash32(t) for t in log.topics),
            data=log.data,
        )
        for i, log in enumerate(executed.logs)
    ]
    return block, l2tx, receipt, logs

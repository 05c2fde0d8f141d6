"""Domain values → the JSON objects of the Ethereum JSON-RPC API (field names and encodings as
go-ethereum and zkevm-node answer them).

    block        number hash parentHash nonce sha3Uncles logsBloom transactionsRoot stateRoot
                 receiptsRoot miner difficulty totalDifficulty extraData size gasLimit gasUsed
                 timestamp transactions uncles mixHash            (no baseFeePerGas: legacy chain)
    transaction  blockHash blockNumber from gas gasPrice hash input nonce to transactionIndex
                 value type chainId (EIP-155 only) v r s          (v is the EIP-155 V)
    receipt      blockHash blockNumber contractAddress cumulativeGasUsed effectiveGasPrice from
                 gasUsed logs logsBloom status to transactionHash transactionIndex type
    log          address topics data blockNumber transactionHash transactionIndex blockHash
                 logIndex removed
    batch        zkevm_getBatchByNumber's fields (zkevm-node `types.Batch`)

`miner` is the block's coinbase (the sequencer's fee address). Every transaction is type 0x0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from services.common.statedb.models import L2Block, L2Tx, Log
from services.jsonrpc.backends import BatchView, MinedTx, PoolTx
from services.jsonrpc.codec import Json, data, quantity
from services.jsonrpc.headers import (
    EMPTY_TRIE_ROOT,
    EMPTY_UNCLE_HASH,
    ZERO_BLOOM,
    ZERO_HASH,
    Header,
    block_size,
    or_blooms,
    ordered_trie_root,
    receipt_rlp,
)
from zkevm.errors import DecodeError, EncodingError
from zkevm.transaction import L2Transaction, decode_raw_transaction, decode_record

#: the index of a mined transaction in its block: fork 6 has one transaction per block
TX_INDEX_IN_BLOCK: Final = 0
LEGACY_TX_TYPE: Final = "0x0"


def _signed(tx: L2Tx) -> L2Transaction | None:
    try:
        signed, _ = decode_record(tx.encoded)
    except DecodeError:
        return None
    return signed


def _raw(tx: L2Tx) -> bytes:
    signed = _signed(tx)
    if signed is None:
        return b""
    try:
        return signed.to_raw()
    except EncodingError:
        return b""


def _signature(signed: L2Transaction | None) -> dict[str, Json]:
    if signed is None:
        return {"v": "0x0", "r": "0x0", "s": "0x0"}
    fields: dict[str, Json] = {}
    if signed.chain_id is not None:
        fields["chainId"] = quantity(signed.chain_id)
        v = signed.v - 27 + 2 * signed.chain_id + 35
    else:
        v = signed.v
    fields.update(v=quantity(v), r=quantity(signed.r), s=quantity(signed.s))
    return fields


def tx_view(tx: L2Tx, block_hash: bytes) -> dict[str, Json]:
    view: dict[str, Json] = {
        "blockHash": data(block_hash),
        "blockNumber": quantity(tx.l2_block_number),
        "from": data(tx.from_address),
        "gas": quantity(tx.gas_limit),
        "gasPrice": quantity(tx.gas_price),
        "hash": data(tx.hash),
        "input": data(tx.data),
        "nonce": quantity(tx.nonce),
        "to": None if tx.to_address is None else data(tx.to_address),
        "transactionIndex": quantity(TX_INDEX_IN_BLOCK),
        "value": quantity(tx.value),
        "type": LEGACY_TX_TYPE,
    }
    view.update(_signature(_signed(tx)))
    return view


def pool_tx_view(pool_tx: PoolTx, tx_hash: bytes) -> dict[str, Json] | None:
    """A transaction still in the pool: no block yet (blockHash, blockNumber, index null)."""
    try:
        signed = decode_raw_transaction(pool_tx.raw)
    except DecodeError:
        return None
    view: dict[str, Json] = {
        "blockHash": None,
        "blockNumber": None,
        "from": data(pool_tx.sender),
        "gas": quantity(signed.gas_limit),
        "gasPrice": quantity(signed.gas_price),
        "hash": data(tx_hash),
        "input": data(signed.data),
        "nonce": quantity(signed.nonce),
        "to": None if signed.to is None else data(signed.to),
        "transactionIndex": None,
        "value": quantity(signed.value),
        "type": LEGACY_TX_TYPE,
    }
    view.update(_signature(signed))
    return view


def log_view(log: Log, block_hash: bytes) -> dict[str, Json]:
    return {
        "address": data(log.address),
        "topics": [data(topic) for topic in log.topics],
        "data": data(log.data),
        "blockNumber": quantity(log.block_number),
        "transactionHash": data(log.tx_hash),
        "transactionIndex": quantity(log.tx_index),
        "blockHash": data(block_hash),
        "logIndex": quantity(log.log_index),
        "removed": False,
    }


def receipt_view(mined: MinedTx) -> dict[str, Json]:
    tx, receipt = mined.tx, mined.receipt
    return {
        "blockHash": data(mined.block_hash),
        "blockNumber": quantity(tx.l2_block_number),
        "contractAddress": None if receipt.contract_address is None else data(receipt.contract_address),
        "cumulativeGasUsed": quantity(receipt.cumulative_gas_used),
        "effectiveGasPrice": quantity(receipt.effective_gas_price),
        "from": data(tx.from_address),
        "gasUsed": quantity(receipt.gas_used),
        "logs": [log_view(log, mined.block_hash) for log in mined.logs],
        "logsBloom": data(receipt.logs_bloom),
        "status": quantity(receipt.status),
        "to": None if tx.to_address is None else data(tx.to_address),
        "transactionHash": data(tx.hash),
        "transactionIndex": quantity(TX_INDEX_IN_BLOCK),
        "type": LEGACY_TX_TYPE,
    }


def block_header(block: L2Block, txs: Sequence[MinedTx]) -> tuple[Header, list[bytes]]:
    """The geth header of a stored block, and its raw transactions."""
    raws = [_raw(mined.tx) for mined in txs]
    header = Header(
        parent_hash=block.parent_hash,
        coinbase=block.coinbase,
        state_root=block.state_root,
        transactions_root=ordered_trie_root(raws),
        receipts_root=ordered_trie_root([receipt_rlp(m.receipt, m.logs) for m in txs]),
        logs_bloom=or_blooms([m.receipt.logs_bloom for m in txs]) if txs else ZERO_BLOOM,
        number=block.number,
        gas_limit=block.gas_limit,
        gas_used=block.gas_used,
        timestamp=block.timestamp,
    )
    return header, raws


def _header_fields(header: Header, block_hash: bytes, size: int) -> dict[str, Json]:
    return {
        "number": quantity(header.number),
        "hash": data(block_hash),
        "parentHash": data(header.parent_hash),
        "nonce": data(header.nonce),
        "sha3Uncles": data(header.uncle_hash),
        "logsBloom": data(header.logs_bloom),
        "transactionsRoot": data(header.transactions_root),
        "stateRoot": data(header.state_root),
        "receiptsRoot": data(header.receipts_root),
        "miner": data(header.coinbase),
        "difficulty": quantity(header.difficulty),
        "totalDifficulty": quantity(header.difficulty),
        "extraData": data(header.extra_data),
        "size": quantity(size),
        "gasLimit": quantity(header.gas_limit),
        "gasUsed": quantity(header.gas_used),
        "timestamp": quantity(header.timestamp),
        "mixHash": data(header.mix_hash),
        "uncles": [],
    }


def block_view(block: L2Block, txs: Sequence[MinedTx], full: bool) -> dict[str, Json]:
    header, raws = block_header(block, txs)
    view = _header_fields(header, block.hash, block_size(header, raws))
    view["transactions"] = [tx_view(m.tx, block.hash) if full else data(m.tx.hash) for m in txs]
    return view


def pending_block_view(latest: L2Block, timestamp: int) -> dict[str, Json]:
    """zkevm-node's "pending" block: the latest header, one number higher, empty, as its child."""
    header = Header(
        parent_hash=latest.hash,
        coinbase=latest.coinbase,
        state_root=latest.state_root,
        transactions_root=EMPTY_TRIE_ROOT,
        receipts_root=EMPTY_TRIE_ROOT,
        logs_bloom=ZERO_BLOOM,
        number=latest.number + 1,
        gas_limit=latest.gas_limit,
        gas_used=0,
        timestamp=max(timestamp, latest.timestamp),
        uncle_hash=EMPTY_UNCLE_HASH,
    )
    view = _header_fields(header, header.hash(), block_size(header, []))
    view["transactions"] = []
    return view


def batch_view(view: BatchView, full: bool) -> dict[str, Json]:
    """With `full`, its blocks (without their transactions) and transactions as objects; else hashes."""
    batch = view.batch
    txs_by_block: dict[int, list[MinedTx]] = {}
    for mined in view.txs:
        txs_by_block.setdefault(mined.tx.l2_block_number, []).append(mined)
    result: dict[str, Json] = {"number": quantity(batch.number)}
    if batch.forced_batch_number is not None:
        result["forcedBatchNumber"] = quantity(batch.forced_batch_number)
    result.update(
        coinbase=data(batch.coinbase),
        stateRoot=data(batch.state_root or ZERO_HASH),
        globalExitRoot=data(batch.global_exit_root),
        # the exit-root components are not tracked yet: zero, as zkevm-node shows an unknown GER
        mainnetExitRoot=data(ZERO_HASH),
        rollupExitRoot=data(ZERO_HASH),
        localExitRoot=data(batch.local_exit_root or ZERO_HASH),
        accInputHash=data(batch.acc_input_hash or ZERO_HASH),
        timestamp=quantity(batch.timestamp),
        sendSequencesTxHash=None if view.sequence_tx_hash is None else data(view.sequence_tx_hash),
        verifyBatchTxHash=None if view.verify_tx_hash is None else data(view.verify_tx_hash),
        closed=batch.closed,
        blocks=[
            block_view(block, txs_by_block.get(block.number, []), full=False) if full else data(block.hash)
            for block in view.blocks
        ],
        transactions=[tx_view(m.tx, m.block_hash) if full else data(m.tx.hash) for m in view.txs],
        batchL2Data=data(batch.batch_l2_data),
    )
    return result

"""The methods: eth_*, net_*, web3_* and zkevm_*, each a coroutine over the backends.

Block identifiers resolve as in zkevm-node: "latest" and "pending" are the newest trusted L2 block
for state reads (the pool has no state of its own), "earliest" is block 0, "safe" the newest
virtualized block and "finalized" the newest verified one. Exceptions: eth_getTransactionCount with
"pending" also counts the sender's contiguous transactions in the pool (the larger of the pool's
pending nonce and the state nonce), eth_getBlockByNumber("pending") is the empty child of the
newest block, and eth_getBlockTransactionCountByNumber("pending") counts the pool's pending
transactions.

A state read at a block the chain does not have is -32000 "header not found"; a block or
transaction lookup that finds nothing is `null`. eth_feeHistory and eth_maxPriorityFeePerGas are
answered -32601 with a hint, as in zkevm-node (which does not serve them): the chain has legacy gas
prices only. ethers ignores that error and, seeing no baseFeePerGas in blocks, sends legacy
transactions priced with eth_gasPrice; web3.py (without a gas price strategy) and cast (without
--legacy) stop with this error, whose message says what to do (tests/integration/
test_jsonrpc_clients.py checks all three).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from services.common.statedb.models import Address, Hash32, L2Block, LogFilter
from services.jsonrpc.backends import BatchReader, ChainReader, MinedBlock, StateReader, TxPool
from services.jsonrpc.calls import Calls
from services.jsonrpc.codec import (
    Json,
    data,
    parse_address,
    parse_bool,
    parse_data,
    parse_hash,
    parse_storage_slot,
    parse_uint64,
    quantity,
    word,
)
from services.jsonrpc.dispatch import MethodRegistry, Param, optional
from services.jsonrpc.errors import InvalidParams, MethodNotFound, ServerError
from services.jsonrpc.params import (
    BlockHashRef,
    BlockId,
    BlockNumber,
    BlockTag,
    CallArgs,
    LogQuery,
    parse_block_id,
    parse_block_number,
    parse_call_args,
    parse_log_query,
)
from services.jsonrpc.views import (
    batch_view,
    block_view,
    log_view,
    pending_block_view,
    pool_tx_view,
    receipt_view,
    tx_view,
)
from zkevm.hashing import keccak256

#: how many built block views (by block hash and `full`) are kept for repeated reads
BLOCK_VIEW_CACHE_ENTRIES: Final = 256

NO_FEE_MARKET: Final = (
    "zkseq has no EIP-1559 fee market: send legacy (type 0) transactions priced with eth_gasPrice"
)


@dataclass(frozen=True, slots=True)
class ApiSettings:
    chain_id: int
    #: what eth_gasPrice answers (the pool's minimum gas price by default)
    gas_price_wei: int
    client_version: str


class EthApi:
    """The served methods; `register` declares them with their parameters."""

    def __init__(
        self,
        settings: ApiSettings,
        *,
        chain: ChainReader,
        batches: BatchReader,
        state: StateReader,
        pool: TxPool,
        calls: Calls,
        clock: Callable[[], float] = time.time,
        block_view_cache_entries: int = BLOCK_VIEW_CACHE_ENTRIES,
    ) -> None:
        self.settings = settings
        self.chain = chain
        self.batches = batches
        self.state = state
        self.pool = pool
        self.calls = calls
        self.clock = clock
        # A block's view is a function of its hash (which commits to its header and transactions)
        # and `full`; views are never changed once built, so a repeated read (clients polling the
        # newest block, a block fetched by number then by hash) reuses it. Still read from the
        # StateDB first, so a block that is gone is not served.
        self._block_views: OrderedDict[tuple[bytes, bool], Json] = OrderedDict()
        self._block_view_entries = block_view_cache_entries

    def register(self, registry: MethodRegistry) -> None:
        address = Param("address", parse_address)
        block_id = optional("block", parse_block_id, BlockTag.LATEST)
        block_number = Param("block", parse_block_number)
        full = optional("fullTransactions", parse_bool, False)
        tx_hash = Param("hash", parse_hash)
        add = registry.add

        add("web3_clientVersion", self.client_version)
        add("web3_sha3", self.sha3, Param("data", parse_data))
        add("net_version", self.net_version)
        add("net_listening", self.net_listening)
        add("eth_chainId", self.chain_id)
        add("eth_syncing", self.syncing)
        add("eth_accounts", self.accounts)
        add("eth_blockNumber", self.block_number)
        add("eth_gasPrice", self.gas_price)
        add("eth_maxPriorityFeePerGas", self.max_priority_fee_per_gas)
        add(
            "eth_feeHistory",
            self.fee_history,
            Param("blockCount", parse_uint64),
            Param("newestBlock", parse_block_number),
            optional("rewardPercentiles", _any),
        )
        add("eth_getBlockByNumber", self.get_block_by_number, block_number, full)
        add("eth_getBlockByHash", self.get_block_by_hash, Param("hash", parse_hash), full)
        add("eth_getBlockTransactionCountByNumber", self.get_block_tx_count_by_number, block_number)
        add("eth_getBlockTransactionCountByHash", self.get_block_tx_count_by_hash, Param("hash", parse_hash))
        add("eth_getUncleCountByBlockNumber", self.get_uncle_count_by_number, block_number)
        add("eth_getUncleCountByBlockHash", self.get_uncle_count_by_hash, Param("hash", parse_hash))
        add("eth_getTransactionByHash", self.get_transaction_by_hash, tx_hash)
        add(
            "eth_getTransactionByBlockNumberAndIndex",
            self.get_tx_by_block_number_and_index,
            block_number,
            Param("index", parse_uint64),
        )
        add(
            "eth_getTransactionByBlockHashAndIndex",
            self.get_tx_by_block_hash_and_index,
            Param("hash", parse_hash),
            Param("index", parse_uint64),
        )
        add("eth_getTransactionReceipt", self.get_transaction_receipt, tx_hash)
        add("eth_getBalance", self.get_balance, address, block_id)
        add("eth_getTransactionCount", self.get_transaction_count, address, block_id)
        add("eth_getCode", self.get_code, address, block_id)
        add("eth_getStorageAt", self.get_storage_at, address, Param("position", parse_storage_slot), block_id)
        add("eth_call", self.call, Param("transaction", parse_call_args), block_id)
        add("eth_estimateGas", self.estimate_gas, Param("transaction", parse_call_args), block_id)
        add("eth_sendRawTransaction", self.send_raw_transaction, Param("data", parse_data))
        add("eth_getLogs", self.get_logs, Param("filter", parse_log_query))
        add("zkevm_batchNumber", self.batch_number)
        add("zkevm_virtualBatchNumber", self.virtual_batch_number)
        add("zkevm_verifiedBatchNumber", self.verified_batch_number)
        add("zkevm_consolidatedBlockNumber", self.consolidated_block_number)
        add("zkevm_isBlockVirtualized", self.is_block_virtualized, Param("blockNumber", parse_uint64))
        add("zkevm_isBlockConsolidated", self.is_block_consolidated, Param("blockNumber", parse_uint64))
        add(
            "zkevm_batchNumberByBlockNumber",
            self.batch_number_by_block_number,
            Param("blockNumber", parse_uint64),
        )
        add("zkevm_getBatchByNumber", self.get_batch_by_number, Param("batch", parse_block_number), full)

    # -- blocks, resolved ------------------------------------------------------------------------

    async def _number(self, number: BlockNumber) -> int | None:
        if isinstance(number, int):
            return number
        tag = BlockTag.LATEST if number is BlockTag.PENDING else number
        return await self.chain.tagged_block_number(tag)

    async def _state_block(self, block_id: BlockId) -> L2Block:
        """The block whose state a read or call uses."""
        if isinstance(block_id, BlockHashRef):
            block = await self.chain.block_by_hash(block_id.block_hash)
            if block is None:
                raise ServerError("header for hash not found")
            return block
        number = await self._number(block_id)
        block = None if number is None else await self.chain.block(number)
        if block is None:
            raise ServerError("header not found")
        return block

    # -- node ------------------------------------------------------------------------------------

    async def client_version(self) -> Json:
        return self.settings.client_version

    async def sha3(self, value: bytes) -> Json:
        return data(keccak256(value))

    async def net_version(self) -> Json:
        return str(self.settings.chain_id)

    async def net_listening(self) -> Json:
        return True

    async def chain_id(self) -> Json:
        return quantity(self.settings.chain_id)

    async def syncing(self) -> Json:
        return False

    async def accounts(self) -> Json:
        return []

    async def block_number(self) -> Json:
        return quantity(await self.chain.latest_block_number() or 0)

    async def gas_price(self) -> Json:
        return quantity(self.settings.gas_price_wei)

    async def max_priority_fee_per_gas(self) -> Json:
        raise MethodNotFound(
            f"the method eth_maxPriorityFeePerGas does not exist/is not available: {NO_FEE_MARKET}"
        )

    async def fee_history(self, block_count: int, newest: BlockNumber, percentiles: object) -> Json:
        raise MethodNotFound(f"the method eth_feeHistory does not exist/is not available: {NO_FEE_MARKET}")

    # -- blocks and transactions ------------------------------------------------------------------

    # A block with its transactions is one chain read (tag, block, transactions, receipts, logs).

    def _block_view(self, mined: MinedBlock | None, full: bool) -> Json:
        if mined is None:
            return None
        key = (bytes(mined.block.hash), full)
        view = self._block_views.get(key)
        if view is not None:
            self._block_views.move_to_end(key)
            return view
        view = block_view(mined.block, mined.txs, full)
        self._block_views[key] = view
        if len(self._block_views) > self._block_view_entries:
            self._block_views.popitem(last=False)
        return view

    async def get_block_by_number(self, number: BlockNumber, full: bool) -> Json:
        if number is BlockTag.PENDING:
            latest = await self.chain.latest_block_number()
            block = None if latest is None else await self.chain.block(latest)
            return None if block is None else pending_block_view(block, int(self.clock()))
        return self._block_view(await self.chain.mined_block(number), full)

    async def get_block_by_hash(self, block_hash: bytes, full: bool) -> Json:
        return self._block_view(await self.chain.mined_block_by_hash(block_hash), full)

    async def get_block_tx_count_by_number(self, number: BlockNumber) -> Json:
        if number is BlockTag.PENDING:
            return quantity(await self.pool.pending_count())
        mined = await self.chain.mined_block(number)
        return None if mined is None else quantity(len(mined.txs))

    async def get_block_tx_count_by_hash(self, block_hash: bytes) -> Json:
        mined = await self.chain.mined_block_by_hash(block_hash)
        return None if mined is None else quantity(len(mined.txs))

    async def get_uncle_count_by_number(self, number: BlockNumber) -> Json:
        resolved = await self._number(number)
        block = None if resolved is None else await self.chain.block(resolved)
        return None if block is None else quantity(0)

    async def get_uncle_count_by_hash(self, block_hash: bytes) -> Json:
        return None if await self.chain.block_by_hash(block_hash) is None else quantity(0)

    async def get_transaction_by_hash(self, tx_hash: bytes) -> Json:
        mined = await self.chain.mined_tx(tx_hash)
        if mined is not None:
            return tx_view(mined.tx, mined.block_hash)
        pooled = await self.pool.pending_tx(tx_hash)
        return None if pooled is None else pool_tx_view(pooled, tx_hash)

    @staticmethod
    def _tx_at(mined: MinedBlock | None, index: int) -> Json:
        if mined is None or index >= len(mined.txs):
            return None
        return tx_view(mined.txs[index].tx, mined.block.hash)

    async def get_tx_by_block_number_and_index(self, number: BlockNumber, index: int) -> Json:
        return self._tx_at(await self.chain.mined_block(number), index)

    async def get_tx_by_block_hash_and_index(self, block_hash: bytes, index: int) -> Json:
        return self._tx_at(await self.chain.mined_block_by_hash(block_hash), index)

    async def get_transaction_receipt(self, tx_hash: bytes) -> Json:
        mined = await self.chain.mined_tx(tx_hash)
        return None if mined is None else receipt_view(mined)

    async def get_logs(self, query: LogQuery) -> Json:
        if query.block_hash is not None:
            block = await self.chain.block_by_hash(query.block_hash)
            if block is None:
                raise ServerError("unknown block")
            first = last = block.number
        else:
            latest = await self.chain.latest_block_number()
            if latest is None:
                return []
            from_block = BlockTag.LATEST if query.from_block is None else query.from_block
            to_block = BlockTag.LATEST if query.to_block is None else query.to_block
            first_or_none = await self._number(from_block)
            last_or_none = await self._number(to_block)
            first = latest if first_or_none is None else first_or_none
            last = min(latest, latest if last_or_none is None else last_or_none)
            if isinstance(from_block, int) and isinstance(to_block, int) and from_block > to_block:
                raise InvalidParams("invalid block range")
            if first > last:
                return []  # a range that starts after the newest block
        log_filter = LogFilter(
            first,
            last,
            tuple(Address(a) for a in query.addresses),
            tuple(None if t is None else tuple(Hash32(x) for x in t) for t in query.topics),
        )
        logs = await self.chain.logs(log_filter)
        return [log_view(item.log, item.block_hash) for item in logs]

    # -- state -----------------------------------------------------------------------------------

    async def get_balance(self, address: bytes, block_id: BlockId) -> Json:
        block = await self._state_block(block_id)
        return quantity((await self.state.account(block.state_root, address)).balance)

    async def get_transaction_count(self, address: bytes, block_id: BlockId) -> Json:
        block = await self._state_block(block_id)
        nonce = (await self.state.account(block.state_root, address)).nonce
        if block_id is BlockTag.PENDING:
            nonce = max(nonce, await self.pool.pending_nonce(address))
        return quantity(nonce)

    async def get_code(self, address: bytes, block_id: BlockId) -> Json:
        block = await self._state_block(block_id)
        return data(await self.state.code(block.state_root, address))

    async def get_storage_at(self, address: bytes, slot: int, block_id: BlockId) -> Json:
        block = await self._state_block(block_id)
        return word(await self.state.storage(block.state_root, address, slot))

    async def call(self, args: CallArgs, block_id: BlockId) -> Json:
        return data(await self.calls.call(args, await self._state_block(block_id)))

    async def estimate_gas(self, args: CallArgs, block_id: BlockId) -> Json:
        return quantity(await self.calls.estimate_gas(args, await self._state_block(block_id)))

    async def send_raw_transaction(self, raw: bytes) -> Json:
        if not raw:
            raise InvalidParams("invalid argument 0 (data): empty transaction")
        return data(await self.pool.add(raw))

    # -- zkevm -----------------------------------------------------------------------------------

    async def batch_number(self) -> Json:
        return quantity(await self.batches.last_batch_number() or 0)

    async def virtual_batch_number(self) -> Json:
        return quantity(await self.batches.last_virtual_batch_number() or 0)

    async def verified_batch_number(self) -> Json:
        return quantity(await self.batches.last_verified_batch_number() or 0)

    async def consolidated_block_number(self) -> Json:
        return quantity(await self.chain.tagged_block_number(BlockTag.FINALIZED) or 0)

    async def is_block_virtualized(self, number: int) -> Json:
        return await self.batches.is_block_virtualized(number)

    async def is_block_consolidated(self, number: int) -> Json:
        return await self.batches.is_block_verified(number)

    async def batch_number_by_block_number(self, number: int) -> Json:
        batch = await self.batches.batch_number_of_block(number)
        return None if batch is None else quantity(batch)

    async def get_batch_by_number(self, number: BlockNumber, full: bool) -> Json:
        if isinstance(number, int):
            resolved: int | None = number
        elif number in (BlockTag.LATEST, BlockTag.PENDING):
            resolved = await self.batches.last_batch_number()
        elif number is BlockTag.EARLIEST:
            resolved = 0
        elif number is BlockTag.SAFE:
            resolved = await self.batches.last_virtual_batch_number() or 0
        else:
            resolved = await self.batches.last_verified_batch_number() or 0
        view = None if resolved is None else await self.batches.batch(resolved)
        return None if view is None else batch_view(view, full)


def _any(value: object) -> object:
    return value

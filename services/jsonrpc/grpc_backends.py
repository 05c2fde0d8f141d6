"""The real backends over gRPC: the HashDB (state leaves), the pool and the executor.

Each client is built from the generated `_pb2` messages and `services.common.grpc_client` (a
service never imports another service), with a deadline on every call. gRPC failures become the
`RpcError` the JSON-RPC caller sees:

    UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED  BackendUnavailable (-32000 "… unavailable")
    the pool refusing a transaction                     ServerError with the pool's own message
                                                        ("nonce too low: …", "already known: …")
    anything else                                       ServerError naming the backend and code

Transactions go to the pool with AddTransactions: concurrent eth_sendRawTransaction calls share
one call (`GrpcPool`), each answered as the single AddTransaction would answer it.

HashDB reads are cached by (state root, key) in a bounded LRU, and bytecode by its hash: the state
at a root never changes, so both caches are exact (a new block's root simply misses).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from typing import Final

import grpc
from grpc import aio

from protos.executor.v1 import executor_pb2 as executor_pb
from protos.hashdb.v1 import hashdb_pb2 as hashdb_pb
from protos.pool.v1 import pool_pb2 as pool_pb
from services.common.coalesce import Coalescer
from services.common.grpc_client import UnaryMethod
from services.jsonrpc.backends import Account, CallOutcome, PoolTx, UnsignedCall
from services.jsonrpc.codec import data
from services.jsonrpc.errors import BackendUnavailable, RpcError, ServerError
from zkevm.errors import EncodingError
from zkevm.field import H4, bytes_to_h4, int_to_h4
from zkevm.state_keys import balance_key, code_hash_key, code_length_key, nonce_key, storage_key
from zkevm.transaction import DEFAULT_EFFECTIVE_PERCENTAGE, L2Transaction

HASHDB_SERVICE: Final = "hashdb.v1.HashDBService"
POOL_SERVICE: Final = "zkseq.pool.v1.PoolService"
EXECUTOR_SERVICE: Final = "executor.v1.ExecutorService"
#: the fork the executor is asked to run
FORK_ID: Final = 6

_RETRYABLE: Final = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
)
#: the pool's answers to a transaction it refuses (pool.proto): the message is the rule's
_POOL_REFUSALS: Final = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)


#: gRPC status codes by their number (AddTransactions answers an item with the number)
_STATUS_BY_NUMBER: Final = {code.value[0]: code for code in grpc.StatusCode}
#: transactions one AddTransactions call may carry (the pool's limit, pool.proto)
MAX_TRANSACTIONS_PER_ADD: Final = 256


def _status_error(backend: str, code: grpc.StatusCode, details: str | None) -> RpcError:
    if code in _RETRYABLE:
        return BackendUnavailable(f"the {backend} is unavailable ({code.name}): {details}")
    return ServerError(f"the {backend} failed ({code.name}): {details}")


def _backend_error(backend: str, exc: grpc.aio.AioRpcError) -> RpcError:
    return _status_error(backend, exc.code(), exc.details())


def _pool_add_error(code: grpc.StatusCode, details: str | None) -> RpcError:
    """What a sender sees when the pool does not take its transaction."""
    if code in _POOL_REFUSALS:
        return ServerError(details or code.name.lower())
    return _status_error("transaction pool", code, details)


def _fea(h: H4) -> hashdb_pb.Fea:
    return hashdb_pb.Fea(fe0=h[0], fe1=h[1], fe2=h[2], fe3=h[3])


class HashDBState:
    """`StateReader` over the HashDB's GetMany and GetProgram."""

    def __init__(
        self,
        channel: aio.Channel,
        timeout_s: float = 5.0,
        cache_entries: int = 65_536,
        program_cache_entries: int = 1_024,
    ) -> None:
        path = f"/{HASHDB_SERVICE}/"
        self._get_many = UnaryMethod[hashdb_pb.GetManyRequest, hashdb_pb.GetManyResponse](
            channel, path + "GetMany", hashdb_pb.GetManyResponse, timeout_s
        )
        self._get_program = UnaryMethod[hashdb_pb.GetProgramRequest, hashdb_pb.GetProgramResponse](
            channel, path + "GetProgram", hashdb_pb.GetProgramResponse, timeout_s
        )
        self._leaves: OrderedDict[tuple[bytes, H4], int] = OrderedDict()
        self._leaf_entries = cache_entries
        self._programs: OrderedDict[int, bytes] = OrderedDict()
        self._program_entries = program_cache_entries

    async def values(self, root: bytes, keys: Sequence[H4]) -> list[int]:
        """The leaf values of `keys` at `root` (0 when absent), from the cache or one GetMany."""
        found: dict[H4, int] = {}
        missing: list[H4] = []
        for key in keys:
            value = self._leaves.get((root, key))
            if value is None:
                missing.append(key)
            else:
                self._leaves.move_to_end((root, key))
                found[key] = value
        if missing:
            try:
                root_h4 = bytes_to_h4(root)
            except EncodingError as exc:
                raise ServerError(f"state root {data(root)} is malformed: {exc}") from exc
            request = hashdb_pb.GetManyRequest(root=_fea(root_h4), keys=[_fea(k) for k in missing])
            try:
                response = await self._get_many(request)
            except grpc.aio.AioRpcError as exc:
                if exc.code() is grpc.StatusCode.NOT_FOUND:
                    raise ServerError(
                        f"the state at root {data(root)} is not in the HashDB: {exc.details()}"
                    ) from exc
                raise _backend_error("HashDB", exc) from exc
            for key, text in zip(missing, response.values, strict=True):
                value = int(text, 16)
                found[key] = value
                self._leaves[(root, key)] = value
            while len(self._leaves) > self._leaf_entries:
                self._leaves.popitem(last=False)
        return [found[key] for key in keys]

    async def account(self, root: bytes, address: bytes) -> Account:
        nonce, balance = await self.values(root, [nonce_key(address), balance_key(address)])
        return Account(nonce=nonce, balance=balance)

    async def storage(self, root: bytes, address: bytes, slot: int) -> int:
        return (await self.values(root, [storage_key(address, slot)]))[0]

    async def code(self, root: bytes, address: bytes) -> bytes:
        length, code_hash = await self.values(root, [code_length_key(address), code_hash_key(address)])
        if length == 0:
            return b""
        cached = self._programs.get(code_hash)
        if cached is not None:
            self._programs.move_to_end(code_hash)
            return cached
        try:
            response = await self._get_program(hashdb_pb.GetProgramRequest(key=_fea(int_to_h4(code_hash))))
        except grpc.aio.AioRpcError as exc:
            if exc.code() is grpc.StatusCode.NOT_FOUND:
                raise ServerError(
                    f"the bytecode {code_hash:#066x} of {data(address)} is not in the HashDB"
                ) from exc
            raise _backend_error("HashDB", exc) from exc
        if response.result.code != hashdb_pb.ResultCode.CODE_SUCCESS:
            name = hashdb_pb.ResultCode.Code.Name(response.result.code)
            raise ServerError(f"the HashDB could not read the bytecode {code_hash:#066x}: {name}")
        self._programs[code_hash] = response.data
        while len(self._programs) > self._program_entries:
            self._programs.popitem(last=False)
        return response.data


class GrpcPool:
    """`TxPool` over zkseq.pool.v1.PoolService.

    Sends are coalesced (`services.common.coalesce`): a send goes out at once, as an
    AddTransactions of one, while fewer than `max_in_flight` calls are in flight; otherwise it
    waits, and when a call returns, the next one carries every send queued meanwhile (up to the
    pool's 256). Each sender gets what AddTransaction would have answered it alone. A pool too old
    to know AddTransactions (UNIMPLEMENTED) is sent AddTransaction per transaction from then on.
    """

    def __init__(self, channel: aio.Channel, timeout_s: float = 10.0, *, max_in_flight: int = 3) -> None:
        path = f"/{POOL_SERVICE}/"
        self._add = UnaryMethod[pool_pb.AddTransactionRequest, pool_pb.AddTransactionResponse](
            channel, path + "AddTransaction", pool_pb.AddTransactionResponse, timeout_s
        )
        self._add_many = UnaryMethod[pool_pb.AddTransactionsRequest, pool_pb.AddTransactionsResponse](
            channel, path + "AddTransactions", pool_pb.AddTransactionsResponse, timeout_s
        )
        self._pending_nonce = UnaryMethod[pool_pb.GetPendingNonceRequest, pool_pb.GetPendingNonceResponse](
            channel, path + "GetPendingNonce", pool_pb.GetPendingNonceResponse, timeout_s
        )
        self._get = UnaryMethod[pool_pb.GetTransactionRequest, pool_pb.GetTransactionResponse](
            channel, path + "GetTransaction", pool_pb.GetTransactionResponse, timeout_s
        )
        self._stats = UnaryMethod[pool_pb.GetPoolStatsRequest, pool_pb.PoolStats](
            channel, path + "GetPoolStats", pool_pb.PoolStats, timeout_s
        )
        # no dedupe: the same transaction sent twice is answered twice, "already known" the second time
        self._sends = Coalescer[None, bytes, bytes](
            self._send, max_in_flight=max_in_flight, max_batch=MAX_TRANSACTIONS_PER_ADD, dedupe=False
        )
        self._batches = True

    @property
    def calls(self) -> int:
        """Calls made to add transactions so far."""
        return self._sends.calls

    async def add(self, raw: bytes) -> bytes:
        return await self._sends.get(None, raw)

    async def _send(self, _: None, raws: Sequence[bytes]) -> list[bytes | Exception]:
        if self._batches:
            try:
                response = await self._add_many(pool_pb.AddTransactionsRequest(raw=raws))
            except grpc.aio.AioRpcError as exc:
                if exc.code() is not grpc.StatusCode.UNIMPLEMENTED:
                    raise _backend_error("transaction pool", exc) from exc
                self._batches = False
            else:
                if len(response.results) != len(raws):
                    raise ServerError(
                        f"the transaction pool answered {len(response.results)} results "
                        f"to {len(raws)} transactions"
                    )
                return [
                    r.hash
                    if r.code == 0
                    else _pool_add_error(_STATUS_BY_NUMBER.get(r.code, grpc.StatusCode.UNKNOWN), r.message)
                    for r in response.results
                ]
        outcomes = await asyncio.gather(*(self._add_one(raw) for raw in raws), return_exceptions=True)
        answers: list[bytes | Exception] = []
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                raise outcome
            answers.append(outcome)
        return answers

    async def _add_one(self, raw: bytes) -> bytes:
        try:
            response = await self._add(pool_pb.AddTransactionRequest(raw=raw))
        except grpc.aio.AioRpcError as exc:
            raise _pool_add_error(exc.code(), exc.details()) from exc
        return response.hash

    async def pending_nonce(self, address: bytes) -> int:
        try:
            response = await self._pending_nonce(pool_pb.GetPendingNonceRequest(address=address))
        except grpc.aio.AioRpcError as exc:
            raise _backend_error("transaction pool", exc) from exc
        return response.pending_nonce

    async def pending_tx(self, tx_hash: bytes) -> PoolTx | None:
        try:
            response = await self._get(pool_pb.GetTransactionRequest(hash=tx_hash))
        except grpc.aio.AioRpcError as exc:
            if exc.code() is grpc.StatusCode.NOT_FOUND:
                return None
            raise _backend_error("transaction pool", exc) from exc
        if response.status not in (pool_pb.TX_STATUS_PENDING, pool_pb.TX_STATUS_SELECTED):
            return None
        return PoolTx(raw=response.transaction.raw, sender=response.transaction.sender)

    async def pending_count(self) -> int:
        try:
            stats = await self._stats(pool_pb.GetPoolStatsRequest())
        except grpc.aio.AioRpcError as exc:
            raise _backend_error("transaction pool", exc) from exc
        return stats.pending + stats.selected


class GrpcExecutor:
    """`CallExecutor` over executor.v1 ProcessBatch: one unsigned transaction, `from` set,
    update_merkle_tree 0 (nothing is kept), no_counters 1 (no ZK-counter limit), no GER."""

    def __init__(self, channel: aio.Channel, chain_id: int, timeout_s: float = 30.0) -> None:
        self._process = UnaryMethod[executor_pb.ProcessBatchRequest, executor_pb.ProcessBatchResponse](
            channel, f"/{EXECUTOR_SERVICE}/ProcessBatch", executor_pb.ProcessBatchResponse, timeout_s
        )
        self.chain_id = chain_id

    async def run(self, call: UnsignedCall) -> CallOutcome:
        unsigned = L2Transaction(
            nonce=call.nonce,
            gas_price=call.gas_price,
            gas_limit=call.gas,
            to=call.to,
            value=call.value,
            data=call.data,
            chain_id=self.chain_id,
            r=0,
            s=0,
            v=27,
            effective_percentage=DEFAULT_EFFECTIVE_PERCENTAGE,
        )
        try:
            record = unsigned.encode()
        except EncodingError as exc:
            raise ServerError(f"the call cannot be encoded: {exc}") from exc
        request = executor_pb.ProcessBatchRequest(
            old_state_root=call.state_root,
            old_acc_input_hash=bytes(32),
            old_batch_num=call.batch_number,
            chain_id=self.chain_id,
            fork_id=FORK_ID,
            batch_l2_data=record,
            global_exit_root=bytes(32),
            eth_timestamp=call.timestamp,
            coinbase=data(call.coinbase),
            update_merkle_tree=0,
            no_counters=1,
            context_id="jsonrpc-call",
        )
        setattr(request, "from", data(call.sender))  # `from` is a Python keyword
        try:
            response = await self._process(request)
        except grpc.aio.AioRpcError as exc:
            raise _backend_error("executor", exc) from exc
        if response.error != executor_pb.EXECUTOR_ERROR_NO_ERROR:
            name = executor_pb.ExecutorError.Name(response.error).removeprefix("EXECUTOR_ERROR_")
            raise ServerError(f"the executor could not run the call: {name}")
        if not response.responses:
            raise ServerError("the executor returned no result for the call")
        result = response.responses[0]
        error = executor_pb.RomError.Name(result.error).removeprefix("ROM_ERROR_")
        return CallOutcome(
            error=None if error == "NO_ERROR" else error,
            gas_used=result.gas_used,
            gas_refunded=result.gas_refunded,
            return_value=result.return_value,
        )

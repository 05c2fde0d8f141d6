"""The gRPC face of the pool: `zkseq.pool.v1.PoolService`, protobuf in, protobuf out.

Each method checks the request's shape (hash 32 bytes, address 20), calls `Pool`, and builds the
response. Errors are raised (`PoolRejection`, `services.common.errors`) and turned into status codes
by the interceptor. AddTransactions is the exception: it runs `Pool.add` for each of its
transactions concurrently and answers each one in its own result, with the status code and message
the interceptor would have given AddTransaction for it (`answer`), so one call carries many
admissions and jsonrpc can tell each sender exactly what a single call would have told it.
"""

# ruff: noqa: N802  (method names are the wire contract's)

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeAlias

import grpc
from grpc import aio

from protos.pool.v1 import pool_pb2 as pb
from services.common.errors import InvalidArgument
from services.pool.pool import AddResult, Pool
from services.pool.store import FailureKind, PoolTransaction, TxStatus
from zkevm.state_keys import Address

SERVICE_NAME: Final = pb.DESCRIPTOR.services_by_name["PoolService"].full_name

Context: TypeAlias = "aio.ServicerContext[Any, Any]"

STATUS_TO_PB: Final = {
    TxStatus.PENDING: pb.TX_STATUS_PENDING,
    TxStatus.SELECTED: pb.TX_STATUS_SELECTED,
    TxStatus.FAILED: pb.TX_STATUS_FAILED,
    TxStatus.INVALID: pb.TX_STATUS_INVALID,
}
FAILURE_FROM_PB: Final = {
    pb.FAILURE_KIND_NONCE: FailureKind.NONCE,
    pb.FAILURE_KIND_BALANCE: FailureKind.BALANCE,
    pb.FAILURE_KIND_OTHER: FailureKind.OTHER,
}


def _hash(data: bytes, field: str = "hash") -> bytes:
    if len(data) != 32:
        raise InvalidArgument(f"{field} must be 32 bytes, got {len(data)}")
    return data


#: hashes one SelectMany / MarkIncludedMany call may name
MAX_HASHES_PER_CALL: Final = 1000
#: transactions one AddTransactions call may carry (pool.proto)
MAX_TRANSACTIONS_PER_CALL: Final = 256


def _hashes(hashes: Sequence[bytes]) -> list[bytes]:
    if len(hashes) > MAX_HASHES_PER_CALL:
        raise InvalidArgument(f"at most {MAX_HASHES_PER_CALL} hashes per call, got {len(hashes)}")
    return [_hash(h, f"hashes[{i}]") for i, h in enumerate(hashes)]


def _address(data: bytes) -> Address:
    if len(data) != 20:
        raise InvalidArgument(f"address must be 20 bytes, got {len(data)}")
    return Address(data)


def transaction_to_pb(tx: PoolTransaction) -> pb.PoolTransaction:
    return pb.PoolTransaction(
        hash=tx.hash,
        raw=tx.raw,
        batch_l2_data=tx.batch_l2_data,
        effective_percentage=tx.effective_percentage,
        sender=tx.sender,
        nonce=tx.nonce,
        gas_price=str(tx.gas_price),
        gas_limit=tx.gas_limit,
        effective_gas_price=str(tx.effective_gas_price),
        received_at_ms=tx.received_at_ms,
    )


#: what a refused item of AddTransactions is answered with: its status code and message
Answer: TypeAlias = Callable[[str, Exception], tuple[grpc.StatusCode, str]]


class PoolServicer:
    def __init__(self, pool: Pool, answer: Answer) -> None:
        """`answer`: how AddTransactions answers an item that raised, the status code and message
        AddTransaction's call would get (the server's `ServiceInterceptor.answer`)."""
        self._pool = pool
        self._answer = answer

    async def AddTransaction(
        self, request: pb.AddTransactionRequest, context: Context
    ) -> pb.AddTransactionResponse:
        result = await self._pool.add(request.raw)
        return pb.AddTransactionResponse(hash=result.tx_hash, replaced_hash=result.replaced or b"")

    async def AddTransactions(
        self, request: pb.AddTransactionsRequest, context: Context
    ) -> pb.AddTransactionsResponse:
        if len(request.raw) > MAX_TRANSACTIONS_PER_CALL:
            raise InvalidArgument(
                f"at most {MAX_TRANSACTIONS_PER_CALL} transactions per AddTransactions call, "
                f"got {len(request.raw)}"
            )
        outcomes = await asyncio.gather(*(self._pool.add(raw) for raw in request.raw), return_exceptions=True)
        results: list[pb.AddTransactionResult] = []
        for outcome in outcomes:
            if isinstance(outcome, AddResult):
                results.append(
                    pb.AddTransactionResult(hash=outcome.tx_hash, replaced_hash=outcome.replaced or b"")
                )
            elif isinstance(outcome, Exception):
                code, message = self._answer("AddTransaction", outcome)
                results.append(pb.AddTransactionResult(code=code.value[0], message=message))
            else:  # CancelledError and the like: the call itself ends
                raise outcome
        return pb.AddTransactionsResponse(results=results)

    async def GetReadyTransactions(
        self, request: pb.GetReadyTransactionsRequest, context: Context
    ) -> pb.GetReadyTransactionsResponse:
        txs = await self._pool.ready(request.limit, request.followers)
        return pb.GetReadyTransactionsResponse(transactions=[transaction_to_pb(tx) for tx in txs])

    async def MarkSelected(self, request: pb.MarkSelectedRequest, context: Context) -> pb.MarkResponse:
        status = await self._pool.mark_selected(_hash(request.hash))
        return pb.MarkResponse(status=STATUS_TO_PB[status])

    async def SelectMany(self, request: pb.SelectManyRequest, context: Context) -> pb.SelectManyResponse:
        hashes = _hashes(request.hashes)
        return pb.SelectManyResponse(selected=await self._pool.select_many(hashes))

    async def MarkIncludedMany(
        self, request: pb.MarkIncludedManyRequest, context: Context
    ) -> pb.MarkIncludedManyResponse:
        known = await self._pool.mark_included_many(_hashes(request.hashes))
        return pb.MarkIncludedManyResponse(known=known)

    async def MarkIncluded(
        self, request: pb.MarkIncludedRequest, context: Context
    ) -> pb.MarkIncludedResponse:
        next_nonce = await self._pool.mark_included(_hash(request.hash))
        if next_nonce is None:
            return pb.MarkIncludedResponse(known=False)
        return pb.MarkIncludedResponse(known=True, next_nonce=next_nonce)

    async def MarkFailed(self, request: pb.MarkFailedRequest, context: Context) -> pb.MarkResponse:
        kind = FAILURE_FROM_PB.get(request.kind)
        if kind is None:
            raise InvalidArgument(
                "kind must be FAILURE_KIND_NONCE, FAILURE_KIND_BALANCE or FAILURE_KIND_OTHER"
            )
        state_nonce = request.state_nonce if request.HasField("state_nonce") else None
        status = await self._pool.mark_failed(_hash(request.hash), kind, request.reason, state_nonce)
        return pb.MarkResponse(status=STATUS_TO_PB[status])

    async def MarkInvalid(self, request: pb.MarkInvalidRequest, context: Context) -> pb.MarkResponse:
        status = await self._pool.mark_invalid(_hash(request.hash), request.reason)
        return pb.MarkResponse(status=STATUS_TO_PB[status])

    async def ReleaseSelected(
        self, request: pb.ReleaseSelectedRequest, context: Context
    ) -> pb.ReleaseSelectedResponse:
        return pb.ReleaseSelectedResponse(released=await self._pool.release_selected())

    async def GetTransaction(
        self, request: pb.GetTransactionRequest, context: Context
    ) -> pb.GetTransactionResponse:
        stored = await self._pool.get(_hash(request.hash))
        return pb.GetTransactionResponse(
            transaction=transaction_to_pb(stored.tx),
            status=STATUS_TO_PB[stored.status],
            reason=stored.reason,
            ready=stored.ready,
            status_changed_at_ms=stored.status_changed_at_ms,
        )

    async def GetStatus(self, request: pb.GetStatusRequest, context: Context) -> pb.GetStatusResponse:
        stored = await self._pool.get(_hash(request.hash))
        return pb.GetStatusResponse(status=STATUS_TO_PB[stored.status], reason=stored.reason)

    async def GetPendingNonce(
        self, request: pb.GetPendingNonceRequest, context: Context
    ) -> pb.GetPendingNonceResponse:
        pending, state = await self._pool.pending_nonce(_address(request.address))
        return pb.GetPendingNonceResponse(pending_nonce=pending, state_nonce=state)

    async def GetPoolStats(self, request: pb.GetPoolStatsRequest, context: Context) -> pb.PoolStats:
        c = await self._pool.counts()
        return pb.PoolStats(
            pending=c.pending, selected=c.selected, failed=c.failed, invalid=c.invalid, ready=c.ready
        )

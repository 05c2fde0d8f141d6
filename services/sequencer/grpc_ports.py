"""The sequencer's ports over gRPC: the executor, the pool and the HashDB. Protobuf stops here.

Every call has a deadline. A transport failure the caller may retry (UNAVAILABLE, DEADLINE_EXCEEDED,
RESOURCE_EXHAUSTED, ABORTED, CANCELLED) becomes the port's `Unavailable`; the executor's other
failures become `ExecutorFailed`; answers that are part of the protocol (a transaction the pool no
longer offers, an executor error in the response) are returned as values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import grpc
from google.protobuf import empty_pb2
from grpc import aio

from protos.executor.v1 import executor_pb2 as epb
from protos.hashdb.v1 import hashdb_pb2 as hpb
from protos.pool.v1 import pool_pb2 as ppb
from services.common.grpc_client import UnaryMethod
from services.sequencer.limits import ZkCounters
from services.sequencer.ports import (
    ExecLog,
    ExecRequest,
    ExecResult,
    ExecTx,
    ExecutorFailed,
    ExecutorUnavailable,
    FailureKind,
    FlushStatus,
    HashDBUnavailable,
    PoolTx,
    PoolUnavailable,
)
from zkevm.errors import DecodeError
from zkevm.field import H4, bytes_to_h4
from zkevm.state_keys import nonce_key
from zkevm.transaction import decode_record

EXECUTOR_SERVICE: Final = "executor.v1.ExecutorService"
POOL_SERVICE: Final = "zkseq.pool.v1.PoolService"
HASHDB_SERVICE: Final = "hashdb.v1.HashDBService"
FORK_ID: Final = 6

RETRYABLE: Final = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
    }
)


def _describe(exc: aio.AioRpcError) -> str:
    return f"{exc.code().name}: {exc.details()}"


def _address(text: str) -> bytes | None:
    if not text:
        return None
    return int(text, 16).to_bytes(20, "big")


def exec_result_from_proto(r: epb.ProcessBatchResponse) -> ExecResult:
    return ExecResult(
        error=r.error,
        new_state_root=r.new_state_root,
        new_acc_input_hash=r.new_acc_input_hash,
        new_local_exit_root=r.new_local_exit_root,
        counters=ZkCounters(
            keccak_hashes=r.cnt_keccak_hashes,
            poseidon_hashes=r.cnt_poseidon_hashes,
            poseidon_paddings=r.cnt_poseidon_paddings,
            mem_aligns=r.cnt_mem_aligns,
            arithmetics=r.cnt_arithmetics,
            binaries=r.cnt_binaries,
            steps=r.cnt_steps,
        ),
        cumulative_gas_used=r.cumulative_gas_used,
        txs=tuple(
            ExecTx(
                tx_hash=t.tx_hash,
                rlp_tx=t.rlp_tx,
                rom_error=t.error,
                gas_used=t.gas_used,
                state_root=t.state_root,
                logs=tuple(
                    ExecLog(
                        address=int(log.address, 16).to_bytes(20, "big"),
                        topics=tuple(log.topics),
                        data=log.data,
                    )
                    for log in t.logs
                ),
                create_address=_address(t.create_address),
                effective_gas_price=int(t.effective_gas_price or "0"),
                effective_percentage=t.effective_percentage,
            )
            for t in r.responses
        ),
        flush_id=r.flush_id,
        stored_flush_id=r.stored_flush_id,
        prover_id=r.prover_id,
    )


class GrpcExecutor:
    """`ports.Executor` over executor.v1."""

    def __init__(self, channel: aio.Channel, timeout_s: float) -> None:
        path = f"/{EXECUTOR_SERVICE}/"
        self._process = UnaryMethod[epb.ProcessBatchRequest, epb.ProcessBatchResponse](
            channel, path + "ProcessBatch", epb.ProcessBatchResponse, timeout_s
        )
        self._flush_status = UnaryMethod[empty_pb2.Empty, epb.GetFlushStatusResponse](
            channel, path + "GetFlushStatus", epb.GetFlushStatusResponse, min(timeout_s, 10.0)
        )

    async def process(self, request: ExecRequest) -> ExecResult:
        message = epb.ProcessBatchRequest(
            old_state_root=request.old_state_root,
            old_acc_input_hash=request.old_acc_input_hash,
            old_batch_num=request.old_batch_number,
            chain_id=request.chain_id,
            fork_id=FORK_ID,
            batch_l2_data=request.batch_l2_data,
            global_exit_root=request.global_exit_root,
            eth_timestamp=request.timestamp,
            coinbase="0x" + request.coinbase.hex(),
            update_merkle_tree=1 if request.update_merkle_tree else 0,
            context_id=request.context_id,
        )
        try:
            response = await self._process(message)
        except aio.AioRpcError as exc:
            if exc.code() in RETRYABLE:
                raise ExecutorUnavailable(f"executor ProcessBatch: {_describe(exc)}") from exc
            raise ExecutorFailed(f"executor ProcessBatch: {_describe(exc)}") from exc
        return exec_result_from_proto(response)

    async def flush_status(self) -> FlushStatus:
        try:
            response = await self._flush_status(empty_pb2.Empty())
        except aio.AioRpcError as exc:
            raise ExecutorUnavailable(f"executor GetFlushStatus: {_describe(exc)}") from exc
        return FlushStatus(stored_flush_id=response.stored_flush_id, prover_id=response.prover_id)


def pool_tx_from_proto(t: ppb.PoolTransaction) -> PoolTx | None:
    """None when the record the pool holds does not decode (the pool validated it, so never)."""
    try:
        tx, end = decode_record(t.batch_l2_data)
    except DecodeError:
        return None
    if end != len(t.batch_l2_data):
        return None
    return PoolTx(
        hash=t.hash, record=t.batch_l2_data, sender=t.sender, nonce=t.nonce, gas_price=int(t.gas_price), tx=tx
    )


_FAILURE_KIND: Final = {
    FailureKind.NONCE: ppb.FAILURE_KIND_NONCE,
    FailureKind.BALANCE: ppb.FAILURE_KIND_BALANCE,
    FailureKind.OTHER: ppb.FAILURE_KIND_OTHER,
}


class GrpcPool:
    """`ports.Pool` over zkseq.pool.v1 (its own calls, not services.pool.client: a service never
    imports another). Every failure other than the protocol's answers is `PoolUnavailable`,
    retried by the caller."""

    def __init__(self, channel: aio.Channel, timeout_s: float) -> None:
        def method(name: str) -> str:
            return f"/{POOL_SERVICE}/{name}"

        t = timeout_s
        self._ready = UnaryMethod[ppb.GetReadyTransactionsRequest, ppb.GetReadyTransactionsResponse](
            channel, method("GetReadyTransactions"), ppb.GetReadyTransactionsResponse, t
        )
        self._select = UnaryMethod[ppb.MarkSelectedRequest, ppb.MarkResponse](
            channel, method("MarkSelected"), ppb.MarkResponse, t
        )
        self._select_many = UnaryMethod[ppb.SelectManyRequest, ppb.SelectManyResponse](
            channel, method("SelectMany"), ppb.SelectManyResponse, t
        )
        self._include_many = UnaryMethod[ppb.MarkIncludedManyRequest, ppb.MarkIncludedManyResponse](
            channel, method("MarkIncludedMany"), ppb.MarkIncludedManyResponse, t
        )
        self._include = UnaryMethod[ppb.MarkIncludedRequest, ppb.MarkIncludedResponse](
            channel, method("MarkIncluded"), ppb.MarkIncludedResponse, t
        )
        self._fail = UnaryMethod[ppb.MarkFailedRequest, ppb.MarkResponse](
            channel, method("MarkFailed"), ppb.MarkResponse, t
        )
        self._invalid = UnaryMethod[ppb.MarkInvalidRequest, ppb.MarkResponse](
            channel, method("MarkInvalid"), ppb.MarkResponse, t
        )
        self._release = UnaryMethod[ppb.ReleaseSelectedRequest, ppb.ReleaseSelectedResponse](
            channel, method("ReleaseSelected"), ppb.ReleaseSelectedResponse, t
        )

    @staticmethod
    def _unavailable(call: str, exc: aio.AioRpcError) -> PoolUnavailable:
        return PoolUnavailable(f"pool {call}: {_describe(exc)}")

    async def ready(self, limit: int, *, followers: bool = False) -> list[PoolTx]:
        try:
            response = await self._ready(ppb.GetReadyTransactionsRequest(limit=limit, followers=followers))
        except aio.AioRpcError as exc:
            raise self._unavailable("GetReadyTransactions", exc) from exc
        txs = []
        for t in response.transactions:
            tx = pool_tx_from_proto(t)
            if tx is not None:
                txs.append(tx)
        return txs

    async def select(self, tx_hash: bytes) -> bool:
        try:
            await self._select(ppb.MarkSelectedRequest(hash=tx_hash))
        except aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION):
                return False
            raise self._unavailable("MarkSelected", exc) from exc
        return True

    async def select_many(self, tx_hashes: Sequence[bytes]) -> set[bytes]:
        try:
            response = await self._select_many(ppb.SelectManyRequest(hashes=list(tx_hashes)))
        except aio.AioRpcError as exc:
            raise self._unavailable("SelectMany", exc) from exc
        return set(response.selected)

    async def include_many(self, tx_hashes: Sequence[bytes]) -> None:
        try:
            await self._include_many(ppb.MarkIncludedManyRequest(hashes=list(tx_hashes)))
        except aio.AioRpcError as exc:
            raise self._unavailable("MarkIncludedMany", exc) from exc

    async def include(self, tx_hash: bytes) -> None:
        try:
            await self._include(ppb.MarkIncludedRequest(hash=tx_hash))
        except aio.AioRpcError as exc:
            raise self._unavailable("MarkIncluded", exc) from exc

    async def fail(self, tx_hash: bytes, kind: FailureKind, reason: str, state_nonce: int | None) -> None:
        request = ppb.MarkFailedRequest(hash=tx_hash, kind=_FAILURE_KIND[kind], reason=reason)
        if state_nonce is not None:
            request.state_nonce = state_nonce
        try:
            await self._fail(request)
        except aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION):
                return  # gone, or already settled: nothing left to report
            raise self._unavailable("MarkFailed", exc) from exc

    async def invalidate(self, tx_hash: bytes, reason: str) -> None:
        try:
            await self._invalid(ppb.MarkInvalidRequest(hash=tx_hash, reason=reason))
        except aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION):
                return
            raise self._unavailable("MarkInvalid", exc) from exc

    async def release_selected(self) -> int:
        try:
            response = await self._release(ppb.ReleaseSelectedRequest())
        except aio.AioRpcError as exc:
            raise self._unavailable("ReleaseSelected", exc) from exc
        return int(response.released)


def _fea(h: H4) -> hpb.Fea:
    return hpb.Fea(fe0=h[0], fe1=h[1], fe2=h[2], fe3=h[3])


class HashDBAccounts:
    """`ports.AccountReader`: a nonce leaf read with the HashDB's GetMany."""

    def __init__(self, channel: aio.Channel, timeout_s: float) -> None:
        self._get_many = UnaryMethod[hpb.GetManyRequest, hpb.GetManyResponse](
            channel, f"/{HASHDB_SERVICE}/GetMany", hpb.GetManyResponse, timeout_s
        )

    async def nonce(self, state_root: bytes, address: bytes) -> int:
        request = hpb.GetManyRequest(root=_fea(bytes_to_h4(state_root)), keys=[_fea(nonce_key(address))])
        try:
            response = await self._get_many(request)
        except aio.AioRpcError as exc:
            raise HashDBUnavailable(f"HashDB GetMany: {_describe(exc)}") from exc
        return int(response.values[0], 16)

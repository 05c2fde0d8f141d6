"""`GrpcTxManager`: the `TxManager` port over zkseq.ethtxmanager.v1 (protobuf stops here).

    txm = GrpcTxManager(grpc.aio.insecure_channel("127.0.0.1:50095"), owner="sequencesender")
    await txm.add(id="sequence:5-9", to=rollup, data=calldata, gas_limit=210_000)

UNAVAILABLE and DEADLINE_EXCEEDED (the outcome of the call is unknown) become
`TxManagerUnavailable`; ALREADY_EXISTS (the id is stored with other content) `TxIdConflict`;
NOT_FOUND from Result is None. Every call has a deadline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, TypeVar

import grpc
from google.protobuf.message import Message
from grpc import aio

from protos.ethtxmanager.v1 import ethtxmanager_pb2 as pb
from services.common.grpc_client import UnaryMethod
from services.sequencesender.ports import (
    AddOutcome,
    AddResult,
    TxIdConflict,
    TxManagerUnavailable,
    TxResult,
    TxStatus,
)

SERVICE_NAME: Final = "zkseq.ethtxmanager.v1.EthTxManagerService"

STATUS_FROM_PB: Final = {
    pb.MONITORED_TX_STATUS_CREATED: TxStatus.CREATED,
    pb.MONITORED_TX_STATUS_SENT: TxStatus.SENT,
    pb.MONITORED_TX_STATUS_MINED: TxStatus.MINED,
    pb.MONITORED_TX_STATUS_CONFIRMED: TxStatus.CONFIRMED,
    pb.MONITORED_TX_STATUS_FAILED: TxStatus.FAILED,
}
STATUS_TO_PB: Final = {status: value for value, status in STATUS_FROM_PB.items()}
OUTCOME_FROM_PB: Final = {
    pb.ADD_OUTCOME_ADDED: AddOutcome.ADDED,
    pb.ADD_OUTCOME_ALREADY_ADDED: AddOutcome.ALREADY_ADDED,
    pb.ADD_OUTCOME_REVERTED: AddOutcome.REVERTED,
}
_UNKNOWN_OUTCOME: Final = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)


def _result(tx: pb.MonitoredTx) -> TxResult:
    status = STATUS_FROM_PB.get(tx.status)
    if status is None:
        raise TxManagerUnavailable(f"the EthTxManager answered an unknown status {tx.status} for {tx.id}")
    return TxResult(
        id=tx.id,
        status=status,
        mined_tx_hash=bytes(tx.mined_tx_hash),
        block_number=tx.block_number,
        gas_used=tx.gas_used,
        revert_reason=tx.revert_reason,
        error=tx.error,
    )


class GrpcTxManager:
    def __init__(self, channel: aio.Channel, *, owner: str, timeout_s: float = 10.0) -> None:
        self.owner = owner

        def path(method: str) -> str:
            return f"/{SERVICE_NAME}/{method}"

        self._add = UnaryMethod[pb.AddRequest, pb.AddResponse](
            channel, path("Add"), pb.AddResponse, timeout_s
        )
        self._result = UnaryMethod[pb.ResultRequest, pb.MonitoredTx](
            channel, path("Result"), pb.MonitoredTx, timeout_s
        )
        self._list = UnaryMethod[pb.ListRequest, pb.ListResponse](
            channel, path("List"), pb.ListResponse, timeout_s
        )

    async def _call(self, method: UnaryMethod[Req, Resp], request: Req) -> Resp:
        try:
            return await method(request)
        except aio.AioRpcError as exc:
            if exc.code() in _UNKNOWN_OUTCOME:
                raise TxManagerUnavailable(f"{method.path}: {exc.code().name}: {exc.details()}") from exc
            raise

    async def add(self, *, id: str, to: bytes, data: bytes, gas_limit: int | None) -> AddResult:
        request = pb.AddRequest(id=id, owner=self.owner, to=to, data=data, value="0")
        if gas_limit is not None:
            request.gas_limit = gas_limit
        try:
            response = await self._call(self._add, request)
        except aio.AioRpcError as exc:
            if exc.code() is grpc.StatusCode.ALREADY_EXISTS:
                raise TxIdConflict(exc.details() or id) from exc
            raise
        outcome = OUTCOME_FROM_PB.get(response.outcome)
        if outcome is None:
            raise TxManagerUnavailable(f"the EthTxManager answered an unknown Add outcome {response.outcome}")
        return AddResult(outcome, response.gas_limit, response.revert_reason)

    async def result(self, id: str) -> TxResult | None:
        try:
            return _result(await self._call(self._result, pb.ResultRequest(id=id)))
        except aio.AioRpcError as exc:
            if exc.code() is grpc.StatusCode.NOT_FOUND:
                return None
            raise

    async def list(self, statuses: Sequence[TxStatus]) -> list[TxResult]:
        request = pb.ListRequest(owner=self.owner, statuses=[STATUS_TO_PB[s] for s in statuses])
        response = await self._call(self._list, request)
        return [_result(tx) for tx in response.txs]

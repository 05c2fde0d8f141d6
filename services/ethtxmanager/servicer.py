"""The gRPC face of the EthTxManager: `zkseq.ethtxmanager.v1.EthTxManagerService`.

Each method checks the request's shape, calls `EthTxManager`, and builds the response; errors are
raised (`services.common.errors`, `manager.AlreadyExists`) and turned into status codes by the
interceptor.
"""

# ruff: noqa: N802  (method names are the wire contract's)

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final, TypeAlias

from grpc import aio

from protos.ethtxmanager.v1 import ethtxmanager_pb2 as pb
from services.common.errors import InvalidArgument
from services.common.statedb import MonitoredTxStatus
from services.ethtxmanager.manager import EthTxManager
from services.ethtxmanager.model import AddOutcome, TxRequest, TxView

SERVICE_NAME: Final = pb.DESCRIPTOR.services_by_name["EthTxManagerService"].full_name

Context: TypeAlias = "aio.ServicerContext[Any, Any]"

STATUS_TO_PB: Final = {
    MonitoredTxStatus.CREATED: pb.MONITORED_TX_STATUS_CREATED,
    MonitoredTxStatus.SENT: pb.MONITORED_TX_STATUS_SENT,
    MonitoredTxStatus.MINED: pb.MONITORED_TX_STATUS_MINED,
    MonitoredTxStatus.CONFIRMED: pb.MONITORED_TX_STATUS_CONFIRMED,
    MonitoredTxStatus.FAILED: pb.MONITORED_TX_STATUS_FAILED,
}
STATUS_FROM_PB: Final = {v: k for k, v in STATUS_TO_PB.items()}
OUTCOME_TO_PB: Final = {
    AddOutcome.ADDED: pb.ADD_OUTCOME_ADDED,
    AddOutcome.ALREADY_ADDED: pb.ADD_OUTCOME_ALREADY_ADDED,
    AddOutcome.REVERTED: pb.ADD_OUTCOME_REVERTED,
}
_DECIMAL: Final = re.compile(r"(0|[1-9][0-9]*)")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def request_from_pb(request: pb.AddRequest) -> TxRequest:
    value_text = request.value or "0"
    if not _DECIMAL.fullmatch(value_text) or len(value_text) > 78:
        raise InvalidArgument(
            f"value must be a decimal uint256 without sign or leading zeros, got {value_text!r}"
        )
    if request.to and len(request.to) != 20:
        raise InvalidArgument(
            f"to must be 20 bytes (or empty for a contract creation), got {len(request.to)}"
        )
    try:
        return TxRequest(
            id=request.id,
            owner=request.owner,
            to=bytes(request.to) if request.to else None,
            data=bytes(request.data),
            value=int(value_text),
            gas_limit=request.gas_limit if request.HasField("gas_limit") else None,
        )
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from exc


def view_to_pb(view: TxView) -> pb.MonitoredTx:
    message = pb.MonitoredTx(
        id=view.id,
        owner=view.owner,
        status=STATUS_TO_PB[view.status],
        to=view.to or b"",
        value=str(view.value),
        gas_limit=view.gas_limit,
        nonce=view.nonce or 0,
        gas_price="" if view.gas_price is None else str(view.gas_price),
        attempt_hashes=list(view.attempts),
        confirmations=view.confirmations,
        error=view.error,
        created_at_ms=_ms(view.created_at),
        updated_at_ms=_ms(view.updated_at),
    )
    setattr(message, "from", view.from_address)  # `from` is a Python keyword
    if view.mined is not None:
        message.mined_tx_hash = view.mined.tx_hash
        message.block_number = view.mined.block_number
        message.block_hash = view.mined.block_hash
        message.gas_used = view.mined.gas_used
        message.effective_gas_price = str(view.mined.effective_gas_price)
    if view.revert is not None:
        message.revert_reason = view.revert.reason
        message.revert_data = view.revert.data
    return message


class EthTxManagerServicer:
    def __init__(self, manager: EthTxManager) -> None:
        self._manager = manager

    async def Add(self, request: pb.AddRequest, context: Context) -> pb.AddResponse:
        result = await self._manager.add(request_from_pb(request))
        response = pb.AddResponse(
            outcome=OUTCOME_TO_PB[result.outcome],
            gas_limit=result.gas_limit,
        )
        setattr(response, "from", result.from_address)  # `from` is a Python keyword
        if result.revert is not None:
            response.revert_reason = result.revert.reason
            response.revert_data = result.revert.data
        return response

    async def Result(self, request: pb.ResultRequest, context: Context) -> pb.MonitoredTx:
        if not request.id:
            raise InvalidArgument("id must not be empty")
        return view_to_pb(await self._manager.result(request.id))

    async def List(self, request: pb.ListRequest, context: Context) -> pb.ListResponse:
        statuses = []
        for status in request.statuses:
            if status not in STATUS_FROM_PB:
                raise InvalidArgument(f"unknown status {status}")
            statuses.append(STATUS_FROM_PB[status])
        views = await self._manager.list(request.owner or None, statuses)
        return pb.ListResponse(txs=[view_to_pb(v) for v in views])

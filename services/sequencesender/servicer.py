"""The gRPC face of the sequence sender: `zkseq.sequencesender.v1.SequenceSenderService`.

GetStatus reads the batch numbers from the StateDB (the same rows zkevm_virtualBatchNumber and
zkevm_verifiedBatchNumber read), and the rest from the running sender, watcher and alarm.
"""

# ruff: noqa: N802  (method names are the wire contract's)

from __future__ import annotations

import asyncio
from typing import Any, Final, TypeAlias

from grpc import aio

from protos.sequencesender.v1 import sequencesender_pb2 as pb
from services.sequencesender.alarms import AlarmBoard
from services.sequencesender.models import Alarm, AlarmKind
from services.sequencesender.ports import ClosedBatches, TxStatus, VerifiedBatches, VirtualBatches
from services.sequencesender.sender import SequenceSender
from services.sequencesender.watcher import L1Watcher

SERVICE_NAME: Final = pb.DESCRIPTOR.services_by_name["SequenceSenderService"].full_name

Context: TypeAlias = "aio.ServicerContext[Any, Any]"

ALARM_KIND_TO_PB: Final = {
    AlarmKind.ACC_INPUT_HASH_MISMATCH: pb.ALARM_KIND_ACC_INPUT_HASH_MISMATCH,
    AlarmKind.UNKNOWN_BATCH: pb.ALARM_KIND_UNKNOWN_BATCH,
    AlarmKind.STATE_ROOT_MISMATCH: pb.ALARM_KIND_STATE_ROOT_MISMATCH,
}
STATUS_TO_PB: Final = {
    TxStatus.CREATED: pb.SEQUENCE_STATUS_CREATED,
    TxStatus.SENT: pb.SEQUENCE_STATUS_SENT,
    TxStatus.MINED: pb.SEQUENCE_STATUS_MINED,
}


def alarm_to_pb(alarm: Alarm) -> pb.Alarm:
    return pb.Alarm(
        kind=ALARM_KIND_TO_PB[alarm.kind],
        batch_number=alarm.batch_number,
        local_hash=alarm.local_hash or b"",
        l1_hash=alarm.l1_hash or b"",
        l1_block_number=alarm.l1_block_number,
        l1_tx_hash=alarm.l1_tx_hash or b"",
        message=alarm.message,
        raised_at_ms=int(alarm.raised_at * 1000),
    )


class SequenceSenderServicer:
    def __init__(
        self,
        *,
        sender: SequenceSender,
        watcher: L1Watcher,
        alarms: AlarmBoard,
        batches: ClosedBatches,
        virtual_batches: VirtualBatches,
        verified_batches: VerifiedBatches,
    ) -> None:
        self._sender = sender
        self._watcher = watcher
        self._alarms = alarms
        self._batches = batches
        self._virtual = virtual_batches
        self._verified = verified_batches

    def _numbers(self) -> tuple[int, int, int]:
        closed = self._batches.last_closed_batch()
        return (
            0 if closed is None else closed.number,
            self._virtual.last_virtual_batch_number() or 0,
            self._verified.last_verified_batch_number() or 0,
        )

    async def GetStatus(self, request: pb.GetStatusRequest, context: Context) -> pb.GetStatusResponse:
        closed, virtual, verified = await asyncio.to_thread(self._numbers)
        alarm = self._alarms.alarm
        wait = self._sender.last_wait
        return pb.GetStatusResponse(
            sending=alarm is None,
            alarm=None if alarm is None else alarm_to_pb(alarm),
            last_closed_batch=closed,
            last_virtual_batch=virtual,
            last_verified_batch=verified,
            last_batch_sequenced_l1=self._sender.last_batch_sequenced_l1 or 0,
            last_l1_block=self._watcher.last_block or 0,
            in_flight=[
                pb.InFlightSequence(
                    id=flight.range.id,
                    first_batch=flight.range.first,
                    last_batch=flight.range.last,
                    status=STATUS_TO_PB.get(flight.status, pb.SEQUENCE_STATUS_UNSPECIFIED),
                )
                for flight in self._sender.in_flight
            ],
            waiting_for="" if wait is None else wait.value,
        )

"""The gRPC face of the sequencer: `zkseq.sequencer.v1.SequencerService` (status); health is the
standard grpc.health.v1 service the server bootstrap registers."""

# ruff: noqa: N802  (method names are the wire contract's)

from __future__ import annotations

from typing import Any, Final

from grpc import aio

from protos.sequencer.v1 import sequencer_pb2 as pb
from services.sequencer.sequencer import Sequencer

SERVICE_NAME: Final = pb.DESCRIPTOR.services_by_name["SequencerService"].full_name


class SequencerServicer:
    def __init__(self, sequencer: Sequencer) -> None:
        self.sequencer = sequencer

    async def GetStatus(
        self, request: pb.GetStatusRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.GetStatusResponse:
        status = self.sequencer.status()
        settings = self.sequencer.settings
        response = pb.GetStatusResponse(
            last_closed_batch=status.last_closed_batch,
            state_root=status.state_root,
            recorded_state_root=status.recorded_state_root,
            last_l2_block=status.last_l2_block,
            txs_in_flight=status.txs_in_flight,
            halted=status.halted,
            halt_reason=status.halt_reason,
            coinbase=settings.coinbase,
            chain_id=settings.chain_id,
        )
        batch = status.open_batch
        if batch is not None:
            response.open_batch.CopyFrom(
                pb.OpenBatch(
                    number=batch.number,
                    timestamp=batch.timestamp,
                    age_s=batch.age_s,
                    txs=batch.txs,
                    fill=pb.BatchFill(**batch.fill),
                    global_exit_root=batch.global_exit_root,
                )
            )
        return response

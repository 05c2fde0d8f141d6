"""A typed asyncio client of `zkseq.sequencesender.v1.SequenceSenderService` (operators' tools, tests).

async with grpc.aio.insecure_channel("127.0.0.1:50111") as channel:
    status = await SequenceSenderClient(channel).GetStatus(pb.GetStatusRequest())
"""

from typing import Final

from grpc import aio

from protos.sequencesender.v1 import sequencesender_pb2 as pb
from services.common.grpc_client import UnaryMethod

SERVICE_NAME: Final = "zkseq.sequencesender.v1.SequenceSenderService"


class SequenceSenderClient:
    def __init__(self, channel: aio.Channel, timeout_s: float = 10.0) -> None:
        self.GetStatus = UnaryMethod[pb.GetStatusRequest, pb.GetStatusResponse](
            channel, f"/{SERVICE_NAME}/GetStatus", pb.GetStatusResponse, timeout_s
        )

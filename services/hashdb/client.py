"""A typed asyncio client of `hashdb.v1.HashDBService`, for tests, benchmarks and tools.

async with grpc.aio.insecure_channel("127.0.0.1:50061") as channel:
    hashdb = HashDBClient(channel)
    response = await hashdb.Set(pb.SetRequest(...))       # deadline: timeout_s
"""

from google.protobuf import empty_pb2
from grpc import aio

from protos.hashdb.v1 import hashdb_pb2 as pb
from services.common.grpc_client import UnaryMethod
from services.hashdb.servicer import SERVICE_NAME


class HashDBClient:
    def __init__(self, channel: aio.Channel, timeout_s: float = 30.0) -> None:
        def path(method: str) -> str:
            return f"/{SERVICE_NAME}/{method}"

        t = timeout_s
        self.Set = UnaryMethod[pb.SetRequest, pb.SetResponse](channel, path("Set"), pb.SetResponse, t)
        self.Get = UnaryMethod[pb.GetRequest, pb.GetResponse](channel, path("Get"), pb.GetResponse, t)
        self.SetMany = UnaryMethod[pb.SetManyRequest, pb.SetManyResponse](
            channel, path("SetMany"), pb.SetManyResponse, t
        )
        self.GetMany = UnaryMethod[pb.GetManyRequest, pb.GetManyResponse](
            channel, path("GetMany"), pb.GetManyResponse, t
        )
        self.GetPaths = UnaryMethod[pb.GetPathsRequest, pb.GetPathsResponse](
            channel, path("GetPaths"), pb.GetPathsResponse, t
        )
        self.SetProgram = UnaryMethod[pb.SetProgramRequest, pb.SetProgramResponse](
            channel, path("SetProgram"), pb.SetProgramResponse, t
        )
        self.GetProgram = UnaryMethod[pb.GetProgramRequest, pb.GetProgramResponse](
            channel, path("GetProgram"), pb.GetProgramResponse, t
        )
        self.LoadDB = UnaryMethod[pb.LoadDBRequest, empty_pb2.Empty](
            channel, path("LoadDB"), empty_pb2.Empty, t
        )
        self.LoadNodes = UnaryMethod[pb.LoadNodesRequest, empty_pb2.Empty](
            channel, path("LoadNodes"), empty_pb2.Empty, t
        )
        self.LoadProgramDB = UnaryMethod[pb.LoadProgramDBRequest, empty_pb2.Empty](
            channel, path("LoadProgramDB"), empty_pb2.Empty, t
        )
        self.Flush = UnaryMethod[pb.FlushRequest, pb.FlushResponse](
            channel, path("Flush"), pb.FlushResponse, t
        )
        self.SemiFlush = UnaryMethod[pb.SemiFlushRequest, empty_pb2.Empty](
            channel, path("SemiFlush"), empty_pb2.Empty, t
        )
        self.GetFlushStatus = UnaryMethod[empty_pb2.Empty, pb.GetFlushStatusResponse](
            channel, path("GetFlushStatus"), pb.GetFlushStatusResponse, t
        )
        self.GetFlushData = UnaryMethod[pb.GetFlushDataRequest, pb.GetFlushDataResponse](
            channel, path("GetFlushData"), pb.GetFlushDataResponse, t
        )
        self.CancelBatch = UnaryMethod[pb.CancelBatchRequest, pb.CancelBatchResponse](
            channel, path("CancelBatch"), pb.CancelBatchResponse, t
        )
        self.ReadTree = UnaryMethod[pb.ReadTreeRequest, pb.ReadTreeResponse](
            channel, path("ReadTree"), pb.ReadTreeResponse, t
        )

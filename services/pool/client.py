"""A typed asyncio client of `zkseq.pool.v1.PoolService`, for the sequencer, jsonrpc, tests, benchmarks.

async with grpc.aio.insecure_channel("127.0.0.1:50081") as channel:
    pool = PoolClient(channel)
    response = await pool.AddTransaction(pb.AddTransactionRequest(raw=raw))   # deadline: timeout_s
"""

from grpc import aio

from protos.pool.v1 import pool_pb2 as pb
from services.common.grpc_client import UnaryMethod

SERVICE_NAME = "zkseq.pool.v1.PoolService"


class PoolClient:
    def __init__(self, channel: aio.Channel, timeout_s: float = 10.0) -> None:
        def path(method: str) -> str:
            return f"/{SERVICE_NAME}/{method}"

        t = timeout_s
        self.AddTransaction = UnaryMethod[pb.AddTransactionRequest, pb.AddTransactionResponse](
            channel, path("AddTransaction"), pb.AddTransactionResponse, t
        )
        self.AddTransactions = UnaryMethod[pb.AddTransactionsRequest, pb.AddTransactionsResponse](
            channel, path("AddTransactions"), pb.AddTransactionsResponse, t
        )
        self.GetReadyTransactions = UnaryMethod[
            pb.GetReadyTransactionsRequest, pb.GetReadyTransactionsResponse
        ](channel, path("GetReadyTransactions"), pb.GetReadyTransactionsResponse, t)
        self.MarkSelected = UnaryMethod[pb.MarkSelectedRequest, pb.MarkResponse](
            channel, path("MarkSelected"), pb.MarkResponse, t
        )
        self.SelectMany = UnaryMethod[pb.SelectManyRequest, pb.SelectManyResponse](
            channel, path("SelectMany"), pb.SelectManyResponse, t
        )
        self.MarkIncludedMany = UnaryMethod[pb.MarkIncludedManyRequest, pb.MarkIncludedManyResponse](
            channel, path("MarkIncludedMany"), pb.MarkIncludedManyResponse, t
        )
        self.MarkIncluded = UnaryMethod[pb.MarkIncludedRequest, pb.MarkIncludedResponse](
            channel, path("MarkIncluded"), pb.MarkIncludedResponse, t
        )
        self.MarkFailed = UnaryMethod[pb.MarkFailedRequest, pb.MarkResponse](
            channel, path("MarkFailed"), pb.MarkResponse, t
        )
        self.MarkInvalid = UnaryMethod[pb.MarkInvalidRequest, pb.MarkResponse](
            channel, path("MarkInvalid"), pb.MarkResponse, t
        )
        self.ReleaseSelected = UnaryMethod[pb.ReleaseSelectedRequest, pb.ReleaseSelectedResponse](
            channel, path("ReleaseSelected"), pb.ReleaseSelectedResponse, t
        )
        self.GetTransaction = UnaryMethod[pb.GetTransactionRequest, pb.GetTransactionResponse](
            channel, path("GetTransaction"), pb.GetTransactionResponse, t
        )
        self.GetStatus = UnaryMethod[pb.GetStatusRequest, pb.GetStatusResponse](
            channel, path("GetStatus"), pb.GetStatusResponse, t
        )
        self.GetPendingNonce = UnaryMethod[pb.GetPendingNonceRequest, pb.GetPendingNonceResponse](
            channel, path("GetPendingNonce"), pb.GetPendingNonceResponse, t
        )
        self.GetPoolStats = UnaryMethod[pb.GetPoolStatsRequest, pb.PoolStats](
            channel, path("GetPoolStats"), pb.PoolStats, t
        )

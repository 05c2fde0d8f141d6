"""The executor.v1.ExecutorService servicer: protobuf in, domain call, protobuf out.

A batch is pure-Python CPU work, so it runs on a worker thread and the event loop stays free for
health checks and other calls. Everything a request can get wrong is answered in the response's
`error` field with its fork-6 ExecutorError (the node reads it there); what happened to each
transaction is in its RomError. Only an unexpected failure becomes a gRPC status (INTERNAL, through
the shared interceptor), and the server keeps serving either way.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor as ThreadPool
from typing import Any

from google.protobuf import empty_pb2
from grpc import aio

from protos.executor.v1 import executor_pb2 as pb
from services.common.logs import EventLogger
from services.executor import wire
from services.executor.errors import BatchRejected
from services.executor.metrics import ExecutorMetrics
from services.executor.service import Executor

SERVICE_NAME = "executor.v1.ExecutorService"


class ExecutorServicer:
    def __init__(
        self, executor: Executor, metrics: ExecutorMetrics, log: EventLogger, pool: ThreadPool
    ) -> None:
        self.executor = executor
        self.metrics = metrics
        self.log = log
        self.pool = pool

    async def ProcessBatch(  # noqa: N802  (the RPC's name)
        self, request: pb.ProcessBatchRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ProcessBatchResponse:
        start = time.perf_counter()
        try:
            call = wire.call_from_proto(request)
            loop = asyncio.get_running_loop()
            result, flush, stats = await loop.run_in_executor(self.pool, self.executor.process, call)
        except BatchRejected as exc:
            self.metrics.batch_rejected(exc.error, time.perf_counter() - start)
            self.log.info(
                "process_batch_rejected",
                error=exc.error.name,
                reason=exc.message,
                context_id=request.context_id,
            )
            return wire.rejected_to_proto(exc.error, self.executor.prover_id)
        self.metrics.batch_done(result, stats)
        self.log.debug(
            "process_batch_done",
            txs=len(result.txs),
            gas=result.cumulative_gas_used,
            new_state_root="0x" + result.new_state_root.hex(),
            seconds=round(stats.seconds, 6),
            hashdb_calls=stats.backend_calls,
            flush_id=flush.flush_id,
            context_id=request.context_id,
        )
        return wire.result_to_proto(result, call.batch.batch_l2_data, flush, self.executor.prover_id)

    async def GetFlushStatus(  # noqa: N802
        self, request: empty_pb2.Empty, context: aio.ServicerContext[Any, Any]
    ) -> pb.GetFlushStatusResponse:
        status = await asyncio.get_running_loop().run_in_executor(self.pool, self.executor.flush_status)
        return pb.GetFlushStatusResponse(
            stored_flush_id=status.stored_flush_id,
            storing_flush_id=status.storing_flush_id,
            last_flush_id=status.last_flush_id,
            pending_to_flush_nodes=status.pending_to_flush_nodes,
            pending_to_flush_program=status.pending_to_flush_program,
            storing_nodes=status.storing_nodes,
            storing_program=status.storing_program,
            prover_id=self.executor.prover_id,
        )

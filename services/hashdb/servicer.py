"""The gRPC face of the HashDB: `hashdb.v1.HashDBService`, protobuf in, protobuf out.

Each method parses its request into domain values (`wire`), calls `HashDB`, and builds the
response; errors are raised as `services.common.errors` and mapped to status codes by the
interceptor. Responses mirror the prover's formats (l1-and-protos.md §3.3): values in hex, Get's
value padded to 64 digits, `result = CODE_SUCCESS` on success.
"""

# ruff: noqa: N802  (method names are the wire contract's)

from collections.abc import Mapping
from typing import Any, TypeAlias

from google.protobuf import empty_pb2
from grpc import aio

from protos.hashdb.v1 import hashdb_pb2 as pb
from services.common.errors import InvalidArgument, Unimplemented
from services.hashdb import wire
from services.hashdb.metrics import HashDBMetrics
from services.hashdb.service import HashDB, PathDetails
from zkevm.field import H4, Node

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["HashDBService"].full_name

Context: TypeAlias = "aio.ServicerContext[Any, Any]"
_EMPTY = empty_pb2.Empty()


def _siblings(details: PathDetails) -> dict[int, pb.SiblingList]:
    return {depth: pb.SiblingList(sibling=node) for depth, node in enumerate(details.siblings)}


def _read_log(log: Mapping[H4, Node] | None) -> dict[str, pb.FeList]:
    return {} if log is None else {wire.format_hash(h): wire.fe_list(n) for h, n in log.items()}


class HashDBServicer:
    def __init__(self, hashdb: HashDB, metrics: HashDBMetrics) -> None:
        self._hashdb = hashdb
        self._metrics = metrics

    async def Set(self, request: pb.SetRequest, context: Context) -> pb.SetResponse:
        old_root = wire.fea_to_h4(request.old_root, "old_root")
        key = wire.fea_to_h4(request.key, "key")
        value = wire.parse_value(request.value)
        persistence = wire.parse_persistence(request.persistence)
        self._metrics.keys("Set", 1)
        out = await self._hashdb.set(
            old_root=old_root,
            key=key,
            value=value,
            persistence=persistence,
            batch_uuid=request.batch_uuid,
            tx=request.tx,
            details=request.details,
            read_log=request.get_db_read_log,
        )
        r = out.result
        response = pb.SetResponse(
            new_root=wire.h4_to_fea(r.new_root), db_read_log=_read_log(out.read_log), result=wire.SUCCESS
        )
        if out.details is not None:
            d = out.details
            response.old_root.CopyFrom(wire.h4_to_fea(r.old_root))
            response.key.CopyFrom(wire.h4_to_fea(r.key))
            for depth, siblings in _siblings(d).items():
                response.siblings[depth].CopyFrom(siblings)
            response.ins_key.CopyFrom(wire.h4_to_fea(d.ins_key))
            response.ins_value = wire.format_value(d.ins_value)
            response.is_old0 = d.is_old0
            response.old_value = wire.format_value(r.old_value)
            response.new_value = wire.format_value(r.new_value)
            response.mode = r.mode.value
            response.proof_hash_counter = r.proof_hash_counter
        return response

    async def Get(self, request: pb.GetRequest, context: Context) -> pb.GetResponse:
        root = wire.fea_to_h4(request.root, "root")
        key = wire.fea_to_h4(request.key, "key")
        self._metrics.keys("Get", 1)
        out = await self._hashdb.get(root, key, request.batch_uuid, request.details, request.get_db_read_log)
        response = pb.GetResponse(
            value=wire.format_value_padded(out.value),
            db_read_log=_read_log(out.read_log),
            result=wire.SUCCESS,
        )
        if out.details is not None:
            d = out.details
            response.root.CopyFrom(wire.h4_to_fea(root))
            response.key.CopyFrom(wire.h4_to_fea(key))
            for depth, siblings in _siblings(d).items():
                response.siblings[depth].CopyFrom(siblings)
            response.ins_key.CopyFrom(wire.h4_to_fea(d.ins_key))
            response.ins_value = wire.format_value(d.ins_value)
            response.is_old0 = d.is_old0
            response.proof_hash_counter = out.proof_hash_counter
        return response

    async def SetMany(self, request: pb.SetManyRequest, context: Context) -> pb.SetManyResponse:
        old_root = wire.fea_to_h4(request.old_root, "old_root")
        writes = wire.parse_writes(request.writes)
        persistence = wire.parse_persistence(request.persistence)
        self._metrics.keys("SetMany", len(writes))
        new_root = await self._hashdb.set_many(
            old_root=old_root,
            writes=writes,
            persistence=persistence,
            batch_uuid=request.batch_uuid,
            tx=request.tx,
        )
        return pb.SetManyResponse(new_root=wire.h4_to_fea(new_root), result=wire.SUCCESS)

    async def GetMany(self, request: pb.GetManyRequest, context: Context) -> pb.GetManyResponse:
        root = wire.fea_to_h4(request.root, "root")
        keys = [wire.fea_to_h4(k, f"keys[{i}]") for i, k in enumerate(request.keys)]
        self._metrics.keys("GetMany", len(keys))
        values = await self._hashdb.get_many(root, keys, request.batch_uuid)
        return pb.GetManyResponse(values=[wire.format_value_padded(v) for v in values], result=wire.SUCCESS)

    async def GetPaths(self, request: pb.GetPathsRequest, context: Context) -> pb.GetPathsResponse:
        root = wire.fea_to_h4(request.root, "root")
        if len(request.keys) > wire.MAX_PATH_KEYS:
            raise InvalidArgument(
                f"keys has {len(request.keys)} entries: at most {wire.MAX_PATH_KEYS} a call"
            )
        keys = [wire.fea_to_h4(k, f"keys[{i}]") for i, k in enumerate(request.keys)]
        self._metrics.keys("GetPaths", len(keys))
        nodes = await self._hashdb.get_paths(root, keys, request.batch_uuid)
        return pb.GetPathsResponse(nodes=wire.pack_hashed_nodes(nodes), result=wire.SUCCESS)

    async def SetProgram(self, request: pb.SetProgramRequest, context: Context) -> pb.SetProgramResponse:
        key = wire.fea_to_h4(request.key, "key")
        await self._hashdb.set_program(key, request.data, request.persistent)
        return pb.SetProgramResponse(result=wire.SUCCESS)

    async def GetProgram(self, request: pb.GetProgramRequest, context: Context) -> pb.GetProgramResponse:
        key = wire.fea_to_h4(request.key, "key")
        return pb.GetProgramResponse(data=await self._hashdb.get_program(key), result=wire.SUCCESS)

    async def LoadDB(self, request: pb.LoadDBRequest, context: Context) -> empty_pb2.Empty:
        nodes: dict[H4, Node] = {}
        for text, fes in request.input_db.items():
            node_hash = wire.parse_hex_root(text, f"input_db key {text[:80]!r}")
            if node_hash is None:
                raise InvalidArgument("input_db has an empty key")
            nodes[node_hash] = wire.parse_node(list(fes.fe), f"input_db[{text[:80]!r}]")
        self._metrics.keys("LoadDB", len(nodes))
        await self._hashdb.load_nodes(nodes, request.persistent)
        return _EMPTY

    async def LoadNodes(self, request: pb.LoadNodesRequest, context: Context) -> empty_pb2.Empty:
        nodes = wire.parse_packed_nodes(request.nodes)
        keep_roots = [wire.fea_to_h4(r, f"keep_roots[{i}]") for i, r in enumerate(request.keep_roots)]
        self._metrics.keys("LoadNodes", len(nodes))
        await self._hashdb.load_node_list(nodes, request.persistent, keep_roots or None)
        return _EMPTY

    async def LoadProgramDB(self, request: pb.LoadProgramDBRequest, context: Context) -> empty_pb2.Empty:
        programs: dict[H4, bytes] = {}
        for text, code in request.input_program_db.items():
            code_hash = wire.parse_hex_root(text, f"input_program_db key {text[:80]!r}")
            if code_hash is None:
                raise InvalidArgument("input_program_db has an empty key")
            programs[code_hash] = code
        await self._hashdb.load_programs(programs, request.persistent)
        return _EMPTY

    async def Flush(self, request: pb.FlushRequest, context: Context) -> pb.FlushResponse:
        root = wire.parse_hex_root(request.new_state_root, "new_state_root")
        persistence = wire.parse_persistence(request.persistence)
        ticket = await self._hashdb.flush(request.batch_uuid, root, persistence)
        return pb.FlushResponse(
            flush_id=ticket.flush_id, stored_flush_id=ticket.stored_flush_id, result=wire.SUCCESS
        )

    async def SemiFlush(self, request: pb.SemiFlushRequest, context: Context) -> empty_pb2.Empty:
        root = wire.parse_hex_root(request.new_state_root, "new_state_root")
        if root is None:
            raise InvalidArgument(
                "new_state_root is empty: SemiFlush names the root the transaction ended at"
            )
        persistence = wire.parse_persistence(request.persistence)
        await self._hashdb.semi_flush(request.batch_uuid, root, persistence)
        return _EMPTY

    async def GetFlushStatus(self, request: empty_pb2.Empty, context: Context) -> pb.GetFlushStatusResponse:
        s = await self._hashdb.flush_status()
        return pb.GetFlushStatusResponse(
            stored_flush_id=s.stored_flush_id,
            storing_flush_id=s.storing_flush_id,
            last_flush_id=s.last_flush_id,
            pending_to_flush_nodes=s.pending_nodes,
            pending_to_flush_program=s.pending_programs,
            storing_nodes=s.storing_nodes,
            storing_program=s.storing_programs,
            prover_id=self._hashdb.prover_id,
        )

    async def GetFlushData(
        self, request: pb.GetFlushDataRequest, context: Context
    ) -> pb.GetFlushDataResponse:
        remaining = context.time_remaining()
        # answer a little before the client's deadline, so it gets a response and not DEADLINE_EXCEEDED
        wait_s = None if remaining is None else max(0.0, remaining - 0.5)
        data = await self._hashdb.flush_data(request.flush_id, wait_s)
        return pb.GetFlushDataResponse(
            stored_flush_id=data.stored_flush_id,
            nodes={wire.format_hash(h): wire.format_node(n) for h, n in data.nodes.items()},
            program={wire.format_hash(h): code.hex() for h, code in data.programs.items()},
            nodes_state_root=""
            if data.state_root is None
            else wire.format_node((*data.state_root, 0, 0, 0, 0, 0, 0, 0, 0)),
            result=wire.SUCCESS,
        )

    async def CancelBatch(self, request: pb.CancelBatchRequest, context: Context) -> pb.CancelBatchResponse:
        await self._hashdb.cancel_batch(request.batch_uuid)
        return pb.CancelBatchResponse(result=wire.SUCCESS)

    async def ConsolidateState(
        self, request: pb.ConsolidateStateRequest, context: Context
    ) -> pb.ConsolidateStateResponse:
        raise Unimplemented("ConsolidateState belongs to the prover's hashDB64, not to fork 6")

    async def Purge(self, request: pb.PurgeRequest, context: Context) -> pb.PurgeResponse:
        raise Unimplemented("Purge belongs to the prover's hashDB64, not to fork 6")

    async def ReadTree(self, request: pb.ReadTreeRequest, context: Context) -> pb.ReadTreeResponse:
        raise Unimplemented("ReadTree belongs to the prover's hashDB64, not to fork 6; use GetMany")

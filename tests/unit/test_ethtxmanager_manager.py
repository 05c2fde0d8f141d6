"""Add / Result / List over the L1 twin and an in-memory StateDB, and the gRPC servicer in front of
them (a real grpc.aio server on a free port): idempotency, gas estimation, reverts as outcomes,
answers after a restart, and the status codes of bad requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc import aio
from prometheus_client import CollectorRegistry

from protos.ethtxmanager.v1 import ethtxmanager_pb2 as pb
from services.common.errors import InvalidArgument, NotFound
from services.common.grpc_client import UnaryMethod
from services.common.grpc_server import (
    GrpcServerSettings,
    RunningGrpcServer,
    start_grpc_server,
    unary_service_handler,
)
from services.common.interceptors import ServiceInterceptor
from services.common.logs import EventLogger
from services.common.metrics import RpcMetrics
from services.common.statedb import MonitoredTxStatus
from services.ethtxmanager.l1 import L1Unavailable, RpcError
from services.ethtxmanager.manager import AlreadyExists, EstimateFailed
from services.ethtxmanager.model import AddOutcome, TxRequest
from services.ethtxmanager.servicer import SERVICE_NAME, EthTxManagerServicer
from tests.unit.test_ethtxmanager_twin import MANAGER, REVERT_DATA, REVERTING, STRANGER, Harness

S = MonitoredTxStatus


def request(tx_id: str = "seq-1", data: bytes = b"\x01\x02", **overrides: object) -> TxRequest:
    fields: dict[str, object] = {"id": tx_id, "owner": "sequencer", "to": STRANGER, "data": data, "value": 0}
    fields.update(overrides)
    return TxRequest(**fields)  # type: ignore[arg-type]


async def test_add_is_idempotent_for_the_same_content() -> None:
    h = Harness.start()
    first = await h.manager.add(request())
    assert first.outcome is AddOutcome.ADDED and first.from_address == MANAGER
    assert first.gas_limit == 60_000  # the twin's 50,000 estimate + 20 %
    again = await h.manager.add(request())
    assert again.outcome is AddOutcome.ALREADY_ADDED and again.gas_limit == 60_000
    await h.monitor.tick()
    h.l1.mine()
    await h.monitor.tick()
    # still the same answer once the transaction is final, and nothing new is sent
    assert (await h.manager.add(request())).outcome is AddOutcome.ALREADY_ADDED
    await h.monitor.tick()
    assert len(h.l1.accepted) == 1 and h.l1.mined_nonces() == [0]


async def test_the_same_id_with_other_content_is_refused() -> None:
    h = Harness.start()
    await h.manager.add(request())
    with pytest.raises(AlreadyExists, match="another data, value"):
        await h.manager.add(request(data=b"\x09", value=5))
    with pytest.raises(AlreadyExists, match="another owner"):
        await h.manager.add(request(owner="aggregator"))
    # the gas limit is not content: a repeat that names one is the same transaction
    assert (await h.manager.add(request(gas_limit=99_000))).outcome is AddOutcome.ALREADY_ADDED


async def test_concurrent_adds_of_one_id_store_one_transaction() -> None:
    h = Harness.start()
    results = await asyncio.gather(*(h.manager.add(request()) for _ in range(8)))
    assert sorted(r.outcome.value for r in results) == ["added"] + ["already_added"] * 7
    await h.monitor.tick()
    assert len(h.l1.accepted) == 1


async def test_an_explicit_gas_limit_skips_the_estimate() -> None:
    h = Harness.start()
    result = await h.manager.add(request(gas_limit=210_000))
    assert result.gas_limit == 210_000 and h.row("seq-1").gas == 210_000
    assert h.l1.calls.get("eth_estimateGas", 0) == 0


async def test_a_reverting_estimate_is_an_outcome_and_stores_nothing() -> None:
    h = Harness.start()
    result = await h.manager.add(request(data=REVERTING))
    assert result.outcome is AddOutcome.REVERTED
    assert result.revert is not None
    assert (result.revert.reason, result.revert.data) == ("SequenceZeroBatches", REVERT_DATA)
    assert h.statedb.monitored_txs.get("seq-1") is None


async def test_an_estimate_failing_otherwise_is_a_failed_precondition() -> None:
    h = Harness.start()

    async def broke(sender: bytes, to: bytes | None, data: bytes, value: int) -> int:
        raise RpcError("eth_estimateGas", -32000, "insufficient funds for transfer")

    h.l1.estimate_gas = broke  # type: ignore[method-assign]
    with pytest.raises(EstimateFailed, match="insufficient funds"):
        await h.manager.add(request())


async def test_result_of_an_unknown_id_is_not_found() -> None:
    with pytest.raises(NotFound, match="was ever added"):
        await Harness.start().manager.result("nope")


async def test_list_filters_by_owner_and_status() -> None:
    h = Harness.start()
    await h.manager.add(request("a"))
    await h.manager.add(request("b", owner="other"))
    await h.monitor.tick()
    h.l1.mine()
    await h.monitor.tick()
    await h.manager.add(request("c"))
    views = await h.manager.list("sequencer", [])
    assert [(v.id, v.status) for v in views] == [("a", S.CONFIRMED), ("c", S.CREATED)]
    assert [v.id for v in await h.manager.list(None, [S.CONFIRMED])] == ["a", "b"]
    assert [v.id for v in await h.manager.list("sequencer", [S.CREATED, S.SENT, S.MINED])] == ["c"]


async def test_results_after_a_restart_come_with_their_receipts() -> None:
    h = Harness.start(stuck_after_s=5.0)
    await h.manager.add(request("ok"))
    await h.manager.add(request("bad", data=REVERTING, gas_limit=100_000))
    await h.monitor.tick()
    h.l1.mine()
    await h.manager.add(request("lost"))
    await h.monitor.tick()
    h.l1.drop_all()
    h.l1.foreign_tx()  # the nonce of "lost" is used by somebody else
    await h.monitor.tick()
    h.clock.advance(6)
    await h.monitor.tick()
    before = {tx_id: await h.manager.result(tx_id) for tx_id in ("ok", "bad", "lost")}
    again = h.restarted()
    await again.monitor.recover()
    for tx_id, old in before.items():
        new = await again.manager.result(tx_id)
        assert (new.status, new.mined, new.revert, new.attempts) == (
            old.status,
            old.mined,
            old.revert,
            old.attempts,
        )
        assert new.error == old.error
    assert before["bad"].revert is not None and before["bad"].revert.reason == "SequenceZeroBatches"
    assert before["lost"].status is S.FAILED and "not send" in before["lost"].error


# ---------------------------------------------------------------------------------------------
# the servicer over gRPC


@pytest.fixture
async def served() -> AsyncIterator[tuple[Harness, aio.Channel]]:
    h = Harness.start()
    log = EventLogger("test.ethtxmanager")
    handler = unary_service_handler(
        pb.DESCRIPTOR.services_by_name["EthTxManagerService"], EthTxManagerServicer(h.manager)
    )
    server: RunningGrpcServer = await start_grpc_server(
        GrpcServerSettings("127.0.0.1", 0),
        lambda s: s.add_generic_rpc_handlers((handler,)),
        [SERVICE_NAME],
        [ServiceInterceptor(RpcMetrics("ethtxmanager", CollectorRegistry()), log)],
    )
    channel = aio.insecure_channel(f"127.0.0.1:{server.port}")
    yield h, channel
    await channel.close(grace=None)
    await server.stop(0)


def methods(
    channel: aio.Channel,
) -> tuple[
    UnaryMethod[pb.AddRequest, pb.AddResponse],
    UnaryMethod[pb.ResultRequest, pb.MonitoredTx],
    UnaryMethod[pb.ListRequest, pb.ListResponse],
]:
    base = f"/{SERVICE_NAME}/"
    return (
        UnaryMethod(channel, base + "Add", pb.AddResponse, 5),
        UnaryMethod(channel, base + "Result", pb.MonitoredTx, 5),
        UnaryMethod(channel, base + "List", pb.ListResponse, 5),
    )


async def test_servicer_add_result_list(served: tuple[Harness, aio.Channel]) -> None:
    h, channel = served
    add, result, list_ = methods(channel)
    response = await add(pb.AddRequest(id="seq-1", owner="sequencer", to=STRANGER, data=b"\x01", value="7"))
    assert response.outcome == pb.ADD_OUTCOME_ADDED
    assert getattr(response, "from") == MANAGER and response.gas_limit == 60_000
    again = await add(pb.AddRequest(id="seq-1", owner="sequencer", to=STRANGER, data=b"\x01", value="7"))
    assert again.outcome == pb.ADD_OUTCOME_ALREADY_ADDED
    await h.monitor.tick()
    h.l1.mine()
    await h.monitor.tick()
    tx = await result(pb.ResultRequest(id="seq-1"))
    assert tx.status == pb.MONITORED_TX_STATUS_CONFIRMED
    assert (tx.value, tx.nonce, tx.gas_used, tx.confirmations) == ("7", 0, 21_000, 1)
    assert getattr(tx, "from") == MANAGER and tx.to == STRANGER
    assert list(tx.attempt_hashes) == [tx.mined_tx_hash] and len(tx.block_hash) == 32
    assert int(tx.effective_gas_price) > 0 and int(tx.gas_price) >= int(tx.effective_gas_price)
    listed = await list_(pb.ListRequest(owner="sequencer", statuses=[pb.MONITORED_TX_STATUS_CONFIRMED]))
    assert [t.id for t in listed.txs] == ["seq-1"]
    reverted = await add(pb.AddRequest(id="seq-2", owner="sequencer", to=STRANGER, data=REVERTING))
    assert reverted.outcome == pb.ADD_OUTCOME_REVERTED
    assert (reverted.revert_reason, reverted.revert_data) == ("SequenceZeroBatches", REVERT_DATA)


@pytest.mark.parametrize(
    ("add_request", "code", "words"),
    [
        (
            pb.AddRequest(id="", owner="s", to=STRANGER),
            grpc.StatusCode.INVALID_ARGUMENT,
            "id must not be empty",
        ),
        (pb.AddRequest(id="x", owner="s", to=b"\x01" * 19), grpc.StatusCode.INVALID_ARGUMENT, "20 bytes"),
        (
            pb.AddRequest(id="x", owner="s", to=STRANGER, value="01"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "decimal",
        ),
        (
            pb.AddRequest(id="x", owner="s", to=STRANGER, value="-1"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "decimal",
        ),
        (
            pb.AddRequest(id="x", owner="s", to=STRANGER, gas_limit=20_999),
            grpc.StatusCode.INVALID_ARGUMENT,
            "gas",
        ),
        (pb.AddRequest(id="x" * 201, owner="s", to=STRANGER), grpc.StatusCode.INVALID_ARGUMENT, "200"),
        (
            pb.AddRequest(id="seq-1", owner="s", to=STRANGER, data=b"\x02"),
            grpc.StatusCode.ALREADY_EXISTS,
            "data",
        ),
    ],
)
async def test_servicer_refuses_bad_requests(
    served: tuple[Harness, aio.Channel], add_request: pb.AddRequest, code: grpc.StatusCode, words: str
) -> None:
    _, channel = served
    add, _, _ = methods(channel)
    await add(pb.AddRequest(id="seq-1", owner="s", to=STRANGER, data=b"\x01"))
    with pytest.raises(aio.AioRpcError) as caught:
        await add(add_request)
    assert caught.value.code() is code
    assert words in (caught.value.details() or "")


async def test_servicer_result_of_an_unknown_id(served: tuple[Harness, aio.Channel]) -> None:
    _, channel = served
    _, result, list_ = methods(channel)
    with pytest.raises(aio.AioRpcError) as caught:
        await result(pb.ResultRequest(id="nope"))
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(aio.AioRpcError) as caught:
        await list_(pb.ListRequest(statuses=[pb.MONITORED_TX_STATUS_UNSPECIFIED]))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_gas_limits_stay_within_the_l1_block_gas_limit() -> None:
    h = Harness.start()
    with pytest.raises(InvalidArgument, match="above the L1 block gas limit 30000000"):
        await h.manager.add(request(gas_limit=30_000_001))
    h.l1.gas_estimate = 29_000_000
    result = await h.manager.add(request())
    assert result.gas_limit == 30_000_000  # the margin is cut at the block gas limit


async def test_add_with_a_gas_limit_works_while_the_node_is_down() -> None:
    h = Harness.start()
    h.l1.down = True
    assert (await h.manager.add(request(gas_limit=100_000))).outcome is AddOutcome.ADDED
    with pytest.raises(L1Unavailable):
        await h.manager.add(request("needs-an-estimate"))


async def test_adds_keep_their_order_across_a_restart_with_the_clock_set_back() -> None:
    h = Harness.start()
    await h.manager.add(request("first"))
    again = h.restarted()
    await again.monitor.recover()
    again.clock.advance(-3600)
    await again.manager.add(request("second"))
    assert again.row("second").created_at > again.row("first").created_at
    await again.monitor.tick()
    assert (again.row("first").nonce, again.row("second").nonce) == (0, 1)

"""The executor and the HashDB as real gRPC servers (in process, free ports, LMDB in a temp dir).

Transactions go in as executor.v1 ProcessBatch calls; the state is checked in the HashDB through
its own API. Covered: deployments, calls, logs, reverts, out-of-gas, invalid transactions, the
fork-6 error codes for bad input (the server keeps serving), update_merkle_tree and flushes,
eth_call with `from`, two executors on one HashDB, a HashDB that goes away, the prover's fork-6
inputs with their `db` preloads, and the cache of a persisted batch's reads.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2
from google.protobuf.message_factory import GetMessageClass
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from protos.executor.v1 import executor_pb2 as pb
from protos.hashdb.v1 import hashdb_pb2 as hashdb_pb
from services.common.grpc_client import UnaryMethod
from services.executor.app import RunningExecutor, start_executor
from services.executor.config import ExecutorConfig
from services.executor.hashdb_client import HashDBBackend
from services.executor.state import balance_key, code_length_key, nonce_key, storage_key
from services.hashdb.app import RunningHashDB, start_hashdb
from services.hashdb.config import HashDBConfig
from services.hashdb.metrics import HashDBMetrics
from services.hashdb.servicer import SERVICE_NAME, HashDBServicer
from tests.conftest import load_vector
from tests.unit.test_executor_evm import (
    ALICE,
    BOB,
    C1,
    CHAIN_ID,
    COUNTER,
    ETHER,
    GER,
    GWEI,
    SEQUENCER,
    TIMESTAMP,
    asm,
    contract_address,
    deploy_code,
    with_code,
)
from zkevm.bytecode import bytecode_hash
from zkevm.field import H4, ZERO_H4, P, bytes_to_h4, h4_to_bytes
from zkevm.genesis import GenesisAccount, genesis_writes
from zkevm.nodestore import MemoryNodeStore
from zkevm.smt import SparseMerkleTree
from zkevm.transaction import L2Transaction, encode_batch_l2_data

pytestmark = pytest.mark.integration


class ExecutorClient:
    def __init__(self, channel: aio.Channel) -> None:
        path = "/executor.v1.ExecutorService/"
        self.process = UnaryMethod[pb.ProcessBatchRequest, pb.ProcessBatchResponse](
            channel, path + "ProcessBatch", pb.ProcessBatchResponse, 60
        )
        self.flush_status = UnaryMethod[empty_pb2.Empty, pb.GetFlushStatusResponse](
            channel, path + "GetFlushStatus", pb.GetFlushStatusResponse, 10
        )
        self.health = health_pb2_grpc.HealthStub(channel)


@dataclass
class Stack:
    hashdb: RunningHashDB
    executor: RunningExecutor
    client: ExecutorClient
    channel: aio.Channel
    tree: HashDBBackend

    async def genesis(self, accounts: Sequence[GenesisAccount]) -> H4:
        """Write a genesis into the HashDB (through the executor's own client) and flush it."""

        def write() -> H4:
            session = self.tree.open(keep=True)
            programs = {bytecode_hash(a.bytecode): a.bytecode for a in accounts if a.bytecode}
            if programs:
                session.put_programs(programs)
            root = session.set_values(ZERO_H4, genesis_writes(accounts))
            session.finish(root, keep=True)
            assert self.tree.flushes.wait_sent(10)
            return root

        return await asyncio.to_thread(write)

    async def leaves(self, root: bytes, keys: Sequence[H4]) -> list[int]:
        session = self.tree.open(keep=False)
        return await asyncio.to_thread(session.get_values, bytes_to_h4(root), list(keys))


async def _start_hashdb(path: Path) -> RunningHashDB:
    config = HashDBConfig(
        grpc_host="127.0.0.1", grpc_port=0, metrics_enabled=False, lmdb_path=path, lmdb_sync=False
    )
    return await start_hashdb(config)


async def _start_executor(hashdb_port: int, **overrides: Any) -> RunningExecutor:
    config = ExecutorConfig(
        grpc_host="127.0.0.1",
        grpc_port=0,
        metrics_enabled=False,
        hashdb_url=f"127.0.0.1:{hashdb_port}",
        hashdb_timeout_s=5,
        root_wait_s=0.2,
        **overrides,
    )
    return await start_executor(config)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    hashdb = await _start_hashdb(tmp_path / "hashdb")
    executor = await _start_executor(hashdb.port)
    channel = aio.insecure_channel(f"127.0.0.1:{executor.port}")
    tree = HashDBBackend(f"127.0.0.1:{hashdb.port}", 5)
    try:
        yield Stack(hashdb, executor, ExecutorClient(channel), channel, tree)
    finally:
        tree.close()
        await channel.close(None)
        await executor.stop()
        await hashdb.stop()


def request(
    root: bytes, txs: Sequence[L2Transaction] | bytes, *, batch_num: int = 0, **fields: Any
) -> pb.ProcessBatchRequest:
    data = txs if isinstance(txs, bytes) else encode_batch_l2_data(txs)
    base: dict[str, Any] = {
        "old_state_root": root,
        "old_acc_input_hash": bytes(32),
        "old_batch_num": batch_num,
        "chain_id": CHAIN_ID,
        "fork_id": 6,
        "batch_l2_data": data,
        "global_exit_root": GER,
        "eth_timestamp": TIMESTAMP,
        "coinbase": "0x" + SEQUENCER.hex(),
        "update_merkle_tree": 1,
    }
    base.update(fields)
    return pb.ProcessBatchRequest(**base)


FUNDED = [GenesisAccount(ALICE.address, 100 * ETHER), GenesisAccount(BOB.address, 100 * ETHER)]


async def test_deploy_call_logs_revert_oog_and_invalid_transactions(stack: Stack) -> None:
    reverter = bytes.fromhex("00000000000000000000000000000000000000ee")
    looper = bytes.fromhex("00000000000000000000000000000000000000ff")
    root = h4_to_bytes(
        await stack.genesis(
            [
                *FUNDED,
                with_code(C1, COUNTER, storage={0: 41}),
                with_code(reverter, asm(0x2A, 0, "MSTORE", 32, 0, "REVERT")),
                with_code(looper, asm("JUMPDEST", 0, "JUMP")),
            ]
        )
    )
    runtime = asm(0x07, 0, "MSTORE", 32, 0, "RETURN")
    txs = [
        ALICE.tx(0, None, data=deploy_code(runtime)),  # deployment
        ALICE.tx(1, C1),  # a call that stores, logs and returns
        ALICE.tx(2, reverter, gas_limit=100_000),  # reverts
        ALICE.tx(3, looper, gas_limit=60_000),  # out of gas
        ALICE.tx(9, BOB.address, value=1),  # invalid: nonce
        BOB.tx(0, ALICE.address, value=ETHER, chain_id=1),  # invalid: chain id
        BOB.tx(0, ALICE.address, value=ETHER),  # a transfer
    ]
    response = await stack.client.process(request(root, txs))
    assert response.error == pb.EXECUTOR_ERROR_NO_ERROR
    errors = [r.error for r in response.responses]
    assert errors == [
        pb.ROM_ERROR_NO_ERROR,
        pb.ROM_ERROR_NO_ERROR,
        pb.ROM_ERROR_EXECUTION_REVERTED,
        pb.ROM_ERROR_OUT_OF_GAS,
        pb.ROM_ERROR_INTRINSIC_INVALID_NONCE,
        pb.ROM_ERROR_INTRINSIC_INVALID_CHAIN_ID,
        pb.ROM_ERROR_NO_ERROR,
    ]
    deploy, call, revert, oog, bad_nonce, _, transfer = response.responses
    created = contract_address(ALICE.address, 0)
    assert deploy.create_address == "0x" + created.hex()
    assert int.from_bytes(call.return_value) == 42
    (log,) = call.logs
    assert log.address == "0x" + C1.hex()
    assert list(log.topics) == [(0xABC).to_bytes(32, "big")]
    assert log.batch_number == 1 and log.tx_index == 1 and log.tx_hash == call.tx_hash
    assert int.from_bytes(revert.return_value) == 0x2A
    assert oog.gas_used == 60_000 and oog.gas_left == 0
    assert bad_nonce.state_root == oog.state_root  # skipped without trace
    assert transfer.state_root == response.new_state_root
    assert response.cumulative_gas_used == sum(r.gas_used for r in response.responses[:4]) + 21_000
    assert response.cnt_steps > 0 and response.cnt_poseidon_hashes > 0 and response.cnt_keccak_hashes > 0
    assert deploy.effective_gas_price == str(GWEI) and deploy.effective_percentage == 0xFF
    touched = response.read_write_addresses
    assert touched["0x" + ALICE.address.hex()].nonce == "4"
    assert touched["0x" + BOB.address.hex()].nonce == "1"
    assert response.flush_id > 0
    # the new state is in the HashDB
    alice_nonce, c1_slot, new_code_len = await stack.leaves(
        response.new_state_root, [nonce_key(ALICE.address), storage_key(C1, 0), code_length_key(created)]
    )
    assert (alice_nonce, c1_slot, new_code_len) == (4, 42, len(runtime))


async def test_bad_input_gets_fork6_error_codes_and_the_server_keeps_serving(stack: Stack) -> None:
    root = h4_to_bytes(await stack.genesis(FUNDED))
    good = [ALICE.tx(0, BOB.address, value=5)]
    malformed = await stack.client.process(request(root, encode_batch_l2_data(good)[:-7]))
    assert malformed.error == pb.EXECUTOR_ERROR_NO_ERROR
    assert [r.error for r in malformed.responses] == [pb.ROM_ERROR_INVALID_RLP]
    assert malformed.new_state_root != root  # the GER write stays
    unknown = await stack.client.process(request((12345).to_bytes(32, "big"), good))
    assert unknown.error == pb.EXECUTOR_ERROR_DB_ERROR
    fork = await stack.client.process(request(root, good, fork_id=7))
    assert fork.error == pb.EXECUTOR_ERROR_UNSUPPORTED_FORK_ID
    too_big = await stack.client.process(request(root, bytes(120_001)))
    assert too_big.error == pb.EXECUTOR_ERROR_INVALID_BATCH_L2_DATA
    coinbase = await stack.client.process(request(root, good, coinbase="0xnothex"))
    assert coinbase.error == pb.EXECUTOR_ERROR_INVALID_COINBASE
    long_root = await stack.client.process(request(root + b"\x00", good))
    assert long_root.error == pb.EXECUTOR_ERROR_INVALID_OLD_STATE_ROOT
    ok = await stack.client.process(request(root, good))
    assert ok.error == pb.EXECUTOR_ERROR_NO_ERROR
    assert ok.responses[0].error == pb.ROM_ERROR_NO_ERROR
    health = await stack.client.health.Check(
        health_pb2.HealthCheckRequest(service="executor.v1.ExecutorService")
    )
    assert health.status == health_pb2.HealthCheckResponse.SERVING


async def test_update_merkle_tree_0_computes_but_keeps_nothing(stack: Stack) -> None:
    root = h4_to_bytes(await stack.genesis([*FUNDED, with_code(C1, COUNTER, storage={0: 1})]))
    # eth_call: an unsigned call as BOB, without counters, on the latest state
    unsigned = L2Transaction(0, 0, 100_000, C1, 0, b"", CHAIN_ID, 0, 0, 27, 0xFF)
    eth_call = request(root, [unsigned], update_merkle_tree=0, no_counters=1)
    setattr(eth_call, "from", "0x" + BOB.address.hex())  # `from` is a Python keyword
    call = await stack.client.process(eth_call)
    assert call.error == pb.EXECUTOR_ERROR_NO_ERROR
    assert call.responses[0].error == pb.ROM_ERROR_NO_ERROR
    assert int.from_bytes(call.responses[0].return_value) == 2
    assert call.flush_id == 0
    # its root was not kept: starting from it is an unknown root
    after = await stack.client.process(request(call.new_state_root, [ALICE.tx(0, BOB.address)]))
    assert after.error == pb.EXECUTOR_ERROR_DB_ERROR
    # the state at `root` is untouched
    (slot,) = await stack.leaves(root, [storage_key(C1, 0)])
    assert slot == 1
    # a persisted batch on the same root works, and its flush becomes durable
    kept = await stack.client.process(request(root, [ALICE.tx(0, C1)]))
    assert kept.responses[0].error == pb.ROM_ERROR_NO_ERROR
    (slot,) = await stack.leaves(kept.new_state_root, [storage_key(C1, 0)])
    assert slot == 2
    for _ in range(100):
        status = await stack.client.flush_status(empty_pb2.Empty())
        if status.stored_flush_id >= kept.flush_id:
            break
        await asyncio.sleep(0.05)
    assert status.stored_flush_id >= kept.flush_id
    assert status.last_flush_id >= kept.flush_id


async def test_consecutive_one_tx_batches_like_the_sequencer(stack: Stack) -> None:
    """One transaction per call, each on the last root: the read cache carries over, the chain of
    roots, batch numbers and accInputHashes is the one a single multi-tx batch would not give, but
    each call's result is what an in-process run gives."""
    root = h4_to_bytes(await stack.genesis(FUNDED))
    acc = bytes(32)
    for n in range(6):
        response = await stack.client.process(
            request(root, [ALICE.tx(n, BOB.address, value=n + 1)], batch_num=n, old_acc_input_hash=acc)
        )
        assert response.responses[0].error == pb.ROM_ERROR_NO_ERROR
        assert response.new_batch_num == n + 1
        root, acc = response.new_state_root, response.new_acc_input_hash
    balance, nonce = await stack.leaves(root, [balance_key(BOB.address), nonce_key(ALICE.address)])
    assert balance == 100 * ETHER + 21
    assert nonce == 6


async def test_two_executors_share_one_hashdb(stack: Stack) -> None:
    second = await _start_executor(stack.hashdb.port)
    try:
        async with aio.insecure_channel(f"127.0.0.1:{second.port}") as channel:
            other = ExecutorClient(channel)
            root = h4_to_bytes(await stack.genesis(FUNDED))
            for n in range(4):
                client = stack.client if n % 2 == 0 else other
                response = await client.process(request(root, [ALICE.tx(n, BOB.address, value=1)]))
                assert response.error == pb.EXECUTOR_ERROR_NO_ERROR
                assert response.responses[0].error == pb.ROM_ERROR_NO_ERROR
                root = response.new_state_root
            assert stack.executor.executor.prover_id != second.executor.prover_id
    finally:
        await second.stop()
    (nonce,) = await stack.leaves(root, [nonce_key(ALICE.address)])
    assert nonce == 4


async def test_a_batch_executed_again_reuses_its_tree_updates_and_answers_the_same(stack: Stack) -> None:
    """The sequencer's sanity check: a kept batch executed again on the same root, keeping nothing,
    takes every tree update from the executor's memo (`WriteSetMemo`) and answers exactly as the
    first call; an executor with an empty memo computes the same answer."""
    root = h4_to_bytes(await stack.genesis([*FUNDED, with_code(C1, COUNTER, storage={0: 1})]))
    txs = [
        ALICE.tx(0, BOB.address, value=5),
        BOB.tx(0, C1),
        ALICE.tx(1, C1),
        BOB.tx(1, ALICE.address, value=5),  # ALICE's balance goes back towards an earlier value
    ]
    backend = stack.executor.executor.backend
    assert isinstance(backend, HashDBBackend)
    first = await stack.client.process(request(root, txs))
    hits = backend.write_sets.hits
    again = await stack.client.process(request(root, txs, update_merkle_tree=0))
    assert backend.write_sets.hits - hits >= len(txs)  # every transaction's update, and more
    registry = stack.executor.registry
    assert registry.get_sample_value("zkseq_executor_tree_update_memo_total", {"result": "hit"}) == (
        backend.write_sets.hits
    )
    assert registry.get_sample_value("zkseq_executor_tree_update_memo_total", {"result": "miss"}) == (
        backend.write_sets.misses
    )
    second = await _start_executor(stack.hashdb.port)
    try:
        async with aio.insecure_channel(f"127.0.0.1:{second.port}") as channel:
            fresh = await ExecutorClient(channel).process(request(root, txs, update_merkle_tree=0))
    finally:
        await second.stop()
    for answer in (again, fresh):
        assert answer.error == pb.EXECUTOR_ERROR_NO_ERROR
        assert answer.new_state_root == first.new_state_root
        assert [(r.state_root, r.gas_used, r.error) for r in answer.responses] == [
            (r.state_root, r.gas_used, r.error) for r in first.responses
        ]
    # the kept batch's state reads back through the HashDB
    (slot,) = await stack.leaves(first.new_state_root, [storage_key(C1, 0)])
    assert slot == 3


async def test_prover_inputs_with_db_preloads() -> None:
    """The fork-6 prover inputs through gRPC, each with its `db` and `contracts_bytecode`, on an
    executor with an empty in-process tree (ZKSEQ_EXECUTOR_HASHDB_URL=local)."""
    running = await start_executor(
        ExecutorConfig(grpc_host="127.0.0.1", grpc_port=0, metrics_enabled=False, hashdb_url="local")
    )
    try:
        async with aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            client = ExecutorClient(channel)
            for i in range(4):
                data = load_vector(f"prover-v3.0.2/batchProof/input_executor_{i}.json")
                response = await client.process(
                    pb.ProcessBatchRequest(
                        old_state_root=bytes.fromhex(data["oldStateRoot"][2:]),
                        old_acc_input_hash=bytes.fromhex(data["oldAccInputHash"][2:]),
                        old_batch_num=data["oldNumBatch"],
                        chain_id=data["chainID"],
                        fork_id=data["forkID"],
                        batch_l2_data=bytes.fromhex(data["batchL2Data"][2:]),
                        global_exit_root=bytes.fromhex(data["globalExitRoot"][2:]),
                        eth_timestamp=data["timestamp"],
                        coinbase=data["sequencerAddr"],
                        update_merkle_tree=0,
                        db={k: "".join(v) for k, v in data["db"].items()},
                        contracts_bytecode=data["contractsBytecode"],
                    )
                )
                assert response.error == pb.EXECUTOR_ERROR_NO_ERROR
                assert "0x" + response.new_state_root.hex() == data["newStateRoot"]
                assert "0x" + response.new_acc_input_hash.hex() == data["newAccInputHash"]
                assert "0x" + response.new_local_exit_root.hex() == data["newLocalExitRoot"]
                assert response.new_batch_num == data["newNumBatch"]
            bad = await client.process(
                pb.ProcessBatchRequest(old_state_root=bytes(32), chain_id=1, fork_id=6, db={"zz": "00"})
            )
            assert bad.error == pb.EXECUTOR_ERROR_INVALID_DB_KEY
    finally:
        await running.stop()


async def test_a_hashdb_that_goes_away_is_a_db_error(tmp_path: Path) -> None:
    hashdb = await _start_hashdb(tmp_path / "hashdb")
    executor = await _start_executor(hashdb.port)
    try:
        async with aio.insecure_channel(f"127.0.0.1:{executor.port}") as channel:
            client = ExecutorClient(channel)
            tree = HashDBBackend(f"127.0.0.1:{hashdb.port}", 5)
            session = tree.open(keep=True)
            root = await asyncio.to_thread(session.set_values, ZERO_H4, genesis_writes(FUNDED))
            await asyncio.to_thread(session.finish, root, True)
            await asyncio.to_thread(tree.close)
            await hashdb.stop()
            response = await client.process(request(h4_to_bytes(root), [ALICE.tx(0, BOB.address)]))
            assert response.error == pb.EXECUTOR_ERROR_DB_ERROR
            health = await client.health.Check(health_pb2.HealthCheckRequest(service=""))
            assert health.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await executor.stop()


async def test_unexpected_failures_are_internal_and_the_server_keeps_serving(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = h4_to_bytes(await stack.genesis(FUNDED))

    def broken(call: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(stack.executor.executor, "process", broken)
    with pytest.raises(grpc.RpcError) as info:
        await stack.client.process(request(root, [ALICE.tx(0, BOB.address)]))
    assert info.value.code() == grpc.StatusCode.INTERNAL
    monkeypatch.undo()
    ok = await stack.client.process(request(root, [ALICE.tx(0, BOB.address)]))
    assert ok.responses[0].error == pb.ROM_ERROR_NO_ERROR


def _stored_genesis(port: int, rng: random.Random, keys: Sequence[H4], local: SparseMerkleTree) -> H4:
    """A random value for each key, kept through a HashDB client and stored; its root, checked
    against the same writes on `local`."""
    genesis = [(k, rng.randrange(1, 2**200)) for k in keys]
    writer = HashDBBackend(f"127.0.0.1:{port}", 5, root_wait_s=2)
    session = writer.open(keep=True)
    root = session.set_values(ZERO_H4, genesis)
    session.finish(root, keep=True)
    assert writer.flushes.wait_sent(10)
    writer.close()
    assert root == local.set_many(ZERO_H4, genesis)
    return root


async def test_cold_executors_fetch_exactly_the_nodes_they_need(tmp_path: Path) -> None:
    """Random write sets with deletions (a deleted leaf pulls its sibling up, a node on no walked
    path) on a HashDB tree, each from a fresh client with an empty node cache: every root equals the
    root of the same writes on a local tree, and every value reads back."""
    hashdb = await _start_hashdb(tmp_path / "hashdb")
    rng = random.Random(7)
    keys = [(rng.randrange(P), rng.randrange(P), rng.randrange(P), rng.randrange(P)) for _ in range(300)]
    local = SparseMerkleTree(MemoryNodeStore())

    def run() -> None:
        root = expected = _stored_genesis(hashdb.port, rng, keys, local)
        for step in range(12):
            cold = HashDBBackend(f"127.0.0.1:{hashdb.port}", 5, root_wait_s=2)
            session = cold.open(keep=True)
            writes = [(rng.choice(keys), 0 if rng.random() < 0.6 else rng.randrange(2**64)) for _ in range(8)]
            if step % 3 == 0:  # a read first, like a batch's prefetch
                values = session.get_values(root, [k for k, _ in writes])
                assert values == [local.get(expected, k) for k, _ in writes]
            new_root = session.set_values(root, writes)
            expected = local.set_many(expected, writes)
            assert new_root == expected
            session.finish(new_root, keep=True)
            assert cold.flushes.wait_sent(10)
            cold.close()
            root = new_root
        check = HashDBBackend(f"127.0.0.1:{hashdb.port}", 5).open(keep=False)
        assert check.get_values(root, keys) == [local.get(expected, k) for k in keys]

    try:
        await asyncio.to_thread(run)
    finally:
        await hashdb.stop()


async def test_warm_fetches_the_missing_paths_and_those_ahead_in_one_call(tmp_path: Path) -> None:
    """`warm` on a cold cache: one GetPaths brings the paths of the batch's keys and of the keys
    ahead; a later batch writing one of those ahead walks it without a call, and writes the same
    root as a local tree."""
    hashdb = await _start_hashdb(tmp_path / "hashdb")
    rng = random.Random(8)
    keys = [(rng.randrange(P), rng.randrange(P), rng.randrange(P), rng.randrange(P)) for _ in range(200)]
    local = SparseMerkleTree(MemoryNodeStore())

    def run() -> None:
        root = expected = _stored_genesis(hashdb.port, rng, keys, local)
        new_keys = [(rng.randrange(P), 5, 5, 5) for _ in range(6)]  # new leaves next to old ones

        cold = HashDBBackend(f"127.0.0.1:{hashdb.port}", 5, root_wait_s=2)
        asked: list[str] = []

        def ahead(name: str, keys: list[H4]) -> Callable[[], list[H4]]:
            def give() -> list[H4]:
                asked.append(name)
                return keys

            return give

        first = cold.open(keep=True)
        first.warm(root, new_keys[:2], ahead("first", new_keys[2:]))
        assert (first.calls, asked) == (1, ["first"])
        again = cold.open(keep=True)
        again.warm(root, new_keys[:2], ahead("again", []))
        assert (again.calls, asked) == (0, ["first"])  # at hand: no call, and `ahead` is not asked
        later = cold.open(keep=True)
        later.warm(root, new_keys[4:], lambda: [])
        writes = [(k, i + 1) for i, k in enumerate(new_keys[4:])]
        assert later.set_values(root, writes) == local.set_many(expected, writes)
        assert later.calls == 0
        cold.close()

    try:
        await asyncio.to_thread(run)
    finally:
        await hashdb.stop()


async def test_a_hashdb_without_the_extensions_gets_load_db_and_get(tmp_path: Path) -> None:
    """A fork-6 HashDB has no LoadNodes nor GetPaths (zkseq extensions): the executor's flushes
    fall back to LoadDB and its path fetches to Get, and the batches it keeps are stored and
    readable all the same."""
    hashdb = await _start_hashdb(tmp_path / "hashdb")
    # the fork-6 stand-in: every method of the real HashDB but LoadNodes, on a server of its own
    real = HashDBServicer(hashdb.hashdb, HashDBMetrics(CollectorRegistry()))
    calls: dict[str, int] = {}
    handlers = {}
    for method in hashdb_pb.DESCRIPTOR.services_by_name["HashDBService"].methods:
        if method.name in ("LoadNodes", "GetPaths"):
            continue  # what a fork-6 HashDB lacks

        def counted(name: str) -> Any:
            async def call(request: Any, context: Any) -> Any:
                calls[name] = calls.get(name, 0) + 1
                return await getattr(real, name)(request, context)

            return call

        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            counted(method.name),
            request_deserializer=GetMessageClass(method.input_type).FromString,
            response_serializer=lambda m: m.SerializeToString(),
        )
    fork6 = aio.server()
    fork6.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    port = fork6.add_insecure_port("127.0.0.1:0")
    await fork6.start()
    try:
        tree = HashDBBackend(f"127.0.0.1:{port}", 5)

        def run() -> tuple[H4, list[int]]:
            root = ZERO_H4
            for step in range(3):
                session = tree.open(keep=True)
                root = session.set_values(root, [((step, 1, 2, 3), 10 + step), ((7, 7, 7, 7), step + 1)])
                session.finish(root, keep=True)
            assert tree.flushes.wait_sent(10)
            cold = HashDBBackend(f"127.0.0.1:{port}", 5)
            values = cold.open(keep=False).get_values(
                root, [(0, 1, 2, 3), (1, 1, 2, 3), (2, 1, 2, 3), (7, 7, 7, 7)]
            )
            cold.close()
            return root, values

        root, values = await asyncio.to_thread(run)
        tree.close()
        assert values == [10, 11, 12, 3]
        assert calls.get("LoadDB", 0) == 3 and calls.get("Flush", 0) == 3
        assert calls.get("Get", 0) >= 1  # the cold backend's paths, read one key a call
        assert hashdb.hashdb._db.get_node(root) is not None
    finally:
        await fork6.stop(None)
        await hashdb.stop()

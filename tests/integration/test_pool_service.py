"""The pool service over gRPC on a free port, its pool in the real Redis (a key prefix per test).

Every admission rule is exercised through AddTransaction and its status code and message checked;
then races on one sender and nonce, replacement, ordering, the sequencer's Mark* flows, the pending
nonce, expiry and the metrics.
"""

import asyncio
import dataclasses
import urllib.request
from collections.abc import AsyncIterator

import grpc
import pytest

from protos.pool.v1 import pool_pb2 as pb
from services.pool.state import MemoryAccountState
from tests.integration.pool_fixtures import (
    CHAIN_ID,
    ETHER,
    GWEI,
    FakeClock,
    PoolHarness,
    account,
    pool_config,
    require_redis,
    rpc_error,
    running_pool,
    tx_hash,
)
from zkevm.transaction import SECP256K1_N, decode_raw_transaction, decode_record

pytestmark = pytest.mark.integration

ALICE = account("alice")
BOB = account("bob")
CAROL = account("carol")
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


@pytest.fixture(scope="module", autouse=True)
def _redis_is_up() -> None:
    require_redis()


def funded() -> MemoryAccountState:
    """ALICE, BOB and CAROL at nonce 0 with 100 ether each."""
    state = MemoryAccountState()
    for acc in (ALICE, BOB, CAROL):
        state.set_account(acc.address, nonce=0, balance=100 * ETHER)
    return state


@pytest.fixture
async def pool() -> AsyncIterator[PoolHarness]:
    async with running_pool(pool_config(), funded()) as harness:
        yield harness


async def add(pool: PoolHarness, raw: bytes) -> pb.AddTransactionResponse:
    return await pool.client.AddTransaction(pb.AddTransactionRequest(raw=raw))


async def rejected(pool: PoolHarness, raw: bytes, code: grpc.StatusCode, message: str) -> str:
    """Add `raw`, expect `code` and a message that starts with `message`; return the message."""
    error = await rpc_error(add(pool, raw))
    details = error.details() or ""
    assert error.code() == code, details
    assert details.startswith(message), details
    return details


async def status(pool: PoolHarness, raw_or_hash: bytes) -> pb.GetStatusResponse:
    h = raw_or_hash if len(raw_or_hash) == 32 else tx_hash(raw_or_hash)
    return await pool.client.GetStatus(pb.GetStatusRequest(hash=h))


async def ready(pool: PoolHarness, limit: int = 0) -> list[pb.PoolTransaction]:
    response = await pool.client.GetReadyTransactions(pb.GetReadyTransactionsRequest(limit=limit))
    return list(response.transactions)


async def stats(pool: PoolHarness) -> pb.PoolStats:
    return await pool.client.GetPoolStats(pb.GetPoolStatsRequest())


# --------------------------------------------------------------------------------------------------
# accepted


async def test_an_added_transaction_is_pending_ready_and_complete(pool: PoolHarness) -> None:
    raw = ALICE.tx(0, 2 * GWEI, value=12345)
    response = await add(pool, raw)
    assert response.hash == tx_hash(raw) and response.replaced_hash == b""
    got = await pool.client.GetTransaction(pb.GetTransactionRequest(hash=response.hash))
    t = got.transaction
    assert got.status == pb.TX_STATUS_PENDING and got.ready and got.reason == ""
    assert t.raw == raw and t.sender == ALICE.address and t.nonce == 0
    assert t.gas_price == str(2 * GWEI) and t.effective_gas_price == str(2 * GWEI) and t.gas_limit == 21_000
    assert t.received_at_ms == int(pool.clock.now * 1000)
    record, end = decode_record(t.batch_l2_data)
    assert end == len(t.batch_l2_data) and t.effective_percentage == record.effective_percentage == 0xFF
    assert record.to_raw() == raw and record.sender() == ALICE.address
    assert (await status(pool, raw)).status == pb.TX_STATUS_PENDING
    assert await stats(pool) == pb.PoolStats(pending=1, ready=1)


async def test_a_pre_eip155_transaction_is_accepted(pool: PoolHarness) -> None:
    raw = ALICE.tx(0, chain_id=None)
    await add(pool, raw)
    [t] = await ready(pool)
    assert decode_raw_transaction(t.raw).chain_id is None


async def test_unknown_hashes_and_malformed_requests(pool: PoolHarness) -> None:
    missing = bytes(32)
    error = await rpc_error(pool.client.GetTransaction(pb.GetTransactionRequest(hash=missing)))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == f"transaction 0x{missing.hex()} is not in the pool"
    error = await rpc_error(pool.client.GetStatus(pb.GetStatusRequest(hash=b"\x01")))
    assert (error.code(), error.details()) == (INVALID_ARGUMENT, "hash must be 32 bytes, got 1")
    error = await rpc_error(pool.client.GetPendingNonce(pb.GetPendingNonceRequest(address=b"\x01" * 19)))
    assert (error.code(), error.details()) == (INVALID_ARGUMENT, "address must be 20 bytes, got 19")
    error = await rpc_error(pool.client.MarkFailed(pb.MarkFailedRequest(hash=missing)))
    assert error.code() == INVALID_ARGUMENT and "FAILURE_KIND_NONCE" in (error.details() or "")


# --------------------------------------------------------------------------------------------------
# every admission rule, with its message


async def test_rule_invalid_tx_input(pool: PoolHarness) -> None:
    await rejected(pool, b"", INVALID_ARGUMENT, "invalid tx input: the transaction is empty")
    await rejected(
        pool,
        b"\xc3\x01\x02",
        INVALID_ARGUMENT,
        "invalid tx input: transaction truncated: its header announces 3 bytes, 2 available (at byte 0)",
    )
    # trailing garbage after a valid transaction
    await rejected(pool, ALICE.tx(0) + b"\x00", INVALID_ARGUMENT, "invalid tx input: 1 bytes follow")


async def test_rule_transaction_type_not_supported(pool: PoolHarness) -> None:
    await rejected(
        pool,
        b"\x02" + ALICE.tx(0),
        INVALID_ARGUMENT,
        "transaction type not supported: got a typed (EIP-2718) transaction of type 0x02",
    )


async def test_rule_invalid_sender(pool: PoolHarness) -> None:
    tx = decode_raw_transaction(ALICE.tx(0))
    high_s = dataclasses.replace(tx, s=SECP256K1_N - tx.s, v=55 - tx.v).to_raw()
    details = await rejected(pool, high_s, INVALID_ARGUMENT, "invalid sender: s = ")
    assert "above n/2" in details
    zero_r = dataclasses.replace(tx, r=0).to_raw()
    await rejected(pool, zero_r, INVALID_ARGUMENT, "invalid sender: r is zero")


async def test_rule_invalid_chain_id(pool: PoolHarness) -> None:
    await rejected(
        pool,
        ALICE.tx(0, chain_id=CHAIN_ID + 1),
        INVALID_ARGUMENT,
        f"invalid chain id: the transaction is signed for chain {CHAIN_ID + 1}, "
        f"this pool accepts chain {CHAIN_ID}",
    )


async def test_rule_oversized_data(pool: PoolHarness) -> None:
    raw = ALICE.tx(0, data=b"\x01" * 100_100, gas_limit=2_000_000)
    await rejected(
        pool,
        raw,
        INVALID_ARGUMENT,
        f"oversized data: the transaction is {len(raw)} bytes, the limit is 100132 bytes",
    )


async def test_rule_data_size_bigger_than_allowed(pool: PoolHarness) -> None:
    raw = ALICE.tx(0, data=b"\x01" * 100_001, gas_limit=2_000_000)
    assert len(raw) <= 100_132
    await rejected(
        pool,
        raw,
        INVALID_ARGUMENT,
        "data size bigger than allowed, current size is 100001 bytes and max allowed is 100000 bytes",
    )


async def test_rule_exceeds_block_gas_limit(pool: PoolHarness) -> None:
    await rejected(
        pool,
        ALICE.tx(0, gas_limit=30_000_001),
        INVALID_ARGUMENT,
        "exceeds block gas limit: gas limit 30000001 is above the batch gas limit 30000000",
    )
    await add(pool, ALICE.tx(0, gas_limit=30_000_000))


async def test_rule_intrinsic_gas_too_low(pool: PoolHarness) -> None:
    await rejected(
        pool,
        ALICE.tx(0, gas_limit=20_999),
        INVALID_ARGUMENT,
        "intrinsic gas too low: gas limit 20999, intrinsic gas 21000",
    )
    await rejected(
        pool,
        ALICE.tx(0, to=None, gas_limit=52_999),
        INVALID_ARGUMENT,
        "intrinsic gas too low: gas limit 52999, intrinsic gas 53000",
    )
    # 16 per non-zero and 4 per zero calldata byte
    await rejected(
        pool,
        ALICE.tx(0, data=b"\x00\x01\x00", gas_limit=21_023),
        INVALID_ARGUMENT,
        "intrinsic gas too low: gas limit 21023, intrinsic gas 21024",
    )
    await add(pool, ALICE.tx(0, data=b"\x00\x01\x00", gas_limit=21_024))


async def test_rule_gas_price_too_low(pool: PoolHarness) -> None:
    await rejected(
        pool,
        ALICE.tx(0, GWEI - 1),
        INVALID_ARGUMENT,
        f"gas price too low: gas price {GWEI - 1} wei is below the minimum {GWEI} wei",
    )


async def test_rule_insufficient_funds(pool: PoolHarness) -> None:
    cost = 21_000 * GWEI + 5
    pool.state.set_account(ALICE.address, balance=cost - 1)
    await rejected(
        pool,
        ALICE.tx(0, value=5),
        FAILED_PRECONDITION,
        f"insufficient funds for gas * price + value: address 0x{ALICE.address.hex()} "
        f"have {cost - 1} want {cost}",
    )
    pool.state.set_account(ALICE.address, balance=cost)
    await add(pool, ALICE.tx(0, value=5))


async def test_rule_already_known(pool: PoolHarness) -> None:
    raw = ALICE.tx(0)
    await add(pool, raw)
    await rejected(
        pool, raw, grpc.StatusCode.ALREADY_EXISTS, f"already known: 0x{tx_hash(raw).hex()} is pending"
    )
    await pool.client.MarkSelected(pb.MarkSelectedRequest(hash=tx_hash(raw)))
    await rejected(pool, raw, grpc.StatusCode.ALREADY_EXISTS, "already known: 0x")


async def test_rule_nonce_too_low(pool: PoolHarness) -> None:
    pool.state.set_account(ALICE.address, nonce=5)
    await rejected(pool, ALICE.tx(4), FAILED_PRECONDITION, "nonce too low: next nonce 5, tx nonce 4")
    await add(pool, ALICE.tx(5))


async def test_rule_nonce_too_high(pool: PoolHarness) -> None:
    pool.state.set_account(ALICE.address, nonce=5)
    await rejected(
        pool,
        ALICE.tx(5 + 64),
        FAILED_PRECONDITION,
        "nonce too high: next nonce 5, tx nonce 69; the pool accepts nonces up to 68",
    )
    await add(pool, ALICE.tx(5 + 63))
    await rejected(pool, ALICE.tx(2**64 - 1), FAILED_PRECONDITION, "nonce too high: next nonce 5")


async def test_rule_replacement_transaction_underpriced(pool: PoolHarness) -> None:
    first = ALICE.tx(0, 2 * GWEI)
    await add(pool, first)
    for price in (2 * GWEI, 2 * GWEI - 1):  # the same price is not enough, a lower one neither
        await rejected(
            pool,
            ALICE.tx(0, price, value=7),
            FAILED_PRECONDITION,
            f"replacement transaction underpriced: nonce 0 is taken by 0x{tx_hash(first).hex()} at gas "
            f"price {2 * GWEI} wei; a replacement needs a higher gas price than that, got {price} wei",
        )
    # a selected transaction cannot be replaced at any price
    await pool.client.MarkSelected(pb.MarkSelectedRequest(hash=tx_hash(first)))
    await rejected(
        pool,
        ALICE.tx(0, 100 * GWEI),
        FAILED_PRECONDITION,
        f"replacement transaction underpriced: nonce 0 is taken by 0x{tx_hash(first).hex()}, "
        "which is already selected for a batch",
    )


async def test_rule_txpool_is_full() -> None:
    async with running_pool(pool_config(max_txs=3), funded()) as pool:
        await add(pool, ALICE.tx(0))
        await add(pool, ALICE.tx(1))
        await add(pool, BOB.tx(0))
        await rejected(
            pool,
            CAROL.tx(0),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "txpool is full: 3 transactions are waiting, the limit is 3",
        )
        # a replacement takes no room, so it is still accepted
        assert (await add(pool, BOB.tx(0, 2 * GWEI))).replaced_hash == tx_hash(BOB.tx(0))
        # selected transactions still count
        await pool.client.MarkSelected(pb.MarkSelectedRequest(hash=tx_hash(ALICE.tx(0))))
        await rejected(pool, CAROL.tx(0), grpc.StatusCode.RESOURCE_EXHAUSTED, "txpool is full: 3 ")
        # room again once one leaves
        await pool.client.MarkIncluded(pb.MarkIncludedRequest(hash=tx_hash(ALICE.tx(0))))
        await add(pool, CAROL.tx(0))


async def test_rule_txpool_is_full_for_a_nonce_gap() -> None:
    """Past MAX_TXS_WITH_GAP live transactions, one that could not run (the nonce before it is not
    waiting) is refused, so that a burst whose first nonces were refused cannot fill the pool with
    transactions that never run; ones without a gap are still accepted up to MAX_TXS."""
    async with running_pool(pool_config(max_txs=4, max_txs_with_gap=2), funded()) as pool:
        await add(pool, ALICE.tx(0))
        await add(pool, BOB.tx(2))  # a gap (BOB's next nonce is 0), accepted: 1 waiting, below 2
        await add(pool, CAROL.tx(0))
        await rejected(
            pool,
            BOB.tx(5),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "txpool is full: nonce 5 leaves a gap (the sender's next nonce is 0 and nonce 4 is not "
            "waiting): with 3 transactions waiting, at least 2, only transactions without a gap are "
            "accepted",
        )
        assert (await stats(pool)).pending == 3
        # right after a waiting one, but that one cannot run either: still behind the gap, so a
        # sender whose first nonces were refused cannot chain its later ones into a full pool
        await rejected(
            pool,
            BOB.tx(3),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "txpool is full: nonce 3 leaves a gap (the sender's next nonce is 0 and nonce 1 is not waiting)",
        )
        await add(pool, ALICE.tx(1))  # no gap
        full = "txpool is full: 4 transactions are waiting"
        await rejected(pool, CAROL.tx(1), grpc.StatusCode.RESOURCE_EXHAUSTED, full)
        # room again: the gap rule only applies from 2 waiting on
        for raw in (ALICE.tx(0), CAROL.tx(0), BOB.tx(2)):
            await pool.client.MarkInvalid(pb.MarkInvalidRequest(hash=tx_hash(raw), reason="test"))
        await add(pool, CAROL.tx(7))


async def test_rule_txpool_is_full_for_an_account() -> None:
    async with running_pool(pool_config(max_txs_per_account=2), funded()) as pool:
        await add(pool, ALICE.tx(0))
        await add(pool, ALICE.tx(1))
        await rejected(
            pool,
            ALICE.tx(2),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"txpool is full: account 0x{ALICE.address.hex()} has 2 transactions waiting, "
            "the limit per account is 2",
        )
        await add(pool, BOB.tx(0))
        await add(pool, ALICE.tx(1, 2 * GWEI))  # a replacement is not one more


async def test_the_first_broken_rule_is_reported(pool: PoolHarness) -> None:
    """Stateless rules before the state, and nonce before funds: a stale transaction from an empty
    account is "nonce too low", a low-priced one "gas price too low"."""
    pool.state.set_account(ALICE.address, nonce=3, balance=0)
    await rejected(pool, ALICE.tx(1), FAILED_PRECONDITION, "nonce too low")
    await rejected(pool, ALICE.tx(1, GWEI - 1), INVALID_ARGUMENT, "gas price too low")
    await rejected(pool, ALICE.tx(3), FAILED_PRECONDITION, "insufficient funds for gas * price + value")
    raw = BOB.tx(0)
    await add(pool, raw)
    pool.state.set_account(BOB.address, balance=0)
    await rejected(pool, raw, grpc.StatusCode.ALREADY_EXISTS, "already known")


async def test_rejections_change_nothing(pool: PoolHarness) -> None:
    await add(pool, ALICE.tx(0, 3 * GWEI))
    before = await stats(pool)
    for raw in (ALICE.tx(0, 3 * GWEI, value=9), ALICE.tx(64), ALICE.tx(1, GWEI - 1), b"\x01"):
        await rpc_error(add(pool, raw))
    assert await stats(pool) == before
    assert [t.hash for t in await ready(pool)] == [tx_hash(ALICE.tx(0, 3 * GWEI))]


# --------------------------------------------------------------------------------------------------
# races


async def test_racing_clients_on_one_nonce_exactly_one_is_accepted(pool: PoolHarness) -> None:
    """Eight clients on their own connections send different transactions with the same sender,
    nonce and gas price at once, twenty times over: each time exactly one gets in."""
    clients = [pool.new_client() for _ in range(8)]
    try:
        for nonce in range(20):
            raws = [ALICE.tx(nonce, GWEI, value=1 + i) for i in range(len(clients))]
            results = await asyncio.gather(
                *(
                    c.AddTransaction(pb.AddTransactionRequest(raw=r))
                    for (_, c), r in zip(clients, raws, strict=True)
                ),
                return_exceptions=True,
            )
            accepted = [r for r in results if isinstance(r, pb.AddTransactionResponse)]
            refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
            assert len(accepted) == 1 and len(refused) == len(clients) - 1, results
            assert all(
                e.code() == FAILED_PRECONDITION
                and (e.details() or "").startswith("replacement transaction underpriced")
                for e in refused
            )
            winner = accepted[0].hash
            assert (await status(pool, winner)).status == pb.TX_STATUS_PENDING
            # the losers left no trace
            for raw in raws:
                if tx_hash(raw) != winner:
                    error = await rpc_error(status(pool, raw))
                    assert error.code() == grpc.StatusCode.NOT_FOUND
    finally:
        for channel, _ in clients:
            await channel.close(None)
    assert await stats(pool) == pb.PoolStats(pending=20, ready=1)


async def test_racing_the_same_transaction_stores_it_once(pool: PoolHarness) -> None:
    clients = [pool.new_client() for _ in range(6)]
    raw = BOB.tx(0)
    try:
        results = await asyncio.gather(
            *(c.AddTransaction(pb.AddTransactionRequest(raw=raw)) for _, c in clients), return_exceptions=True
        )
    finally:
        for channel, _ in clients:
            await channel.close(None)
    accepted = [r for r in results if isinstance(r, pb.AddTransactionResponse)]
    assert len(accepted) == 1
    for r in results:
        if isinstance(r, grpc.aio.AioRpcError):
            assert (r.details() or "").startswith("already known")
        else:
            assert isinstance(r, pb.AddTransactionResponse)
    assert await stats(pool) == pb.PoolStats(pending=1, ready=1)


async def test_racing_rising_prices_keeps_the_highest_and_loses_nothing(pool: PoolHarness) -> None:
    """Every racer pays a different price: whatever the interleaving, the highest price holds the
    nonce at the end, and every accepted transaction but the survivor is failed as replaced."""
    clients = [pool.new_client() for _ in range(8)]
    raws = [CAROL.tx(0, GWEI + i) for i in range(len(clients))]
    try:
        results = await asyncio.gather(
            *(
                c.AddTransaction(pb.AddTransactionRequest(raw=r))
                for (_, c), r in zip(clients, raws, strict=True)
            ),
            return_exceptions=True,
        )
    finally:
        for channel, _ in clients:
            await channel.close(None)
    accepted = [
        tx_hash(r) for r, res in zip(raws, results, strict=True) if isinstance(res, pb.AddTransactionResponse)
    ]
    assert tx_hash(raws[-1]) in accepted
    [survivor] = await ready(pool)
    assert survivor.hash == tx_hash(raws[-1])
    for h in accepted:
        s = await status(pool, h)
        if h == survivor.hash:
            assert s.status == pb.TX_STATUS_PENDING
        else:
            assert s.status == pb.TX_STATUS_FAILED and s.reason.startswith("replaced by 0x")
    assert await stats(pool) == pb.PoolStats(pending=1, failed=len(accepted) - 1, ready=1)


# --------------------------------------------------------------------------------------------------
# replacement and ordering


async def test_replacement_with_a_higher_price(pool: PoolHarness) -> None:
    old = ALICE.tx(0, GWEI)
    new = ALICE.tx(0, GWEI + 1)
    await add(pool, old)
    response = await add(pool, new)
    assert response.replaced_hash == tx_hash(old)
    old_status = await status(pool, old)
    assert old_status.status == pb.TX_STATUS_FAILED
    assert old_status.reason == f"replaced by 0x{tx_hash(new).hex()}"
    assert [t.hash for t in await ready(pool)] == [tx_hash(new)]
    # the replaced one cannot come back: its price is below the one holding the nonce now
    await rejected(pool, old, FAILED_PRECONDITION, "replacement transaction underpriced")
    # a transaction behind a nonce gap is replaced the same way, and stays not ready
    gap_old, gap_new = ALICE.tx(2, GWEI), ALICE.tx(2, 5 * GWEI)
    await add(pool, gap_old)
    assert (await add(pool, gap_new)).replaced_hash == tx_hash(gap_old)
    assert not (await pool.client.GetTransaction(pb.GetTransactionRequest(hash=tx_hash(gap_new)))).ready
    assert await stats(pool) == pb.PoolStats(pending=2, failed=2, ready=1)


async def test_ready_transactions_are_next_nonces_best_price_first(pool: PoolHarness) -> None:
    dave, erin = account("dave"), account("erin")
    pool.state.set_account(dave.address, balance=ETHER)
    pool.state.set_account(erin.address, balance=2**255)
    await add(pool, ALICE.tx(0, 3 * GWEI))
    await add(pool, ALICE.tx(1, 9 * GWEI))  # higher price, but not ready: nonce 0 comes first
    await add(pool, BOB.tx(0, 5 * GWEI))
    await add(pool, CAROL.tx(0, 3 * GWEI))  # same price as ALICE's, arrived later
    await add(pool, dave.tx(1, 50 * GWEI))  # a gap: dave's next nonce is 0
    await add(pool, erin.tx(0, 2**200))  # uint256 prices order exactly
    order = [(t.sender, t.nonce) for t in await ready(pool)]
    assert order == [(erin.address, 0), (BOB.address, 0), (ALICE.address, 0), (CAROL.address, 0)]
    assert [t.sender for t in await ready(pool, limit=2)] == [erin.address, BOB.address]
    # ALICE's nonce 0 included: her nonce 1 is next, and the best of all
    await pool.client.MarkIncluded(pb.MarkIncludedRequest(hash=tx_hash(ALICE.tx(0, 3 * GWEI))))
    order = [(t.sender, t.nonce) for t in await ready(pool)]
    assert order == [(erin.address, 0), (ALICE.address, 1), (BOB.address, 0), (CAROL.address, 0)]
    # dave's gap is filled: both his transactions in order, one at a time
    await add(pool, dave.tx(0, GWEI))
    assert (await ready(pool))[-1].sender == dave.address
    await pool.client.MarkIncluded(pb.MarkIncludedRequest(hash=tx_hash(dave.tx(0, GWEI))))
    assert (await ready(pool))[1].sender == dave.address  # nonce 1 at 50 gwei


# --------------------------------------------------------------------------------------------------
# the sequencer's outcomes


async def test_select_then_include(pool: PoolHarness) -> None:
    raw0, raw1 = ALICE.tx(0), ALICE.tx(1)
    await add(pool, raw0)
    await add(pool, raw1)
    selected = await pool.client.MarkSelected(pb.MarkSelectedRequest(hash=tx_hash(raw0)))
    assert selected.status == pb.TX_STATUS_SELECTED
    # idempotent, and nothing else of ALICE is ready while nonce 0 is being executed
    assert (await pool.client.MarkSelected(pb.MarkSelectedRequest(hash=tx_hash(raw0)))).status == (
        pb.TX_STATUS_SELECTED
    )
    assert await ready(pool) == []
    assert await stats(pool) == pb.PoolStats(pending=1, selected=1)
    included = await pool.client.MarkIncluded(pb.MarkIncludedRequest(hash=tx_hash(raw0)))
    assert included.known and included.next_nonce == 1
    error = await rpc_error(status(pool, raw0))
    assert error.code() == grpc.StatusCode.NOT_FOUND  # included transactions leave the pool
    assert [t.hash for t in await ready(pool)] == [tx_hash(raw1)]
    # the included nonce is now too low, even though the state the pool reads still says 0
    await rejected(
        pool, ALICE.tx(0, 9 * GWEI), FAILED_PRECONDITION, "nonce too low: next nonce 1, tx nonce 0"
    )
    again = await pool.client.MarkIncluded(pb.MarkIncludedRequest(hash=tx_hash(raw0)))
    assert not again.known


async def test_select_refuses_what_is_not_ready_or_not_pending(pool: PoolHarness) -> None:
    raw0, raw1 = ALICE.tx(0), ALICE.tx(1)
    await add(pool, raw0)
    await add(pool, raw1)
    error = await rpc_error(pool.client.MarkSelected(pb.MarkSelectedRequest(hash=tx_hash(raw1))))
    assert error.code() == FAILED_PRECONDITION
    assert error.details() == (
        f"transaction 0x{tx_hash(raw1).hex()} is not ready: its nonce is 1, the sender's next nonce is 0"
    )
    await add(pool, ALICE.tx(0, 2 * GWEI))  # replaces raw0 between GetReady and MarkSelected
    error = await rpc_error(pool.client.MarkSelected(pb.MarkSelectedRequest(hash=tx_hash(raw0))))
    assert error.code() == FAILED_PRECONDITION
    assert (
        error.details()
        == f"transaction 0x{tx_hash(raw0).hex()} is failed, only a pending one can be selected"
    )
    error = await rpc_error(pool.client.MarkSelected(pb.MarkSelectedRequest(hash=bytes(32))))
    assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_select_many_claims_what_is_ready_and_leaves_out_the_rest(pool: PoolHarness) -> None:
    alice0, alice1, bob0, carol0 = ALICE.tx(0), ALICE.tx(1), BOB.tx(0), CAROL.tx(0)
    for raw in (alice0, alice1, bob0, carol0):
        await add(pool, raw)
    await pool.client.MarkSelected(pb.MarkSelectedRequest(hash=tx_hash(carol0)))
    asked = [tx_hash(bob0), tx_hash(alice1), bytes(32), tx_hash(alice0), tx_hash(carol0)]
    response = await pool.client.SelectMany(pb.SelectManyRequest(hashes=asked))
    # alice1 is not ready (nonce 0 is next), the zero hash is unknown; carol0 was already selected
    assert list(response.selected) == [tx_hash(bob0), tx_hash(alice0), tx_hash(carol0)]
    for raw in (alice0, bob0, carol0):
        assert (await status(pool, raw)).status == pb.TX_STATUS_SELECTED
    assert (await status(pool, alice1)).status == pb.TX_STATUS_PENDING
    assert await stats(pool) == pb.PoolStats(pending=1, selected=3)
    again = await pool.client.SelectMany(pb.SelectManyRequest(hashes=[tx_hash(bob0)]))
    assert list(again.selected) == [tx_hash(bob0)]  # idempotent, as MarkSelected


async def test_followers_are_offered_after_the_ready_ones_and_claimed_in_nonce_order(
    pool: PoolHarness,
) -> None:
    alice = [ALICE.tx(n) for n in range(4)]
    bob = [BOB.tx(0), BOB.tx(2)]  # a gap after nonce 0
    for raw in (*alice, *bob):
        await add(pool, raw)

    async def offered(limit: int = 0) -> list[tuple[bytes, int]]:
        request = pb.GetReadyTransactionsRequest(limit=limit, followers=True)
        response = await pool.client.GetReadyTransactions(request)
        return [(t.sender, t.nonce) for t in response.transactions]

    a, b = ALICE.address, BOB.address
    assert await offered() == [(a, 0), (b, 0), (a, 1), (a, 2), (a, 3)]
    assert await offered(limit=3) == [(a, 0), (b, 0), (a, 1)]
    assert [(t.sender, t.nonce) for t in await ready(pool)] == [(a, 0), (b, 0)]  # not asked: unchanged
    # a follower is claimed only after every earlier nonce of its sender: ALICE 2 before 1 is not
    response = await pool.client.SelectMany(pb.SelectManyRequest(hashes=[tx_hash(alice[2])]))
    assert list(response.selected) == []
    # nor by MarkSelected, even once its predecessors are selected
    asked = [tx_hash(alice[0]), tx_hash(alice[1]), tx_hash(bob[1])]
    response = await pool.client.SelectMany(pb.SelectManyRequest(hashes=asked))
    assert list(response.selected) == [tx_hash(alice[0]), tx_hash(alice[1])]  # BOB 2: a gap
    error = await rpc_error(pool.client.MarkSelected(pb.MarkSelectedRequest(hash=tx_hash(alice[2]))))
    assert error.code() == FAILED_PRECONDITION
    # ALICE 0 and 1 selected: 2 and 3 follow them; BOB 0 is still the ready one
    assert await offered() == [(b, 0), (a, 2), (a, 3)]
    assert await stats(pool) == pb.PoolStats(pending=4, selected=2, ready=1)
    # ALICE 0 fails (balance): back to pending and ready; ALICE 1 stays selected until released
    await pool.client.MarkFailed(
        pb.MarkFailedRequest(hash=tx_hash(alice[0]), kind=pb.FAILURE_KIND_BALANCE, reason="balance")
    )
    assert (await status(pool, alice[1])).status == pb.TX_STATUS_SELECTED
    assert await offered() == [(a, 0), (b, 0), (a, 2), (a, 3)]
    await pool.client.ReleaseSelected(pb.ReleaseSelectedRequest())
    assert await stats(pool) == pb.PoolStats(pending=6, ready=2)


async def test_mark_included_many_includes_in_order(pool: PoolHarness) -> None:
    raws = [ALICE.tx(0), ALICE.tx(1), BOB.tx(0)]
    for raw in raws:
        await add(pool, raw)
    hashes = [tx_hash(raw) for raw in raws]
    await pool.client.SelectMany(pb.SelectManyRequest(hashes=[hashes[0], hashes[2]]))
    # ALICE's nonce 1 was never selected (it was not ready): included all the same, after nonce 0
    response = await pool.client.MarkIncludedMany(pb.MarkIncludedManyRequest(hashes=[*hashes, bytes(32)]))
    assert response.known == 3
    assert await stats(pool) == pb.PoolStats()
    pending = await pool.client.GetPendingNonce(pb.GetPendingNonceRequest(address=ALICE.address))
    assert pending.pending_nonce == 2
    again = await pool.client.MarkIncludedMany(pb.MarkIncludedManyRequest(hashes=hashes))
    assert again.known == 0


async def test_batch_calls_refuse_malformed_or_too_many_hashes(pool: PoolHarness) -> None:
    error = await rpc_error(pool.client.SelectMany(pb.SelectManyRequest(hashes=[bytes(32), b"short"])))
    assert error.code() == INVALID_ARGUMENT
    assert error.details() == "hashes[1] must be 32 bytes, got 5"
    error = await rpc_error(
        pool.client.MarkIncludedMany(pb.MarkIncludedManyRequest(hashes=[bytes(32)] * 1001))
    )
    assert error.code() == INVALID_ARGUMENT
    assert error.details() == "at most 1000 hashes per call, got 1001"


async def test_failed_for_nonce_or_balance_goes_back_to_pending(pool: PoolHarness) -> None:
    raw0, raw1 = ALICE.tx(0), ALICE.tx(1)
    await add(pool, raw0)
    await add(pool, raw1)
    await pool.client.MarkSelected(pb.MarkSelectedRequest(hash=tx_hash(raw0)))
    response = await pool.client.MarkFailed(
        pb.MarkFailedRequest(hash=tx_hash(raw0), kind=pb.FAILURE_KIND_BALANCE, reason="not enough funds")
    )
    assert response.status == pb.TX_STATUS_PENDING
    got = await pool.client.GetTransaction(pb.GetTransactionRequest(hash=tx_hash(raw0)))
    assert got.ready and got.reason == "not enough funds"
    # the executor saw nonce 1 (nonce 0 came in by another way, a forced batch): raw0 is stale,
    # raw1 is next
    await pool.client.MarkSelected(pb.MarkSelectedRequest(hash=tx_hash(raw0)))
    response = await pool.client.MarkFailed(
        pb.MarkFailedRequest(
            hash=tx_hash(raw0), kind=pb.FAILURE_KIND_NONCE, reason="invalid nonce", state_nonce=1
        )
    )
    assert response.status == pb.TX_STATUS_FAILED
    assert (await status(pool, raw0)).reason == "nonce too low: the sender's next nonce is now 1"
    assert [t.hash for t in await ready(pool)] == [tx_hash(raw1)]
    # a nonce failure without the executor's nonce only puts it back
    await pool.client.MarkSelected(pb.MarkSelectedRequest(hash=tx_hash(raw1)))
    response = await pool.client.MarkFailed(
        pb.MarkFailedRequest(hash=tx_hash(raw1), kind=pb.FAILURE_KIND_NONCE)
    )
    assert response.status == pb.TX_STATUS_PENDING
    assert await stats(pool) == pb.PoolStats(pending=1, failed=1, ready=1)


async def test_a_nonce_failure_can_move_the_next_nonce_down(pool: PoolHarness) -> None:
    """The pool believed nonce 0 included; the executor says the sender is still at 0: the
    transaction for nonce 1 waits (not ready), a new nonce 0 is welcome."""
    raw0, raw1 = BOB.tx(0), BOB.tx(1)
    await add(pool, raw0)
    await add(pool, raw1)
    await pool.client.MarkIncluded(pb.MarkIncludedRequest(hash=tx_hash(raw0)))
    await pool.client.MarkSelected(pb.MarkSelectedRequest(hash=tx_hash(raw1)))
    response = await pool.client.MarkFailed(
        pb.MarkFailedRequest(hash=tx_hash(raw1), kind=pb.FAILURE_KIND_NONCE, state_nonce=0)
    )
    assert response.status == pb.TX_STATUS_PENDING
    assert await ready(pool) == []
    await add(pool, BOB.tx(0, 2 * GWEI))
    assert [t.nonce for t in await ready(pool)] == [0]


async def test_failed_for_other_reasons_and_invalid(pool: PoolHarness) -> None:
    raw0, raw1 = ALICE.tx(0), ALICE.tx(1)
    await add(pool, raw0)
    await add(pool, raw1)
    await pool.client.MarkSelected(pb.MarkSelectedRequest(hash=tx_hash(raw0)))
    response = await pool.client.MarkInvalid(
        pb.MarkInvalidRequest(
            hash=tx_hash(raw0), reason="not enough keccak counters to continue the execution"
        )
    )
    assert response.status == pb.TX_STATUS_INVALID
    got = await status(pool, raw0)
    assert got.status == pb.TX_STATUS_INVALID and got.reason.startswith("not enough keccak counters")
    # the nonce is free again: any new transaction takes it, at any acceptable price
    await add(pool, ALICE.tx(0, GWEI, value=99))
    assert [t.hash for t in await ready(pool)] == [tx_hash(ALICE.tx(0, GWEI, value=99))]
    response = await pool.client.MarkFailed(
        pb.MarkFailedRequest(hash=tx_hash(raw1), kind=pb.FAILURE_KIND_OTHER, reason="invalid RLP")
    )
    assert response.status == pb.TX_STATUS_FAILED
    assert (await status(pool, raw1)).reason == "invalid RLP"
    # repeated outcomes change nothing; unknown hashes are NOT_FOUND
    again = await pool.client.MarkInvalid(pb.MarkInvalidRequest(hash=tx_hash(raw1), reason="x"))
    assert again.status == pb.TX_STATUS_FAILED
    error = await rpc_error(pool.client.MarkInvalid(pb.MarkInvalidRequest(hash=bytes(32))))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    # a failed transaction may be sent again (it is not "already known"): it is pending anew
    await add(pool, raw1)
    assert (await status(pool, raw1)).status == pb.TX_STATUS_PENDING
    assert await stats(pool) == pb.PoolStats(pending=2, invalid=1, ready=1)


async def test_release_selected_puts_them_back(pool: PoolHarness) -> None:
    for acc in (ALICE, BOB):
        await add(pool, acc.tx(0))
        await pool.client.MarkSelected(pb.MarkSelectedRequest(hash=tx_hash(acc.tx(0))))
    assert await ready(pool) == []
    released = await pool.client.ReleaseSelected(pb.ReleaseSelectedRequest())
    assert released.released == 2
    assert {t.sender for t in await ready(pool)} == {ALICE.address, BOB.address}
    # their arrival order is kept
    assert [t.sender for t in await ready(pool)] == [ALICE.address, BOB.address]


async def test_a_state_that_moved_on_fails_stale_transactions(pool: PoolHarness) -> None:
    """Nonces 0 and 1 went in by another way (a forced batch): the next add sees state nonce 2."""
    await add(pool, CAROL.tx(0))
    await add(pool, CAROL.tx(1))
    pool.state.set_account(CAROL.address, nonce=2)
    await add(pool, CAROL.tx(2))
    assert [t.nonce for t in await ready(pool)] == [2]
    for nonce in (0, 1):
        s = await status(pool, CAROL.tx(nonce))
        assert (
            s.status == pb.TX_STATUS_FAILED and s.reason == "nonce too low: the sender's next nonce is now 2"
        )


async def test_an_expired_transaction_still_counts_when_included(pool: PoolHarness) -> None:
    raw0, raw1 = ALICE.tx(0), ALICE.tx(1)
    await add(pool, raw0)
    await pool.client.MarkSelected(pb.MarkSelectedRequest(hash=tx_hash(raw0)))
    pool.clock.advance(pool.config.tx_lifetime_s - 10)
    await add(pool, raw1)
    pool.clock.advance(10.5)  # raw0 expires while the sequencer runs it, raw1 is young
    assert await pool.running.pool.expire_once() == (1, 0)
    assert (await status(pool, raw0)).status == pb.TX_STATUS_FAILED
    included = await pool.client.MarkIncluded(pb.MarkIncludedRequest(hash=tx_hash(raw0)))
    assert included.known and included.next_nonce == 1
    assert [t.hash for t in await ready(pool)] == [tx_hash(raw1)]


# --------------------------------------------------------------------------------------------------
# pending nonce, expiry, metrics


async def test_pending_nonce_counts_contiguous_pool_nonces(pool: PoolHarness) -> None:
    pool.state.set_account(ALICE.address, nonce=3)

    async def pending() -> tuple[int, int]:
        r = await pool.client.GetPendingNonce(pb.GetPendingNonceRequest(address=ALICE.address))
        return r.pending_nonce, r.state_nonce

    assert await pending() == (3, 3)
    for nonce in (3, 4, 6):
        await add(pool, ALICE.tx(nonce))
    assert await pending() == (5, 3)  # 6 is behind a gap
    await pool.client.MarkSelected(pb.MarkSelectedRequest(hash=tx_hash(ALICE.tx(3))))
    assert await pending() == (5, 3)  # selected still counts
    await pool.client.MarkIncluded(pb.MarkIncludedRequest(hash=tx_hash(ALICE.tx(3))))
    assert await pending() == (5, 3)  # the pool's next nonce 4, then 4 in the pool
    await add(pool, ALICE.tx(5))
    assert await pending() == (7, 3)
    unknown = account("nobody")
    r = await pool.client.GetPendingNonce(pb.GetPendingNonceRequest(address=unknown.address))
    assert (r.pending_nonce, r.state_nonce) == (0, 0)


async def test_expiry_fails_old_transactions_then_forgets_them() -> None:
    clock = FakeClock()
    config = pool_config(tx_lifetime_s=60, finished_retention_s=30)
    async with running_pool(config, funded(), clock) as pool:
        old, young = ALICE.tx(0), BOB.tx(0)
        await add(pool, old)
        clock.advance(30)
        await add(pool, young)
        await pool.client.MarkInvalid(pb.MarkInvalidRequest(hash=tx_hash(young), reason="out of counters"))
        await add(pool, CAROL.tx(0))
        clock.advance(30.5)  # old: 60.5 s, young: invalid for 30.5 s, CAROL's: 30.5 s
        assert await pool.running.pool.expire_once() == (1, 1)
        s = await status(pool, old)
        assert (s.status, s.reason) == (pb.TX_STATUS_FAILED, "transaction expired")
        assert (await rpc_error(status(pool, young))).code() == grpc.StatusCode.NOT_FOUND
        assert await stats(pool) == pb.PoolStats(pending=1, failed=1, ready=1)
        # ALICE's nonce 0 is free again
        await add(pool, ALICE.tx(0, GWEI, value=2))
        clock.advance(31)
        assert await pool.running.pool.expire_once() == (1, 1)  # CAROL's expires, ALICE's old goes
        assert (await rpc_error(status(pool, old))).code() == grpc.StatusCode.NOT_FOUND
        assert await stats(pool) == pb.PoolStats(pending=1, failed=1, ready=1)


async def test_expiry_works_through_many_in_batches() -> None:
    clock = FakeClock()
    config = pool_config(tx_lifetime_s=10, max_txs=5000)
    async with running_pool(config, funded(), clock) as pool:
        pool.running.pool.settings = dataclasses.replace(pool.running.pool.settings, expiry_batch=7)
        for nonce in range(30):
            await add(pool, ALICE.tx(nonce))
        clock.advance(11)
        assert await pool.running.pool.expire_once() == (30, 0)
        assert await stats(pool) == pb.PoolStats(failed=30)


async def test_metrics_count_adds_rejections_latency_and_sizes() -> None:
    config = pool_config(metrics_enabled=True, metrics_host="127.0.0.1", metrics_port=0)
    async with running_pool(config, funded()) as pool:
        await add(pool, ALICE.tx(0))
        await add(pool, ALICE.tx(0, 2 * GWEI))
        await rpc_error(add(pool, ALICE.tx(0, 2 * GWEI)))
        await rpc_error(add(pool, BOB.tx(0, GWEI - 1)))
        await pool.running.pool.refresh_counts()
        endpoint = pool.running.metrics_endpoint
        assert endpoint is not None
        text = await asyncio.to_thread(
            lambda: (
                urllib.request.urlopen(f"http://127.0.0.1:{endpoint.port}/metrics", timeout=5).read().decode()
            )
        )
    lines = set(text.splitlines())
    assert 'zkseq_pool_added_total{kind="new"} 1.0' in lines
    assert 'zkseq_pool_added_total{kind="replacement"} 1.0' in lines
    assert 'zkseq_pool_rejected_total{reason="already_known"} 1.0' in lines
    assert 'zkseq_pool_rejected_total{reason="gas_price_too_low"} 1.0' in lines
    assert 'zkseq_pool_rejected_total{reason="nonce_too_low"} 0.0' in lines
    assert "zkseq_pool_add_duration_seconds_count 4.0" in lines
    assert 'zkseq_pool_transactions{status="pending"} 1.0' in lines
    assert 'zkseq_pool_transactions{status="failed"} 1.0' in lines
    assert 'zkseq_pool_transactions{status="ready"} 1.0' in lines
    assert any(
        line.startswith('zkseq_pool_rpc_duration_seconds_count{method="AddTransaction"}') for line in lines
    )


# --------------------------------------------------------------------------------------------------
# AddTransactions: many admissions in one call


async def test_add_transactions_answers_each_item_in_order_as_add_transaction_would() -> None:
    async with running_pool(pool_config(), funded()) as pool:
        known = ALICE.tx(0)
        await add(pool, known)
        raws = [
            BOB.tx(0),
            known,  # ALREADY_EXISTS
            b"",  # INVALID_ARGUMENT
            CAROL.tx(0, value=200 * ETHER),  # FAILED_PRECONDITION: insufficient funds
            ALICE.tx(1, 3 * GWEI),
            BOB.tx(1, GWEI - 1),  # INVALID_ARGUMENT: gas price too low
        ]
        response = await pool.client.AddTransactions(pb.AddTransactionsRequest(raw=raws))
        results = list(response.results)
        assert len(results) == len(raws)
        assert [r.code for r in results] == [
            grpc.StatusCode.OK.value[0],
            grpc.StatusCode.ALREADY_EXISTS.value[0],
            INVALID_ARGUMENT.value[0],
            FAILED_PRECONDITION.value[0],
            grpc.StatusCode.OK.value[0],
            INVALID_ARGUMENT.value[0],
        ]
        for i in (0, 4):
            assert results[i].hash == tx_hash(raws[i]) and results[i].replaced_hash == b""
            assert results[i].message == ""
        assert results[1].message == f"already known: 0x{tx_hash(known).hex()} is pending"
        assert results[2].message == "invalid tx input: the transaction is empty"
        assert results[3].message.startswith("insufficient funds for gas * price + value: address 0x")
        assert results[5].message.startswith("gas price too low")
        for i in (1, 2, 3, 5):  # the very status and message the single call gives
            assert results[i].hash == b""
            error = await rpc_error(add(pool, raws[i]))
            assert (error.code().value[0], error.details()) == (results[i].code, results[i].message)
        assert await stats(pool) == pb.PoolStats(pending=3, ready=2)
        # the same metrics per transaction as AddTransaction's (the refusals above count twice)
        registry = pool.running.registry
        assert registry.get_sample_value("zkseq_pool_added_total", {"kind": "new"}) == 3
        assert registry.get_sample_value("zkseq_pool_rejected_total", {"reason": "already_known"}) == 2
        assert registry.get_sample_value("zkseq_pool_rejected_total", {"reason": "gas_price_too_low"}) == 2
        # a replacement answers the hash it replaced
        response = await pool.client.AddTransactions(pb.AddTransactionsRequest(raw=[BOB.tx(0, 5 * GWEI)]))
        [replacement] = response.results
        assert replacement.code == 0 and replacement.replaced_hash == tx_hash(raws[0])
        assert list((await pool.client.AddTransactions(pb.AddTransactionsRequest())).results) == []


async def test_add_transactions_refuses_more_than_256_items_and_adds_none(pool: PoolHarness) -> None:
    raws = [ALICE.tx(0)] + [BOB.tx(n) for n in range(256)]
    error = await rpc_error(pool.client.AddTransactions(pb.AddTransactionsRequest(raw=raws)))
    assert error.code() == INVALID_ARGUMENT
    assert error.details() == "at most 256 transactions per AddTransactions call, got 257"
    assert await stats(pool) == pb.PoolStats()


async def test_more_admissions_at_once_than_redis_connections_wait_for_one() -> None:
    """One AddTransactions of 180 items runs 180 admissions at once; with 4 Redis connections each
    waits for a free one and every item is accepted (redis-py's own pool refuses past its limit,
    100, with "Too many connections", which a full AddTransactions reached)."""
    async with running_pool(pool_config(redis_max_connections=4), funded()) as pool:
        raws = [sender.tx(nonce) for nonce in range(60) for sender in (ALICE, BOB, CAROL)]
        response = await pool.client.AddTransactions(pb.AddTransactionsRequest(raw=raws))
        assert [r.message for r in response.results if r.code] == []
        assert (await stats(pool)).pending == 180

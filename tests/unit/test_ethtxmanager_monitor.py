"""The monitor's state machine over the L1 twin and an in-memory StateDB: nonce assignment, the
store-before-broadcast rule, confirmations, stuck / underpriced / dropped / reorged transactions,
a nonce used by somebody else, restarts, and an unreachable node."""

from __future__ import annotations

import asyncio

import pytest

from services.common.statedb import MonitoredTxStatus
from services.ethtxmanager.fees import FeeKind
from services.ethtxmanager.l1 import L1Unavailable
from tests.unit.test_ethtxmanager_twin import GWEI, MANAGER, REVERTING, FakeL1, FakeTx, Harness

S = MonitoredTxStatus


async def test_nonces_are_given_in_add_order_without_gaps() -> None:
    h = Harness.start()
    for i in range(5):
        await h.add(f"tx-{i}")
    await h.monitor.tick()
    assert [h.row(f"tx-{i}").nonce for i in range(5)] == [0, 1, 2, 3, 4]
    assert all(h.row(f"tx-{i}").status is S.SENT for i in range(5))
    h.l1.mine()
    await h.monitor.tick()
    assert h.l1.mined_nonces() == [0, 1, 2, 3, 4]
    assert [await h.status(f"tx-{i}") for i in range(5)] == [S.CONFIRMED] * 5
    assert h.metric("zkseq_ethtxmanager_finished_total", status="confirmed") == 5
    assert h.metric("zkseq_ethtxmanager_pending_txs", status="sent") == 0
    assert h.metric("zkseq_ethtxmanager_l1_balance_wei") == h.l1.balance_wei


async def test_nonces_continue_after_the_ones_already_on_l1() -> None:
    l1 = FakeL1()
    l1.foreign_tx()
    l1.foreign_tx()
    h = Harness.start(l1)
    await h.add("a")
    await h.monitor.tick()
    assert h.row("a").nonce == 2


async def test_an_attempt_is_stored_before_the_node_hears_of_it() -> None:
    h = Harness.start()
    seen: list[bool] = []
    send = h.l1.send_raw_transaction

    async def checking_send(raw: bytes) -> None:
        tx = FakeTx.decode(raw)
        row = h.statedb.monitored_txs.get("a")
        seen.append(row is not None and tx.hash in row.attempts and row.nonce == tx.nonce)
        await send(raw)

    h.l1.send_raw_transaction = checking_send  # type: ignore[method-assign]
    await h.add("a")
    await h.monitor.tick()
    h.l1.base_fee = 100 * GWEI
    h.clock.advance(31)
    await h.monitor.tick()  # a re-price: also stored first
    assert seen == [True, True]


async def test_mined_waits_for_the_confirmations() -> None:
    h = Harness.start(confirmations=3)
    await h.add("a")
    await h.monitor.tick()
    h.l1.mine()
    await h.monitor.tick()
    view = await h.manager.result("a")
    assert view.status is S.MINED and view.confirmations == 1
    assert view.mined is not None and h.row("a").block_number == view.mined.block_number
    h.l1.mine()
    await h.monitor.tick()
    assert await h.status("a") is S.MINED
    h.l1.mine()
    await h.monitor.tick()
    view = await h.manager.result("a")
    assert view.status is S.CONFIRMED and view.confirmations == 3
    assert view.mined is not None and view.mined.gas_used == 21_000
    assert h.metric("zkseq_ethtxmanager_gas_used_total") == 21_000
    assert h.metric("zkseq_ethtxmanager_gas_spent_wei_total") == 21_000 * view.mined.effective_gas_price
    assert h.metric("zkseq_ethtxmanager_confirmation_latency_seconds_count") == 1


async def test_a_mined_revert_fails_with_the_rollup_error_name() -> None:
    h = Harness.start()
    await h.add("bad", REVERTING, gas=100_000)
    await h.monitor.tick()
    h.l1.mine()
    await h.monitor.tick()
    view = await h.manager.result("bad")
    assert view.status is S.FAILED
    assert view.revert is not None and view.revert.reason == "SequenceZeroBatches"
    assert view.mined is not None and view.mined.status == 0


async def test_a_stuck_transaction_is_repriced_higher_with_the_same_nonce() -> None:
    h = Harness.start(stuck_after_s=30.0, fee_bump_percent=20)
    await h.add("a")
    await h.monitor.tick()
    first = FakeTx.decode(h.l1.accepted[0])  # max fee 2 × 1 gwei + 1 gwei tip
    h.l1.base_fee = 4 * GWEI  # above it: not minable
    h.l1.mine()
    await h.monitor.tick()
    assert await h.status("a") is S.SENT
    assert len(h.row("a").attempts) == 1  # not yet stuck long enough
    h.clock.advance(31)
    await h.monitor.tick()
    row = h.row("a")
    assert len(row.attempts) == 2
    second = FakeTx.decode(h.l1.accepted[-1])
    assert second.nonce == first.nonce == row.nonce
    assert second.fees.price >= 2 * 4 * GWEI + GWEI  # the node's suggestion: 2 × base fee + tip
    assert second.fees.tip >= first.fees.tip * 120 // 100
    assert row.gas_price == second.fees.price
    h.l1.mine()
    await h.monitor.tick()
    view = await h.manager.result("a")
    assert view.status is S.CONFIRMED
    assert view.mined is not None and view.mined.tx_hash == second.hash
    assert h.metric("zkseq_ethtxmanager_resends_total", reason="stuck") == 1
    assert h.l1.mined_nonces() == [0]


async def test_repricing_stops_at_the_cap() -> None:
    # geth keeps a transaction below the base fee in its pool (anvil refuses it)
    h = Harness.start(FakeL1(reject_below_base_fee=False), stuck_after_s=10.0, max_gas_price=4 * GWEI)
    await h.add("a")
    await h.monitor.tick()  # 3 gwei
    h.l1.base_fee = 50 * GWEI
    h.clock.advance(11)
    await h.monitor.tick()  # capped at 4 gwei: +33 %, a valid replacement
    assert FakeTx.decode(h.l1.accepted[-1]).fees.price == 4 * GWEI
    h.clock.advance(11)
    await h.monitor.tick()  # no room left
    assert len(h.row("a").attempts) == 2
    view = await h.manager.result("a")
    assert "cap" in view.error
    assert view.gas_price == 4 * GWEI


async def test_underpriced_is_bumped_again_at_once() -> None:
    h = Harness.start(stuck_after_s=10.0)
    await h.add("a")
    h.l1.refuse_next = ["replacement transaction underpriced"]
    await h.monitor.tick()
    row = h.row("a")
    assert len(row.attempts) == 2
    assert FakeTx.decode(h.l1.accepted[-1]).hash == row.attempts[-1]
    assert h.metric("zkseq_ethtxmanager_resends_total", reason="underpriced") == 1
    assert h.metric("zkseq_ethtxmanager_send_errors_total", kind="underpriced") == 1


async def test_already_known_is_success() -> None:
    h = Harness.start()
    await h.add("a")
    h.l1.refuse_next = ["already known"]
    await h.monitor.tick()
    assert (await h.manager.result("a")).error == ""
    assert len(h.row("a").attempts) == 1


async def test_a_dropped_transaction_is_broadcast_again_with_the_same_bytes() -> None:
    h = Harness.start()
    await h.add("a")
    await h.monitor.tick()
    h.l1.drop_all()
    await h.monitor.tick()
    assert len(h.l1.accepted) == 2 and h.l1.accepted[0] == h.l1.accepted[1]
    assert len(h.row("a").attempts) == 1
    assert h.metric("zkseq_ethtxmanager_resends_total", reason="dropped") == 1
    h.l1.mine()
    await h.monitor.tick()
    assert await h.status("a") is S.CONFIRMED


async def test_a_refused_broadcast_is_kept_as_the_error_and_retried() -> None:
    h = Harness.start()
    await h.add("a")
    h.l1.refuse_next = ["Insufficient funds for gas * price + value"]
    await h.monitor.tick()
    view = await h.manager.result("a")
    assert view.status is S.SENT and view.error.startswith("Insufficient funds")
    await h.monitor.tick()  # the operator topped up the account
    assert (await h.manager.result("a")).error == ""
    assert h.metric("zkseq_ethtxmanager_resends_total", reason="dropped") == 0
    h.l1.mine()
    await h.monitor.tick()
    assert await h.status("a") is S.CONFIRMED


async def test_a_transaction_mined_while_stuck_is_not_repriced() -> None:
    h = Harness.start(stuck_after_s=10.0)
    await h.add("a")
    await h.monitor.tick()
    first = h.row("a").attempts[0]
    h.l1.mine()  # mined, but the monitor has not looked yet
    h.clock.advance(11)
    await h.monitor.tick()  # receipts are looked at before the stuck timer
    view = await h.manager.result("a")
    assert view.status is S.CONFIRMED and view.mined is not None and view.mined.tx_hash == first
    assert len(h.row("a").attempts) == 1


async def test_a_replacement_refused_as_nonce_too_low_ends_with_the_mined_attempt() -> None:
    h = Harness.start(stuck_after_s=10.0)
    await h.add("a")
    await h.monitor.tick()
    first = h.row("a").attempts[0]
    h.clock.advance(11)
    receipt = h.l1.receipt

    mined_during_tick = False

    async def receipt_then_mine(tx_hash: bytes) -> object:
        # the first attempt is mined right after the monitor looked for its receipt
        nonlocal mined_during_tick
        result = await receipt(tx_hash)
        if not mined_during_tick:
            mined_during_tick = True
            h.l1.mine()
        return result

    h.l1.receipt = receipt_then_mine  # type: ignore[assignment]
    await h.monitor.tick()  # re-price → "nonce too low"
    assert h.metric("zkseq_ethtxmanager_send_errors_total", kind="nonce_too_low") == 1
    h.l1.receipt = receipt  # type: ignore[method-assign]
    await h.monitor.tick()
    view = await h.manager.result("a")
    assert view.status is S.CONFIRMED and view.mined is not None and view.mined.tx_hash == first
    assert h.l1.mined_nonces() == [0]


async def test_a_reorg_sends_a_mined_transaction_back_and_it_confirms_on_the_new_chain() -> None:
    h = Harness.start(confirmations=3)
    await h.add("a")
    await h.monitor.tick()
    h.l1.mine()
    await h.monitor.tick()
    before = await h.manager.result("a")
    assert before.status is S.MINED and before.mined is not None
    h.l1.reorg(1)  # the block and the transaction are gone (anvil_reorg)
    await h.monitor.tick()  # back to SENT, and broadcast again
    assert h.row("a").status is S.SENT and h.row("a").block_number is None
    assert h.metric("zkseq_ethtxmanager_reorgs_total") == 1
    h.l1.mine(3)
    await h.monitor.tick()
    after = await h.manager.result("a")
    assert after.status is S.CONFIRMED and after.mined is not None
    assert after.mined.block_hash != before.mined.block_hash
    assert after.mined.tx_hash == before.mined.tx_hash
    assert h.l1.mined_nonces() == [0]


async def test_a_reorg_that_puts_the_transaction_in_another_block_is_followed() -> None:
    h = Harness.start(confirmations=2)
    await h.add("a")
    await h.monitor.tick()
    h.l1.mine()
    await h.monitor.tick()
    h.l1.reorg(1, back_to_mempool=True)  # geth puts it back; the next block takes it again
    h.l1.mine()
    await h.monitor.tick()
    view = await h.manager.result("a")
    assert view.status is S.MINED and view.mined is not None
    assert h.row("a").block_number == view.mined.block_number == 2
    h.l1.mine()
    await h.monitor.tick()
    assert await h.status("a") is S.CONFIRMED


async def test_a_nonce_used_by_somebody_else_fails_after_the_grace_period() -> None:
    h = Harness.start(stuck_after_s=10.0)
    await h.add("a")
    await h.monitor.tick()
    h.l1.drop_all()
    h.l1.foreign_tx()  # nonce 0 used by a transaction the manager never signed
    await h.monitor.tick()
    assert await h.status("a") is S.SENT
    h.clock.advance(11)
    await h.monitor.tick()
    view = await h.manager.result("a")
    assert view.status is S.FAILED and "nonce 0" in view.error
    await h.add("b")
    await h.monitor.tick()
    assert h.row("b").nonce == 1


async def test_restart_continues_without_a_second_nonce_or_transaction() -> None:
    h = Harness.start()
    for i in range(3):
        await h.add(f"tx-{i}")
    await h.monitor.tick()
    sent_before = len(h.l1.accepted)
    again = h.restarted()
    await again.monitor.recover()
    assert again.monitor.next_nonce == 3
    await again.add("tx-3")
    await again.monitor.tick()
    assert again.row("tx-3").nonce == 3
    assert len(h.l1.accepted) == sent_before + 1  # only tx-3: the others are still in the mempool
    h.l1.mine()
    await again.monitor.tick()
    assert h.l1.mined_nonces() == [0, 1, 2, 3]
    assert [await again.status(f"tx-{i}") for i in range(4)] == [S.CONFIRMED] * 4


async def test_restart_between_storing_and_broadcasting_sends_the_stored_attempt() -> None:
    h = Harness.start(fee_kind=FeeKind.LEGACY)
    await h.add("a")

    async def crash(raw: bytes) -> None:
        raise L1Unavailable("the process died here")

    h.l1.send_raw_transaction, real_send = crash, h.l1.send_raw_transaction  # type: ignore[method-assign]
    with pytest.raises(L1Unavailable):
        await h.monitor.tick()
    stored = h.row("a")
    assert stored.status is S.SENT and len(stored.attempts) == 1
    h.l1.send_raw_transaction = real_send  # type: ignore[method-assign]
    again = h.restarted()
    await again.monitor.tick()
    # legacy fees are all stored: the very same bytes are signed and sent
    assert len(h.l1.accepted) == 1 and FakeTx.decode(h.l1.accepted[0]).hash == stored.attempts[0]
    assert len(again.row("a").attempts) == 1
    h.l1.mine()
    await again.monitor.tick()
    assert await again.status("a") is S.CONFIRMED


async def test_restart_reads_the_tip_back_from_the_node_before_repricing() -> None:
    h = Harness.start(stuck_after_s=10.0)
    await h.add("a")
    await h.monitor.tick()
    first = FakeTx.decode(h.l1.accepted[0])
    again = h.restarted()
    h.l1.base_fee = 10 * GWEI
    h.clock.advance(11)
    await again.monitor.tick()  # known, not yet stuck (timers restart with the process)
    h.clock.advance(11)
    await again.monitor.tick()
    second = FakeTx.decode(h.l1.accepted[-1])
    assert second.nonce == first.nonce
    assert second.fees.tip >= first.fees.tip * 120 // 100 and second.fees.price > first.fees.price


async def test_restart_recovers_a_mined_transaction_that_a_reorg_removed_meanwhile() -> None:
    h = Harness.start(confirmations=5)
    await h.add("a")
    await h.monitor.tick()
    h.l1.mine()
    await h.monitor.tick()
    assert h.row("a").status is S.MINED
    h.l1.reorg(1)  # while the manager is down
    again = h.restarted()
    await again.monitor.tick()
    assert again.row("a").status is S.SENT
    assert len(h.l1.mempool) == 1  # broadcast again
    h.l1.mine(5)
    await again.monitor.tick()
    assert await again.status("a") is S.CONFIRMED
    assert h.l1.mined_nonces() == [0]


async def test_an_unreachable_node_interrupts_a_tick_and_nothing_is_lost() -> None:
    h = Harness.start()
    await h.add("a")
    h.l1.down = True
    with pytest.raises(L1Unavailable):
        await h.monitor.tick()
    assert h.row("a").status is S.CREATED
    h.l1.down = False
    await h.monitor.tick()
    h.l1.mine()
    await h.monitor.tick()
    assert await h.status("a") is S.CONFIRMED


async def test_legacy_fees_on_a_chain_without_base_fee() -> None:
    h = Harness.start(FakeL1(legacy_chain=True), fee_kind=FeeKind.LEGACY, stuck_after_s=5.0)
    await h.add("a")
    await h.monitor.tick()
    first = FakeTx.decode(h.l1.accepted[0])
    assert first.fees.kind is FeeKind.LEGACY and first.fees.price == 2 * GWEI  # the node's gas price
    h.l1.base_fee = 3 * GWEI
    h.clock.advance(6)
    await h.monitor.tick()
    second = FakeTx.decode(h.l1.accepted[-1])
    assert second.fees.kind is FeeKind.LEGACY and second.fees.price == 4 * GWEI  # suggested 4 > 2.4


async def test_the_run_loop_survives_errors_and_reports_them() -> None:
    h = Harness.start(poll_interval_s=0.01)
    await h.add("a")
    h.l1.down = True
    task = asyncio.create_task(h.monitor.run())
    await asyncio.sleep(0.05)
    assert h.metric("zkseq_ethtxmanager_l1_errors_total") >= 1
    h.l1.down = False
    for _ in range(100):
        if h.row("a").status is S.SENT:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert h.row("a").status is S.SENT
    assert h.l1.account_nonce(MANAGER) == 0


async def test_only_the_lowest_unmined_nonce_is_repriced_as_stuck() -> None:
    h = Harness.start(stuck_after_s=10.0)
    for tx_id in ("a", "b", "c"):
        await h.add(tx_id)
    await h.monitor.tick()
    h.l1.base_fee = 10 * GWEI  # none fits any more
    h.clock.advance(11)
    await h.monitor.tick()
    assert [len(h.row(x).attempts) for x in ("a", "b", "c")] == [2, 1, 1]
    h.l1.mine()  # "a" now fits; "b" and "c" wait behind it no longer, and are old enough
    await h.monitor.tick()
    assert await h.status("a") is S.CONFIRMED
    assert [len(h.row(x).attempts) for x in ("b", "c")] == [2, 1]
    h.l1.mine()
    await h.monitor.tick()
    assert [len(h.row(x).attempts) for x in ("b", "c")] == [2, 2]
    h.l1.mine()
    await h.monitor.tick()
    assert [await h.status(x) for x in ("a", "b", "c")] == [S.CONFIRMED] * 3
    assert h.l1.mined_nonces() == [0, 1, 2]

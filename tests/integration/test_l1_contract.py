"""The L1 rollup contract (contracts/src) on a real anvil, driven through services/common/l1.

One anvil for the session (from contracts/node_modules: `npm ci` runs first if it is missing); each
test deploys its own contract suite on it, so tests never see each other's batches. Every check of
sequenceBatches, forceBatch, sequenceForceBatches and verifyBatchesTrustedAggregator is made to
fail once and must revert with its fork-6 error name; the accInputHash the contract stores is
compared with zkevm.batch's. Time-dependent checks move anvil's clock (evm_increaseTime).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from hexbytes import HexBytes
from web3 import Web3

from services.common.l1 import errors
from services.common.l1.anvil import Anvil, AnvilError, find_anvil, rpc_call
from services.common.l1.artifacts import CONTRACTS_DIR, VERIFIER, load_artifact
from services.common.l1.client import GlobalExitRootClient, RollupClient
from services.common.l1.deploy import RollupDeployment, RollupParams, deploy_rollup
from services.common.l1.rollup import (
    MAX_BATCHES_PER_SEQUENCE,
    MAX_FORCE_BATCH_BYTE_LENGTH,
    MAX_TRANSACTIONS_BYTE_LENGTH,
    ZERO_HASH,
    BatchData,
    ForceBatchEvent,
    ForcedBatchData,
    SequenceBatchesEvent,
    SequenceForceBatchesEvent,
    UpdateZkEVMVersionEvent,
    VerifyBatchesTrustedAggregatorEvent,
    decode_force_batch,
    decode_sequence_batches,
    encode_force_batch,
    encode_sequence_batches,
    encode_sequence_force_batches,
    encode_update_exit_root,
    encode_verify_batches_trusted_aggregator,
    forced_batch_hash,
    global_exit_root,
)
from services.common.l1.testkeys import ANVIL_TEST_KEYS, anvil_test_address
from services.common.l1.transact import TransactionReverted, send_transaction, simulate
from zkevm.batch import Hash32, acc_input_hash, batch_hash_data
from zkevm.state_keys import Address
from zkevm.transaction import encode_batch_l2_data, sign_transaction

pytestmark = pytest.mark.integration

L2_CHAIN_ID = 1001
FORCE_BATCH_TIMEOUT_S = 30
GENESIS_ROOT = bytes.fromhex("27ae5ba08d7291c96c8cbddcc148bf48a6d68c7974b94356f53754ef6171d757")
STATE_ROOT = bytes.fromhex("1a2b3c4d00000000" * 4)

# TEST-ONLY anvil accounts and their roles
ADMIN, SEQUENCER, AGGREGATOR, BRIDGE, USER, STRANGER = 0, 1, 2, 3, 4, 5


def address(index: int) -> Address:
    return Address(bytes.fromhex(anvil_test_address(index)[2:]))


L2_COINBASE = Address(bytes.fromhex("00000000000000000000000000000000000c0ffe"))


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    """anvil from contracts/node_modules, installed with `npm ci` if it is not there yet."""
    try:
        find_anvil()
    except AnvilError:
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed, so anvil cannot be installed into contracts/node_modules")
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            check=False,
            cwd=CONTRACTS_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            pytest.skip(f"`npm ci` in contracts/ failed, so there is no anvil:\n{result.stderr[-2000:]}")
    node = Anvil.start()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def w3(anvil: Anvil) -> Web3:
    return Web3(Web3.HTTPProvider(anvil.rpc_url))


@dataclass
class Suite:
    """A freshly deployed contract suite and ways to poke it."""

    w3: Web3
    node: Anvil
    deployment: RollupDeployment
    rollup: RollupClient
    manager: GlobalExitRootClient

    def send(self, key_index: int, data: bytes, *, to: str | None = None) -> dict[str, object]:
        receipt = send_transaction(
            self.w3, ANVIL_TEST_KEYS[key_index], to=to or self.deployment.rollup, data=data
        )
        return dict(receipt)

    def sequence(self, batches: list[BatchData], coinbase: Address = L2_COINBASE) -> dict[str, object]:
        return self.send(SEQUENCER, encode_sequence_batches(batches, coinbase))

    def simulate(self, key_index: int, data: bytes, *, to: str | None = None) -> bytes:
        return simulate(self.w3, anvil_test_address(key_index), to or self.deployment.rollup, data)

    def latest_timestamp(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def block_timestamp(self, receipt: dict[str, object]) -> int:
        block_number = receipt["blockNumber"]
        assert isinstance(block_number, int)
        return int(self.w3.eth.get_block(block_number)["timestamp"])

    def increase_time(self, seconds: int) -> None:
        rpc_call(self.node.rpc_url, "evm_increaseTime", [seconds])
        rpc_call(self.node.rpc_url, "evm_mine", [])


def deploy_suite(w3: Web3, anvil: Anvil, *, forced_batches_allowed: bool = True) -> Suite:
    params = RollupParams(
        trusted_sequencer=anvil_test_address(SEQUENCER),
        trusted_aggregator=anvil_test_address(AGGREGATOR),
        admin=anvil_test_address(ADMIN),
        bridge=anvil_test_address(BRIDGE),
        chain_id=L2_CHAIN_ID,
        genesis_root=GENESIS_ROOT,
        force_batch_timeout_s=FORCE_BATCH_TIMEOUT_S,
        forced_batches_allowed=forced_batches_allowed,
        trusted_sequencer_url="http://127.0.0.1:8123",
        network_name="zkseq-test",
    )
    deployment = deploy_rollup(w3, ANVIL_TEST_KEYS[ADMIN], params)
    return Suite(
        w3,
        anvil,
        deployment,
        RollupClient(w3, deployment.rollup),
        GlobalExitRootClient(w3, deployment.global_exit_root_manager),
    )


@pytest.fixture
def suite(w3: Web3, anvil: Anvil) -> Suite:
    return deploy_suite(w3, anvil)


def l2_batch(nonce: int, transfers: int = 1) -> bytes:
    """batchL2Data of `transfers` signed L2 transfers (a realistic small batch: 104 bytes per transfer)."""
    key = bytes.fromhex(ANVIL_TEST_KEYS[USER][2:])
    txs = [
        sign_transaction(
            nonce=nonce + i,
            gas_price=10**9,
            gas_limit=21_000,
            to=bytes(L2_COINBASE),
            value=1,
            chain_id=L2_CHAIN_ID,
            private_key=key,
        )
        for i in range(transfers)
    ]
    return encode_batch_l2_data(txs)


def chain(old: bytes, batches: list[BatchData], coinbase: bytes) -> Hash32:
    """The accInputHash after `batches`, computed by zkevm.batch (the executor's formula)."""
    acc = Hash32(old)
    for batch in batches:
        acc = acc_input_hash(
            acc, batch_hash_data(batch.transactions), batch.global_exit_root, batch.timestamp, coinbase
        )
    return acc


def new_global_exit_root(suite: Suite, mainnet_exit_root: bytes) -> Hash32:
    """The bridge account sets a mainnet exit root; the manager records the resulting GER."""
    suite.send(
        BRIDGE, encode_update_exit_root(mainnet_exit_root), to=suite.deployment.global_exit_root_manager
    )
    return global_exit_root(mainnet_exit_root, bytes(32))


# ---------------------------------------------------------------------------------------------
# deployment


def test_deployment_sets_the_fork6_initial_state(suite: Suite) -> None:
    rollup = suite.rollup
    assert rollup.chain_id() == L2_CHAIN_ID
    assert rollup.fork_id() == 6
    assert rollup.trusted_sequencer() == address(SEQUENCER)
    assert rollup.trusted_aggregator() == address(AGGREGATOR)
    assert rollup.force_batch_timeout() == FORCE_BATCH_TIMEOUT_S
    assert rollup.is_forced_batch_disallowed() is False
    assert rollup.global_exit_root_manager() == suite.deployment.global_exit_root_manager
    assert rollup.batch_num_to_state_root(0) == GENESIS_ROOT
    for getter in (
        rollup.last_batch_sequenced,
        rollup.last_timestamp,
        rollup.last_force_batch,
        rollup.last_force_batch_sequenced,
        rollup.last_verified_batch,
    ):
        assert getter() == 0
    assert rollup.sequenced_batch(0).acc_input_hash == ZERO_HASH
    assert rollup.contract.functions.admin().call() == anvil_test_address(ADMIN)
    assert rollup.contract.functions.trustedSequencerURL().call() == "http://127.0.0.1:8123"
    assert rollup.contract.functions.networkName().call() == "zkseq-test"
    assert rollup.contract.functions.batchFee().call() == 0
    assert rollup.contract.functions.getForcedBatchFee().call() == 0

    manager = suite.manager.contract.functions
    assert manager.rollupAddress().call() == suite.deployment.rollup
    assert manager.bridgeAddress().call() == anvil_test_address(BRIDGE)

    (event,) = rollup.events(0)
    assert isinstance(event, UpdateZkEVMVersionEvent)
    assert (event.num_batch, event.fork_id, event.version) == (0, 6, "zkseq-fork.6")
    assert event.position.block_number <= suite.deployment.block_number

    verifier_code = suite.w3.eth.get_code(Web3.to_checksum_address(suite.deployment.verifier))
    assert bytes(verifier_code) == load_artifact(VERIFIER).deployed_bytecode


# ---------------------------------------------------------------------------------------------
# sequenceBatches


def test_sequence_batches_stores_the_acc_input_hash_chain(suite: Suite) -> None:
    ger = new_global_exit_root(suite, b"\x11" * 32)
    assert suite.manager.global_exit_root_map(ger) > 0
    now = suite.latest_timestamp()
    first = [
        BatchData(l2_batch(0), ZERO_HASH, now - 100),
        BatchData(l2_batch(1, transfers=3), ger, now - 100),  # equal timestamps are allowed
        BatchData(b"", ZERO_HASH, now - 50),  # an empty batch
        BatchData(l2_batch(4), ger, now - 10),
        BatchData(l2_batch(5, transfers=2), ZERO_HASH, now),  # = the latest block's timestamp
    ]
    receipt = suite.sequence(first)

    stored = suite.rollup.sequenced_batch(5)
    expected = chain(ZERO_HASH, first, L2_COINBASE)
    assert stored.acc_input_hash == expected
    assert stored.sequenced_timestamp == suite.block_timestamp(receipt)
    assert stored.previous_last_batch_sequenced == 0
    for inner in range(1, 5):  # one record per sequence, at its last batch only
        assert suite.rollup.sequenced_batch(inner).acc_input_hash == ZERO_HASH
    assert suite.rollup.last_batch_sequenced() == 5
    assert suite.rollup.last_timestamp() == now

    # the synchronizer's view: one event with the last batch, the batches in the calldata
    events = [
        e
        for e in suite.rollup.events(suite.deployment.block_number + 1)
        if isinstance(e, SequenceBatchesEvent)
    ]
    assert [e.num_batch for e in events] == [5]
    tx = suite.w3.eth.get_transaction(HexBytes(events[0].position.transaction_hash))
    assert decode_sequence_batches(bytes(tx["input"])) == (first, L2_COINBASE)

    # the next sequence starts from the stored hash and links back to batch 5
    later = suite.latest_timestamp()
    second = [BatchData(l2_batch(7), ZERO_HASH, later), BatchData(l2_batch(8), ger, later)]
    other_coinbase = address(STRANGER)
    suite.sequence(second, other_coinbase)
    stored = suite.rollup.sequenced_batch(7)
    assert stored.acc_input_hash == chain(expected, second, other_coinbase)
    assert stored.previous_last_batch_sequenced == 5
    assert suite.rollup.last_batch_sequenced() == 7


def test_sequence_batches_accepts_the_limits(suite: Suite) -> None:
    now = suite.latest_timestamp()
    largest = BatchData(b"\x00" * MAX_TRANSACTIONS_BYTE_LENGTH, ZERO_HASH, now)
    suite.simulate(SEQUENCER, encode_sequence_batches([largest], L2_COINBASE))
    most = [BatchData(b"", ZERO_HASH, now)] * MAX_BATCHES_PER_SEQUENCE
    suite.simulate(SEQUENCER, encode_sequence_batches(most, L2_COINBASE))


SequenceCase = Callable[[Suite, int], tuple[int, list[BatchData]]]

SEQUENCE_CHECKS: dict[str, tuple[SequenceCase, type[errors.RollupRevert]]] = {
    "not the trusted sequencer": (
        lambda s, now: (STRANGER, [BatchData(b"", ZERO_HASH, now)]),
        errors.OnlyTrustedSequencer,
    ),
    "zero batches": (lambda s, now: (SEQUENCER, []), errors.SequenceZeroBatches),
    "1001 batches": (
        lambda s, now: (SEQUENCER, [BatchData(b"", ZERO_HASH, now)] * (MAX_BATCHES_PER_SEQUENCE + 1)),
        errors.ExceedMaxVerifyBatches,
    ),
    "timestamp above the L1 block's": (
        lambda s, now: (SEQUENCER, [BatchData(b"", ZERO_HASH, now + 3600)]),
        errors.SequencedTimestampInvalid,
    ),
    "timestamps decreasing within a sequence": (
        lambda s, now: (SEQUENCER, [BatchData(b"", ZERO_HASH, now), BatchData(b"", ZERO_HASH, now - 1)]),
        errors.SequencedTimestampInvalid,
    ),
    "unknown global exit root": (
        lambda s, now: (SEQUENCER, [BatchData(b"", Hash32(b"\x42" * 32), now)]),
        errors.GlobalExitRootNotExist,
    ),
    "batch of 120001 bytes": (
        lambda s, now: (SEQUENCER, [BatchData(b"\x00" * (MAX_TRANSACTIONS_BYTE_LENGTH + 1), ZERO_HASH, now)]),
        errors.TransactionsLengthAboveMax,
    ),
    "forced batch that was never forced": (
        lambda s, now: (SEQUENCER, [BatchData(b"", ZERO_HASH, now, min_forced_timestamp=now)]),
        errors.ForcedDataDoesNotMatch,
    ),
}


@pytest.mark.parametrize("case", list(SEQUENCE_CHECKS))
def test_sequence_batches_check_reverts_with_its_fork6_error(suite: Suite, case: str) -> None:
    build, expected = SEQUENCE_CHECKS[case]
    sender, batches = build(suite, suite.latest_timestamp())
    with pytest.raises(expected):
        suite.simulate(sender, encode_sequence_batches(batches, L2_COINBASE))
    assert suite.rollup.last_batch_sequenced() == 0


def test_timestamp_below_the_last_sequenced_one_reverts(suite: Suite) -> None:
    now = suite.latest_timestamp()
    suite.sequence([BatchData(l2_batch(0), ZERO_HASH, now)])
    with pytest.raises(errors.SequencedTimestampInvalid):
        suite.sequence([BatchData(l2_batch(1), ZERO_HASH, now - 1)])
    suite.sequence([BatchData(l2_batch(1), ZERO_HASH, now)])  # equal to the last one is fine
    assert suite.rollup.last_batch_sequenced() == 2


def test_a_mined_revert_is_read_back_by_name(suite: Suite) -> None:
    """Without the eth_call pre-flight the transaction is mined, fails, and the tracer names the error."""
    future = suite.latest_timestamp() + 3600
    data = encode_sequence_batches([BatchData(b"", ZERO_HASH, future)], L2_COINBASE)
    with pytest.raises(TransactionReverted) as failed:
        send_transaction(
            suite.w3,
            ANVIL_TEST_KEYS[SEQUENCER],
            to=suite.deployment.rollup,
            data=data,
            preflight=False,
            gas=200_000,
        )
    assert failed.value.receipt["status"] == 0
    assert isinstance(failed.value.revert, errors.SequencedTimestampInvalid)


# ---------------------------------------------------------------------------------------------
# forced batches


def force(suite: Suite, transactions: bytes, key_index: int = USER) -> tuple[ForceBatchEvent, int]:
    """forceBatch from an EOA; its event and the block timestamp (the batch's minForcedTimestamp)."""
    receipt = suite.send(key_index, encode_force_batch(transactions, 0))
    block_number = receipt["blockNumber"]
    assert isinstance(block_number, int)
    events = [e for e in suite.rollup.events(block_number, block_number) if isinstance(e, ForceBatchEvent)]
    assert len(events) == 1
    return events[0], suite.block_timestamp(receipt)


def test_force_batch_then_the_trusted_sequencer_includes_it_in_order(suite: Suite) -> None:
    ger = new_global_exit_root(suite, b"\x22" * 32)
    first_data, second_data = l2_batch(0), l2_batch(1, transfers=2)
    first, first_at = force(suite, first_data)
    second, second_at = force(suite, second_data)

    assert (first.force_batch_num, second.force_batch_num) == (1, 2)
    assert first.last_global_exit_root == ger == suite.manager.last_global_exit_root()
    assert first.sequencer == address(USER)
    assert first.transactions == b""  # an EOA forced it: the data is in the calldata
    tx = suite.w3.eth.get_transaction(HexBytes(first.position.transaction_hash))
    assert decode_force_batch(bytes(tx["input"])) == (first_data, 0)
    assert suite.rollup.forced_batch_hash(1) == forced_batch_hash(first_data, ger, first_at)
    assert suite.rollup.last_force_batch() == 2

    now = suite.latest_timestamp()
    batches = [
        BatchData(l2_batch(10), ZERO_HASH, first_at),
        BatchData(first_data, ger, now, min_forced_timestamp=first_at),
        BatchData(second_data, ger, now, min_forced_timestamp=second_at),
        BatchData(l2_batch(11), ZERO_HASH, now),
    ]
    suite.sequence(batches)

    assert suite.rollup.last_force_batch_sequenced() == 2
    assert suite.rollup.last_batch_sequenced() == 4
    assert suite.rollup.forced_batch_hash(1) == ZERO_HASH  # consumed
    assert suite.rollup.forced_batch_hash(2) == ZERO_HASH
    assert suite.rollup.sequenced_batch(4).acc_input_hash == chain(ZERO_HASH, batches, L2_COINBASE)


def test_forced_batches_must_match_and_come_in_order(suite: Suite) -> None:
    first_data, second_data = l2_batch(0), l2_batch(1)
    first, first_at = force(suite, first_data)
    _, second_at = force(suite, second_data)
    ger = first.last_global_exit_root
    now = suite.latest_timestamp()

    def attempt(*batches: BatchData) -> None:
        suite.simulate(SEQUENCER, encode_sequence_batches(list(batches), L2_COINBASE))

    with pytest.raises(errors.ForcedDataDoesNotMatch):  # the second before the first
        attempt(BatchData(second_data, ger, now, second_at))
    with pytest.raises(errors.ForcedDataDoesNotMatch):  # other transactions
        attempt(BatchData(l2_batch(5), ger, now, first_at))
    with pytest.raises(errors.ForcedDataDoesNotMatch):  # another global exit root
        attempt(BatchData(first_data, ZERO_HASH, now, first_at))
    with pytest.raises(errors.ForcedDataDoesNotMatch):  # another forcing time
        attempt(BatchData(first_data, ger, now, first_at - 1))
    with pytest.raises(errors.SequencedTimestampBelowForcedTimestamp):
        attempt(BatchData(first_data, ger, first_at - 1, first_at))
    with pytest.raises(errors.ForcedDataDoesNotMatch):  # a third forced batch that does not exist
        attempt(
            BatchData(first_data, ger, now, first_at),
            BatchData(second_data, ger, now, second_at),
            BatchData(second_data, ger, now, second_at),
        )
    attempt(BatchData(first_data, ger, now, first_at))  # the right one passes


def test_force_batch_limits(w3: Web3, anvil: Anvil) -> None:
    suite = deploy_suite(w3, anvil, forced_batches_allowed=False)
    with pytest.raises(errors.ForceBatchNotAllowed):
        suite.simulate(USER, encode_force_batch(b"", 0))
    with pytest.raises(errors.OnlyAdmin):
        suite.simulate(USER, suite.rollup.contract.encode_abi("activateForceBatches", []))
    suite.send(ADMIN, bytes.fromhex(suite.rollup.contract.encode_abi("activateForceBatches", [])[2:]))
    assert suite.rollup.is_forced_batch_disallowed() is False
    with pytest.raises(errors.ForceBatchesAlreadyActive):
        suite.simulate(ADMIN, bytes.fromhex(suite.rollup.contract.encode_abi("activateForceBatches", [])[2:]))

    suite.simulate(USER, encode_force_batch(b"\x01" * MAX_FORCE_BATCH_BYTE_LENGTH, 0))
    with pytest.raises(errors.TransactionsLengthAboveMax):
        suite.simulate(USER, encode_force_batch(b"\x01" * (MAX_FORCE_BATCH_BYTE_LENGTH + 1), 0))


def test_anyone_sequences_forced_batches_after_the_timeout_only(suite: Suite) -> None:
    sequenced_first = [BatchData(l2_batch(0), ZERO_HASH, suite.latest_timestamp())]
    suite.sequence(sequenced_first)
    data = [l2_batch(1), l2_batch(2)]
    forced = []
    for transactions in data:
        event, forced_at = force(suite, transactions)
        forced.append(ForcedBatchData(transactions, event.last_global_exit_root, forced_at))
    calldata = encode_sequence_force_batches(forced)

    with pytest.raises(errors.ForceBatchTimeoutNotExpired):
        suite.simulate(STRANGER, calldata)
    with pytest.raises(errors.SequenceZeroBatches):
        suite.simulate(STRANGER, encode_sequence_force_batches([]))
    with pytest.raises(errors.ForceBatchesOverflow):
        suite.simulate(STRANGER, encode_sequence_force_batches([*forced, forced[1]]))

    suite.increase_time(FORCE_BATCH_TIMEOUT_S)
    with pytest.raises(errors.ForcedDataDoesNotMatch):
        suite.simulate(STRANGER, encode_sequence_force_batches(forced[::-1]))
    receipt = suite.send(STRANGER, calldata)
    sequenced_at = suite.block_timestamp(receipt)

    # the accInputHash uses the block's timestamp and the caller as sequencer (spec §5.4)
    previous = suite.rollup.sequenced_batch(1).acc_input_hash
    as_sequenced = [BatchData(f.transactions, f.global_exit_root, sequenced_at) for f in forced]
    stored = suite.rollup.sequenced_batch(3)
    assert stored.acc_input_hash == chain(previous, as_sequenced, address(STRANGER))
    assert stored.previous_last_batch_sequenced == 1
    assert suite.rollup.last_batch_sequenced() == 3
    assert suite.rollup.last_force_batch_sequenced() == 2
    assert suite.rollup.last_timestamp() == sequenced_at
    block_number = receipt["blockNumber"]
    assert isinstance(block_number, int)
    events = suite.rollup.events(block_number, block_number)
    assert [(type(e), e.num_batch) for e in events if isinstance(e, SequenceForceBatchesEvent)] == [
        (SequenceForceBatchesEvent, 3)
    ]


# ---------------------------------------------------------------------------------------------
# verifyBatchesTrustedAggregator


def verify(init: int, final: int, state_root: bytes = STATE_ROOT, *, pending_state_num: int = 0) -> bytes:
    return encode_verify_batches_trusted_aggregator(
        init_num_batch=init,
        final_new_batch=final,
        new_local_exit_root=b"\x77" * 32,
        new_state_root=state_root,
        pending_state_num=pending_state_num,
    )


def test_verify_batches_trusted_aggregator_gives_a_verified_state(suite: Suite) -> None:
    now = suite.latest_timestamp()
    suite.sequence([BatchData(l2_batch(i), ZERO_HASH, now) for i in range(3)])
    suite.sequence([BatchData(l2_batch(i), ZERO_HASH, now) for i in range(3, 5)])

    # the proof's public input, laid out as spec §5.4 says
    snark_bytes = suite.rollup.contract.functions.getInputSnarkBytes(
        3, 5, b"\x77" * 32, STATE_ROOT, b"\x01" * 32
    ).call({"from": anvil_test_address(AGGREGATOR)})
    assert bytes(snark_bytes) == (
        bytes(address(AGGREGATOR))
        + STATE_ROOT
        + suite.rollup.sequenced_batch(3).acc_input_hash
        + (3).to_bytes(8, "big")
        + L2_CHAIN_ID.to_bytes(8, "big")
        + (6).to_bytes(8, "big")
        + b"\x01" * 32
        + suite.rollup.sequenced_batch(5).acc_input_hash
        + b"\x77" * 32
        + (5).to_bytes(8, "big")
    )

    receipt = suite.send(AGGREGATOR, verify(0, 3))
    assert suite.rollup.last_verified_batch() == 3
    assert suite.rollup.batch_num_to_state_root(3) == STATE_ROOT
    block_number = receipt["blockNumber"]
    assert isinstance(block_number, int)
    (event,) = [
        e
        for e in suite.rollup.events(block_number, block_number)
        if isinstance(e, VerifyBatchesTrustedAggregatorEvent)
    ]
    assert (event.num_batch, event.state_root, event.aggregator) == (3, STATE_ROOT, address(AGGREGATOR))
    # the new local exit root became the rollup exit root, and so a new global exit root
    assert suite.manager.contract.functions.lastRollupExitRoot().call() == b"\x77" * 32
    assert suite.manager.global_exit_root_map(global_exit_root(bytes(32), b"\x77" * 32)) > 0

    other_root = bytes.fromhex("0a0b0c0d00000000" * 4)
    suite.send(AGGREGATOR, verify(3, 5, other_root))
    assert suite.rollup.last_verified_batch() == 5
    assert suite.rollup.batch_num_to_state_root(5) == other_root


def test_verify_batches_checks(suite: Suite) -> None:
    now = suite.latest_timestamp()
    suite.sequence([BatchData(l2_batch(i), ZERO_HASH, now) for i in range(3)])
    outside_goldilocks = b"\xff" * 8 + bytes(24)
    cases: list[tuple[int, bytes, type[errors.RollupRevert]]] = [
        (STRANGER, verify(0, 3), errors.OnlyTrustedAggregator),
        (AGGREGATOR, verify(0, 3, pending_state_num=1), errors.PendingStateDoesNotExist),
        (AGGREGATOR, verify(1, 3), errors.OldStateRootDoesNotExist),
        (AGGREGATOR, verify(0, 2), errors.NewAccInputHashDoesNotExist),  # not the end of a sequence
        (AGGREGATOR, verify(0, 3, outside_goldilocks), errors.NewStateRootNotInsidePrime),
    ]
    for sender, data, expected in cases:
        with pytest.raises(expected):
            suite.simulate(sender, data)
    suite.send(AGGREGATOR, verify(0, 3))
    with pytest.raises(errors.FinalNumBatchBelowLastVerifiedBatch):
        suite.simulate(AGGREGATOR, verify(0, 3))


# ---------------------------------------------------------------------------------------------
# roles


def test_roles(suite: Suite) -> None:
    functions = suite.rollup.contract

    def call(name: str, *args: object) -> bytes:
        return bytes.fromhex(functions.encode_abi(name, list(args))[2:])

    with pytest.raises(errors.OnlyAdmin):
        suite.simulate(STRANGER, call("setTrustedSequencer", anvil_test_address(STRANGER)))
    with pytest.raises(errors.InvalidRangeForceBatchTimeout):  # it may only shrink
        suite.simulate(ADMIN, call("setForceBatchTimeout", FORCE_BATCH_TIMEOUT_S))
    with pytest.raises(errors.OnlyAllowedContracts):  # only the bridge (or the rollup) sets exit roots
        suite.simulate(
            STRANGER, encode_update_exit_root(b"\x01" * 32), to=suite.deployment.global_exit_root_manager
        )

    suite.send(ADMIN, call("setTrustedSequencer", anvil_test_address(STRANGER)))
    now = suite.latest_timestamp()
    with pytest.raises(errors.OnlyTrustedSequencer):
        suite.simulate(SEQUENCER, encode_sequence_batches([BatchData(b"", ZERO_HASH, now)], L2_COINBASE))
    suite.send(STRANGER, encode_sequence_batches([BatchData(b"", ZERO_HASH, now)], L2_COINBASE))
    assert suite.rollup.last_batch_sequenced() == 1

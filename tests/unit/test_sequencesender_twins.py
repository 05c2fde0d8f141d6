"""In-memory twins for the sequence sender's unit tests, and the checks that they behave like the
real contract where the sender and the watcher depend on it (the real contract is exercised on
anvil in tests/integration/test_sequencesender_l1.py).

    TwinL1         an L1 chain that forks: blocks (hash, parent, timestamp), the rollup's state after
                   every block, its events as raw eth_getLogs entries (decoded by the real
                   `decode_rollup_log`), transactions; the fork-6 rules of sequenceBatches,
                   forceBatch, sequenceForceBatches and verifyBatchesTrustedAggregator that the
                   sender and the watcher meet. Implements `L1Reader` and `L1Sequencing`.
    TwinTxManager  the `TxManager` port: Add / Result / List, and `mine()` to put what was added
                   into one TwinL1 block, in Add order, as the EthTxManager's nonces would
    ChainBuilder   closed batches with real signed transfers (zkevm.transaction) and the
                   accInputHash chain of zkevm.batch, written through the StateDB repositories
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode

from services.common.l1 import errors
from services.common.l1.rollup import (
    FORCE_BATCH_TOPIC,
    MAX_BATCHES_PER_SEQUENCE,
    MAX_FORCE_BATCH_BYTE_LENGTH,
    MAX_TRANSACTIONS_BYTE_LENGTH,
    SEQUENCE_BATCHES_TOPIC,
    SEQUENCE_FORCE_BATCHES_TOPIC,
    VERIFY_BATCHES_TRUSTED_AGGREGATOR_TOPIC,
    ZERO_HASH,
    BatchData,
    CalldataError,
    RollupEvent,
    SequencedBatchData,
    decode_force_batch,
    decode_rollup_log,
    decode_sequence_batches,
    decode_sequence_force_batches,
    encode_force_batch,
    encode_sequence_batches,
    forced_batch_hash,
)
from services.common.statedb import StateDB, open_statedb
from services.common.statedb.models import Batch, ForcedBatch, L2Block, L2Tx, Receipt, StateRoot
from services.sequencesender.models import L1Header, L1Tx, SequencedState
from services.sequencesender.ports import (
    AddOutcome,
    AddResult,
    GasEstimateFailed,
    L1Unavailable,
    TxIdConflict,
    TxManagerUnavailable,
    TxResult,
    TxStatus,
)
from zkevm.batch import Hash32, acc_input_hash, batch_hash_data
from zkevm.hashing import keccak256
from zkevm.state_keys import Address
from zkevm.transaction import sign_transaction

TRUSTED_SEQUENCER = Address(b"\x5e" * 20)
AGGREGATOR = Address(b"\xa9" * 20)
L2_COINBASE = Address(bytes.fromhex("00000000000000000000000000000000000c0ffe"))
ROLLUP = b"\x70" * 20
START_TIMESTAMP = 1_700_000_000
L2_CHAIN_ID = 1001
#: a TEST-ONLY L2 key (anvil's account 4)
L2_KEY = bytes.fromhex("47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a")


def _revert(cls: type[errors.CustomError]) -> errors.CustomError:
    return cls(keccak256(cls.signature.encode())[:4])


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


# ---------------------------------------------------------------------------------------------
# TwinL1


@dataclass
class RollupState:
    last_batch_sequenced: int = 0
    last_timestamp: int = 0
    sequenced: dict[int, SequencedBatchData] = field(default_factory=dict)
    forced: dict[int, Hash32] = field(default_factory=dict)
    last_force_batch: int = 0
    last_force_batch_sequenced: int = 0
    last_verified_batch: int = 0

    def acc(self, number: int) -> Hash32:
        stored = self.sequenced.get(number)
        return ZERO_HASH if stored is None else stored.acc_input_hash


@dataclass
class TwinBlock:
    header: L1Header
    state: RollupState
    logs: list[dict[str, Any]] = field(default_factory=list)
    txs: dict[bytes, L1Tx] = field(default_factory=dict)
    #: tx hash → the revert, for the calls that failed
    reverted: dict[bytes, errors.RollupRevert] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    sender: Address
    data: bytes
    #: sent through a contract: the transaction's input is not the rollup call (undecodable)
    via_contract: bool = False


class TwinL1:
    """See the module docstring. `mine(calls)` adds a block; `fork(keep)` drops the blocks above
    `keep` so that the next `mine` builds another branch (other hashes)."""

    def __init__(self, *, block_time_s: int = 12) -> None:
        self.block_time_s = block_time_s
        genesis = L1Header(0, Hash32(keccak256(b"genesis")), ZERO_HASH, START_TIMESTAMP)
        self.blocks: list[TwinBlock] = [TwinBlock(genesis, RollupState())]
        self.global_exit_roots: set[bytes] = set()
        self._branch = 0
        self._tx_counter = 0
        #: the node refuses estimates of calldata above this (as geth refuses such transactions)
        self.max_tx_bytes = 131_072
        #: a hook: an exception to raise for the calldata being estimated, or None
        self.estimate_hook: Callable[[bytes], Exception | None] | None = None
        self.estimates: list[bytes] = []
        #: calls of header(): tests count them
        self.header_reads = 0
        #: a hook run before every read, to move L1 under a reader (races)
        self.before_read: Callable[[str], None] | None = None

    # -- building the chain -------------------------------------------------------------------------

    @property
    def head(self) -> TwinBlock:
        return self.blocks[-1]

    def mine(self, calls: Sequence[Call] = (), *, timestamp: int | None = None) -> TwinBlock:
        parent = self.head
        number = parent.header.number + 1
        ts = timestamp if timestamp is not None else parent.header.timestamp + self.block_time_s
        block_hash = Hash32(keccak256(parent.header.hash + _word(number) + _word(self._branch)))
        header = L1Header(number, block_hash, parent.header.hash, ts)
        block = TwinBlock(header, copy.deepcopy(parent.state))
        for call in calls:
            self._tx_counter += 1
            tx_hash = Hash32(keccak256(b"tx" + _word(self._tx_counter) + _word(self._branch)))
            tx_input = (b"\xca\x11" + call.data) if call.via_contract else call.data
            block.txs[tx_hash] = L1Tx(tx_hash, call.sender, tx_input)
            state = copy.deepcopy(block.state)
            logs: list[tuple[list[bytes], bytes]] = []
            try:
                self._execute(state, call, ts, logs)
            except errors.RollupRevert as revert:
                block.reverted[tx_hash] = revert
                continue
            block.state = state
            for topics, data in logs:
                block.logs.append(
                    {
                        "address": "0x" + ROLLUP.hex(),
                        "topics": topics,
                        "data": data,
                        "blockNumber": number,
                        "blockHash": block_hash,
                        "transactionHash": tx_hash,
                        "logIndex": len(block.logs),
                    }
                )
        self.blocks.append(block)
        return block

    def mine_empty(self, count: int) -> None:
        for _ in range(count):
            self.mine()

    def fork(self, keep: int) -> None:
        """Drop every block above `keep`; the next blocks form another branch."""
        del self.blocks[keep + 1 :]
        self._branch += 1

    def add_global_exit_root(self, ger: bytes) -> None:
        self.global_exit_roots.add(ger)

    def _execute(
        self, state: RollupState, call: Call, ts: int, logs: list[tuple[list[bytes], bytes]]
    ) -> None:
        selector = call.data[:4]
        try:
            if selector == encode_sequence_batches([], L2_COINBASE)[:4]:
                batches, coinbase = decode_sequence_batches(call.data)
                self._sequence_batches(state, call.sender, batches, coinbase, ts)
                logs.append(([SEQUENCE_BATCHES_TOPIC, _word(state.last_batch_sequenced)], b""))
            elif selector == encode_force_batch(b"")[:4]:
                transactions, _ = decode_force_batch(call.data)
                if len(transactions) > MAX_FORCE_BATCH_BYTE_LENGTH:
                    raise _revert(errors.TransactionsLengthAboveMax)
                state.last_force_batch += 1
                state.forced[state.last_force_batch] = forced_batch_hash(transactions, ZERO_HASH, ts)
                emitted = transactions if call.via_contract else b""
                data = abi_encode(["bytes32", "address", "bytes"], [ZERO_HASH, call.sender, emitted])
                logs.append(([FORCE_BATCH_TOPIC, _word(state.last_force_batch)], data))
            elif selector == VERIFY_SELECTOR:
                final, root = int.from_bytes(call.data[4:36], "big"), call.data[36:68]
                if call.sender != AGGREGATOR:
                    raise _revert(errors.OnlyTrustedAggregator)
                if final <= state.last_verified_batch or final not in state.sequenced:
                    raise _revert(errors.FinalNumBatchBelowLastVerifiedBatch)
                state.last_verified_batch = final
                topics = [VERIFY_BATCHES_TRUSTED_AGGREGATOR_TOPIC, _word(final), bytes(12) + call.sender]
                logs.append((topics, abi_encode(["bytes32"], [root])))
            else:
                forced = decode_sequence_force_batches(call.data)
                previous = state.last_batch_sequenced
                acc = state.acc(previous)
                for batch in forced:
                    state.last_force_batch_sequenced += 1
                    acc = acc_input_hash(
                        acc, batch_hash_data(batch.transactions), batch.global_exit_root, ts, call.sender
                    )
                state.last_batch_sequenced += len(forced)
                state.last_timestamp = ts
                state.sequenced[state.last_batch_sequenced] = SequencedBatchData(acc, ts, previous)
                logs.append(([SEQUENCE_FORCE_BATCHES_TOPIC, _word(state.last_batch_sequenced)], b""))
        except CalldataError as exc:
            raise errors.UnknownRevert(b"", str(exc)) from exc

    def _sequence_batches(
        self, state: RollupState, sender: Address, batches: Sequence[BatchData], coinbase: Address, ts: int
    ) -> None:
        """sequenceBatches' checks, in the contract's order."""
        if sender != TRUSTED_SEQUENCER:
            raise _revert(errors.OnlyTrustedSequencer)
        if not batches:
            raise _revert(errors.SequenceZeroBatches)
        if len(batches) > MAX_BATCHES_PER_SEQUENCE:
            raise _revert(errors.ExceedMaxVerifyBatches)
        previous = state.last_batch_sequenced
        current_ts = state.last_timestamp
        forced_seq = state.last_force_batch_sequenced
        acc = state.acc(previous)
        for batch in batches:
            if batch.is_forced:
                forced_seq += 1
                expected = forced_batch_hash(
                    batch.transactions, batch.global_exit_root, batch.min_forced_timestamp
                )
                if state.forced.get(forced_seq) != expected:
                    raise _revert(errors.ForcedDataDoesNotMatch)
                del state.forced[forced_seq]
                if batch.timestamp < batch.min_forced_timestamp:
                    raise _revert(errors.SequencedTimestampBelowForcedTimestamp)
            else:
                if (
                    batch.global_exit_root != ZERO_HASH
                    and batch.global_exit_root not in self.global_exit_roots
                ):
                    raise _revert(errors.GlobalExitRootNotExist)
                if len(batch.transactions) > MAX_TRANSACTIONS_BYTE_LENGTH:
                    raise _revert(errors.TransactionsLengthAboveMax)
            if batch.timestamp < current_ts or batch.timestamp > ts:
                raise _revert(errors.SequencedTimestampInvalid)
            acc = acc_input_hash(
                acc, batch_hash_data(batch.transactions), batch.global_exit_root, batch.timestamp, coinbase
            )
            current_ts = batch.timestamp
        if forced_seq > state.last_force_batch:
            raise _revert(errors.ForceBatchesOverflow)
        state.last_batch_sequenced = previous + len(batches)
        state.sequenced[state.last_batch_sequenced] = SequencedBatchData(acc, ts, previous)
        state.last_timestamp = current_ts
        state.last_force_batch_sequenced = forced_seq

    # -- L1Reader -----------------------------------------------------------------------------------

    def _read(self, what: str) -> None:
        if self.before_read is not None:
            self.before_read(what)

    async def head_number(self) -> int:
        self._read("head_number")
        return self.head.header.number

    async def header(self, number: int) -> L1Header | None:
        self._read("header")
        self.header_reads += 1
        return self.blocks[number].header if 0 <= number < len(self.blocks) else None

    async def rollup_events(self, from_block: int, to_block: int) -> list[RollupEvent]:
        self._read("rollup_events")
        events = []
        for block in self.blocks[from_block : to_block + 1]:
            for log in block.logs:
                event = decode_rollup_log(log)
                assert event is not None
                events.append(event)
        return events

    async def transaction(self, tx_hash: Hash32) -> L1Tx:
        self._read("transaction")
        for block in self.blocks:
            if tx_hash in block.txs:
                return block.txs[tx_hash]
        raise L1Unavailable(f"transaction 0x{tx_hash.hex()} not found")

    async def sequenced_batch(self, num_batch: int, block_number: int) -> SequencedBatchData:
        self._read("sequenced_batch")
        stored = self.blocks[block_number].state.sequenced.get(num_batch)
        return stored if stored is not None else SequencedBatchData(ZERO_HASH, 0, 0)

    # -- L1Sequencing -------------------------------------------------------------------------------

    async def latest_header(self) -> L1Header:
        return self.head.header

    async def sequenced_state(self) -> SequencedState:
        state = self.head.state
        return SequencedState(
            block_number=self.head.header.number,
            last_batch_sequenced=state.last_batch_sequenced,
            acc_input_hash=state.acc(state.last_batch_sequenced),
            last_timestamp=state.last_timestamp,
            last_force_batch_sequenced=state.last_force_batch_sequenced,
        )

    async def estimate_gas(self, data: bytes) -> int:
        """Runs the call on the head state in a block one block time later (anvil's pending block)."""
        self.estimates.append(data)
        if self.estimate_hook is not None and (error := self.estimate_hook(data)) is not None:
            raise error
        if len(data) > self.max_tx_bytes:
            raise GasEstimateFailed("oversized data")
        state = copy.deepcopy(self.head.state)
        self._execute(
            state, Call(TRUSTED_SEQUENCER, data), self.head.header.timestamp + self.block_time_s, []
        )
        return 30_000 + 16 * len(data)


VERIFY_SELECTOR = b"\x2b\x00\x06\xfa"


def verify_call(final: int, state_root: bytes) -> Call:
    """A twin verifyBatchesTrustedAggregator (only the final batch and root matter to the twin)."""
    return Call(AGGREGATOR, VERIFY_SELECTOR + _word(final) + state_root)


# ---------------------------------------------------------------------------------------------
# TwinTxManager


@dataclass
class _Stored:
    id: str
    to: bytes
    data: bytes
    gas_limit: int | None
    status: TxStatus = TxStatus.CREATED
    block_number: int = 0
    tx_hash: bytes = b""
    revert_reason: str = ""


class TwinTxManager:
    def __init__(self, l1: TwinL1) -> None:
        self.l1 = l1
        self.stored: dict[str, _Stored] = {}
        self.add_calls: list[str] = []
        self.unavailable = False
        #: store the next Add, then answer as if the connection dropped
        self.lose_next_answer = False

    async def add(self, *, id: str, to: bytes, data: bytes, gas_limit: int | None) -> AddResult:
        self.add_calls.append(id)
        if self.unavailable:
            raise TxManagerUnavailable("down")
        if id in self.stored:
            known = self.stored[id]
            if (known.to, known.data) != (to, data):
                raise TxIdConflict(f"{id} is stored with other content")
            return AddResult(AddOutcome.ALREADY_ADDED, known.gas_limit or 0)
        self.stored[id] = _Stored(id, to, data, gas_limit)
        if self.lose_next_answer:
            self.lose_next_answer = False
            raise TxManagerUnavailable("the answer was lost")
        return AddResult(AddOutcome.ADDED, gas_limit or 0)

    def _result(self, tx: _Stored) -> TxResult:
        return TxResult(tx.id, tx.status, tx.tx_hash, tx.block_number, revert_reason=tx.revert_reason)

    async def result(self, id: str) -> TxResult | None:
        if self.unavailable:
            raise TxManagerUnavailable("down")
        tx = self.stored.get(id)
        return None if tx is None else self._result(tx)

    def pending(self) -> list[_Stored]:
        return [tx for tx in self.stored.values() if tx.status in (TxStatus.CREATED, TxStatus.SENT)]

    def mine(self, *, confirm: bool = True, limit: int | None = None, skip: Sequence[str] = ()) -> TwinBlock:
        """Put the pending transactions (in Add order, the first `limit`, except `skip`) into one block."""
        chosen = [tx for tx in self.pending() if tx.id not in skip][:limit]
        block = self.l1.mine([Call(TRUSTED_SEQUENCER, tx.data) for tx in chosen])
        for tx, tx_hash in zip(chosen, block.txs, strict=True):
            tx.tx_hash = tx_hash
            tx.block_number = block.header.number
            if tx_hash in block.reverted:
                tx.status = TxStatus.FAILED
                tx.revert_reason = block.reverted[tx_hash].name
            else:
                tx.status = TxStatus.CONFIRMED if confirm else TxStatus.MINED
        return block

    def confirm_all(self) -> None:
        for tx in self.stored.values():
            if tx.status is TxStatus.MINED:
                tx.status = TxStatus.CONFIRMED

    async def list(self, statuses: Sequence[TxStatus]) -> list[TxResult]:
        if self.unavailable:
            raise TxManagerUnavailable("down")
        return [self._result(tx) for tx in self.stored.values() if tx.status in statuses]


# ---------------------------------------------------------------------------------------------
# ChainBuilder


def state_root(number: int) -> StateRoot:
    """A made-up state root whose 64-bit limbs are Goldilocks elements (the contract checks)."""
    return StateRoot(bytes(24) + (number + 1).to_bytes(8, "big"))


class ChainBuilder:
    """Closed batches with real signed transfers, written through the StateDB repositories."""

    def __init__(
        self, statedb: StateDB, *, coinbase: Address = L2_COINBASE, timestamp: int = START_TIMESTAMP
    ):
        self.statedb = statedb
        self.coinbase = coinbase
        self.acc = ZERO_HASH
        self.nonce = 0
        self.number = 0
        self.timestamp = timestamp
        genesis_block = L2Block(
            number=0,
            hash=Hash32(keccak256(b"l2 genesis")),
            parent_hash=ZERO_HASH,
            batch_number=0,
            state_root=state_root(0),
            timestamp=timestamp,
            coinbase=coinbase,
            tx_hash=None,
            gas_used=0,
            gas_limit=30_000_000,
        )
        statedb.batches.add_genesis(
            Batch(0, b"", ZERO_HASH, timestamp, coinbase, state_root(0), ZERO_HASH, ZERO_HASH, True),
            genesis_block,
        )
        self.l2_block = genesis_block

    def close_batch(
        self,
        transfers: int = 1,
        *,
        timestamp: int | None = None,
        global_exit_root: Hash32 = ZERO_HASH,
        acc_input_hash_override: Hash32 | None = None,
        data_bytes: int = 0,
    ) -> Batch:
        """The next batch with `transfers` signed transfers (each carrying `data_bytes` of calldata)."""
        self.number += 1
        self.timestamp = self.timestamp if timestamp is None else timestamp
        blocks: list[tuple[L2Block, L2Tx, Receipt, list[Any]]] = []
        records = []
        for index in range(transfers):
            tx = sign_transaction(
                nonce=self.nonce,
                gas_price=10**9,
                gas_limit=21_000 + 16 * data_bytes,
                to=bytes(self.coinbase),
                value=1,
                data=b"\x01" * data_bytes,
                chain_id=L2_CHAIN_ID,
                private_key=L2_KEY,
            )
            self.nonce += 1
            encoded = tx.encode()
            records.append(encoded)
            tx_hash = Hash32(tx.tx_hash())
            block = L2Block(
                number=self.l2_block.number + 1,
                hash=Hash32(keccak256(b"l2 block" + _word(self.l2_block.number + 1))),
                parent_hash=self.l2_block.hash,
                batch_number=self.number,
                state_root=state_root(self.l2_block.number + 1),
                timestamp=self.timestamp,
                coinbase=self.coinbase,
                tx_hash=tx_hash,
                gas_used=21_000,
                gas_limit=30_000_000,
            )
            l2tx = L2Tx(
                hash=tx_hash,
                from_address=tx.sender(),
                to_address=Address(bytes(self.coinbase)),
                nonce=tx.nonce,
                gas_price=tx.gas_price,
                gas_limit=tx.gas_limit,
                value=tx.value,
                data=tx.data,
                effective_percentage=tx.effective_percentage,
                effective_gas_price=tx.effective_gas_price(),
                encoded=encoded,
                l2_block_number=block.number,
                batch_number=self.number,
                index_in_batch=index,
            )
            receipt = Receipt(tx_hash, 1, 21_000, 21_000, None, tx.effective_gas_price(), bytes(256))
            blocks.append((block, l2tx, receipt, []))
            self.l2_block = block
        data = b"".join(records)
        self.acc = acc_input_hash(
            self.acc, batch_hash_data(data), global_exit_root, self.timestamp, self.coinbase
        )
        batch = Batch(
            number=self.number,
            batch_l2_data=data,
            global_exit_root=global_exit_root,
            timestamp=self.timestamp,
            coinbase=self.coinbase,
            state_root=state_root(self.l2_block.number),
            local_exit_root=ZERO_HASH,
            acc_input_hash=acc_input_hash_override or self.acc,
            closed=True,
        )
        self.statedb.batches.add_closed_batch(batch, blocks)
        return batch

    def close_forced_batch(self, forced: ForcedBatch, *, timestamp: int | None = None) -> Batch:
        """A trusted batch carrying forced batch `forced` (its transactions not executed here)."""
        self.number += 1
        self.timestamp = max(self.timestamp, forced.timestamp) if timestamp is None else timestamp
        self.acc = acc_input_hash(
            self.acc,
            batch_hash_data(forced.batch_l2_data),
            forced.global_exit_root,
            self.timestamp,
            self.coinbase,
        )
        batch = Batch(
            number=self.number,
            batch_l2_data=forced.batch_l2_data,
            global_exit_root=forced.global_exit_root,
            timestamp=self.timestamp,
            coinbase=self.coinbase,
            state_root=state_root(self.l2_block.number),
            local_exit_root=ZERO_HASH,
            acc_input_hash=self.acc,
            closed=True,
            forced_batch_number=forced.forced_batch_number,
        )
        self.statedb.batches.add_closed_batch(batch, [])
        return batch


@pytest.fixture
def statedb() -> Iterator[StateDB]:
    db = open_statedb("sqlite:///:memory:")
    yield db
    db.close()


# ---------------------------------------------------------------------------------------------
# the twins against the real codecs


async def test_twin_rollup_chains_the_acc_input_hash_like_zkevm_batch(statedb: StateDB) -> None:
    l1 = TwinL1()
    chain = ChainBuilder(statedb, timestamp=START_TIMESTAMP)
    batches = [chain.close_batch(2), chain.close_batch(1), chain.close_batch(0)]
    data = encode_sequence_batches(
        [BatchData(b.batch_l2_data, b.global_exit_root, b.timestamp) for b in batches], L2_COINBASE
    )
    block = l1.mine([Call(TRUSTED_SEQUENCER, data)])
    assert not block.reverted
    assert (await l1.sequenced_state()).acc_input_hash == batches[-1].acc_input_hash
    (event,) = await l1.rollup_events(0, block.header.number)
    assert event.position.block_hash == block.header.hash


async def test_twin_rollup_rejects_what_the_contract_rejects() -> None:
    l1 = TwinL1()
    ahead = BatchData(b"", ZERO_HASH, l1.head.header.timestamp + 10 * l1.block_time_s)
    with pytest.raises(errors.SequencedTimestampInvalid):
        await l1.estimate_gas(encode_sequence_batches([ahead], L2_COINBASE))
    unknown_ger = BatchData(b"", Hash32(b"\x01" * 32), l1.head.header.timestamp)
    with pytest.raises(errors.GlobalExitRootNotExist):
        await l1.estimate_gas(encode_sequence_batches([unknown_ger], L2_COINBASE))
    block = l1.mine([Call(Address(b"\x01" * 20), encode_sequence_batches([ahead], L2_COINBASE))])
    assert isinstance(next(iter(block.reverted.values())), errors.OnlyTrustedSequencer)


def test_twin_blocks_chain_by_parent_hash_and_forks_change_hashes() -> None:
    l1 = TwinL1()
    l1.mine_empty(3)
    before = [b.header.hash for b in l1.blocks]
    assert all(l1.blocks[i].header.parent_hash == before[i - 1] for i in range(1, 4))
    l1.fork(1)
    l1.mine_empty(2)
    assert l1.blocks[1].header.hash == before[1]
    assert l1.blocks[2].header.hash != before[2]
    assert l1.blocks[2].header.parent_hash == before[1]

"""The fork-6 batch processor: batchL2Data in, new state root and receipts out (spec §5–§7).

    old root ──GER timestamp (§6.2)──▶ batchSR ──tx 1──▶ S1 ──tx 2──▶ S2 … ──▶ new state root
                                                 │
        per transaction (one L2 block each):     ├─ intrinsic checks in ROM order (§6.3); a failing
                                                 │  transaction is skipped without trace
                                                 ├─ nonce + 1, upfront gasLimit·egp, EVM (vm.py)
                                                 ├─ refund ≤ gasUsed/2 to the sender, fee to the
                                                 │  sequencer (§6.5)
                                                 ├─ write set of the transaction ─▶ one tree update
                                                 └─ system contract: slot 0 = n, then
                                                    slot keccak(n‖1) = root so far (§6.6) ─▶ S_n

A batch that does not parse runs nothing (ROM: §6.10 quirk 1). A transaction that would take the
batch past its ZK-counter budget ends the batch at batchSR, and is reported out of counters
(quirk 3). The accInputHash (§5.4) depends only on the inputs. The local exit root is slot 1 of the
L2 global-exit-root manager at the end (§6.8).

State is reached through a `StateTree` (state.py): a node store in this process, or the HashDB
service. Reads are cached for the whole batch; each transaction's changes are applied in one call.
`process_batch` is synchronous and pure apart from the tree's node store.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from eth._utils.address import generate_contract_address
from eth.abc import ComputationAPI
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.exceptions import (
    ContractCreationCollision,
    FullStack,
    InsufficientStack,
    InvalidInstruction,
    InvalidJumpDestination,
    OutOfGas,
    Revert,
    WriteProtection,
)
from eth.vm.execution_context import ExecutionContext
from eth.vm.message import Message
from eth_typing import Address, BlockNumber, Hash32

from services.executor import counters
from services.executor.errors import BatchRejected, ExecutorError, RomError, StateUnavailable
from services.executor.roots import RootChain
from services.executor.state import (
    BatchState,
    LocalStateTree,
    StateTree,
    account_keys,
    balance_key,
    nonce_key,
    storage_key,
)
from services.executor.vm import (
    ADDRESS_GLOBAL_EXIT_ROOT_MANAGER_L2,
    ADDRESS_SYSTEM,
    BATCH_DIFFICULTY,
    LAST_TX_STORAGE_POS,
    LOCAL_EXIT_ROOT_STORAGE_POS,
    TX_GAS_LIMIT,
    CodeStartsWithEF,
    Fork6Computation,
    Fork6State,
    Fork6TransactionContext,
    MaxCodeSizeExceeded,
    global_exit_root_slot,
    state_root_slot,
)
from zkevm.batch import acc_input_hash, batch_hash_data
from zkevm.errors import DecodeError, EncodingError, InvalidSignatureError
from zkevm.field import H4, MAX_UINT256, bytes_to_h4, h4_to_bytes, h4_to_int, is_field_h4
from zkevm.hashing import keccak256
from zkevm.nodestore import NodeStore
from zkevm.transaction import SECP256K1_HALF_N, SECP256K1_N, L2Transaction, decode_batch_l2_data

#: the only fork this executor implements
FORK_ID: Final = 6
#: blocks after a batch's whose state-root leaves' paths are fetched with its own (`StateTree.warm`)
ROOT_KEYS_AHEAD: Final = 256
#: state-root keys remembered: those ahead and a whole batch's
ROOT_KEYS_CACHED: Final = 1024
#: zkevm-prover `MAX_BATCH_L2_DATA_SIZE`; the L1 contract's `_MAX_TRANSACTIONS_BYTE_LENGTH` (§5.4)
MAX_BATCH_L2_DATA_SIZE: Final = 120_000
#: intrinsic gas (§6.3 step 6): no EIP-3860 init-code charge, no access lists in fork 6
GAS_TX: Final = 21_000
GAS_TX_CREATE: Final = 53_000
GAS_TX_DATA_ZERO: Final = 4
GAS_TX_DATA_NONZERO: Final = 16

_ZERO32: Final = bytes(32)


# -- inputs and outputs -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """One ProcessBatch call, in domain types (roots and hashes as 32 bytes, addresses 20)."""

    old_state_root: bytes
    batch_l2_data: bytes
    global_exit_root: bytes
    timestamp: int
    coinbase: bytes
    chain_id: int
    old_acc_input_hash: bytes = _ZERO32
    old_batch_num: int = 0
    fork_id: int = FORK_ID
    #: ignore the ZK-counter budget (eth_call / eth_estimateGas)
    no_counters: bool = False
    #: sender of unsigned transactions (eth_call): the signature is not checked
    from_address: bytes | None = None
    #: read a final record one byte short as effective percentage 0xff (spec §6.10 quirk 2, the JS
    #: reference's behaviour; the ROM rejects such a batch). Off for anything that must match L1.
    allow_missing_last_ep: bool = False


@dataclass(frozen=True, slots=True)
class Log:
    address: bytes
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True, slots=True)
class TxResult:
    """The outcome of one decoded transaction (a `ProcessTransactionResponse`)."""

    tx_hash: bytes
    #: the standard signed encoding RLP([nonce, gasPrice, gas, to, value, data, V, r, s])
    rlp_tx: bytes
    error: RomError
    #: the recovered (or given) sender; None when the signature is invalid
    sender: bytes | None
    gas_used: int = 0
    gas_left: int = 0
    gas_refunded: int = 0
    return_value: bytes = b""
    #: the new contract's address, for a deployment
    create_address: bytes | None = None
    #: state root after the transaction (unchanged for a skipped one)
    state_root: bytes = _ZERO32
    logs: tuple[Log, ...] = ()
    effective_gas_price: int = 0
    effective_percentage: int = 0
    has_gasprice_opcode: bool = False
    has_balance_opcode: bool = False
    #: what was applied to the tree for this transaction: its changed leaves, then the system
    #: contract's two slots (§6.6)
    write_set: tuple[tuple[H4, int], ...] = ()
    counters: counters.Counters = field(default_factory=counters.Counters)

    @property
    def succeeded(self) -> bool:
        return self.error is RomError.NO_ERROR

    @property
    def included(self) -> bool:
        """Part of the batch's state (executed, successfully or not)."""
        return self.error.changes_state_root


@dataclass(frozen=True, slots=True)
class AccountTouch:
    """Nonce and balance after the batch of an account it wrote (`read_write_addresses`)."""

    nonce: int
    balance: int


@dataclass(frozen=True, slots=True)
class BatchResult:
    new_state_root: bytes
    new_acc_input_hash: bytes
    new_local_exit_root: bytes
    new_batch_num: int
    txs: tuple[TxResult, ...]
    counters: counters.Counters
    cumulative_gas_used: int
    #: root right after the GER write (where an out-of-counters batch ends)
    batch_state_root: bytes
    touched_accounts: dict[bytes, AccountTouch] = field(default_factory=dict)
    #: tree reads that went to the backend (round trips, keys)
    backend_reads: int = 0
    backend_read_keys: int = 0

    @property
    def out_of_counters(self) -> bool:
        return any(tx.error.is_out_of_counters for tx in self.txs)


# -- validation --------------------------------------------------------------------------------


def _validate(request: BatchRequest) -> H4:
    """Reject what the prover's executor service rejects, with its error codes."""
    if request.fork_id != FORK_ID:
        raise BatchRejected(
            ExecutorError.UNSUPPORTED_FORK_ID, f"fork id {request.fork_id} is not supported (only {FORK_ID})"
        )
    if len(request.old_state_root) != 32:
        raise BatchRejected(
            ExecutorError.INVALID_OLD_STATE_ROOT,
            f"old_state_root must be 32 bytes, got {len(request.old_state_root)}",
        )
    root = bytes_to_h4(request.old_state_root)
    if not is_field_h4(root):
        raise BatchRejected(
            ExecutorError.INVALID_OLD_STATE_ROOT, "old_state_root has a limb that is not a field element"
        )
    if len(request.old_acc_input_hash) != 32:
        raise BatchRejected(ExecutorError.INVALID_OLD_ACC_INPUT_HASH, "old_acc_input_hash must be 32 bytes")
    if request.chain_id <= 0 or request.chain_id >= 1 << 64:
        raise BatchRejected(
            ExecutorError.INVALID_CHAIN_ID, f"chain_id {request.chain_id} is not a uint64 > 0"
        )
    if len(request.batch_l2_data) > MAX_BATCH_L2_DATA_SIZE:
        raise BatchRejected(
            ExecutorError.INVALID_BATCH_L2_DATA,
            f"batch_l2_data is {len(request.batch_l2_data)} bytes, the limit is {MAX_BATCH_L2_DATA_SIZE}",
        )
    if len(request.global_exit_root) != 32:
        raise BatchRejected(ExecutorError.INVALID_GLOBAL_EXIT_ROOT, "global_exit_root must be 32 bytes")
    if len(request.coinbase) != 20:
        raise BatchRejected(ExecutorError.INVALID_COINBASE, "coinbase must be a 20-byte address")
    if not 0 <= request.timestamp < 1 << 64:
        raise BatchRejected(ExecutorError.INVALID_GLOBAL_EXIT_ROOT, "timestamp must be a uint64")
    if request.from_address is not None and len(request.from_address) != 20:
        raise BatchRejected(ExecutorError.INVALID_FROM, "from must be a 20-byte address")
    return root


def intrinsic_gas(tx: L2Transaction) -> int:
    zeros = tx.data.count(0)
    base = GAS_TX_CREATE if tx.to is None else GAS_TX
    return base + GAS_TX_DATA_ZERO * zeros + GAS_TX_DATA_NONZERO * (len(tx.data) - zeros)


def _rom_error(exc: BaseException | None) -> RomError:
    if exc is None:
        return RomError.NO_ERROR
    for cls, error in _VM_ERRORS:
        if isinstance(exc, cls):
            return error
    return RomError.OUT_OF_GAS  # any other exceptional halt consumes all gas, like OOG


_VM_ERRORS: Final[tuple[tuple[type[BaseException], RomError], ...]] = (
    (Revert, RomError.EXECUTION_REVERTED),  # also an unsupported precompile
    (MaxCodeSizeExceeded, RomError.MAX_CODE_SIZE_EXCEEDED),
    (CodeStartsWithEF, RomError.INVALID_BYTECODE_STARTS_EF),
    (ContractCreationCollision, RomError.CONTRACT_ADDRESS_COLLISION),
    (OutOfGas, RomError.OUT_OF_GAS),
    (InsufficientStack, RomError.STACK_UNDERFLOW),
    (FullStack, RomError.STACK_OVERFLOW),
    (InvalidJumpDestination, RomError.INVALID_JUMP),
    (InvalidInstruction, RomError.INVALID_OPCODE),
    (WriteProtection, RomError.INVALID_STATIC),
)


# -- the processor -----------------------------------------------------------------------------


class _Run:
    """One batch being processed: its root chain, caches, counters and drafts of its receipts."""

    def __init__(
        self,
        request: BatchRequest,
        chain: RootChain,
        batch: BatchState,
        budget: counters.Counters,
    ) -> None:
        self.request = request
        self.budget = budget
        self.chain = chain
        self.batch = batch
        self.coinbase = Address(request.coinbase)
        self.state = Fork6State(batch, self.context(1), Hash32(h4_to_bytes(chain.root)))  # type: ignore[arg-type]
        self.db = self.state.account_db
        self.counters = counters.Counters()
        self.touched: set[bytes] = set()

    def context(self, block_number: int) -> ExecutionContext:
        r = self.request
        return ExecutionContext(
            coinbase=Address(r.coinbase),
            timestamp=r.timestamp,
            block_number=BlockNumber(block_number),
            difficulty=BATCH_DIFFICULTY,
            mix_hash=Hash32(_ZERO32),
            gas_limit=TX_GAS_LIMIT,
            prev_hashes=(),
            chain_id=r.chain_id,
        )

    def write(self, writes: Sequence[tuple[H4, int]], tx: int) -> H4:
        """Apply `writes` of transaction `tx` (0: the batch prologue) to the tree and the read cache."""
        programs, self.batch.new_programs = self.batch.new_programs, {}
        root = self.chain.apply(writes, tx, programs)
        self.batch.values.update(writes)
        return root


@functools.lru_cache(maxsize=ROOT_KEYS_CACHED)
def state_root_key(block_number: int) -> H4:
    """The leaf recording the state root after block (= transaction) `block_number` (§6.6);
    remembered, since a batch's keys are computed for `StateTree.warm` (or as keys ahead of an
    earlier batch) before its transactions record their roots under them."""
    return storage_key(ADDRESS_SYSTEM, state_root_slot(block_number))


def process_batch(request: BatchRequest, state: StateTree | NodeStore) -> BatchResult:
    """Process one batch on `state` (a `StateTree`, or a node store used through an overlay).

    Raises `BatchRejected` for a request the executor cannot serve (the fork-6 `ExecutorError`).
    """
    tree = state if isinstance(state, StateTree) else LocalStateTree(state)
    return BatchProcessor(tree).process(request)


class BatchProcessor:
    """Runs batches on one `StateTree`.

    `values_for(root)` may hand over a read cache holding leaf values at `root` (typically the
    previous batch's final state), so consecutive batches skip those reads; the processor takes
    ownership of the dict and updates it. After a batch, `last_values` holds the leaf values at
    `last_root` (None after an out-of-counters end, whose final root is not where the cache is)."""

    def __init__(
        self,
        tree: StateTree,
        values_for: Callable[[H4], dict[H4, int] | None] | None = None,
        budget: counters.Counters = counters.FORK6_BUDGET,
    ) -> None:
        self.tree = tree
        self._values_for = values_for
        #: the ZK-counter budget of a batch (the ROM's MAX_CNT_*; smaller in tests)
        self.budget = budget
        #: the read cache of the last batch, valid at `last_root` (None after an out-of-counters end)
        self.last_root: H4 | None = None
        self.last_values: dict[H4, int] | None = None

    def process(self, request: BatchRequest) -> BatchResult:
        root = _validate(request)
        cached = self._values_for(root) if self._values_for is not None else None
        batch = BatchState(self.tree, root, cached)
        self.last_root, self.last_values = None, None
        try:
            result = self._process(request, root, batch)
        except StateUnavailable as exc:
            raise BatchRejected(ExecutorError.DB_ERROR, str(exc)) from exc
        if result.out_of_counters:
            self.last_root, self.last_values = None, None
        else:
            self.last_root, self.last_values = bytes_to_h4(result.new_state_root), batch.values
        return result

    def _process(self, request: BatchRequest, root: H4, batch: BatchState) -> BatchResult:
        return self._process_on(request, RootChain(self.tree, root), batch)

    def _process_on(self, request: BatchRequest, chain: RootChain, batch: BatchState) -> BatchResult:
        run = _Run(request, chain, batch, self.budget)
        new_acc = acc_input_hash(
            request.old_acc_input_hash,
            batch_hash_data(request.batch_l2_data),
            request.global_exit_root,
            request.timestamp,
            request.coinbase,
        )
        try:
            txs = decode_batch_l2_data(
                request.batch_l2_data, allow_missing_last_ep=request.allow_missing_last_ep
            )
        except DecodeError:
            txs = None

        # Everything the batch will surely read, in one round trip: system and GER slots, and the
        # accounts of every sender, recipient and the sequencer.
        ger_key = None
        if request.global_exit_root != _ZERO32:
            ger_key = storage_key(
                ADDRESS_GLOBAL_EXIT_ROOT_MANAGER_L2, global_exit_root_slot(request.global_exit_root)
            )
        tx_count_key = storage_key(ADDRESS_SYSTEM, LAST_TX_STORAGE_POS)
        exit_root_key = storage_key(ADDRESS_GLOBAL_EXIT_ROOT_MANAGER_L2, LOCAL_EXIT_ROOT_STORAGE_POS)
        senders = [_sender(tx, request.from_address) for tx in txs or ()]
        prefetch = [tx_count_key, exit_root_key, *account_keys(request.coinbase)]
        if ger_key is not None:
            prefetch.append(ger_key)
        for tx, sender in zip(txs or (), senders, strict=True):
            if sender is not None:
                prefetch += account_keys(sender)
            if tx.to is not None:
                prefetch += account_keys(tx.to)
        batch.prefetch(prefetch)
        if txs:
            # §6.6: each block's root goes to a new leaf, at a random place in the tree, next to
            # leaves of blocks long gone; their paths are fetched together, and those of the
            # blocks that follow with them
            first = batch.value(tx_count_key) + 1
            after = first + len(txs)
            self.tree.warm(
                batch.base_root,
                [state_root_key(n) for n in range(first, after)],
                lambda: [state_root_key(n) for n in range(after, after + ROOT_KEYS_AHEAD)],
            )

        # §6.2: the GER's first timestamp, before any transaction
        batch_cost = counters.batch_cost(len(request.batch_l2_data), ger_key is not None)
        if ger_key is not None and batch.value(ger_key) == 0:
            run.write([(ger_key, request.timestamp)], 0)
        batch_root = chain.root
        exit_root_at_batch_start = batch.value(exit_root_key)
        run.counters = counters.Counters.from_vector(batch_cost)

        results: list[TxResult] = []
        if txs is None:
            invalid = TxResult(tx_hash=b"", rlp_tx=b"", error=RomError.INVALID_RLP, sender=None)
            results.append(replace(invalid, state_root=h4_to_bytes(batch_root)))
        else:
            tx_count = batch.value(tx_count_key)
            for index, (tx, sender) in enumerate(zip(txs, senders, strict=True), start=1):
                result = _process_tx(run, tx, sender, tx_count + 1, index)
                results.append(result)
                if result.error.is_out_of_counters:
                    break
                if result.included:
                    tx_count += 1

        ooc = bool(results) and results[-1].error.is_out_of_counters
        if ooc:
            final_root = batch_root
            local_exit_root = exit_root_at_batch_start
        else:
            final_root = chain.root
            local_exit_root = batch.value(exit_root_key)
        return BatchResult(
            new_state_root=h4_to_bytes(final_root),
            new_acc_input_hash=new_acc,
            new_local_exit_root=local_exit_root.to_bytes(32, "big"),
            new_batch_num=request.old_batch_num + 1,
            txs=tuple(results),
            counters=run.counters,
            cumulative_gas_used=sum(r.gas_used for r in results if r.included),
            batch_state_root=h4_to_bytes(batch_root),
            touched_accounts={} if ooc else _touched(run),
            backend_reads=batch.reads,
            backend_read_keys=batch.read_keys,
        )


def _sender(tx: L2Transaction, from_address: bytes | None) -> bytes | None:
    if from_address is not None:
        return from_address
    try:
        return tx.sender()
    except InvalidSignatureError:
        return None


def _touched(run: _Run) -> dict[bytes, AccountTouch]:
    values = run.batch.values
    return {
        address: AccountTouch(
            nonce=values.get(nonce_key(address), 0), balance=values.get(balance_key(address), 0)
        )
        for address in sorted(run.touched)
    }


def _tx_counters(
    tx: L2Transaction, sender: bytes | None, code_length: int, meter: counters.TxMeter | None
) -> counters.Counters:
    if sender is not None:
        signature = counters.SIGNATURE_VALID
    elif _in_signature_range(tx):
        signature = counters.SIGNATURE_NO_ROOT
    else:
        signature = counters.SIGNATURE_REJECTED
    fields = (tx.gas_price, tx.gas_limit, tx.value, tx.chain_id or 0, tx.nonce)
    # only the byte lengths of the fields matter: key the cache on the highest byte of each
    lengths = tuple(1 << (8 * ((v.bit_length() + 7) // 8)) >> 8 for v in fields)
    total = counters.tx_parse_counters(len(tx.signing_payload()), len(tx.data), lengths, signature)
    if meter is not None:
        total = total + counters.tx_process_counters(code_length, tx.to is None) + meter.total()
    return total


def _in_signature_range(tx: L2Transaction) -> bool:
    return tx.v in (27, 28) and 0 < tx.r < SECP256K1_N and 0 < tx.s <= SECP256K1_HALF_N


def _intrinsic_error(run: _Run, tx: L2Transaction, sender: bytes | None) -> RomError | None:
    """The checks of §6.3, in the ROM's order."""
    if sender is None:
        return RomError.INTRINSIC_INVALID_SIGNATURE
    db = run.db
    address = Address(sender)
    if db.get_code_length(address) != 0:
        return RomError.INTRINSIC_INVALID_SENDER_CODE
    if tx.chain_id is not None and tx.chain_id != run.request.chain_id:
        return RomError.INTRINSIC_INVALID_CHAIN_ID
    if tx.nonce != db.get_nonce(address):
        return RomError.INTRINSIC_INVALID_NONCE
    if tx.gas_limit > TX_GAS_LIMIT:
        return RomError.INTRINSIC_INVALID_BATCH_GAS_LIMIT
    if tx.gas_limit < intrinsic_gas(tx):
        return RomError.INTRINSIC_INVALID_GAS_LIMIT
    upfront = tx.gas_limit * tx.effective_gas_price()
    if upfront > MAX_UINT256:
        return RomError.INTRINSIC_TX_GAS_OVERFLOW
    cost = upfront + tx.value
    if cost > MAX_UINT256 or cost > db.get_balance(address):
        return RomError.INTRINSIC_INVALID_BALANCE
    return None


@dataclass(frozen=True, slots=True)
class _TxIdentity:
    """What every response of a transaction carries, whatever happened to it."""

    tx_hash: bytes
    rlp_tx: bytes
    sender: bytes | None
    effective_gas_price: int
    effective_percentage: int

    @classmethod
    def of(cls, tx: L2Transaction, sender: bytes | None) -> _TxIdentity:
        try:
            rlp_tx = tx.to_raw()
            tx_hash = keccak256(rlp_tx)  # = tx.tx_hash(), without encoding it twice
        except EncodingError:  # a record the ROM reads but that has no standard encoding
            tx_hash, rlp_tx = b"", b""
        return cls(tx_hash, rlp_tx, sender, tx.effective_gas_price(), tx.effective_percentage)

    def result(self, error: RomError, tx_counters: counters.Counters, state_root: H4) -> TxResult:
        """The response of a transaction that did not change the state."""
        return TxResult(
            tx_hash=self.tx_hash,
            rlp_tx=self.rlp_tx,
            error=error,
            sender=self.sender,
            state_root=h4_to_bytes(state_root),
            effective_gas_price=self.effective_gas_price,
            effective_percentage=self.effective_percentage,
            counters=tx_counters,
        )


def _process_tx(
    run: _Run, tx: L2Transaction, sender: bytes | None, block_number: int, index: int
) -> TxResult:
    db = run.db
    db.lock_changes()
    identity = _TxIdentity.of(tx, sender)
    error = _intrinsic_error(run, tx, sender)
    if error is not None or sender is None:
        tx_counters = _tx_counters(tx, sender, 0, None)
        run.counters = run.counters + tx_counters
        error = error or RomError.INTRINSIC_INVALID_SIGNATURE
        return identity.result(error, tx_counters, run.chain.root)
    origin = Address(sender)
    egp = identity.effective_gas_price
    state = run.state
    state.execution_context = run.context(block_number)
    meter = counters.TxMeter()
    context = Fork6TransactionContext(egp, origin, meter)

    # §6.5 step 1: nonce and the upfront cost, kept whatever the EVM does
    nonce = db.get_nonce(origin)
    db.set_nonce(origin, nonce + 1)
    db.set_balance(origin, db.get_balance(origin) - tx.gas_limit * egp)
    run.touched.add(sender)

    gas = tx.gas_limit - intrinsic_gas(tx)
    db.mark_address_warm(origin)
    create_address: bytes | None = None
    computation: ComputationAPI
    if tx.to is None:
        target = generate_contract_address(origin, nonce)
        create_address = target
        db.mark_address_warm(target)
        message = Message(
            gas=gas,
            to=CREATE_CONTRACT_ADDRESS,
            sender=origin,
            value=tx.value,
            data=b"",
            code=tx.data,
            create_address=target,
        )
        if db.account_has_code_or_nonce(target):
            computation = Fork6Computation(state, message, context)
            computation.error = ContractCreationCollision(f"address {target.hex()} has a nonce or code")
        else:
            computation = Fork6Computation.apply_create_message(state, message, context)
        code_length = len(computation.output) if computation.is_success else 0
    else:
        target = Address(tx.to)
        db.mark_address_warm(target)
        message = Message(
            gas=gas, to=target, sender=origin, value=tx.value, data=tx.data, code=state.get_code(target)
        )
        computation = Fork6Computation.apply_message(state, message, context)
        code_length = db.get_code_length(target)
        run.touched.add(tx.to)

    # §6.5 steps 3–5: refund, unused gas back to the sender, the fee to the sequencer
    gas_used = tx.gas_limit - computation.get_gas_remaining()
    refund = 0 if computation.is_error else min(max(computation.get_gas_refund(), 0), gas_used // 2)
    gas_used -= refund
    gas_left = tx.gas_limit - gas_used
    db.set_balance(origin, db.get_balance(origin) + gas_left * egp)
    db.set_balance(run.coinbase, db.get_balance(run.coinbase) + gas_used * egp)
    run.touched.add(run.request.coinbase)

    # §6.10 quirk 3: a transaction that takes the batch past its budget ends it at batchSR
    tx_counters = _tx_counters(tx, sender, code_length, meter)
    run.counters = run.counters + tx_counters
    exceeded = run.counters.first_exceeded(run.budget)
    if exceeded is not None and not run.request.no_counters:
        db.drop_pending()
        ooc = RomError[counters.OOC_ERROR_NAME[exceeded]]
        return identity.result(ooc, tx_counters, run.chain.root)

    # one tree update for the transaction and slot 0 of the system contract, then the root
    # recorded at keccak(n ‖ 1) (§6.6; roots.py)
    writes = db.take_write_set()
    tx_count_key = storage_key(ADDRESS_SYSTEM, LAST_TX_STORAGE_POS)
    recorded = h4_to_int(run.write([*writes, (tx_count_key, block_number)], index))
    root_key = state_root_key(block_number)
    state_root = run.chain.record_root(root_key, index)
    run.batch.values[root_key] = recorded

    logs = tuple(
        Log(address=address, topics=tuple(t.to_bytes(32, "big") for t in topics), data=data)
        for address, topics, data in computation.get_log_entries()
    )
    return TxResult(
        tx_hash=identity.tx_hash,
        rlp_tx=identity.rlp_tx,
        error=_rom_error(computation.error if computation.is_error else None),
        sender=sender,
        gas_used=gas_used,
        gas_left=gas_left,
        gas_refunded=refund,
        return_value=computation.output,
        create_address=create_address,
        state_root=h4_to_bytes(state_root),
        logs=logs,
        effective_gas_price=egp,
        effective_percentage=tx.effective_percentage,
        has_gasprice_opcode=meter.executed(0x3A),
        has_balance_opcode=meter.executed(0x31),
        write_set=(*writes, (tx_count_key, block_number), (root_key, recorded)),
        counters=tx_counters,
    )

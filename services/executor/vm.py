"""The fork-6 EVM: py-evm's Berlin with the zkEVM's own rules (spec §6.4).

Berlin (EIP-2929/2930 access costs, EIP-2200 SSTORE, refund cap gasUsed/2) plus EIP-3541 (no new
code starting with 0xEF) and EIP-3855 (PUSH0); EIP-3607 is an intrinsic check of the processor.
What differs from Ethereum, and where it is done here:

    opcode / feature   fork 6                                               here
    NUMBER             global tx counter: system slot 0 before the tx, + 1  execution context
    BLOCKHASH(n)       system slot keccak(n ‖ 1): root after tx n; 0 unset  `_blockhash`
    COINBASE           the batch's sequencer address                         execution context
    TIMESTAMP          the batch timestamp                                   execution context
    DIFFICULTY         0;  GASLIMIT 30,000,000;  GASPRICE the effective price
    EXTCODEHASH        linear-Poseidon hash from the code-hash leaf; 0 without code   `_extcodehash`
    EXTCODESIZE        the code-length leaf (no need to load the code)       `_extcodesize`
    SELFDESTRUCT       SENDALL: balance to the beneficiary, nothing deleted  `_sendall`
    precompiles        0x01 ecrecover and 0x04 identity; a call to 0x02, 0x03, 0x05–0x09 fails
                       without consuming the gas it was given, and reverts the callee
    new code           > 24,576 bytes or starting with 0xEF: exceptional halt (ROM order:
                       size, deposit gas, 0xEF)                               `apply_create_message`

The ROM is what the chain proved; where the JavaScript reference differs (spec §6.10 quirk 9:
SENDALL charges the cold-access 2,600 gas only when it moves a non-zero balance) this follows the
ROM.

The interpreter loop is py-evm's, with one addition: it counts every executed opcode for the ZK
counters (`counters.TxMeter`); data-dependent opcodes add their cost from the stack operands just
before they run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, cast

from eth._utils.address import force_bytes_to_address
from eth.abc import ComputationAPI, MessageAPI, StateAPI, TransactionContextAPI
from eth.exceptions import Halt, OutOfGas, Revert, VMError, WriteProtection
from eth.precompiles.ecrecover import ecrecover as _py_evm_ecrecover
from eth.precompiles.identity import identity as _py_evm_identity
from eth.vm import mnemonics, opcode_values
from eth.vm.computation import BaseComputation
from eth.vm.forks.berlin.computation import BerlinComputation
from eth.vm.forks.berlin.opcodes import BERLIN_OPCODES
from eth.vm.forks.berlin.state import BerlinState
from eth.vm.logic import stack as stack_logic
from eth.vm.logic.invalid import InvalidOpcode
from eth.vm.opcode import as_opcode
from eth.vm.stack import Stack
from eth.vm.transaction_context import BaseTransactionContext
from eth_typing import Address

from services.executor import counters
from services.executor.state import ZkAccountDB
from zkevm.hashing import keccak256

#: 0x000000000000000000000000000000005ca1ab1e: keeps the tx counter and the root after each tx (§6.6)
ADDRESS_SYSTEM: Final = Address(bytes.fromhex("000000000000000000000000000000005ca1ab1e"))
#: PolygonZkEVMGlobalExitRootL2: GER timestamps (slot map 0) and the local exit root (slot 1) (§6.1)
ADDRESS_GLOBAL_EXIT_ROOT_MANAGER_L2: Final = Address(
    bytes.fromhex("a40d5f56745a118d0906a34e69aec8c0db1cb8fa")
)
LAST_TX_STORAGE_POS: Final = 0
STATE_ROOT_STORAGE_POS: Final = 1
GLOBAL_EXIT_ROOT_STORAGE_POS: Final = 0
LOCAL_EXIT_ROOT_STORAGE_POS: Final = 1
#: gas limit of every transaction = of every L2 block (one tx per block); GASLIMIT returns it
TX_GAS_LIMIT: Final = 30_000_000
BATCH_DIFFICULTY: Final = 0
#: EIP-170
MAX_CODE_SIZE: Final = 24_576
GAS_CODE_DEPOSIT: Final = 200
GAS_SENDALL: Final = 5_000
GAS_NEW_ACCOUNT: Final = 25_000
GAS_COLD_ACCOUNT_ACCESS: Final = 2_600
GAS_WARM_ACCESS: Final = 100
GAS_BLOCKHASH: Final = 20


def state_root_slot(tx_number: int) -> int:
    """The system-contract slot holding the state root after transaction `tx_number` (§6.6)."""
    return int.from_bytes(
        keccak256(tx_number.to_bytes(32, "big") + STATE_ROOT_STORAGE_POS.to_bytes(32, "big"))
    )


def global_exit_root_slot(global_exit_root: bytes) -> int:
    """The GER manager's slot holding the first timestamp of `global_exit_root` (§6.2)."""
    return int.from_bytes(keccak256(global_exit_root + GLOBAL_EXIT_ROOT_STORAGE_POS.to_bytes(32, "big")))


# -- errors the ROM reports with their own RomError -----------------------------------------------


class MaxCodeSizeExceeded(VMError):
    """New code longer than 24,576 bytes (EIP-170)."""


class CodeStartsWithEF(VMError):
    """New code starting with 0xEF (EIP-3541)."""


class UnsupportedPrecompile(Revert):
    """A call to a precompile the fork-6 ROM does not have: reverts, returns its gas."""


# -- transaction context ------------------------------------------------------------------------


class Fork6TransactionContext(BaseTransactionContext):
    """GASPRICE is the effective gas price; carries the transaction's ZK-counter meter."""

    __slots__ = ("meter",)

    def __init__(self, gas_price: int, origin: Address, meter: counters.TxMeter) -> None:
        super().__init__(gas_price, origin)
        self.meter = meter


def _meter(computation: ComputationAPI) -> counters.TxMeter:
    return cast(Fork6TransactionContext, computation.transaction_context).meter


def _stack_int(computation: ComputationAPI, depth: int) -> int:
    """The stack item `depth` below the top, as an integer, without popping it."""
    item = cast(Stack, cast(BaseComputation, computation)._stack).values[-1 - depth]
    return item if isinstance(item, int) else int.from_bytes(item, "big")


def _code_context(message: MessageAPI) -> int:
    if not message.is_create:
        return counters.CTX_CALL
    return counters.CTX_DEPLOY if message.depth == 0 else counters.CTX_CREATE


def _mark_warm(computation: ComputationAPI, address: Address) -> bool:
    """Mark `address` accessed; True if it was cold."""
    state = computation.state
    if state.is_address_warm(address):
        return False
    state.mark_address_warm(address)
    return True


def _charge_account_access(computation: ComputationAPI, address: Address, reason: str) -> None:
    cost = GAS_COLD_ACCOUNT_ACCESS if _mark_warm(computation, address) else GAS_WARM_ACCESS
    computation.consume_gas(cost, reason=reason)


# -- opcodes that differ -------------------------------------------------------------------------


def _blockhash(computation: ComputationAPI) -> None:
    number = computation.stack_pop1_int()
    root = computation.state.get_storage(ADDRESS_SYSTEM, state_root_slot(number))
    computation.stack_push_int(root)


def _extcodehash(computation: ComputationAPI) -> None:
    address = force_bytes_to_address(computation.stack_pop1_bytes())
    _charge_account_access(computation, address, mnemonics.EXTCODEHASH)
    computation.stack_push_bytes(computation.state.get_code_hash(address))


def _extcodesize(computation: ComputationAPI) -> None:
    address = force_bytes_to_address(computation.stack_pop1_bytes())
    _charge_account_access(computation, address, mnemonics.EXTCODESIZE)
    computation.stack_push_int(cast(Fork6State, computation.state).get_code_length(address))


def _sendall(computation: ComputationAPI) -> None:
    """SELFDESTRUCT as the fork-6 ROM runs it (`opSENDALL`)."""
    beneficiary = force_bytes_to_address(computation.stack_pop1_bytes())
    if computation.msg.is_static:
        raise WriteProtection("Cannot modify state while inside of a STATICCALL context")
    state = computation.state
    own = computation.msg.storage_address
    balance = state.get_balance(own)
    if balance and beneficiary != own:
        if state.account_is_empty(beneficiary):
            computation.consume_gas(GAS_NEW_ACCOUNT, reason=mnemonics.SELFDESTRUCT)
        if _mark_warm(computation, beneficiary):
            computation.consume_gas(GAS_COLD_ACCOUNT_ACCESS, reason=mnemonics.SELFDESTRUCT)
        state.set_balance(beneficiary, state.get_balance(beneficiary) + balance)
        state.set_balance(own, 0)
    raise Halt("SENDALL")


# -- counters of data-dependent opcodes ---------------------------------------------------------

_CostFn = Callable[[ComputationAPI], "list[int]"]


def _metered(opcode: Any, cost: _CostFn) -> Callable[..., None]:
    """`opcode` preceded by adding its data-dependent ZK-counter cost to the meter."""

    def run(computation: ComputationAPI) -> None:
        try:
            extra = cost(computation)
        except IndexError:  # stack underflow: the opcode itself raises it
            pass
        else:
            _meter(computation).add(extra)
        opcode(computation=computation)

    return run


def _callee_code_length(computation: ComputationAPI, address_depth: int) -> int:
    address = force_bytes_to_address(_stack_int(computation, address_depth).to_bytes(32, "big")[-20:])
    return cast(Fork6State, computation.state).get_code_length(address)


def _call_cost(op: int) -> _CostFn:
    has_value = op in (opcode_values.CALL, opcode_values.CALLCODE)
    first_mem = 3 if has_value else 2

    def cost(c: ComputationAPI) -> list[int]:
        return counters.call_cost(
            op,
            _stack_int(c, first_mem + 1),
            _stack_int(c, first_mem + 3),
            _stack_int(c, 2) if has_value else 0,
            _callee_code_length(c, 1),
        )

    return cost


def _create_cost(op: int) -> _CostFn:
    def cost(c: ComputationAPI) -> list[int]:
        return counters.create_cost(op, _stack_int(c, 2), c.state.get_nonce(c.msg.storage_address))

    return cost


def _ctx(c: ComputationAPI) -> int:
    return _code_context(c.msg)


_DYNAMIC_COSTS: Final[dict[int, _CostFn]] = {
    opcode_values.SHA3: lambda c: counters.sha3_cost(_stack_int(c, 1)),
    opcode_values.EXP: lambda c: counters.exp_cost(_stack_int(c, 1)),
    opcode_values.CALLDATACOPY: lambda c: counters.calldatacopy_cost(_stack_int(c, 2)),
    opcode_values.CODECOPY: lambda c: counters.codecopy_cost(_stack_int(c, 2), _ctx(c)),
    opcode_values.EXTCODECOPY: lambda c: counters.extcodecopy_cost(
        _stack_int(c, 3), _callee_code_length(c, 0)
    ),
    opcode_values.RETURNDATACOPY: lambda c: counters.returndatacopy_cost(_stack_int(c, 2)),
    opcode_values.RETURN: lambda c: counters.return_cost(_stack_int(c, 1), _ctx(c)),
    opcode_values.REVERT: lambda c: counters.revert_cost(_stack_int(c, 1)),
    **{op: (lambda c: counters.log_cost(_stack_int(c, 1))) for op in range(0xA0, 0xA5)},
    **{op: _call_cost(op) for op in (0xF1, 0xF2, 0xF4, 0xFA)},
    **{op: _create_cost(op) for op in (0xF0, 0xF5)},
}


def _build_opcodes() -> dict[int, Any]:
    table: dict[int, Any] = dict(BERLIN_OPCODES)
    table[opcode_values.PUSH0] = as_opcode(logic_fn=stack_logic.push0, mnemonic=mnemonics.PUSH0, gas_cost=2)
    table[opcode_values.BLOCKHASH] = as_opcode(
        logic_fn=_blockhash, mnemonic=mnemonics.BLOCKHASH, gas_cost=GAS_BLOCKHASH
    )
    table[opcode_values.EXTCODEHASH] = as_opcode(
        logic_fn=_extcodehash, mnemonic=mnemonics.EXTCODEHASH, gas_cost=0
    )
    table[opcode_values.EXTCODESIZE] = as_opcode(
        logic_fn=_extcodesize, mnemonic=mnemonics.EXTCODESIZE, gas_cost=0
    )
    table[opcode_values.SELFDESTRUCT] = as_opcode(
        logic_fn=_sendall, mnemonic=mnemonics.SELFDESTRUCT, gas_cost=GAS_SENDALL
    )
    for op, cost in _DYNAMIC_COSTS.items():
        table[op] = _metered(table[op], cost)
    return table


FORK6_OPCODES: Final = _build_opcodes()
#: the same as a 256-entry list (an invalid-opcode handler in every unassigned slot)
_OPCODE_LIST: Final[list[Any]] = [FORK6_OPCODES.get(op) or InvalidOpcode(op) for op in range(256)]


# -- precompiles ---------------------------------------------------------------------------------


def _ecrecover(computation: ComputationAPI) -> ComputationAPI:
    outcome = [max(a, b) for a, b in zip(counters.ECRECOVER_VALID, counters.ECRECOVER_NO_ROOT, strict=True)]
    _meter(computation).add(counters.ecrecover_precompile_cost(outcome))
    return _py_evm_ecrecover(computation)


def _identity(computation: ComputationAPI) -> ComputationAPI:
    size = len(computation.msg.data)
    _meter(computation).add(counters.identity_precompile_cost(size, size))
    return _py_evm_identity(computation)


def _unsupported(computation: ComputationAPI) -> ComputationAPI:
    _meter(computation).add(counters.UNSUPPORTED_PRECOMPILE)
    raise UnsupportedPrecompile(b"")


def _precompile_address(n: int) -> Address:
    return Address(n.to_bytes(20, "big"))


FORK6_PRECOMPILES: Final[dict[Address, Callable[[ComputationAPI], ComputationAPI]]] = {
    _precompile_address(n): _unsupported for n in range(1, 10)
}
FORK6_PRECOMPILES[_precompile_address(1)] = _ecrecover
FORK6_PRECOMPILES[_precompile_address(4)] = _identity


# -- computation and state ---------------------------------------------------------------------


class Fork6Computation(BerlinComputation):
    opcodes = FORK6_OPCODES
    _precompiles = FORK6_PRECOMPILES

    @classmethod
    def apply_computation(
        cls,
        state: StateAPI,
        message: MessageAPI,
        transaction_context: TransactionContextAPI,
        parent_computation: ComputationAPI | None = None,
    ) -> ComputationAPI:
        with cls(state, message, transaction_context) as computation:
            precompile = FORK6_PRECOMPILES.get(message.code_address)
            if precompile is not None:
                precompile(computation)
                return computation
            meter = cast(Fork6TransactionContext, transaction_context).meter
            counts = meter.counts_for(_code_context(message))
            table = _OPCODE_LIST
            for opcode in computation.code:
                counts[opcode] += 1
                try:
                    table[opcode](computation=computation)
                except Halt:
                    break
        return computation

    @classmethod
    def apply_create_message(
        cls,
        state: StateAPI,
        message: MessageAPI,
        transaction_context: TransactionContextAPI,
        parent_computation: ComputationAPI | None = None,
    ) -> ComputationAPI:
        """Create a contract: nonce 1, run the init code, then the ROM's checks on the returned
        code in the ROM's order (size, deposit gas, 0xEF) before it gets its leaves."""
        snapshot = state.snapshot()
        state.increment_nonce(message.storage_address)
        computation = cls.apply_message(state, message, transaction_context, parent_computation)
        if computation.is_error:
            state.revert(snapshot)
            return computation
        code = computation.output
        if code:
            try:
                if len(code) > MAX_CODE_SIZE:
                    raise MaxCodeSizeExceeded(f"new code is {len(code)} bytes, above {MAX_CODE_SIZE}")
                computation.consume_gas(len(code) * GAS_CODE_DEPOSIT, reason="code deposit")
                if code[0] == 0xEF:
                    raise CodeStartsWithEF("new code starts with 0xEF (EIP-3541)")
            except VMError as err:
                computation.error = err
                state.revert(snapshot)
                return computation
            state.set_code(message.storage_address, code)
        state.commit(snapshot)
        return computation


class Fork6State(BerlinState):
    computation_class = Fork6Computation
    account_db_class = ZkAccountDB

    @property
    def account_db(self) -> ZkAccountDB:
        return cast(ZkAccountDB, self._account_db)

    def get_code_length(self, address: Address) -> int:
        return self.account_db.get_code_length(address)


#: py-evm error class -> the RomError name it is reported as (checked in order: subclasses first)
VM_ERROR_NAMES: Final[tuple[tuple[type[BaseException], str], ...]] = (
    (UnsupportedPrecompile, "EXECUTION_REVERTED"),
    (Revert, "EXECUTION_REVERTED"),
    (MaxCodeSizeExceeded, "MAX_CODE_SIZE_EXCEEDED"),
    (CodeStartsWithEF, "INVALID_BYTECODE_STARTS_EF"),
    (OutOfGas, "OUT_OF_GAS"),
    (WriteProtection, "INVALID_STATIC"),
)

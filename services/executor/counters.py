"""ZK counters: how much of the prover's capacity a batch uses (spec §7).

The prover proves a batch by running the zkEVM ROM, and every ROM instruction fills rows of
fixed-size state machines: steps, Keccak-f permutations, Poseidon hashes and paddings, 32-byte
memory aligns, 256-bit arithmetic and binary operations. A batch that does not fit cannot be
proved, so the ROM checks before each costly operation that its budget (`MAX_CNT_*`, 95 % of the
circuit size, §7.1) will not be exceeded; when it would be, the batch ends at its start root and the
transaction is reported out of counters (§6.10 quirk 3).

Only the ROM knows its exact per-instruction counts. zkseq estimates them with the *virtual
counters* model of zkevm-commonjs (spec §7.3): a static, worst-case cost per operation, with a few
inputs (lengths, sizes) where the cost depends on the data. The model was written for later forks;
its parts for the block-info tree are kept (they only make the estimate more conservative), SHA-256
and the EC precompiles fork 6 lacks are left out.

    cost of a batch = batch prologue/epilogue (§7.3 "batchProcessing")
                    + per transaction: RLP parsing + signature + processTx + system contract update
                    + per executed opcode: a static table cost (12 steps of dispatch included)
                    + per data-dependent opcode (SHA3, LOGn, copies, calls, creates, RETURN, EXP …):
                      a cost computed from its sizes

A `CostVector` is the 7 counters in the field order of `ProcessBatchResponse`. The hot path only
counts executed opcodes (`TxMeter.counts`, one list increment per opcode) and adds the dynamic
costs; `TxMeter.total()` multiplies the counts by the table once, at the end of the transaction.

Where this model deviates from the commonjs code (always in the safe direction or to fix an obvious
slip) it says so next to the line.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

#: state-tree depth factor: floor(levels · 0.6) with levels = max(32, bitlen(2^depth + 50000)),
#: i.e. 19 for any tree shallower than 2^31 leaves (§7.3)
MCP: Final = 19
#: the same for the small private trees (touched addresses / slots), constant in the model
MCPL: Final = 23

#: field order of the vector (= ProcessBatchResponse fields 5..11)
FIELDS: Final = (
    "keccak_hashes",
    "poseidon_hashes",
    "poseidon_paddings",
    "mem_aligns",
    "arithmetics",
    "binaries",
    "steps",
)
_K, _P, _D, _M, _A, _B, _S = range(7)


@dataclass(frozen=True, slots=True)
class Counters:
    """ZK counter usage (or a budget)."""

    keccak_hashes: int = 0
    poseidon_hashes: int = 0
    poseidon_paddings: int = 0
    mem_aligns: int = 0
    arithmetics: int = 0
    binaries: int = 0
    steps: int = 0

    @classmethod
    def from_vector(cls, v: Iterable[int]) -> Counters:
        return cls(*v)

    def vector(self) -> tuple[int, int, int, int, int, int, int]:
        return (
            self.keccak_hashes,
            self.poseidon_hashes,
            self.poseidon_paddings,
            self.mem_aligns,
            self.arithmetics,
            self.binaries,
            self.steps,
        )

    def __add__(self, other: Counters) -> Counters:
        return Counters(*(a + b for a, b in zip(self.vector(), other.vector(), strict=True)))

    def first_exceeded(self, budget: Counters) -> str | None:
        """The name of the first counter above `budget`, in the ROM's check order, or None."""
        for name in ("steps", "keccak_hashes", "binaries", "mem_aligns", "arithmetics"):
            if getattr(self, name) > getattr(budget, name):
                return name
        for name in ("poseidon_paddings", "poseidon_hashes"):
            if getattr(self, name) > getattr(budget, name):
                return name
        return None


def _budget(limit: int) -> int:
    """MAX_CNT_X = LIMIT_X - floor(LIMIT_X / SAFE_RANGE), SAFE_RANGE = 20 (§7.1)."""
    return limit - limit // 20


#: the circuit sizes of fork 6 (prover `*_LIMIT`, spec §7.1)
FORK6_LIMITS: Final = Counters(
    keccak_hashes=2_376,
    poseidon_hashes=279_620,
    poseidon_paddings=149_796,
    mem_aligns=262_144,
    arithmetics=262_144,
    binaries=524_288,
    steps=8_388_408,
)
#: what the ROM lets a batch use before it declares it out of counters (§7.1 `MAX_CNT_*`)
FORK6_BUDGET: Final = Counters(
    keccak_hashes=_budget(FORK6_LIMITS.keccak_hashes),
    poseidon_hashes=_budget(FORK6_LIMITS.poseidon_hashes),
    poseidon_paddings=_budget(FORK6_LIMITS.poseidon_paddings),
    mem_aligns=_budget(FORK6_LIMITS.mem_aligns),
    arithmetics=_budget(FORK6_LIMITS.arithmetics),
    binaries=_budget(FORK6_LIMITS.binaries),
    steps=7_968_988,  # the ROM's own figure: 2^23 - 2^23/20 - MIN_STEPS_FINISH_BATCH rounding
)
#: zkevm-node v0.4.x `State.Batch.Constraints` (§7.2): where a sequencer closes a batch
NODE_BATCH_CONSTRAINTS: Final = Counters(
    keccak_hashes=2_145,
    poseidon_hashes=252_357,
    poseidon_paddings=135_191,
    mem_aligns=236_585,
    arithmetics=236_585,
    binaries=473_170,
    steps=7_570_538,
)

#: which RomError each exceeded counter is reported as
OOC_ERROR_NAME: Final = {
    "steps": "OUT_OF_COUNTERS_STEP",
    "keccak_hashes": "OUT_OF_COUNTERS_KECCAK",
    "binaries": "OUT_OF_COUNTERS_BINARY",
    "mem_aligns": "OUT_OF_COUNTERS_MEM",
    "arithmetics": "OUT_OF_COUNTERS_ARITH",
    "poseidon_paddings": "OUT_OF_COUNTERS_PADDING",
    "poseidon_hashes": "OUT_OF_COUNTERS_POSEIDON",
}


# --------------------------------------------------------------------------------------------
# cost algebra: a cost is a 7-list in FIELDS order


def _c(*, S: int = 0, B: int = 0, A: int = 0, M: int = 0, K: int = 0, P: int = 0, D: int = 0) -> list[int]:  # noqa: N803
    v = [0] * 7
    v[_S], v[_B], v[_A], v[_M], v[_K], v[_P], v[_D] = S, B, A, M, K, P, D
    return v


def _sum(*costs: list[int]) -> list[int]:
    out = [0] * 7
    for cost in costs:
        for i in range(7):
            out[i] += cost[i]
    return out


def _times(n: int, cost: list[int]) -> list[int]:
    return [n * x for x in cost]


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _byte_len(value: int) -> int:
    return (value.bit_length() + 7) // 8


# helpers of the model (§7.3), composed once
DIV_ARITH: Final = _c(S=40, B=3, A=1)
MUL_ARITH: Final = _c(S=40, B=1, A=1)
ADD_ARITH: Final = _c(S=10, B=1)
SUB_ARITH: Final = _c(S=10, B=1)
SHR_ARITH: Final = _sum(_c(S=40, B=2, A=1), DIV_ARITH)
SHL_ARITH: Final = _c(S=40, B=2, A=2)
SHR_ARITH_BIT: Final = _sum(_c(S=30, B=2), DIV_ARITH)
SHL_ARITH_BIT: Final = _c(S=50, B=2, A=2)
OFFSET_UTIL: Final = _c(S=10, B=1)
MLOAD_32: Final = _sum(_c(S=40, B=2, M=1), OFFSET_UTIL, SHR_ARITH, SHL_ARITH)
MLOAD_X: Final = _sum(_c(S=30, B=2, M=1), OFFSET_UTIL, SHR_ARITH, SHL_ARITH)
MSTORE_32: Final = _sum(_c(S=80, B=1, M=1), OFFSET_UTIL, _times(2, SHR_ARITH), _times(2, SHL_ARITH))
MSTORE_X: Final = MSTORE_32
SAVE_MEM_EMPTY: Final = _c(S=12, B=1)
SAVE_MEM: Final = _sum(_c(S=50, B=5), MUL_ARITH, DIV_ARITH)
READ_CALLDATA: Final = _sum(_c(S=25), MLOAD_X)
MASK_ADDRESS: Final = _c(S=6, B=1)
IS_COLD_ADDRESS: Final = _c(S=100, B=3, P=2 * MCPL)
IS_COLD_SLOT: Final = _c(S=20, B=1, P=2 * MCPL)
IS_EMPTY_ACCOUNT: Final = _c(S=30, B=3, P=3 * MCP)
GAS_SEND_CALL: Final = _c(S=25, B=2)
CALL_BOOKKEEPING: Final = _c(S=6 + 2 + 4)  # calldata pointer, touched and block-info checkpoints
REVERT_TOUCHED: Final = _c(S=2 + 4)
MOVE_BALANCES: Final = _c(S=25, B=5, P=4 * MCP)
CHECK_STARTS_EF: Final = _sum(_c(S=20), MLOAD_X, SHR_ARITH)
ABS: Final = _c(S=10, B=2)
UTIL_MULMOD: Final = _sum(_c(S=50, B=4, A=2), MUL_ARITH)
DISPATCH: Final = _c(S=12)  # `_opcode`: every opcode
#: extra dispatch cost when the code is read from memory (CREATE / CREATE2 init code)
DISPATCH_FROM_MEMORY: Final = _sum(MLOAD_X, SHR_ARITH)


def save_mem(length: int) -> list[int]:
    return SAVE_MEM if length else SAVE_MEM_EMPTY


def get_len_bytes(n_bytes: int) -> list[int]:
    return _sum(_c(S=7 * n_bytes + 12, B=n_bytes), _times(n_bytes, SHR_ARITH))


def hash_code_from_memory(size: int) -> list[int]:
    """Linear Poseidon of deployed code (§4.3): P and D = ceil((size + 1) / 56)."""
    chunks = _ceil_div(size + 1, 56)
    return _sum(
        _c(S=50, B=2, P=chunks, D=chunks),
        DIV_ARITH,
        _times(size // 32, _sum(_c(S=8), MLOAD_32)),
        MLOAD_X,
        SHR_ARITH,
    )


def read_code(code_length: int) -> list[int]:
    """Loading a contract's code to run it: P and D = ceil((len + 1) / 56)."""
    chunks = _ceil_div(code_length + 1, 56)
    return _sum(_c(P=chunks, D=chunks), DIV_ARITH if code_length >= 56 else _c())


def _copy_out(size: int, per_word: list[int]) -> list[int]:
    return _sum(_times(size // 32, per_word), MLOAD_X, MSTORE_X)


# --------------------------------------------------------------------------------------------
# batch and transaction costs


def batch_cost(batch_l2_data_length: int, sets_global_exit_root: bool) -> list[int]:
    """Prologue and epilogue of a batch (§7.3 batchProcessing), plus the GER write (§6.2)."""
    cost = _sum(
        _c(S=100, P=MCP, B=2, K=_ceil_div(batch_l2_data_length + 1, 136)),
        DIV_ARITH,
        _c(S=2),  # failAssert
        _c(S=20, B=2, P=2 * MCPL),  # consolidate block
        _c(S=200, K=2, P=MCP, B=2),  # finish: local exit root read, batch hash, accInputHash
        _c(S=50, K=1, P=2 * MCP),  # read and maybe write the GER timestamp slot
    )
    if sets_global_exit_root:
        cost = _sum(cost, _c(P=MCP))
    return cost


#: ecrecover of the transaction signature (§7.3): valid, no square root, rejected early
ECRECOVER_VALID: Final = _c(S=6294, A=528, B=523, K=1)
ECRECOVER_NO_ROOT: Final = _c(S=4527, A=1014, B=10)
ECRECOVER_REJECTED: Final = _c(S=45, A=2, B=8)


def rlp_parsing_cost(
    *,
    rlp_length: int,
    data_length: int,
    gas_price: int,
    gas_limit: int,
    value: int,
    chain_id: int,
    nonce: int,
    ecrecover: list[int],
) -> list[int]:
    """Parsing one batch record and recovering its sender (§7.3 rlpParsing)."""
    len_bytes = [3, _byte_len(gas_price), _byte_len(gas_limit), _byte_len(value), _byte_len(chain_id)]
    len_bytes.append(_byte_len(nonce))
    if data_length >= 56:
        # commonjs passes the data length itself here; the ROM measures the bytes *of* the length
        len_bytes.append(_byte_len(data_length))
    return _sum(
        _c(S=250, B=2, K=_ceil_div(rlp_length + 1, 136)),
        _c(P=_ceil_div(rlp_length + 1, 56) + 3, D=_ceil_div(rlp_length + 1, 56) + 3),
        _c(S=21 * 10 + 6 * 7),
        *(get_len_bytes(n) for n in len_bytes),
        DIV_ARITH,
        _c(S=10 * (9 + data_length // 32) + 10 * (8 + data_length // 32)),
        _times(data_length, _sum(_c(S=25 + 10, B=1), SHR_ARITH)),
        SHL_ARITH,
        ecrecover,
    )


def process_tx_cost(*, code_length: int, is_deploy: bool) -> list[int]:
    """Setting up and closing one transaction (§7.3 processTx); `code_length` is the callee's code
    for a call and the deployed code for a deployment."""
    cost = _sum(
        _c(S=300, B=18, P=14 * MCP, D=5, A=2, K=1),
        _times(2, IS_COLD_ADDRESS),
        _times(3, ADD_ARITH),
        SUB_ARITH,
        DIV_ARITH,
        _times(4, MUL_ARITH),
        _c(S=20, P=3 * MCPL),  # tx receipt in the block-info tree (later forks; kept, conservative)
        _c(S=40, B=5, P=1 + 2 * MCP, D=1),
        MOVE_BALANCES,
    )
    if is_deploy:
        return _sum(cost, _c(S=15, B=2, P=2 * MCP), CHECK_STARTS_EF, hash_code_from_memory(code_length))
    return _sum(cost, read_code(code_length))


#: updateSystemData after every processed transaction (§6.6): two SSTOREs and one keccak
SYSTEM_UPDATE: Final = _c(S=50 + 2 * 70, B=1 + 2 * 8, K=1, P=2 * 3 * MCP)

#: how the signature check of a transaction went (selects the ecrecover cost)
SIGNATURE_VALID: Final = 0
SIGNATURE_NO_ROOT: Final = 1
SIGNATURE_REJECTED: Final = 2
_ECRECOVER_BY_KIND: Final = (ECRECOVER_VALID, ECRECOVER_NO_ROOT, ECRECOVER_REJECTED)


@functools.lru_cache(maxsize=4096)
def tx_parse_counters(
    rlp_length: int, data_length: int, field_values: tuple[int, int, int, int, int], signature: int
) -> Counters:
    """`rlp_parsing_cost` of a transaction, cached: `field_values` are gasPrice, gasLimit, value,
    chainId and nonce, of which only the byte lengths matter."""
    gas_price, gas_limit, value, chain_id, nonce = field_values
    return Counters.from_vector(
        rlp_parsing_cost(
            rlp_length=rlp_length,
            data_length=data_length,
            gas_price=gas_price,
            gas_limit=gas_limit,
            value=value,
            chain_id=chain_id,
            nonce=nonce,
            ecrecover=_ECRECOVER_BY_KIND[signature],
        )
    )


@functools.lru_cache(maxsize=4096)
def tx_process_counters(code_length: int, is_deploy: bool) -> Counters:
    """`process_tx_cost` plus the system-contract update of an included transaction, cached."""
    return Counters.from_vector(
        _sum(process_tx_cost(code_length=code_length, is_deploy=is_deploy), SYSTEM_UPDATE)
    )


# --------------------------------------------------------------------------------------------
# per-opcode static table

#: kinds of code being run; the dispatch and PUSH costs depend on where the code is read from
CTX_CALL: Final = 0  # contract bytecode (from the program store)
CTX_DEPLOY: Final = 1  # the init code of a deployment transaction (from batchL2Data)
CTX_CREATE: Final = 2  # the init code of CREATE / CREATE2 (from memory)


def _read_push(n: int) -> list[int]:
    steps = {1: 2, 2: 4, 3: 5, 4: 6, 32: 45}.get(n, 6 + 2 * n)
    return _c(S=steps)


def _check_jump_dest(ctx: int) -> list[int]:
    cost = _c(S=10, B=1)
    if ctx == CTX_CREATE:
        cost = _sum(cost, _c(B=1), MLOAD_X)
    return cost


def _static_cost(op: int, ctx: int) -> list[int]:
    """The data-independent part of opcode `op` (everything but the dispatch)."""
    # arithmetic
    if op in (0x01, 0x03):  # ADD SUB
        return _c(S=10, B=1)
    if op == 0x02:  # MUL
        return _sum(_c(S=10), MUL_ARITH)
    if op == 0x04:  # DIV
        return _sum(_c(S=15), DIV_ARITH)
    if op == 0x05:  # SDIV
        return _sum(_c(S=25, B=1), _times(2, ABS), DIV_ARITH)
    if op == 0x06:  # MOD
        return _sum(_c(S=20), DIV_ARITH)
    if op == 0x07:  # SMOD
        return _sum(_c(S=20, B=1), _times(2, ABS), DIV_ARITH)
    if op == 0x08:  # ADDMOD
        return _c(S=30, B=3, A=1)
    if op == 0x09:  # MULMOD
        return _sum(_c(S=10), UTIL_MULMOD)
    if op == 0x0A:  # EXP: dynamic part in exp_cost
        return _c(S=10)
    if op == 0x0B:  # SIGNEXTEND
        return _c(S=20, B=6, P=2 * MCP)
    # comparison and bitwise
    if 0x10 <= op <= 0x15:
        return _c(S=8, B=1)
    if 0x16 <= op <= 0x19:
        return _c(S=10, B=1)
    if op == 0x1A:  # BYTE
        return _sum(_c(S=15, B=2), SHR_ARITH)
    if op == 0x1B:  # SHL
        return _sum(_c(S=8, B=1), SHL_ARITH_BIT)
    if op == 0x1C:  # SHR
        return _sum(_c(S=8, B=1), SHR_ARITH_BIT)
    if op == 0x1D:  # SAR
        return _sum(_c(S=25, B=5), SHR_ARITH_BIT)
    # environment
    if op == 0x30:  # ADDRESS
        return _c(S=6)
    if op in (0x31, 0x3B, 0x3F):  # BALANCE EXTCODESIZE EXTCODEHASH
        return _sum(_c(S=10, P=MCP), MASK_ADDRESS, IS_COLD_ADDRESS)
    if op in (0x32, 0x33, 0x34, 0x3A):  # ORIGIN CALLER CALLVALUE GASPRICE
        return _c(S=5)
    if op == 0x35:  # CALLDATALOAD
        return _sum(_c(S=15), READ_CALLDATA)
    if op in (0x36, 0x38):  # CALLDATASIZE CODESIZE
        return _c(S=10, P=MCP if op == 0x38 else 0)
    if op == 0x3D:  # RETURNDATASIZE
        return _c(S=11, B=1)
    if op in (0x37, 0x39, 0x3C, 0x3E):  # copies: dynamic
        return _c()
    # block
    if op == 0x40:  # BLOCKHASH
        return _c(S=15, P=MCP, K=1)
    if 0x41 <= op <= 0x46:  # COINBASE TIMESTAMP NUMBER DIFFICULTY GASLIMIT CHAINID
        return _c(S=5)
    if op == 0x47:  # SELFBALANCE
        return _c(S=8, P=MCP)
    # stack, memory, storage, flow
    if op == 0x50:  # POP
        return _c(S=3)
    if op == 0x51:  # MLOAD
        return _sum(_c(S=8), SAVE_MEM, MLOAD_32)
    if op == 0x52:  # MSTORE
        return _sum(_c(S=22, M=1), SAVE_MEM, OFFSET_UTIL)
    if op == 0x53:  # MSTORE8
        return _sum(_c(S=13, M=1), SAVE_MEM, OFFSET_UTIL)
    if op == 0x54:  # SLOAD
        return _sum(_c(S=10, P=MCP), IS_COLD_SLOT)
    if op == 0x55:  # SSTORE
        return _sum(_c(S=70, B=8, P=3 * MCP), IS_COLD_SLOT)
    if op == 0x56:  # JUMP
        return _sum(_c(S=5), _check_jump_dest(ctx))
    if op == 0x57:  # JUMPI
        return _sum(_c(S=10, B=1), _check_jump_dest(ctx))
    if op in (0x58, 0x5A):  # PC GAS
        return _c(S=4)
    if op == 0x59:  # MSIZE
        return _sum(_c(S=15), DIV_ARITH)
    if op == 0x5B:  # JUMPDEST
        return _c(S=2)
    if op == 0x5F:  # PUSH0
        return _c(S=4)
    if 0x60 <= op <= 0x7F:  # PUSH1..PUSH32
        n = op - 0x5F
        if ctx == CTX_CREATE:
            return _sum(_c(S=2 + 20), MLOAD_X, SHR_ARITH)
        if ctx == CTX_DEPLOY:
            return _sum(_c(S=2 + 10), _times(n, _sum(_c(S=10), SHL_ARITH)))
        return _sum(_c(S=2 + 10), _read_push(n))
    if 0x80 <= op <= 0x8F:  # DUP
        return _c(S=6)
    if 0x90 <= op <= 0x9F:  # SWAP
        return _c(S=7)
    if op == 0x00:  # STOP
        return _c(S=20)
    if op == 0xFF:  # SELFDESTRUCT (SENDALL)
        return _sum(_c(S=60, B=3, P=4 * MCP), MASK_ADDRESS, IS_EMPTY_ACCOUNT, IS_COLD_ADDRESS, ADD_ARITH)
    if 0xA0 <= op <= 0xA4 or op in (0x20, 0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xFA, 0xFD):
        return _c()  # dynamic
    return _c(S=50)  # INVALID and every unassigned byte


def _build_table(ctx: int) -> tuple[tuple[int, ...], ...]:
    extra = DISPATCH_FROM_MEMORY if ctx == CTX_CREATE else _c()
    return tuple(tuple(_sum(DISPATCH, extra, _static_cost(op, ctx))) for op in range(256))


#: OPCODE_COSTS[ctx][op] = static cost vector of one execution of `op`
OPCODE_COSTS: Final = (_build_table(CTX_CALL), _build_table(CTX_DEPLOY), _build_table(CTX_CREATE))


# --------------------------------------------------------------------------------------------
# dynamic opcode costs


def sha3_cost(size: int) -> list[int]:
    return _sum(
        _c(S=40, K=_ceil_div(size + 1, 136)),
        save_mem(size),
        _times(2, DIV_ARITH),
        MUL_ARITH,
        _times(size // 32, _sum(_c(S=8), MLOAD_32)),
        MLOAD_X,
        SHR_ARITH,
    )


def log_cost(size: int) -> list[int]:
    pad = _ceil_div(size, 56) + 4
    return _sum(
        _c(S=34 + 7 * 4, B=1, P=pad, D=pad),
        save_mem(size),
        MUL_ARITH,
        DIV_ARITH,
        _times((size + 1) // 32, _sum(_c(S=10), MLOAD_32)),
        MLOAD_X,
        SHR_ARITH,
        _c(S=11, P=MCPL, B=1),  # log in the block-info tree (later forks; kept, conservative)
    )


def calldatacopy_cost(size: int) -> list[int]:
    return _sum(
        _c(S=100, B=2),
        save_mem(size),
        OFFSET_UTIL,
        _times(size // 32, _sum(_c(S=30, M=1), READ_CALLDATA, OFFSET_UTIL)),
        READ_CALLDATA,
        _times(2, MSTORE_X),
    )


def codecopy_cost(size: int, ctx: int) -> list[int]:
    if ctx != CTX_CALL:
        return calldatacopy_cost(size)
    return _sum(
        _c(S=40, B=3),
        save_mem(size),
        DIV_ARITH,
        MUL_ARITH,
        _times(size, _sum(_c(S=30, B=2, M=1), OFFSET_UTIL)),
    )


def extcodecopy_cost(size: int, code_length: int) -> list[int]:
    chunks = _ceil_div(code_length, 56)
    return _sum(
        _c(S=60, B=1, P=2 * MCP + chunks, D=chunks, M=size),
        MASK_ADDRESS,
        IS_COLD_ADDRESS,
        _times(2, DIV_ARITH),
        save_mem(size),
        MUL_ARITH,
        _times(size, _sum(_c(S=30, B=2, M=1), OFFSET_UTIL)),
    )


def returndatacopy_cost(size: int) -> list[int]:
    return _sum(
        _c(S=50, B=2),
        save_mem(size),
        DIV_ARITH,
        MUL_ARITH,
        _copy_out(size, _sum(_c(S=10), MLOAD_32, MSTORE_32)),
    )


def exp_cost(exponent: int) -> list[int]:
    n_bytes = _byte_len(exponent)
    bits = 8 * n_bytes
    get_len_bits = _sum(_c(S=12), _times(bits, _sum(_c(S=9, B=1), DIV_ARITH)))
    exp_ad = _sum(
        _c(S=30, B=2), get_len_bits, _times(bits, _sum(_c(S=12, B=2), DIV_ARITH, _times(2, MUL_ARITH)))
    )
    return _sum(get_len_bytes(n_bytes), exp_ad)


def call_cost(op: int, in_size: int, out_size: int, value: int, callee_code_length: int) -> list[int]:
    """CALL, CALLCODE, DELEGATECALL, STATICCALL. The model leaves out loading the callee's code and
    moving the value; both are added here (the ROM does both for every call)."""
    cost = _sum(
        _c(S=80),
        MASK_ADDRESS,
        save_mem(in_size),
        save_mem(out_size),
        IS_COLD_ADDRESS,
        GAS_SEND_CALL,
        CALL_BOOKKEEPING,
        read_code(callee_code_length),
    )
    if op in (0xF1, 0xF2):  # CALL CALLCODE
        cost = _sum(cost, _c(B=5))
    if op == 0xF1:
        cost = _sum(cost, IS_EMPTY_ACCOUNT)
    if value:
        cost = _sum(cost, MOVE_BALANCES)
    return cost


def create_cost(op: int, init_code_length: int, creator_nonce: int) -> list[int]:
    nonce_bytes = _byte_len(creator_nonce)
    if op == 0xF0:
        base = _sum(_c(S=70, B=3, P=3 * MCP), _c(S=40, K=1), MASK_ADDRESS)
    else:
        base = _sum(
            _c(S=80, B=4, P=2 * MCP),
            DIV_ARITH,
            _c(S=40, K=_ceil_div(init_code_length + 1, 136) + 2),
            DIV_ARITH,
            _times(init_code_length // 32, MLOAD_32),
            MLOAD_X,
            SHR_ARITH,
            MASK_ADDRESS,
        )
    return _sum(
        base,
        save_mem(init_code_length),
        get_len_bytes(nonce_bytes),
        GAS_SEND_CALL,
        CALL_BOOKKEEPING,
        MOVE_BALANCES,
    )


def return_cost(size: int, ctx: int) -> list[int]:
    cost = _sum(_c(S=30, B=1), save_mem(size))
    if ctx == CTX_CALL:
        return _sum(cost, _copy_out(size, _sum(_c(S=12), MLOAD_32, MSTORE_32)))
    # the deployed code gets its length and hash leaves
    return _sum(cost, _c(S=25, B=2, P=2 * MCP), CHECK_STARTS_EF, hash_code_from_memory(size))


def revert_cost(size: int) -> list[int]:
    return _sum(
        _c(S=40, B=1),
        REVERT_TOUCHED,
        save_mem(size),
        _copy_out(size, _sum(_c(S=12), MLOAD_32, MSTORE_32)),
    )


def ecrecover_precompile_cost(outcome: list[int]) -> list[int]:
    return _sum(_c(S=35, B=1), _times(4, READ_CALLDATA), outcome, MSTORE_32, MSTORE_X)


def identity_precompile_cost(size: int, return_size: int) -> list[int]:
    return _sum(
        _c(S=45, B=2),
        DIV_ARITH,
        _times(size // 32, _sum(_c(S=8), READ_CALLDATA, MSTORE_32)),
        READ_CALLDATA,
        MSTORE_X,
        _times(return_size // 32, _sum(_c(S=12), MLOAD_32, MSTORE_32)),
        MLOAD_X,
        MSTORE_X,
    )


UNSUPPORTED_PRECOMPILE: Final = _sum(_c(S=100), REVERT_TOUCHED)


class TxMeter:
    """The counters of one transaction while it runs.

    `counts[ctx][op]` counts executions of `op` in code of kind `ctx`; `extra` accumulates the
    data-dependent costs. Both are plain lists: the interpreter loop touches them once per opcode.
    """

    __slots__ = ("counts", "extra", "used")

    def __init__(self) -> None:
        self.counts: tuple[list[int], list[int], list[int]] = ([0] * 256, [0] * 256, [0] * 256)
        self.extra: list[int] = [0] * 7
        #: the code contexts that ran at all
        self.used = [False, False, False]

    def counts_for(self, ctx: int) -> list[int]:
        self.used[ctx] = True
        return self.counts[ctx]

    def add(self, cost: list[int]) -> None:
        extra = self.extra
        for i in range(7):
            extra[i] += cost[i]

    def executed(self, op: int) -> bool:
        return any(counts[op] for counts in self.counts)

    def total(self) -> Counters:
        out = list(self.extra)
        for ctx, counts in enumerate(self.counts):
            if not self.used[ctx]:
                continue
            table = OPCODE_COSTS[ctx]
            for op in [op for op, n in enumerate(counts) if n]:
                n, row = counts[op], table[op]
                out[0] += n * row[0]
                out[1] += n * row[1]
                out[2] += n * row[2]
                out[3] += n * row[3]
                out[4] += n * row[4]
                out[5] += n * row[5]
                out[6] += n * row[6]
        return Counters.from_vector(out)

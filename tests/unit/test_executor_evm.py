"""The fork-6 EVM of the executor on hand-assembled contracts (spec §6.4–§6.7).

Deployments, calls, reverts, out-of-gas, logs and the zkEVM's own opcodes (NUMBER, BLOCKHASH,
EXTCODEHASH, SELFDESTRUCT as SENDALL, PUSH0, unsupported precompiles), each checked on the state
tree the batch leaves behind. `Chain` and `asm` are also used by the integration tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from coincurve import PrivateKey
from eth._utils.address import generate_contract_address
from eth_typing import Address

from services.executor.errors import RomError
from services.executor.processor import BatchRequest, BatchResult, process_batch
from services.executor.state import (
    LocalStateTree,
    balance_key,
    code_hash_key,
    code_length_key,
    nonce_key,
    storage_key,
)
from services.executor.vm import ADDRESS_SYSTEM, state_root_slot
from zkevm.bytecode import bytecode_hash_bytes
from zkevm.field import H4, ZERO_H4, bytes_to_h4, h4_to_bytes, h4_to_int
from zkevm.genesis import GenesisAccount, build_genesis
from zkevm.hashing import keccak256
from zkevm.nodestore import MemoryNodeStore
from zkevm.transaction import L2Transaction, encode_batch_l2_data, sign_transaction

CHAIN_ID = 1000
GWEI = 10**9
ETHER = 10**18
SEQUENCER = bytes.fromhex("617b3a3528f9cdd6630fd3301b9c8911f7bf063d")
GER = bytes.fromhex("090bcaf734c4f06c93954a827b45a6e8c67b8e0fd1e0a35a1c5982d6961828f9")
TIMESTAMP = 1_944_498_031

# -- a tiny assembler --------------------------------------------------------------------------

OPCODES = {
    "STOP": 0x00, "ADD": 0x01, "MUL": 0x02, "SUB": 0x03, "LT": 0x10, "EQ": 0x14, "ISZERO": 0x15,
    "SHA3": 0x20, "ADDRESS": 0x30, "BALANCE": 0x31, "CALLER": 0x33, "CALLVALUE": 0x34,
    "CALLDATALOAD": 0x35, "CALLDATASIZE": 0x36, "CALLDATACOPY": 0x37, "CODECOPY": 0x39, "GASPRICE": 0x3A,
    "EXTCODESIZE": 0x3B, "RETURNDATASIZE": 0x3D, "EXTCODEHASH": 0x3F, "BLOCKHASH": 0x40,
    "COINBASE": 0x41, "TIMESTAMP": 0x42, "NUMBER": 0x43, "DIFFICULTY": 0x44, "GASLIMIT": 0x45,
    "CHAINID": 0x46, "SELFBALANCE": 0x47, "BASEFEE": 0x48, "POP": 0x50, "MLOAD": 0x51,
    "MSTORE": 0x52, "SLOAD": 0x54, "SSTORE": 0x55, "JUMP": 0x56, "JUMPI": 0x57, "GAS": 0x5A,
    "JUMPDEST": 0x5B, "PUSH0": 0x5F, "DUP1": 0x80, "DUP2": 0x81, "SWAP1": 0x90, "LOG0": 0xA0,
    "LOG1": 0xA1, "LOG2": 0xA2, "CREATE": 0xF0, "CALL": 0xF1, "RETURN": 0xF3, "DELEGATECALL": 0xF4,
    "CREATE2": 0xF5, "STATICCALL": 0xFA, "REVERT": 0xFD, "INVALID": 0xFE, "SELFDESTRUCT": 0xFF,
}  # fmt: skip


def push(value: int | bytes) -> bytes:
    data = value if isinstance(value, bytes) else value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    assert 1 <= len(data) <= 32
    return bytes((0x5F + len(data),)) + data


def asm(*items: str | int | bytes) -> bytes:
    """Mnemonics, ints (pushed with the smallest PUSHn) and raw bytes (use `push(b"...")` to push)."""
    out = b""
    for item in items:
        if isinstance(item, str):
            out += bytes((OPCODES[item],))
        elif isinstance(item, int):
            out += push(item)
        else:
            out += item
    return out


def deploy_code(runtime: bytes) -> bytes:
    """Init code that returns `runtime`."""
    n = len(runtime)
    # PUSH n, PUSH offset, PUSH 0, CODECOPY, PUSH n, PUSH 0, RETURN  (offset = length of this prefix)
    prefix_len = len(asm(n, 0xFF, 0, "CODECOPY", n, 0, "RETURN"))
    return asm(n, prefix_len, 0, "CODECOPY", n, 0, "RETURN") + runtime


def returns_word(*body: str | int | bytes) -> bytes:
    """Run `body` (leaves a word on the stack), return it as 32 bytes."""
    return asm(*body, 0, "MSTORE", 32, 0, "RETURN")


# -- accounts and a chain of batches on a local tree ---------------------------------------------


@dataclass(frozen=True)
class Wallet:
    key: bytes

    @property
    def address(self) -> bytes:
        pub = PrivateKey(self.key).public_key.format(compressed=False)
        return keccak256(pub[1:])[12:]

    def tx(
        self,
        nonce: int,
        to: bytes | None,
        *,
        value: int = 0,
        data: bytes = b"",
        gas_limit: int = 1_000_000,
        gas_price: int = GWEI,
        chain_id: int | None = CHAIN_ID,
        effective_percentage: int = 0xFF,
    ) -> L2Transaction:
        return sign_transaction(
            nonce=nonce,
            gas_price=gas_price,
            gas_limit=gas_limit,
            to=to,
            value=value,
            data=data,
            chain_id=chain_id,
            private_key=self.key,
            effective_percentage=effective_percentage,
        )


def wallet(n: int) -> Wallet:
    return Wallet(keccak256(b"zkseq test wallet %d" % n))


ALICE, BOB = wallet(1), wallet(2)


def contract_address(sender: bytes, nonce: int) -> bytes:
    return bytes(generate_contract_address(Address(sender), nonce))


@dataclass
class Chain:
    """Consecutive batches on one in-memory tree, starting from a genesis."""

    accounts: Sequence[GenesisAccount] = ()
    store: MemoryNodeStore = field(default_factory=MemoryNodeStore)
    root: H4 = ZERO_H4
    acc_input_hash: bytes = bytes(32)
    batch_num: int = 0
    tree: LocalStateTree = field(init=False)

    def __post_init__(self) -> None:
        self.root = build_genesis(self.accounts, self.store)
        self.tree = LocalStateTree(self.store)

    @classmethod
    def funded(cls, *extra: GenesisAccount) -> Chain:
        return cls(
            [GenesisAccount(ALICE.address, 100 * ETHER), GenesisAccount(BOB.address, 100 * ETHER), *extra]
        )

    def request(self, txs: Sequence[L2Transaction] | bytes, **overrides: object) -> BatchRequest:
        data = txs if isinstance(txs, bytes) else encode_batch_l2_data(txs)
        fields: dict[str, object] = {
            "old_state_root": h4_to_bytes(self.root),
            "batch_l2_data": data,
            "global_exit_root": GER,
            "timestamp": TIMESTAMP,
            "coinbase": SEQUENCER,
            "chain_id": CHAIN_ID,
            "old_acc_input_hash": self.acc_input_hash,
            "old_batch_num": self.batch_num,
        }
        fields.update(overrides)
        return BatchRequest(**fields)  # type: ignore[arg-type]

    def run(self, txs: Sequence[L2Transaction] | bytes, **overrides: object) -> BatchResult:
        result = process_batch(self.request(txs, **overrides), self.tree)
        self.root = bytes_to_h4(result.new_state_root)
        self.acc_input_hash = result.new_acc_input_hash
        self.batch_num = result.new_batch_num
        return result

    def leaf(self, key: H4) -> int:
        return self.tree.get_values(self.root, [key])[0]

    def balance(self, address: bytes) -> int:
        return self.leaf(balance_key(address))

    def nonce(self, address: bytes) -> int:
        return self.leaf(nonce_key(address))

    def storage(self, address: bytes, slot: int) -> int:
        return self.leaf(storage_key(address, slot))

    def code(self, address: bytes) -> tuple[int, int]:
        return self.leaf(code_hash_key(address)), self.leaf(code_length_key(address))


def with_code(
    address: bytes, runtime: bytes, balance: int = 0, storage: dict[int, int] | None = None
) -> GenesisAccount:
    return GenesisAccount(address, balance=balance, nonce=1, bytecode=runtime, storage=storage or {})


C1 = bytes.fromhex("00000000000000000000000000000000000c0de1")
C2 = bytes.fromhex("00000000000000000000000000000000000c0de2")


# -- deployments -----------------------------------------------------------------------------


def test_deployment_writes_code_leaves_and_nonce_one() -> None:
    runtime = returns_word(42)
    chain = Chain.funded()
    result = chain.run([ALICE.tx(0, None, data=deploy_code(runtime))])
    tx = result.txs[0]
    created = contract_address(ALICE.address, 0)
    assert tx.error is RomError.NO_ERROR
    assert tx.create_address == created
    assert chain.nonce(created) == 1
    assert chain.code(created) == (int.from_bytes(bytecode_hash_bytes(runtime)), len(runtime))
    # and it runs: a call returns 42
    call = chain.run([ALICE.tx(1, created)]).txs[0]
    assert call.error is RomError.NO_ERROR
    assert int.from_bytes(call.return_value) == 42


def test_deployment_of_code_starting_with_ef_fails_and_uses_all_gas() -> None:
    chain = Chain.funded()
    before = chain.balance(ALICE.address)
    tx = chain.run([ALICE.tx(0, None, data=deploy_code(b"\xef\x00"), gas_limit=200_000)]).txs[0]
    created = contract_address(ALICE.address, 0)
    assert tx.error is RomError.INVALID_BYTECODE_STARTS_EF
    assert tx.gas_used == 200_000
    assert chain.code(created) == (0, 0)
    assert chain.nonce(created) == 0
    assert chain.nonce(ALICE.address) == 1
    assert chain.balance(ALICE.address) == before - 200_000 * GWEI


def test_contract_creates_a_contract() -> None:
    child = returns_word(7)
    init = deploy_code(child)
    # factory: copy `init` (appended after the factory code) to memory, CREATE it, store the address
    body_len = len(asm(len(init), 0xFF, 0, "CODECOPY", len(init), 0, 0, "CREATE", 0, "SSTORE", "STOP"))
    factory = asm(len(init), body_len, 0, "CODECOPY", len(init), 0, 0, "CREATE", 0, "SSTORE", "STOP") + init
    chain = Chain.funded(with_code(C1, factory))
    tx = chain.run([ALICE.tx(0, C1)]).txs[0]
    assert tx.error is RomError.NO_ERROR
    created = contract_address(C1, 1)  # the factory's nonce was 1
    assert chain.storage(C1, 0) == int.from_bytes(created)
    assert chain.nonce(C1) == 2
    assert chain.code(created)[1] == len(child)


# -- calls, reverts, out of gas, logs ------------------------------------------------------------

COUNTER = asm(
    0, "SLOAD", 1, "ADD", "DUP1", 0, "SSTORE",  # slot0 += 1, keep the new value
    "DUP1", 0, "MSTORE",
    0xABC, 32, 0, "LOG1",  # LOG1(topic 0xabc, data = new value)
    32, 0, "RETURN",
)  # fmt: skip


def test_call_updates_storage_returns_and_logs() -> None:
    chain = Chain.funded(with_code(C1, COUNTER, storage={0: 41}))
    result = chain.run([ALICE.tx(0, C1), ALICE.tx(1, C1)])
    first, second = result.txs
    assert (first.error, second.error) == (RomError.NO_ERROR, RomError.NO_ERROR)
    assert int.from_bytes(second.return_value) == 43
    assert chain.storage(C1, 0) == 43
    (log,) = first.logs
    assert log.address == C1
    assert log.topics == ((0xABC).to_bytes(32, "big"),)
    assert int.from_bytes(log.data) == 42
    # the first SSTORE of slot 0 in a tx: cold (2100) + reset (2900)
    assert first.gas_used > 21_000 + 5_000


def test_revert_keeps_nonce_and_fee_but_no_state_and_returns_data() -> None:
    reverter = asm(1, 0, "SSTORE", 0x2A, 0, "MSTORE", 32, 0, "REVERT")
    chain = Chain.funded(with_code(C1, reverter))
    before = chain.balance(ALICE.address)
    tx = chain.run([ALICE.tx(0, C1, value=5)]).txs[0]
    assert tx.error is RomError.EXECUTION_REVERTED
    assert int.from_bytes(tx.return_value) == 0x2A
    assert tx.logs == ()
    assert 21_000 < tx.gas_used < 1_000_000  # unused gas came back
    assert chain.storage(C1, 0) == 0
    assert chain.balance(C1) == 0  # the value went back too
    assert chain.nonce(ALICE.address) == 1
    assert chain.balance(ALICE.address) == before - tx.gas_used * GWEI
    assert chain.balance(SEQUENCER) == tx.gas_used * GWEI


def test_out_of_gas_consumes_all_gas() -> None:
    loop = asm("JUMPDEST", 0, "JUMP")
    chain = Chain.funded(with_code(C1, loop))
    tx = chain.run([ALICE.tx(0, C1, gas_limit=50_000)]).txs[0]
    assert tx.error is RomError.OUT_OF_GAS
    assert tx.gas_used == 50_000
    assert tx.gas_left == 0


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (asm("INVALID"), RomError.INVALID_OPCODE),
        (asm("BASEFEE"), RomError.INVALID_OPCODE),  # no EIP-3198 in fork 6
        (asm("ADD"), RomError.STACK_UNDERFLOW),
        (asm(5, "JUMP"), RomError.INVALID_JUMP),
    ],
)
def test_exceptional_halts(code: bytes, error: RomError) -> None:
    chain = Chain.funded(with_code(C1, code))
    tx = chain.run([ALICE.tx(0, C1, gas_limit=100_000)]).txs[0]
    assert tx.error is error
    assert tx.gas_used == 100_000


def test_static_call_cannot_write() -> None:
    writer = asm(1, 0, "SSTORE", "STOP")
    caller = asm(0, 0, 0, 0, push(C2), "GAS", "STATICCALL", 0, "SSTORE", "STOP")
    chain = Chain.funded(with_code(C1, caller, storage={0: 9}), with_code(C2, writer))
    assert chain.run([ALICE.tx(0, C1)]).txs[0].error is RomError.NO_ERROR
    assert chain.storage(C1, 0) == 0  # STATICCALL returned 0
    assert chain.storage(C2, 0) == 0


def test_refund_is_capped_at_half_the_gas_used() -> None:
    clear = asm(0, 0, "SSTORE", "STOP")
    chain = Chain.funded(with_code(C1, clear, storage={0: 1}))
    tx = chain.run([ALICE.tx(0, C1)]).txs[0]
    # 21000 + PUSH/PUSH (6) + cold SSTORE to 0 (2100 + 2900) = 26006; refund 15000 capped at 13003
    assert tx.gas_refunded == 26_006 // 2
    assert tx.gas_used == 26_006 - 26_006 // 2


# -- the zkEVM's own opcodes ---------------------------------------------------------------------


def test_block_context_opcodes() -> None:
    probe = asm(
        "NUMBER", 0, "SSTORE", "COINBASE", 1, "SSTORE", "TIMESTAMP", 2, "SSTORE",
        "DIFFICULTY", 3, "SSTORE", "GASLIMIT", 4, "SSTORE", "CHAINID", 5, "SSTORE",
        "GASPRICE", 6, "SSTORE", "STOP",
    )  # fmt: skip
    chain = Chain.funded(with_code(C1, probe))
    chain.run([BOB.tx(0, None, data=b"", gas_limit=60_000)])  # tx 1 (a deployment of nothing)
    result = chain.run([ALICE.tx(0, C1, gas_price=2 * GWEI, effective_percentage=0x7F)])
    assert result.txs[0].error is RomError.NO_ERROR
    assert chain.storage(C1, 0) == 2  # the second transaction overall
    assert chain.storage(C1, 1) == int.from_bytes(SEQUENCER)
    assert chain.storage(C1, 2) == TIMESTAMP
    assert chain.storage(C1, 3) == 0
    assert chain.storage(C1, 4) == 30_000_000
    assert chain.storage(C1, 5) == CHAIN_ID
    assert chain.storage(C1, 6) == GWEI  # floor(2 gwei · 128 / 256): the effective price


def test_blockhash_is_the_root_recorded_after_that_transaction() -> None:
    probe = asm(1, "BLOCKHASH", 0, "SSTORE", 2, "BLOCKHASH", 1, "SSTORE", 9, "BLOCKHASH", 2, "SSTORE", "STOP")
    chain = Chain.funded(with_code(C1, probe))
    result = chain.run([BOB.tx(0, BOB.address), ALICE.tx(0, C1)])
    first, _ = result.txs
    # §6.6: after tx n the system contract holds n in slot 0 and, at keccak(n ‖ 1), the root R_n
    # of the tree with the tx's effects and that slot-0 write; the tx's state root S_n adds R_n.
    root_key, recorded = first.write_set[-1]
    assert root_key == storage_key(ADDRESS_SYSTEM, state_root_slot(1))
    s_1 = bytes_to_h4(first.state_root)
    assert chain.tree.set_values(s_1, [(root_key, 0)]) == bytes_to_h4(recorded.to_bytes(32, "big"))
    assert chain.storage(C1, 0) == recorded
    assert chain.storage(C1, 1) == 0  # its own number: not recorded yet
    assert chain.storage(C1, 2) == 0
    assert chain.storage(ADDRESS_SYSTEM, 0) == 2


def test_extcodehash_is_the_linear_poseidon_hash() -> None:
    runtime = asm(0, "SLOAD", "STOP")
    probe = asm(push(C2), "EXTCODEHASH", 0, "SSTORE", push(ALICE.address), "EXTCODEHASH", 1, "SSTORE",
                push(C2), "EXTCODESIZE", 2, "SSTORE", "STOP")  # fmt: skip
    chain = Chain.funded(with_code(C1, probe), with_code(C2, runtime))
    assert chain.run([ALICE.tx(0, C1)]).txs[0].error is RomError.NO_ERROR
    assert chain.storage(C1, 0) == int.from_bytes(bytecode_hash_bytes(runtime))
    assert chain.storage(C1, 1) == 0  # an EOA with a balance has no code hash
    assert chain.storage(C1, 2) == len(runtime)


def test_push0() -> None:
    chain = Chain.funded(with_code(C1, asm(7, "PUSH0", "SSTORE", "STOP")))
    assert chain.run([ALICE.tx(0, C1)]).txs[0].error is RomError.NO_ERROR
    assert chain.storage(C1, 0) == 7


def test_selfdestruct_is_sendall() -> None:
    beneficiary = bytes.fromhex("0000000000000000000000000000000000000001")
    code = asm(push(beneficiary), "SELFDESTRUCT")
    chain = Chain.funded(with_code(C1, code, balance=5 * ETHER, storage={3: 4}))
    tx = chain.run([ALICE.tx(0, C1)]).txs[0]
    assert tx.error is RomError.NO_ERROR
    assert chain.balance(C1) == 0
    assert chain.balance(beneficiary) == 5 * ETHER
    assert chain.code(C1)[1] == len(code)  # nothing deleted
    assert chain.storage(C1, 3) == 4
    assert chain.nonce(C1) == 1
    # SENDALL 5000 + 25000 (empty beneficiary) + 2600? no: 0x01 is a precompile, always warm
    assert tx.gas_used == 21_000 + 3 + 5_000 + 25_000


def test_selfdestruct_with_no_balance_charges_no_access_cost() -> None:
    target = bytes.fromhex("00000000000000000000000000000000000000aa")
    chain = Chain.funded(with_code(C1, asm(push(target), "SELFDESTRUCT")))
    tx = chain.run([ALICE.tx(0, C1)]).txs[0]
    assert tx.gas_used == 21_000 + 3 + 5_000  # the ROM: no 2600 cold charge when nothing moves


def test_unsupported_precompile_fails_and_returns_the_gas() -> None:
    # CALL(gas, 0x02 sha256, 0, 0, 0, 0, 0) -> slot 0; RETURNDATASIZE -> slot 1
    caller = asm(0, 0, 0, 0, 0, 2, "GAS", "CALL", 0, "SSTORE", "RETURNDATASIZE", 1, "SSTORE", "STOP")
    identity_caller = asm(0, 0, 0, 0, 0, 4, "GAS", "CALL", 0, "SSTORE", "STOP")
    chain = Chain.funded(with_code(C1, caller, storage={0: 5, 1: 5}), with_code(C2, identity_caller))
    result = chain.run([ALICE.tx(0, C1, gas_limit=1_000_000), ALICE.tx(1, C2, gas_limit=1_000_000)])
    unsupported, identity = result.txs
    assert identity.error is RomError.NO_ERROR
    assert unsupported.error is RomError.NO_ERROR
    assert chain.storage(C1, 0) == 0  # the call failed
    assert chain.storage(C1, 1) == 0
    assert unsupported.gas_used < 40_000  # the ~975k forwarded were not consumed
    assert chain.storage(C2, 0) == 1  # identity is supported


def test_transaction_to_an_unsupported_precompile_reverts_and_keeps_the_value() -> None:
    sha256 = bytes.fromhex("0000000000000000000000000000000000000002")
    chain = Chain.funded()
    before = chain.balance(ALICE.address)
    tx = chain.run([ALICE.tx(0, sha256, value=ETHER, gas_limit=100_000)]).txs[0]
    assert tx.error is RomError.EXECUTION_REVERTED
    assert tx.gas_used == 21_000
    assert chain.balance(sha256) == 0
    assert chain.balance(ALICE.address) == before - 21_000 * GWEI


def test_ecrecover_precompile() -> None:
    message_hash = keccak256(b"zkseq")
    signature = PrivateKey(ALICE.key).sign_recoverable(message_hash, hasher=None)
    calldata = message_hash + (27 + signature[64]).to_bytes(32, "big") + signature[:32] + signature[32:64]
    # copy the calldata to memory, CALL 0x01, store the returned word
    code = asm(
        "CALLDATASIZE", 0, 0, "CALLDATACOPY",  # memory[0:128] = calldata
        32, 128, 128, 0, 0, 1, "GAS", "CALL",  # CALL(gas, 0x01, 0, in 0..128, out 128..160)
        "POP", 128, "MLOAD", 0, "SSTORE", "STOP",
    )  # fmt: skip
    chain = Chain.funded(with_code(C1, code))
    assert chain.run([ALICE.tx(0, C1, data=calldata)]).txs[0].error is RomError.NO_ERROR
    assert chain.storage(C1, 0) == int.from_bytes(ALICE.address)


# -- the system contract and roots ------------------------------------------------------------


def test_every_included_transaction_is_an_l2_block() -> None:
    chain = Chain.funded()
    result = chain.run(
        [ALICE.tx(0, BOB.address, value=1), ALICE.tx(5, BOB.address), ALICE.tx(1, BOB.address)]
    )
    ok1, skipped, ok2 = result.txs
    assert skipped.error is RomError.INTRINSIC_INVALID_NONCE
    assert skipped.state_root == ok1.state_root  # no trace
    assert skipped.write_set == ()
    assert chain.storage(ADDRESS_SYSTEM, 0) == 2
    assert result.new_state_root == ok2.state_root
    assert h4_to_int(bytes_to_h4(ok1.state_root)) != 0
    assert result.cumulative_gas_used == 42_000


def test_unsigned_call_with_from() -> None:
    """eth_call: a transaction with no valid signature runs as `from_address`."""
    chain = Chain.funded(with_code(C1, COUNTER, storage={0: 1}))
    unsigned = L2Transaction(0, 0, 100_000, C1, 0, b"", CHAIN_ID, 0, 0, 27, 0xFF)
    result = chain.run([unsigned], from_address=BOB.address, no_counters=True)
    assert result.txs[0].error is RomError.NO_ERROR
    assert result.txs[0].sender == BOB.address
    assert int.from_bytes(result.txs[0].return_value) == 2

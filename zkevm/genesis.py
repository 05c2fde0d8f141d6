"""Genesis: the state root of a list of pre-funded accounts and pre-deployed contracts (spec §4.2).

For each account: balance and nonce leaves; with bytecode, the code-hash and code-length leaves and
the bytecode itself in the program store; then each non-zero storage slot. Zero values write nothing.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from zkevm.bytecode import bytecode_hash
from zkevm.field import H4, ZERO_H4, h4_to_int
from zkevm.nodestore import NodeStore
from zkevm.smt import SparseMerkleTree
from zkevm.state_keys import balance_key, code_hash_key, code_length_key, nonce_key, storage_key


@dataclass(frozen=True, slots=True)
class GenesisAccount:
    address: bytes
    balance: int = 0
    nonce: int = 0
    #: None: no code leaves (an EOA). b"": the reference's edge case of a present but empty bytecode,
    #: which writes the hash of empty code (spec §4.2); avoid it in new genesis files.
    bytecode: bytes | None = None
    storage: Mapping[int, int] = field(default_factory=dict)


def genesis_writes(accounts: Iterable[GenesisAccount]) -> list[tuple[H4, int]]:
    """The tree writes of a genesis, in the reference's order."""
    writes: list[tuple[H4, int]] = []
    for acc in accounts:
        writes.append((balance_key(acc.address), acc.balance))
        writes.append((nonce_key(acc.address), acc.nonce))
        if acc.bytecode is not None:
            writes.append((code_hash_key(acc.address), h4_to_int(bytecode_hash(acc.bytecode))))
            writes.append((code_length_key(acc.address), len(acc.bytecode)))
        for slot, value in acc.storage.items():
            writes.append((storage_key(acc.address, slot), value))
    return writes


def build_genesis(accounts: Iterable[GenesisAccount], store: NodeStore) -> H4:
    """Write the genesis into `store` and return its root."""
    accounts = list(accounts)
    for acc in accounts:
        if acc.bytecode is not None:
            store.put_program(bytecode_hash(acc.bytecode), acc.bytecode)
    return SparseMerkleTree(store).set_many(ZERO_H4, genesis_writes(accounts))

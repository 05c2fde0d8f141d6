"""State keys, bytecode hashes, genesis roots and batch hashes against the vector files."""

from typing import Any

import pytest

from tests.conftest import load_vector
from zkevm import state_keys
from zkevm.batch import acc_input_hash, batch_hash_data
from zkevm.bytecode import bytecode_hash, bytecode_hash_bytes, padding_pg_count
from zkevm.errors import EncodingError
from zkevm.field import h4_to_hex, h4_to_int, hex_to_bytes, parse_int
from zkevm.genesis import GenesisAccount, build_genesis
from zkevm.nodestore import MemoryNodeStore
from zkevm.smt import SparseMerkleTree

KEY_FILES = {
    "smt-key-eth-balance.json": state_keys.balance_key,
    "smt-key-eth-nonce.json": state_keys.nonce_key,
    "smt-key-contract-code.json": state_keys.code_hash_key,
    "smt-key-contract-length.json": state_keys.code_length_key,
}


@pytest.mark.parametrize("name", sorted(KEY_FILES))
def test_account_keys(name: str) -> None:
    cases = load_vector(f"merkle-tree/{name}")
    assert cases
    for c in cases:
        got = KEY_FILES[name](hex_to_bytes(c["ethAddr"], 20))
        assert h4_to_int(got) == parse_int(c["expectedKey"])
        assert state_keys.key_for(state_keys.LeafType(c["leafType"]), hex_to_bytes(c["ethAddr"], 20)) == got


def test_storage_keys() -> None:
    for c in load_vector("merkle-tree/smt-key-contract-storage.json"):
        addr = hex_to_bytes(c["ethAddr"], 20)
        got = state_keys.storage_key(addr, parse_int(c["storagePosition"]))
        assert h4_to_int(got) == parse_int(c["expectedKey"])


def test_bytecode_hashes() -> None:
    cases = load_vector("merkle-tree/smt-hash-bytecode.json")
    assert len(cases) >= 13
    for c in cases:
        code = hex_to_bytes(c["bytecode"])
        assert h4_to_hex(bytecode_hash(code)) == c["expectedHash"]
        assert "0x" + bytecode_hash_bytes(code).hex() == c["expectedHash"]


def test_padding_counter() -> None:
    assert [padding_pg_count(n) for n in (0, 54, 55, 56, 111)] == [1, 1, 1, 2, 2]


def accounts(entries: list[dict[str, Any]]) -> list[GenesisAccount]:
    return [
        GenesisAccount(
            address=hex_to_bytes(e["address"], 20),
            balance=parse_int(e["balance"]),
            nonce=parse_int(e["nonce"]),
            bytecode=hex_to_bytes(e["bytecode"]) if "bytecode" in e else None,
            storage={parse_int(k): parse_int(v) for k, v in e.get("storage", {}).items()},
        )
        for e in entries
    ]


@pytest.mark.parametrize("name", ["smt-genesis.json", "smt-full-genesis.json"])
def test_genesis_roots(name: str) -> None:
    for c in load_vector(f"merkle-tree/{name}"):
        store = MemoryNodeStore()
        accs = accounts(c["addresses"])
        root = build_genesis(accs, store)
        assert h4_to_int(root) == parse_int(c["expectedRoot"])
        tree = SparseMerkleTree(store)
        final = {acc.address: acc for acc in accs}  # a file may list an address twice; the last wins
        for acc in final.values():
            assert tree.get(root, state_keys.balance_key(acc.address)) == acc.balance
            assert tree.get(root, state_keys.nonce_key(acc.address)) == acc.nonce
        for acc in accs:
            if acc.bytecode:
                assert store.get_program(bytecode_hash(acc.bytecode)) == acc.bytecode


BATCH_FILES = [
    "processor/state-transition.json",
    "block-info/block-info.json",
    "selfdestruct/selfdestruct.json",
    "end-to-end/state-transition.json",
    "zkevm-db/state-transition.json",
]


@pytest.mark.parametrize("name", BATCH_FILES)
def test_old_roots_and_acc_input_hashes(name: str) -> None:
    for c in load_vector(name):
        assert h4_to_hex(build_genesis(accounts(c["genesis"]), MemoryNodeStore())) == c["expectedOldRoot"]
        l2 = hex_to_bytes(c["batchL2Data"])
        if name != "zkevm-db/state-transition.json":  # its batchHashData is stale: spec §6.10 quirk 11
            assert "0x" + batch_hash_data(l2).hex() == c["batchHashData"]
        got = acc_input_hash(
            hex_to_bytes(c["oldAccInputHash"], 32),
            batch_hash_data(l2),
            hex_to_bytes(c["globalExitRoot"], 32),
            parse_int(c["timestamp"]),
            hex_to_bytes(c["sequencerAddress"], 20),
        )
        assert "0x" + got.hex() == c["expectedNewAccInputHash"]


def test_acc_input_hash_rejects_wrong_widths() -> None:
    with pytest.raises(EncodingError, match="global_exit_root must be 32 bytes"):
        acc_input_hash(bytes(32), bytes(32), bytes(31), 0, bytes(20))
    with pytest.raises(EncodingError, match="timestamp"):
        acc_input_hash(bytes(32), bytes(32), bytes(32), 2**64, bytes(20))


def test_address_width_is_checked() -> None:
    with pytest.raises(EncodingError, match="20 bytes"):
        state_keys.balance_key(bytes(19))

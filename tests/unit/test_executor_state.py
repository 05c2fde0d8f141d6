"""The executor's account database over state leaves: read cache, journal, write sets (state.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pytest
from eth_typing import Address

from services.executor.errors import StateUnavailable
from services.executor.state import (
    BatchState,
    LocalStateTree,
    ZkAccountDB,
    balance_key,
    code_hash_key,
    code_length_key,
    nonce_key,
    storage_key,
)
from zkevm.bytecode import bytecode_hash, bytecode_hash_bytes
from zkevm.field import H4, ZERO_H4, h4_to_int
from zkevm.genesis import GenesisAccount, build_genesis
from zkevm.nodestore import MemoryNodeStore

A = Address(bytes.fromhex("00000000000000000000000000000000000000aa"))
B = Address(bytes.fromhex("00000000000000000000000000000000000000bb"))


class CountingTree:
    """A `StateTree` twin that counts the calls the executor makes."""

    def __init__(self, store: MemoryNodeStore) -> None:
        self.inner = LocalStateTree(store)
        self.get_calls: list[int] = []

    def get_values(self, root: H4, keys: Sequence[H4]) -> list[int]:
        self.get_calls.append(len(keys))
        return self.inner.get_values(root, keys)

    def set_values(self, root: H4, writes: Sequence[tuple[H4, int]], tx: int = 0) -> H4:
        return self.inner.set_values(root, writes, tx)

    def warm(self, root: H4, keys: Sequence[H4], ahead: Callable[[], Sequence[H4]]) -> None:
        self.inner.warm(root, keys, ahead)

    def get_program(self, code_hash: H4) -> bytes | None:
        return self.inner.get_program(code_hash)

    def put_programs(self, programs: Mapping[H4, bytes]) -> None:
        self.inner.put_programs(programs)


def make(accounts: list[GenesisAccount]) -> tuple[ZkAccountDB, BatchState, CountingTree]:
    store = MemoryNodeStore()
    root = build_genesis(accounts, store)
    tree = CountingTree(store)
    batch = BatchState(tree, root)
    return ZkAccountDB(batch), batch, tree


def test_reads_are_cached_for_the_batch_and_prefetched_in_one_call() -> None:
    db, batch, tree = make([GenesisAccount(A, balance=7, nonce=3)])
    batch.prefetch([balance_key(A), nonce_key(A), balance_key(A), balance_key(B)])
    assert tree.get_calls == [3]
    assert (db.get_balance(A), db.get_nonce(A), db.get_balance(B)) == (7, 3, 0)
    assert tree.get_calls == [3]
    db.get_storage(A, 1)
    db.get_storage(A, 1)
    assert tree.get_calls == [3, 1]
    assert (batch.reads, batch.read_keys) == (2, 4)


def test_nested_checkpoints_undo_writes_and_warm_marks() -> None:
    db, _, _ = make([GenesisAccount(A, balance=10)])
    db.set_balance(A, 11)
    outer = db.record()
    db.set_balance(A, 12)
    db.mark_address_warm(B)
    inner = db.record()
    db.set_storage(A, 5, 99)
    db.mark_storage_warm(A, 5)
    db.discard(inner)
    assert db.get_storage(A, 5) == 0
    assert not db.is_storage_warm(A, 5)
    assert db.is_address_warm(B)
    db.commit(outer)
    assert db.get_balance(A) == 12
    db.discard(outer)  # committed entries are still undone by an outer revert
    assert db.get_balance(A) == 11
    assert not db.is_address_warm(B)


def test_original_storage_values_are_the_transaction_start() -> None:
    db, _, _ = make([GenesisAccount(A, nonce=1, bytecode=b"\x00", storage={1: 5})])
    db.set_storage(A, 1, 6)
    db.set_storage(A, 1, 7)
    assert db.get_storage(A, 1) == 7
    assert db.get_storage(A, 1, from_journal=False) == 5
    db.take_write_set()
    db.lock_changes()
    assert db.get_storage(A, 1, from_journal=False) == 7


def test_write_set_has_only_changed_leaves_and_feeds_the_cache() -> None:
    db, batch, _ = make([GenesisAccount(A, balance=10, nonce=1)])
    db.set_balance(A, 10)  # unchanged
    db.increment_nonce(A)
    db.set_storage(B, 3, 4)
    db.set_storage(B, 3, 0)  # back to absent
    writes = db.take_write_set()
    assert writes == [(nonce_key(A), 2)]
    assert batch.values[nonce_key(A)] == 2
    db.lock_changes()
    assert db.get_nonce(A) == 2


def test_lock_changes_refuses_untaken_writes() -> None:
    db, _, _ = make([])
    db.set_nonce(A, 1)
    with pytest.raises(RuntimeError):
        db.lock_changes()
    db.drop_pending()
    db.lock_changes()
    assert db.get_nonce(A) == 0


def test_code_lives_in_two_leaves_and_the_program_store() -> None:
    code = b"\x60\x01\x60\x00\x55"
    db, batch, _ = make([GenesisAccount(A, nonce=1, bytecode=code)])
    assert db.get_code(A) == code
    assert db.get_code_hash(A) == bytecode_hash_bytes(code)
    assert db.get_code_hash(B) == bytes(32)
    assert db.account_has_code_or_nonce(A) and not db.account_has_code_or_nonce(B)
    new_code = b"\x00\x01"
    db.set_code(B, new_code)
    writes = dict(db.take_write_set())
    assert writes == {code_hash_key(B): h4_to_int(bytecode_hash(new_code)), code_length_key(B): 2}
    assert batch.new_programs == {bytecode_hash(new_code): new_code}


def test_empty_means_no_balance_no_nonce_no_code() -> None:
    db, _, _ = make([GenesisAccount(A, balance=1)])
    assert not db.account_is_empty(A) and db.account_exists(A)
    assert db.account_is_empty(B) and not db.account_exists(B)
    db.touch_account(B)
    assert db.account_is_empty(B)
    with pytest.raises(NotImplementedError):
        db.delete_account(A)


def test_missing_bytecode_and_unknown_roots_are_state_unavailable() -> None:
    store = MemoryNodeStore()
    root = build_genesis([GenesisAccount(A, nonce=1, bytecode=b"\x01")], store)
    store.programs.clear()
    db = ZkAccountDB(BatchState(LocalStateTree(store), root))
    with pytest.raises(StateUnavailable):
        db.get_code(A)
    unknown = ZkAccountDB(BatchState(LocalStateTree(store), (1, 2, 3, 4)))
    with pytest.raises(StateUnavailable):
        unknown.get_balance(A)
    empty = ZkAccountDB(BatchState(LocalStateTree(store), ZERO_H4))
    assert empty.get_balance(A) == 0
    assert storage_key(A, 0) != storage_key(B, 0)

"""The executor's view of the L2 state: py-evm accounts over the zkEVM sparse Merkle tree.

The state of fork 6 is one SMT of leaves (spec §4): per account a balance, a nonce, a code hash and
a code length leaf, and one leaf per storage slot; absent leaf = 0. py-evm, which runs the EVM,
wants an `AccountDatabaseAPI`; this module gives it one whose every field is such a leaf.

    py-evm computation ──get/set balance, nonce, code, storage──▶ ZkAccountDB (one per batch)
                                                                    │  pending: this tx's writes,
                                                                    │  undo journal per call frame
                                                                    ▼
                                                     BatchState  values at the last committed tx
                                                     (read cache)  (misses: one batched read at
                                                                    │  the batch's starting root)
                                                                    ▼
                                                     StateTree   the tree itself: local node store
                                                                 or the HashDB service

Reads: a key the batch has not written has the value it had at the batch's starting root, so every
cache miss is read from that one root, in batches (`BatchState.prefetch`), whatever the current
root is. Writes: a transaction's changes stay in `ZkAccountDB` until it ends; `take_write_set`
returns them as (key, value) pairs — only the leaves whose value changed — and folds them into the
read cache. The processor then applies that write set to the tree in one call (§6.6 needs the root
after every transaction).

Journal: every write and every EIP-2929 "warm" mark appends an undo entry; a checkpoint is the
journal length, `discard` undoes back to it (a reverted call frame), `commit` keeps everything.
"original" storage values (EIP-2200 gas) are the read cache's values: the state at the start of the
transaction.

Fork-6 account semantics that differ from Ethereum's: there is no account object, so "exists" means
"not empty" (balance, nonce and code hash all 0 = empty), touching does nothing, and nothing is ever
deleted (SELFDESTRUCT is SENDALL, EIP-161 clearing has nothing to clear). `get_code_hash` is the
linear-Poseidon hash of §4.3 (32 zero bytes without code), which is what EXTCODEHASH returns.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Protocol, runtime_checkable

from eth.abc import AccountDatabaseAPI, MetaWitnessAPI
from eth.db.witness import MetaWitness
from eth.typing import JournalDBCheckpoint
from eth_typing import Address, Hash32

from services.executor.errors import StateUnavailable
from zkevm import state_keys
from zkevm.bytecode import bytecode_hash
from zkevm.errors import MissingNodeError
from zkevm.field import H4, h4_to_hex, h4_to_int, int_to_h4
from zkevm.nodestore import NodeStore, OverlayNodeStore
from zkevm.smt import SparseMerkleTree

#: derived keys are kept; a batch of 300 transactions touches a few thousand at most
KEY_CACHE_SIZE: Final = 1 << 16

_ZERO_HASH32: Final = Hash32(bytes(32))


@runtime_checkable
class StateTree(Protocol):
    """What the executor needs from the state tree (owned here, implemented by the local node
    store and by the HashDB client)."""

    def get_values(self, root: H4, keys: Sequence[H4]) -> list[int]:
        """The value of each key under `root` (0 when absent). Raises `StateUnavailable`."""

    def set_values(self, root: H4, writes: Sequence[tuple[H4, int]], tx: int = 0) -> H4:
        """The root of `root` with every (key, value) written, in order (0 deletes). `tx` is the
        ordinal of the transaction the writes belong to (0: the batch's GER write)."""

    def warm(self, root: H4, keys: Sequence[H4], ahead: Callable[[], Sequence[H4]]) -> None:
        """A hint: the batch will write `keys` under `root`. A tree that fetches nodes from
        elsewhere and lacks some of their paths fetches them at once, with those of `ahead()`
        (keys later batches will write); a tree with every node at hand does nothing. Raises
        `StateUnavailable`."""

    def get_program(self, code_hash: H4) -> bytes | None:
        """The bytecode whose linear-Poseidon hash is `code_hash`, or None."""

    def put_programs(self, programs: Mapping[H4, bytes]) -> None:
        """Store bytecode under its hash."""


class LocalStateTree:
    """A `StateTree` over a node store in this process (conformance runs, tests, eth_call).

    Writes go to an `OverlayNodeStore`, so the base store is untouched until the caller decides to
    keep them (`overlay.nodes` / `overlay.programs`).
    """

    __slots__ = ("overlay", "tree")

    def __init__(self, store: NodeStore) -> None:
        self.overlay = OverlayNodeStore(store)
        self.tree = SparseMerkleTree(self.overlay)

    def get_values(self, root: H4, keys: Sequence[H4]) -> list[int]:
        try:
            return [self.tree.get(root, key) for key in keys]
        except MissingNodeError as exc:
            raise StateUnavailable(f"state root {h4_to_hex(root)} is not in the node store: {exc}") from exc

    def set_values(self, root: H4, writes: Sequence[tuple[H4, int]], tx: int = 0) -> H4:
        try:
            return self.tree.set_many(root, writes)
        except MissingNodeError as exc:
            raise StateUnavailable(f"state root {h4_to_hex(root)} is not in the node store: {exc}") from exc

    def warm(self, root: H4, keys: Sequence[H4], ahead: Callable[[], Sequence[H4]]) -> None:
        return None  # every node is in the node store

    def get_program(self, code_hash: H4) -> bytes | None:
        return self.overlay.get_program(code_hash)

    def put_programs(self, programs: Mapping[H4, bytes]) -> None:
        for code_hash, code in programs.items():
            self.overlay.put_program(code_hash, code)


# -- keys ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def balance_key(address: bytes) -> H4:
    return state_keys.balance_key(address)


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def nonce_key(address: bytes) -> H4:
    return state_keys.nonce_key(address)


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def code_hash_key(address: bytes) -> H4:
    return state_keys.code_hash_key(address)


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def code_length_key(address: bytes) -> H4:
    return state_keys.code_length_key(address)


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def storage_key(address: bytes, slot: int) -> H4:
    return state_keys.storage_key(address, slot)


def account_keys(address: bytes) -> tuple[H4, H4, H4, H4]:
    """Balance, nonce, code-hash and code-length keys: what a transaction touches per account."""
    return balance_key(address), nonce_key(address), code_hash_key(address), code_length_key(address)


# -- the batch's read cache --------------------------------------------------------------------


class BatchState:
    """Leaf values as of the last committed transaction of the batch, filled on demand.

    A miss is read from `base_root` (the batch's starting root): a key the batch has not written
    still has its starting value. `reads` / `read_keys` count the backend round trips and keys.
    """

    __slots__ = ("base_root", "new_programs", "programs", "read_keys", "reads", "tree", "values")

    def __init__(self, tree: StateTree, base_root: H4, values: dict[H4, int] | None = None) -> None:
        self.tree = tree
        self.base_root = base_root
        self.values: dict[H4, int] = {} if values is None else values

        #: bytecode by the integer form of its hash
        self.programs: dict[int, bytes] = {}
        #: bytecode deployed by this batch, to store with its writes
        self.new_programs: dict[H4, bytes] = {}
        self.reads = 0
        self.read_keys = 0

    def value(self, key: H4) -> int:
        value = self.values.get(key)
        if value is None:
            self.reads += 1
            self.read_keys += 1
            value = self.tree.get_values(self.base_root, (key,))[0]
            self.values[key] = value
        return value

    def prefetch(self, keys: Iterable[H4]) -> None:
        """Read every key not cached yet, in one backend call."""
        values = self.values
        missing = list(dict.fromkeys(k for k in keys if k not in values))
        if missing:
            self.reads += 1
            self.read_keys += len(missing)
            values.update(zip(missing, self.tree.get_values(self.base_root, missing), strict=True))

    def program(self, code_hash: int) -> bytes:
        code = self.programs.get(code_hash)
        if code is None:
            code = self.tree.get_program(int_to_h4(code_hash))
            if code is None:
                raise StateUnavailable(f"no bytecode stored under hash {code_hash:#066x}")
            self.programs[code_hash] = code
        return code

    def add_program(self, code: bytes) -> int:
        h4 = bytecode_hash(code)
        code_hash = h4_to_int(h4)
        if code_hash not in self.programs:
            self.programs[code_hash] = code
            self.new_programs[h4] = code
        return code_hash


# -- the account database ---------------------------------------------------------------------

# journal entries: (kind, key, previous value or _ABSENT)
_VALUE: Final = 0
_WARM_ADDRESS: Final = 1
_WARM_SLOT: Final = 2
_ABSENT: Final = -1  # leaf values are never negative


class ZkAccountDB(AccountDatabaseAPI):
    """py-evm's account database over fork-6 state leaves (see the module notes)."""

    def __init__(self, db: BatchState, state_root: Hash32 = _ZERO_HASH32) -> None:
        self._batch = db
        self._values = db.values
        #: this transaction's writes, by leaf key
        self._pending: dict[H4, int] = {}
        self._journal: list[tuple[int, Any, int]] = []
        self._warm_addresses: set[bytes] = set()
        self._warm_slots: set[tuple[bytes, int]] = set()
        self._root = state_root

    # -- leaves ---------------------------------------------------------------------------

    def _get(self, key: H4) -> int:
        value = self._pending.get(key)
        if value is None:
            value = self._values.get(key)
            if value is None:
                value = self._batch.value(key)
        return value

    def _set(self, key: H4, value: int) -> None:
        pending = self._pending
        self._journal.append((_VALUE, key, pending.get(key, _ABSENT)))
        pending[key] = value

    def _committed(self, key: H4) -> int:
        value = self._values.get(key)
        return self._batch.value(key) if value is None else value

    # -- root (the processor owns the real root; py-evm only saves and restores it) ---------------

    @property
    def state_root(self) -> Hash32:
        return self._root

    @state_root.setter
    def state_root(self, value: Hash32) -> None:
        self._root = value

    def has_root(self, state_root: bytes) -> bool:
        return True

    def make_state_root(self) -> Hash32:
        raise NotImplementedError("the batch processor computes state roots (take_write_set)")

    def persist(self) -> MetaWitnessAPI:
        return MetaWitness(set(), {})

    # -- storage ----------------------------------------------------------------------------

    def get_storage(self, address: Address, slot: int, from_journal: bool = True) -> int:
        key = storage_key(address, slot)
        return self._get(key) if from_journal else self._committed(key)

    def set_storage(self, address: Address, slot: int, value: int) -> None:
        self._set(storage_key(address, slot), value)

    def delete_storage(self, address: Address) -> None:
        """A no-op: the tree cannot list an account's slots, and fork 6 never needs it (CREATE2 can
        only land on an address without nonce and code, which has no storage)."""

    def is_storage_warm(self, address: Address, slot: int) -> bool:
        return (address, slot) in self._warm_slots

    def mark_storage_warm(self, address: Address, slot: int) -> None:
        entry = (address, slot)
        if entry not in self._warm_slots:
            self._warm_slots.add(entry)
            self._journal.append((_WARM_SLOT, entry, 0))

    # -- balance and nonce --------------------------------------------------------------------

    def get_balance(self, address: Address) -> int:
        return self._get(balance_key(address))

    def set_balance(self, address: Address, balance: int) -> None:
        self._set(balance_key(address), balance)

    def get_nonce(self, address: Address) -> int:
        return self._get(nonce_key(address))

    def set_nonce(self, address: Address, nonce: int) -> None:
        self._set(nonce_key(address), nonce)

    def increment_nonce(self, address: Address) -> None:
        key = nonce_key(address)
        self._set(key, self._get(key) + 1)

    # -- code --------------------------------------------------------------------------------

    def get_code(self, address: Address) -> bytes:
        code_hash = self._get(code_hash_key(address))
        return self._batch.program(code_hash) if code_hash else b""

    def get_code_length(self, address: Address) -> int:
        return self._get(code_length_key(address))

    def set_code(self, address: Address, code: bytes) -> None:
        if not code:
            self.delete_code(address)
            return
        self._set(code_hash_key(address), self._batch.add_program(code))
        self._set(code_length_key(address), len(code))

    def get_code_hash(self, address: Address) -> Hash32:
        return Hash32(self._get(code_hash_key(address)).to_bytes(32, "big"))

    def delete_code(self, address: Address) -> None:
        self._set(code_hash_key(address), 0)
        self._set(code_length_key(address), 0)

    # -- accounts ------------------------------------------------------------------------------

    def account_has_code_or_nonce(self, address: Address) -> bool:
        """The ROM's deploy-collision test: nonce or code hash non-zero."""
        return self._get(nonce_key(address)) != 0 or self._get(code_hash_key(address)) != 0

    def delete_account(self, address: Address) -> None:
        raise NotImplementedError("fork 6 never deletes an account (SELFDESTRUCT is SENDALL)")

    def account_exists(self, address: Address) -> bool:
        return not self.account_is_empty(address)

    def touch_account(self, address: Address) -> None:
        """Nothing to do: the tree has no account objects."""

    def account_is_empty(self, address: Address) -> bool:
        """The ROM's `isEmptyAccount`: balance, nonce and code hash all zero."""
        return (
            self._get(balance_key(address)) == 0
            and self._get(nonce_key(address)) == 0
            and self._get(code_hash_key(address)) == 0
        )

    def is_address_warm(self, address: Address) -> bool:
        return address in self._warm_addresses

    def mark_address_warm(self, address: Address) -> None:
        if address not in self._warm_addresses:
            self._warm_addresses.add(address)
            self._journal.append((_WARM_ADDRESS, address, 0))

    # -- journal -------------------------------------------------------------------------------

    def record(self) -> JournalDBCheckpoint:
        return JournalDBCheckpoint(len(self._journal))

    def discard(self, checkpoint: JournalDBCheckpoint) -> None:
        journal = self._journal
        pending = self._pending
        while len(journal) > checkpoint:
            kind, key, previous = journal.pop()
            if kind == _VALUE:
                if previous == _ABSENT:
                    del pending[key]
                else:
                    pending[key] = previous
            elif kind == _WARM_ADDRESS:
                self._warm_addresses.discard(key)
            else:
                self._warm_slots.discard(key)

    def commit(self, checkpoint: JournalDBCheckpoint) -> None:
        """Nothing to do: the entries stay until the transaction ends or an outer frame reverts."""

    def lock_changes(self) -> None:
        """Start a transaction: forget the warm sets and the journal (the pending writes must have
        been taken with `take_write_set`)."""
        if self._pending:
            raise RuntimeError("lock_changes with uncommitted writes; call take_write_set first")
        self._journal.clear()
        self._warm_addresses.clear()
        self._warm_slots.clear()

    # -- end of transaction --------------------------------------------------------------------

    def take_write_set(self) -> list[tuple[H4, int]]:
        """This transaction's changed leaves, in first-write order; folds them into the read cache
        and leaves the database ready for the next transaction."""
        values = self._values
        writes = []
        for key, value in self._pending.items():
            if value != self._committed(key):
                writes.append((key, value))
                values[key] = value
        self._pending.clear()
        self._journal.clear()
        return writes

    def drop_pending(self) -> None:
        """Forget this transaction's writes (an out-of-counters transaction)."""
        self._pending.clear()
        self._journal.clear()

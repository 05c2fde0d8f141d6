"""Keys of the state-tree leaves of an account (spec §4.1).

    key(A, T, capacity) = H([a0, a1, a2, a3, a4, a5, T, 0], capacity)     a = scalar2fea(address)

The capacity is H(0^8, 0^4) for balance, nonce, code hash and code length, and H(fea8(slot), 0^4)
for a storage slot (the two agree for slot 0). Leaf types 5 and 6 exist only in the ROM's access-list
tree and never in the state.
"""

from enum import IntEnum
from typing import NewType

from zkevm.errors import EncodingError
from zkevm.field import H4, scalar_to_fea8
from zkevm.poseidon import HASH_POSEIDON_ALL_ZEROES, hash12

#: a 20-byte Ethereum address
Address = NewType("Address", bytes)


class LeafType(IntEnum):
    BALANCE = 0
    NONCE = 1
    SC_CODE = 2
    SC_STORAGE = 3
    SC_LENGTH = 4


def _address_words(address: bytes) -> tuple[int, ...]:
    if len(address) != 20:
        raise EncodingError(f"an address is 20 bytes, got {len(address)}")
    return scalar_to_fea8(int.from_bytes(address, "big"))[0:6]


def _account_key(address: bytes, leaf: LeafType) -> H4:
    return hash12((*_address_words(address), int(leaf), 0, *HASH_POSEIDON_ALL_ZEROES))


def balance_key(address: bytes) -> H4:
    return _account_key(address, LeafType.BALANCE)


def nonce_key(address: bytes) -> H4:
    return _account_key(address, LeafType.NONCE)


def code_hash_key(address: bytes) -> H4:
    return _account_key(address, LeafType.SC_CODE)


def code_length_key(address: bytes) -> H4:
    return _account_key(address, LeafType.SC_LENGTH)


def storage_key(address: bytes, slot: int) -> H4:
    capacity = hash12((*scalar_to_fea8(slot), 0, 0, 0, 0))
    return hash12((*_address_words(address), int(LeafType.SC_STORAGE), 0, *capacity))


def key_for(leaf: LeafType, address: bytes, slot: int = 0) -> H4:
    if leaf is LeafType.SC_STORAGE:
        return storage_key(address, slot)
    return _account_key(address, leaf)

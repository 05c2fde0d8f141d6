"""The contract bytecode hash of the state tree: "linear Poseidon" (spec §4.3).

The code is followed by a 0x01 byte, zero-padded to a multiple of 56 bytes, and its last byte gets
the 0x80 bit. Each 56-byte chunk is read as 8 little-endian 7-byte field elements and hashed with
the previous hash as capacity. This is also what `EXTCODEHASH` returns in fork 6.
"""

from typing import Final

from zkevm.field import H4, h4_to_bytes
from zkevm.poseidon import linear_hash

BYTES_PER_CHUNK: Final = 56


def bytecode_hash(code: bytes) -> H4:
    return linear_hash(code)


def bytecode_hash_bytes(code: bytes) -> bytes:
    """The 32-byte form stored in the code-hash leaf and returned by `EXTCODEHASH`."""
    return h4_to_bytes(linear_hash(code))


def padding_pg_count(code_length: int) -> int:
    """Padding-PG (and Poseidon-G) counters the ROM charges for hashing code of this length (§7.1)."""
    return (code_length + 1 + BYTES_PER_CHUNK - 1) // BYTES_PER_CHUNK

"""The Goldilocks field and the encodings between 256-bit values, field elements and bytes (spec §2).

    scalar ──scalar_to_fea8──▶ 8 limbs of 32 bits (little-endian)      leaf values, addresses, slots
    h4 (4 fe) ◀─▶ int  h0 + h1·2^64 + h2·2^128 + h3·2^192 ◀─▶ 32 bytes big-endian   roots, keys, hashes

A node of the tree is the 12-element Poseidon preimage; it is stored as 96 bytes, each element as
8 bytes big-endian, and its hash as the 32-byte form of its h4.
"""

from typing import Final, NewType, TypeAlias

from zkevm.errors import EncodingError

#: p = 2^64 - 2^32 + 1
P: Final = 0xFFFFFFFF00000001
MASK_32: Final = 0xFFFFFFFF
MASK_64: Final = 0xFFFFFFFFFFFFFFFF
MAX_UINT256: Final = (1 << 256) - 1

#: four field elements: a Poseidon output, an SMT key or a root
H4: TypeAlias = tuple[int, int, int, int]
#: the 12 field elements of a stored tree node (the exact Poseidon preimage)
Node: TypeAlias = tuple[int, ...]

#: a 32-byte root in its byte form (big-endian h3 ‖ h2 ‖ h1 ‖ h0)
StateRoot = NewType("StateRoot", bytes)

ZERO_H4: Final[H4] = (0, 0, 0, 0)


def scalar_to_fea8(value: int) -> tuple[int, int, int, int, int, int, int, int]:
    """Split a uint256 into 8 little-endian 32-bit limbs (`scalar2fea`)."""
    if not 0 <= value <= MAX_UINT256:
        raise EncodingError(f"value {value} is not a uint256")
    return (
        value & MASK_32,
        (value >> 32) & MASK_32,
        (value >> 64) & MASK_32,
        (value >> 96) & MASK_32,
        (value >> 128) & MASK_32,
        (value >> 160) & MASK_32,
        (value >> 192) & MASK_32,
        (value >> 224) & MASK_32,
    )


def fea8_to_scalar(limbs: tuple[int, ...]) -> int:
    """Join 8 little-endian 32-bit limbs into a uint256 (`fea2scalar`)."""
    if len(limbs) != 8:
        raise EncodingError(f"expected 8 limbs, got {len(limbs)}")
    value = 0
    for i, limb in enumerate(limbs):
        if not 0 <= limb <= MASK_32:
            raise EncodingError(f"limb {i} = {limb} does not fit 32 bits")
        value |= limb << (32 * i)
    return value


def h4_to_int(h: H4) -> int:
    return h[0] | (h[1] << 64) | (h[2] << 128) | (h[3] << 192)


def int_to_h4(value: int) -> H4:
    """Split a 256-bit integer into four 64-bit limbs (`scalar2h4`); limbs may be >= p."""
    if not 0 <= value <= MAX_UINT256:
        raise EncodingError(f"value {value} is not a uint256")
    return (value & MASK_64, (value >> 64) & MASK_64, (value >> 128) & MASK_64, value >> 192)


def h4_to_bytes(h: H4) -> bytes:
    """The 32-byte form: big-endian integer, i.e. h3 ‖ h2 ‖ h1 ‖ h0."""
    return (h[0] | (h[1] << 64) | (h[2] << 128) | (h[3] << 192)).to_bytes(32, "big")


def bytes_to_h4(data: bytes) -> H4:
    if len(data) != 32:
        raise EncodingError(f"a hash is 32 bytes, got {len(data)}")
    return int_to_h4(int.from_bytes(data, "big"))


def h4_to_hex(h: H4) -> str:
    return "0x" + h4_to_bytes(h).hex()


def hex_to_h4(text: str) -> H4:
    return bytes_to_h4(hex_to_bytes(text, 32))


def is_field_h4(h: H4) -> bool:
    """Whether every limb is a canonical field element (a valid root, `checkStateRootInsidePrime`)."""
    return all(0 <= x < P for x in h)


def hex_to_bytes(text: str, length: int | None = None) -> bytes:
    """Parse `0x`-prefixed (or bare) hex; an odd number of digits gets a leading zero."""
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    if len(digits) % 2:
        digits = "0" + digits
    try:
        data = bytes.fromhex(digits)
    except ValueError:
        raise EncodingError(f"not hex: {text[:80]!r}") from None
    if length is not None and len(data) != length:
        raise EncodingError(f"expected {length} bytes, got {len(data)}: {text[:80]!r}")
    return data


def node_to_bytes(node: Node) -> bytes:
    """A stored node as 96 bytes (12 × 8 bytes big-endian)."""
    return b"".join(x.to_bytes(8, "big") for x in node)


def bytes_to_node(data: bytes) -> Node:
    if len(data) != 96:
        raise EncodingError(f"a stored node is 96 bytes, got {len(data)}")
    return tuple(int.from_bytes(data[i : i + 8], "big") for i in range(0, 96, 8))


def parse_int(text: str | int) -> int:
    """A scalar as the vector files write it: decimal, or hex with `0x`."""
    if isinstance(text, int):
        return text
    try:
        return int(text, 16) if text[:2] in ("0x", "0X") else int(text, 10)
    except ValueError:
        raise EncodingError(f"not an integer: {text[:80]!r}") from None

"""Pure-Python Poseidon over Goldilocks, in the reference form of spec §1.2.

This twin exists to cross-check the C extension (`zkevm.poseidon`) in tests and benchmarks; nothing
on a hot path uses it.
"""

from collections.abc import Sequence

from zkevm.field import H4, P
from zkevm.poseidon_params import (
    FULL_ROUNDS,
    MDS_CIRCULANT,
    MDS_DIAGONAL,
    PARTIAL_ROUNDS,
    ROUND_CONSTANTS,
    SBOX_EXPONENT,
    STATE_WIDTH,
)

_ROUNDS = FULL_ROUNDS + PARTIAL_ROUNDS
_HALF_FULL = FULL_ROUNDS // 2
MDS_MATRIX: tuple[tuple[int, ...], ...] = tuple(
    tuple(
        MDS_CIRCULANT[(j - i) % STATE_WIDTH] + (MDS_DIAGONAL[i] if i == j else 0) for j in range(STATE_WIDTH)
    )
    for i in range(STATE_WIDTH)
)


def permute(state: Sequence[int]) -> list[int]:
    """The full Poseidon permutation of 12 field elements."""
    if len(state) != STATE_WIDTH:
        raise ValueError(f"Poseidon state has {STATE_WIDTH} elements, got {len(state)}")
    s = [x % P for x in state]
    for r in range(_ROUNDS):
        base = STATE_WIDTH * r
        s = [(x + ROUND_CONSTANTS[base + i]) % P for i, x in enumerate(s)]
        if r < _HALF_FULL or r >= _ROUNDS - _HALF_FULL:
            s = [pow(x, SBOX_EXPONENT, P) for x in s]
        else:
            s[0] = pow(s[0], SBOX_EXPONENT, P)
        s = [sum(m * x for m, x in zip(row, s, strict=True)) % P for row in MDS_MATRIX]
    return s


def hash12(state: Sequence[int]) -> H4:
    """H(state[0:8], capacity=state[8:12]): the first four words of the permuted state."""
    out = permute(state)
    return (out[0], out[1], out[2], out[3])


def linear_hash(data: bytes) -> H4:
    """The linear-Poseidon bytecode hash of spec §4.3."""
    padded = bytearray(data)
    padded.append(0x01)
    while len(padded) % 56:
        padded.append(0x00)
    padded[-1] |= 0x80
    h: H4 = (0, 0, 0, 0)
    for off in range(0, len(padded), 56):
        chunk = padded[off : off + 56]
        words = [int.from_bytes(chunk[7 * j : 7 * j + 7], "little") for j in range(8)]
        h = hash12((*words, *h))
    return h

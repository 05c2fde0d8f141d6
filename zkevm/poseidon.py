"""Poseidon over Goldilocks (spec §1), computed by the C extension `zkevm._poseidon`.

    hash12(node)        H(node[0:8], capacity=node[8:12]) for a 12-element preimage
    poseidon(i8, c4)    the same with inputs and capacity given apart
    linear_hash(code)   the chained hash of §4.3 (bytecode hash)

The parameters come from `zkevm.poseidon_params`; `zkevm.poseidon_ref` is the pure-Python twin the
tests compare this against.
"""

from collections.abc import Sequence

from zkevm import _poseidon
from zkevm.field import H4, ZERO_H4
from zkevm.poseidon_params import (
    MDS_CIRCULANT,
    MDS_DIAGONAL,
    OPT_PRE_MATRIX,
    OPT_ROUND_CONSTANTS,
    OPT_SPARSE_MATRICES,
    ROUND_CONSTANTS,
)

_poseidon.init(
    ROUND_CONSTANTS, MDS_CIRCULANT, MDS_DIAGONAL, OPT_ROUND_CONSTANTS, OPT_PRE_MATRIX, OPT_SPARSE_MATRICES
)

hash12 = _poseidon.hash12
linear_hash = _poseidon.linear_hash


def poseidon(inputs: Sequence[int], capacity: Sequence[int] = ZERO_H4) -> H4:
    if len(inputs) != 8 or len(capacity) != 4:
        raise ValueError(
            f"Poseidon takes 8 inputs and 4 capacity words, got {len(inputs)} and {len(capacity)}"
        )
    return hash12((*inputs, *capacity))


#: H(0^8, 0^4): the capacity of every non-storage state key (`HASH_POSEIDON_ALL_ZEROES`, spec §1.6 / §4.1)
HASH_POSEIDON_ALL_ZEROES: H4 = poseidon((0,) * 8)

from collections.abc import Sequence

from zkevm.field import H4

def init(
    round_constants: Sequence[int],
    mds_circulant: Sequence[int],
    mds_diagonal: Sequence[int],
    opt_round_constants: Sequence[int],
    opt_pre_matrix: Sequence[int],
    opt_sparse_matrices: Sequence[int],
) -> None: ...
def hash12(state: Sequence[int], /) -> H4: ...
def linear_hash(data: bytes, /) -> H4: ...
def is_ready() -> bool: ...

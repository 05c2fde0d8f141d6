import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import load_vector
from zkevm import poseidon, poseidon_params, poseidon_ref
from zkevm.field import P

fe = st.integers(min_value=0, max_value=P - 1)
edge_fe = st.sampled_from([0, 1, 2, P - 1, P - 2, 2**32 - 1, 2**32, 2**63, P >> 1])


@pytest.mark.parametrize("case", range(3))
def test_vectors_c_and_python(case: int) -> None:
    c = load_vector("poseidon_test_vectors.json")[case]
    state = [x % P for x in (*c["input"], *c["capacity"])]
    assert poseidon.hash12(state) == tuple(c["expected"])
    assert poseidon_ref.hash12(state) == tuple(c["expected"])


def test_packaged_parameters_equal_the_vector_file() -> None:
    c = load_vector("poseidon_constants.json")
    assert list(poseidon_params.ROUND_CONSTANTS) == c["round_constants"]
    assert [list(row) for row in poseidon_ref.MDS_MATRIX] == c["mds_matrix"]
    assert list(poseidon_params.OPT_ROUND_CONSTANTS) == c["opt"]["C"]
    assert list(poseidon_params.OPT_PRE_MATRIX) == [x for row in c["opt"]["P"] for x in row]
    assert list(poseidon_params.OPT_SPARSE_MATRICES) == c["opt"]["S"]
    assert c["field_prime"] == P == poseidon_params.GOLDILOCKS_PRIME


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(fe, edge_fe), min_size=12, max_size=12))
def test_c_extension_equals_pure_python_twin(state: list[int]) -> None:
    assert poseidon.hash12(state) == poseidon_ref.hash12(state)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_linear_hash_c_equals_twin(data: bytes) -> None:
    assert poseidon.linear_hash(data) == poseidon_ref.linear_hash(data)


def test_inputs_at_or_above_p_are_reduced() -> None:
    base = [5] * 12
    assert poseidon.hash12([5 + P, *base[1:]]) == poseidon.hash12(base)
    assert poseidon.hash12([2**64 - 1, *base[1:]]) == poseidon_ref.hash12([2**64 - 1, *base[1:]])


def test_bad_arity_and_range_are_rejected() -> None:
    with pytest.raises(ValueError, match="12 field elements"):
        poseidon.hash12([0] * 11)
    with pytest.raises(OverflowError):
        poseidon.hash12([-1] + [0] * 11)
    with pytest.raises(OverflowError):
        poseidon.hash12([2**64] + [0] * 11)
    with pytest.raises(ValueError, match="8 inputs and 4 capacity"):
        poseidon.poseidon([0] * 7)


def test_all_zeroes_constant_is_the_hash_of_zeroes() -> None:
    assert poseidon_ref.hash12([0] * 12) == poseidon.HASH_POSEIDON_ALL_ZEROES

"""The strict RLP reader and the encoder (`zkevm.rlp`): canonical forms, limits, errors, round trips."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkevm import rlp
from zkevm.errors import DecodeError, EncodingError, RLPError, TxFieldError

# The worked examples of the RLP definition (Ethereum yellow paper, appendix B / ethereum.org docs).
LOREM = b"Lorem ipsum dolor sit amet, consectetur adipisicing elit"
KNOWN: list[tuple[rlp.Item, str]] = [
    (b"dog", "83646f67"),
    ([b"cat", b"dog"], "c88363617483646f67"),
    (b"", "80"),
    ([], "c0"),
    (0, "80"),
    (b"\x00", "00"),
    (15, "0f"),
    (1024, "820400"),
    ([[], [[]], [[], [[]]]], "c7c0c1c0c3c0c1c0"),
    (LOREM, "b838" + LOREM.hex()),
]


@pytest.mark.parametrize(("item", "encoded"), KNOWN)
def test_known_encodings(item: rlp.Item, encoded: str) -> None:
    assert rlp.encode(item).hex() == encoded


@pytest.mark.parametrize(("item", "encoded"), [(i, e) for i, e in KNOWN if not isinstance(i, int)])
def test_known_decodings(item: rlp.Item, encoded: str) -> None:
    assert rlp.decode(bytes.fromhex(encoded)) == item


def test_long_lengths() -> None:
    payload = bytes(range(256)) * 4
    encoded = rlp.encode(payload)
    assert encoded[:3] == b"\xb9\x04\x00"
    assert rlp.decode(encoded) == payload
    items = [b"x" * 30, b"y" * 30]
    assert rlp.encode(items)[:2] == b"\xf8\x3e"
    assert rlp.decode(rlp.encode(items)) == items


@pytest.mark.parametrize(
    ("hex_data", "error", "fragment"),
    [
        ("", RLPError, "missing"),
        ("8100", RLPError, "single byte 0x00 < 0x80 has a string header"),
        ("817f", RLPError, "single byte 0x7f"),
        ("b80141", RLPError, "long form used for a length of 1"),
        ("b90038" + "41" * 56, RLPError, "leading zero byte"),
        ("f80141", RLPError, "long form used for a length of 1"),
        ("83646f", RLPError, "3 bytes announced, 2 available"),
        ("b8", RLPError, "1 length bytes announced, 0 available"),
        ("c2", RLPError, "announces 2 bytes, 0 available"),
        ("c283646f67", RLPError, "runs past the end of its list"),
        ("8080", RLPError, "1 bytes follow the RLP item"),
        ("c0c0", RLPError, "1 bytes follow"),
    ],
)
def test_decode_rejects(hex_data: str, error: type[DecodeError], fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        rlp.decode(bytes.fromhex(hex_data))


def test_decode_nesting_is_bounded() -> None:
    deep: rlp.Item = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(RLPError, match="nested deeper"):
        rlp.decode(rlp.encode(deep))


def test_error_offset_is_the_bad_header() -> None:
    with pytest.raises(RLPError) as info:
        rlp.decode(bytes.fromhex("c4" + "80" + "8100" + "80"))
    assert info.value.offset == 2
    assert "(at byte 2)" in str(info.value)


def test_read_uint() -> None:
    data = bytes.fromhex("00" + "80" + "7f" + "8180" + "820100" + "8200ff" + "8105")
    assert rlp.read_uint(data, 0, len(data), "n", max_bytes=8, allow_zero_byte=True) == (0, 1)
    with pytest.raises(RLPError, match="n is not canonical: 0 must be encoded as 0x80"):
        rlp.read_uint(data, 0, len(data), "n", max_bytes=8)
    assert rlp.read_uint(data, 1, len(data), "n", max_bytes=8) == (0, 2)
    assert rlp.read_uint(data, 2, len(data), "n", max_bytes=8) == (0x7F, 3)
    assert rlp.read_uint(data, 3, len(data), "n", max_bytes=8) == (0x80, 5)
    assert rlp.read_uint(data, 5, len(data), "n", max_bytes=8) == (0x100, 8)
    with pytest.raises(TxFieldError, match="n is longer than 1 bytes"):
        rlp.read_uint(data, 5, len(data), "n", max_bytes=1)
    with pytest.raises(RLPError, match="leading zero byte"):
        rlp.read_uint(data, 8, len(data), "n", max_bytes=8)
    with pytest.raises(RLPError, match="single byte 0x05"):
        rlp.read_uint(data, 11, len(data), "n", max_bytes=8)
    with pytest.raises(RLPError, match="runs past the end of its list"):
        rlp.read_uint(data, 5, 7, "n", max_bytes=8)
    with pytest.raises(RLPError, match="must be a byte string"):
        rlp.read_uint(b"\xc0", 0, 1, "n", max_bytes=8)


def test_read_uint_long_form() -> None:
    wide = rlp.encode_uint(1 << 600)
    assert rlp.read_uint(wide, 0, len(wide), "n", max_bytes=100) == (1 << 600, len(wide))
    with pytest.raises(TxFieldError, match="longer than 32 bytes"):
        rlp.read_uint(wide, 0, len(wide), "n", max_bytes=32)
    with pytest.raises(TxFieldError, match="longer than 60 bytes"):
        rlp.read_uint(wide, 0, len(wide), "n", max_bytes=60)
    padded = b"\xb8\x4c\x00" + wide[3:]
    with pytest.raises(RLPError, match="leading zero byte"):
        rlp.read_uint(padded, 0, len(padded), "n", max_bytes=100)


def test_length_of_length_limit() -> None:
    data = b"\xbb\x01\x00\x00\x00" + bytes(1 << 24)
    with pytest.raises(TxFieldError, match="data has 4 length bytes, at most 3 are allowed"):
        rlp.read_string(data, 0, len(data), "data", 3)
    assert rlp.read_string(data, 0, len(data), "data") == (5, len(data))


def test_encode_rejects() -> None:
    with pytest.raises(EncodingError):
        rlp.encode_uint(-1)
    with pytest.raises(EncodingError):
        rlp.encode(-5)


items = st.recursive(
    st.binary(max_size=80),
    lambda children: st.lists(children, max_size=6),
    max_leaves=20,
)


@given(items)
def test_encode_decode_round_trip(item: rlp.Decoded) -> None:
    assert rlp.decode(rlp.encode(item)) == item


@given(st.integers(min_value=0, max_value=(1 << 300) - 1))
def test_uint_round_trip(value: int) -> None:
    encoded = rlp.encode_uint(value)
    assert rlp.read_uint(encoded, 0, len(encoded), "v", max_bytes=40) == (value, len(encoded))


@settings(max_examples=400)
@given(st.binary(max_size=120))
def test_fuzz_decode(data: bytes) -> None:
    """Anything decodes canonically (so re-encodes to itself) or raises a DecodeError."""
    try:
        item = rlp.decode(data)
    except DecodeError:
        return
    assert rlp.encode(item) == data

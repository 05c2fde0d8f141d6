"""Parsing of HashDB wire values: every malformed input is rejected with a message naming the field."""

import pytest

from protos.hashdb.v1 import hashdb_pb2 as pb
from services.common.errors import InvalidArgument
from services.executor.hashdb_client import pack_nodes
from services.hashdb import wire
from services.hashdb.sessions import Persistence
from zkevm.field import P, h4_to_hex


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("ff", 255), ("0xFF", 255), ("0X1", 1), ("f" * 64, 2**256 - 1), ("0x" + "0" * 63 + "7", 7)],
)
def test_values_in_hex(text: str, value: int) -> None:
    assert wire.parse_value(text) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("0x", "is empty"),
        ("1" + "0" * 64, "more than 256 bits"),
        ("0" * 65, "more than 256 bits"),
        ("-1", "not hexadecimal"),
        ("+1", "not hexadecimal"),
        (" 1", "not hexadecimal"),
        ("1_0", "not hexadecimal"),
        ("0xg", "not hexadecimal"),
        ("12 ", "not hexadecimal"),
    ],
)
def test_malformed_values(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        wire.parse_value(text, "writes[3].value")


def test_the_error_names_the_field() -> None:
    with pytest.raises(InvalidArgument, match=r"^writes\[3\]\.value"):
        wire.parse_value("zz", "writes[3].value")


def test_fea_limbs_must_be_field_elements() -> None:
    assert wire.fea_to_h4(pb.Fea(fe0=1, fe1=2, fe2=3, fe3=P - 1), "key") == (1, 2, 3, P - 1)
    with pytest.raises(InvalidArgument, match=r"key\.fe2 = 0xffffffff00000001 is not a field element"):
        wire.fea_to_h4(pb.Fea(fe2=P), "key")


def test_hex_roots_round_trip_and_empty_is_none() -> None:
    h = (1, 2, 3, 4)
    assert wire.parse_hex_root(wire.format_hash(h), "r") == h
    assert wire.parse_hex_root(h4_to_hex(h), "r") == h
    assert wire.parse_hex_root("", "r") is None
    with pytest.raises(InvalidArgument, match="not a field element"):
        wire.parse_hex_root("f" * 64, "new_state_root")


def test_nodes_take_12_elements_or_the_8_limbs_of_a_value() -> None:
    assert wire.parse_node(list(range(12)), "n") == tuple(range(12))
    assert wire.parse_node([5] * 8, "n") == (5,) * 8 + (0, 0, 0, 0)
    with pytest.raises(InvalidArgument, match="has 7 elements"):
        wire.parse_node([1] * 7, "n")
    with pytest.raises(InvalidArgument, match=r"n\[3\]"):
        wire.parse_node([0, 0, 0, P] + [0] * 8, "n")


def test_persistence_numbers() -> None:
    assert wire.parse_persistence(pb.PERSISTENCE_DATABASE) is Persistence.DATABASE
    assert wire.parse_persistence(pb.PERSISTENCE_TEMPORARY) is Persistence.TEMPORARY
    assert wire.parse_persistence(pb.PERSISTENCE_CACHE_UNSPECIFIED) is Persistence.CACHE
    with pytest.raises(InvalidArgument, match="persistence = 3 is not a Persistence"):
        wire.parse_persistence(3)


def test_response_formats_follow_the_prover() -> None:
    assert wire.format_value(255) == "ff"
    assert wire.format_value_padded(255) == "0" * 62 + "ff"
    assert wire.format_hash((1, 0, 0, 2)) == "0000000000000002" + "0" * 32 + "0000000000000001"
    assert wire.format_node(tuple(range(12))) == "".join(f"{i:016x}" for i in range(12))


def test_packed_nodes_are_96_little_endian_bytes_each() -> None:
    nodes = [tuple(range(12)), (P - 1,) * 8 + (0, 0, 0, 0)]
    packed = b"".join(x.to_bytes(8, "little") for node in nodes for x in node)
    assert wire.parse_packed_nodes(packed) == nodes
    assert pack_nodes(nodes) == packed  # the executor's side of the same format
    assert wire.parse_packed_nodes(b"") == []
    with pytest.raises(InvalidArgument, match="100 bytes: not a whole number of 96-byte nodes"):
        wire.parse_packed_nodes(packed[:100])
    bad = packed[:96] + P.to_bytes(8, "little") + packed[104:]
    with pytest.raises(InvalidArgument, match="node 1 element 0 = 0xffffffff00000001 is not a field element"):
        wire.parse_packed_nodes(bad)


def test_set_many_writes_parse_and_name_the_bad_one() -> None:
    def kv(key: tuple[int, int, int, int], value: str) -> pb.KeyValue:
        return pb.KeyValue(key=wire.h4_to_fea(key), value=value)

    good = [kv((1, 2, 3, 4), "ff"), kv((P - 1, 0, 0, 0), "0x10"), kv((0, 0, 0, 0), "0")]
    assert wire.parse_writes(good) == [((1, 2, 3, 4), 255), ((P - 1, 0, 0, 0), 16), ((0, 0, 0, 0), 0)]
    assert wire.parse_writes([]) == []
    with pytest.raises(InvalidArgument, match=r"writes\[1\]\.key\.fe2"):
        wire.parse_writes([good[0], kv((0, 0, P, 0), "1")])
    with pytest.raises(InvalidArgument, match=r"writes\[2\]\.value has 65 hex digits"):
        wire.parse_writes([*good[:2], kv((5, 5, 5, 5), "1" * 65)])
    with pytest.raises(InvalidArgument, match=r"writes\[0\]\.value is empty"):
        wire.parse_writes([kv((5, 5, 5, 5), "")])
    with pytest.raises(InvalidArgument, match=r"writes\[0\]\.value '-1' is not hexadecimal"):
        wire.parse_writes([kv((5, 5, 5, 5), "-1")])

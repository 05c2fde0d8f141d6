"""Protobuf ↔ domain values for the HashDB servicer, with the checks the wire formats need.

Each parser names the field it reads in its error, so a client learns exactly what it sent wrong:

    Fea (root, key, hash)   four uint64 limbs, each a Goldilocks element (< p)
    value                   at most 64 hex digits, optional 0x, nothing else (no sign, no spaces)
    hex root / hash         at most 64 hex digits, optional 0x; empty = none
    FeList (node)           12 elements (8 for a value node: the capacity is then zero), each < p
    packed nodes            96 bytes a node: 12 little-endian uint64, each < p (LoadNodes)
    Persistence             one of the enum's three numbers
"""

import re
import struct
import sys
from collections.abc import Mapping, Sequence
from typing import Final

from protos.hashdb.v1 import hashdb_pb2 as pb
from services.common.errors import InvalidArgument
from services.hashdb.sessions import Persistence
from zkevm.field import H4, Node, P, int_to_h4

_HEX: Final = re.compile(r"(?:0[xX])?([0-9a-fA-F]*)")
_MAX_HEX_DIGITS: Final = 64
#: a value `parse_value` accepts as it is: 1 to 64 hex digits, no prefix (what clients send)
_PLAIN_VALUE: Final = re.compile(r"[0-9a-fA-F]{1,64}")
_PERSISTENCE_BY_NUMBER: Final = {p.value: p for p in Persistence}
_NATIVE_LE: Final = sys.byteorder == "little" and struct.calcsize("Q") == 8
#: one node of a LoadNodes request
PACKED_NODE: Final = struct.Struct("<12Q")
#: a node with its hash, as GetPaths (zkseq extension) answers: 4 + 12 little-endian uint64
PACKED_HASHED_NODE: Final = struct.Struct("<16Q")
#: keys one GetPaths call may ask for
MAX_PATH_KEYS: Final = 4096

SUCCESS: Final = pb.ResultCode(code=pb.ResultCode.CODE_SUCCESS)


def fea_to_h4(fea: pb.Fea, field: str) -> H4:
    h = (fea.fe0, fea.fe1, fea.fe2, fea.fe3)
    if h[0] >= P or h[1] >= P or h[2] >= P or h[3] >= P:
        i = next(i for i, x in enumerate(h) if x >= P)
        raise InvalidArgument(
            f"{field}.fe{i} = {h[i]:#x} is not a field element (limbs must be below p = 0xffffffff00000001)"
        )
    return h


def h4_to_fea(h: H4) -> pb.Fea:
    return pb.Fea(fe0=h[0], fe1=h[1], fe2=h[2], fe3=h[3])


def _hex_digits(text: str, field: str) -> str:
    m = _HEX.fullmatch(text)
    if m is None:
        raise InvalidArgument(f"{field} {text[:80]!r} is not hexadecimal")
    digits = m.group(1)
    if len(digits) > _MAX_HEX_DIGITS:
        raise InvalidArgument(
            f"{field} has {len(digits)} hex digits: more than 256 bits (at most {_MAX_HEX_DIGITS} digits)"
        )
    return digits


def parse_value(text: str, field: str = "value") -> int:
    """A uint256 written in hex."""
    digits = _hex_digits(text, field)
    if not digits:
        raise InvalidArgument(f"{field} is empty: write 0 for zero")
    return int(digits, 16)


def parse_writes(writes: Sequence[pb.KeyValue]) -> list[tuple[H4, int]]:
    """The (key, value) pairs of a SetMany; an error names the write (`writes[i].key` …)."""
    out: list[tuple[H4, int]] = []
    append = out.append
    fullmatch = _PLAIN_VALUE.fullmatch
    for w in writes:
        k = w.key
        key = (k.fe0, k.fe1, k.fe2, k.fe3)
        text = w.value
        if key[0] >= P or key[1] >= P or key[2] >= P or key[3] >= P or fullmatch(text) is None:
            break  # the slow path below names what is wrong
        append((key, int(text, 16)))
    else:
        return out
    return [
        (fea_to_h4(w.key, f"writes[{i}].key"), parse_value(w.value, f"writes[{i}].value"))
        for i, w in enumerate(writes)
    ]


def parse_hex_root(text: str, field: str) -> H4 | None:
    """A root or hash in its 64-hex-digit form (h3‖h2‖h1‖h0); None when empty."""
    digits = _hex_digits(text, field)
    if not digits:
        return None
    h = int_to_h4(int(digits, 16))
    if not all(x < P for x in h):
        raise InvalidArgument(f"{field} {text[:80]!r} has a limb that is not a field element")
    return h


def format_value(value: int) -> str:
    """A value as the prover writes it in responses: hex, no prefix, no padding."""
    return format(value, "x")


def format_value_padded(value: int) -> str:
    """A value as the prover's Get writes it: 64 hex digits."""
    return format(value, "064x")


def format_hash(h: H4) -> str:
    """A hash as the prover's maps key it: 64 lowercase hex digits, no prefix."""
    return format(h[0] | (h[1] << 64) | (h[2] << 128) | (h[3] << 192), "064x")


def format_node(node: Node) -> str:
    """A node as the prover's flush data writes it: 12 × 16 hex digits."""
    return "".join(format(x, "016x") for x in node)


def parse_node(fes: list[int] | tuple[int, ...], field: str) -> Node:
    if len(fes) == 8:
        fes = (*fes, 0, 0, 0, 0)
    if len(fes) != 12:
        raise InvalidArgument(f"{field} has {len(fes)} elements: a node has 12 (or 8 for a value node)")
    for i, x in enumerate(fes):
        if x >= P:
            raise InvalidArgument(f"{field}[{i}] = {x:#x} is not a field element")
    return tuple(fes)


def parse_persistence(number: int, field: str = "persistence") -> Persistence:
    persistence = _PERSISTENCE_BY_NUMBER.get(number)
    if persistence is None:
        raise InvalidArgument(f"{field} = {number} is not a Persistence (0 CACHE, 1 DATABASE, 2 TEMPORARY)")
    return persistence


def fe_list(node: Node) -> pb.FeList:
    return pb.FeList(fe=node)


def parse_packed_nodes(data: bytes, field: str = "nodes") -> list[Node]:
    """The nodes of a LoadNodes request, each checked to be 12 field elements."""
    size = PACKED_NODE.size
    if len(data) % size:
        raise InvalidArgument(
            f"{field} has {len(data)} bytes: not a whole number of {size}-byte nodes"
            " (12 little-endian uint64 each)"
        )
    if not data:
        return []
    limbs = memoryview(data).cast("B").cast("Q") if _NATIVE_LE else None
    if limbs is not None and max(limbs) < P:
        return list(PACKED_NODE.iter_unpack(data))
    nodes = list(PACKED_NODE.iter_unpack(data))
    for n, node in enumerate(nodes):
        for i, x in enumerate(node):
            if x >= P:
                raise InvalidArgument(f"{field}: node {n} element {i} = {x:#x} is not a field element")
    return nodes


def pack_hashed_nodes(nodes: Mapping[H4, Node]) -> bytes:
    """The `nodes` field of a GetPaths answer: each node's hash, then its 12 elements."""
    pack = PACKED_HASHED_NODE.pack
    return b"".join([pack(*h, *n) for h, n in nodes.items()])

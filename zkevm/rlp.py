"""Strict RLP: the reader the fork-6 transaction codec is built on, and a small encoder.

RLP (Ethereum's Recursive Length Prefix) encodes byte strings and lists. The first byte of an item
says what follows; only the shortest form is canonical:

    first byte   item                                                   canonical only if
    00 .. 7f     that single byte (a 1-byte string)                     —
    80 .. b7     a string of 0 .. 55 bytes follows                      a 1-byte string is not < 0x80
    b8 .. bf     1 .. 8 length bytes, then a string of that length      length >= 56, no leading zero
    c0 .. f7     a list whose items take 0 .. 55 bytes                  —
    f8 .. ff     1 .. 8 length bytes, then the list's items             length >= 56, no leading zero

An integer is the string of its minimal big-endian bytes: 0 is the empty string `0x80`, and the
string must not start with a zero byte.

The zkEVM ROM parses every batch record with these canonical-form rules (spec §5.1) and with limits
of its own on top (at most 3 length bytes for the list and the `data` string, a maximum width per
integer field). This module gives the primitives; `zkevm.transaction` applies the per-field limits.
One corner is the ROM's and not strict RLP's: it reads a lone byte `0x00` in an integer field as the
integer 0. `read_uint(..., allow_zero_byte=True)` reproduces that; plain RLP users leave it off.

Readers work on `(data, offset, end)`, where `end <= len(data)` is the end of the enclosing list (or
of the input), return offsets rather than slices (nothing is copied until a caller asks for the
bytes) and raise `RLPError` for malformed or non-canonical RLP, or `TxFieldError` when a field is
wider than its limit. Each error names the field (`what`) and carries the absolute offset of the
header byte that is wrong.
"""

from collections.abc import Iterable, Sequence
from typing import Final, TypeAlias

from zkevm.errors import EncodingError, RLPError, TxFieldError

#: first header byte of a short string (0 .. 55 bytes) and of a short list
SHORT_STRING: Final = 0x80
SHORT_LIST: Final = 0xC0
#: longest payload a one-byte header can announce
MAX_SHORT_LENGTH: Final = 55
#: headers 0xb8 .. 0xbf and 0xf8 .. 0xff carry 1 .. 8 length bytes
MAX_LENGTH_OF_LENGTH: Final = 8

#: what `encode` accepts: byte strings, non-negative integers, and lists of those
Item: TypeAlias = "bytes | int | Sequence[Item]"
#: what `decode` returns (an integer cannot be told apart from a byte string)
Decoded: TypeAlias = "bytes | list[Decoded]"


# --------------------------------------------------------------------------------------------------
# reading


def read_list_header(
    data: bytes, offset: int, end: int, what: str, max_length_of_length: int = MAX_LENGTH_OF_LENGTH
) -> tuple[int, int]:
    """The list whose header is at `offset`: returns `(first item offset, end of its items)`.

    The announced items must fit before `end`; whether they fill the list exactly is for the caller
    to check once it has read them.
    """
    if offset >= end:
        raise RLPError(f"{what} is missing: no bytes left", offset)
    header = data[offset]
    if header < SHORT_LIST:
        raise RLPError(f"{what} must be an RLP list, found header 0x{header:02x}", offset)
    if header <= SHORT_LIST + MAX_SHORT_LENGTH:
        start = offset + 1
        stop = start + header - SHORT_LIST
    else:
        start, stop = _long_payload(data, offset, end, what, max_length_of_length)
    if stop > end:
        raise RLPError(
            f"{what} truncated: its header announces {stop - start} bytes, {end - start} available", offset
        )
    return start, stop


def read_string(
    data: bytes, offset: int, end: int, what: str, max_length_of_length: int = MAX_LENGTH_OF_LENGTH
) -> tuple[int, int]:
    """The byte string whose item starts at `offset`: returns `(payload start, payload end)`.

    The payload end is also the offset of the next item.
    """
    if offset >= end:
        raise RLPError(f"{what} is missing: its list ends before it", offset)
    header = data[offset]
    if header < SHORT_STRING:
        return offset, offset + 1
    if header <= SHORT_STRING + MAX_SHORT_LENGTH:
        start = offset + 1
        stop = start + header - SHORT_STRING
        if stop > end:
            raise _overrun(what, stop - start, end - start, offset)
        if stop == start + 1 and data[start] < SHORT_STRING:
            raise _wrapped_byte(what, data[start], offset)
        return start, stop
    if header < SHORT_LIST:
        start, stop = _long_payload(data, offset, end, what, max_length_of_length)
        if stop > end:
            raise _overrun(what, stop - start, end - start, offset)
        return start, stop
    raise RLPError(f"{what} must be a byte string, found an RLP list (header 0x{header:02x})", offset)


def read_uint(
    data: bytes, offset: int, end: int, what: str, *, max_bytes: int, allow_zero_byte: bool = False
) -> tuple[int, int]:
    """The canonical integer whose item starts at `offset`: returns `(value, next offset)`.

    At most `max_bytes` bytes wide (else `TxFieldError`). `allow_zero_byte` accepts a lone `0x00` as
    0, as the ROM does; strict RLP requires `0x80` for zero.
    """
    if offset >= end:
        raise RLPError(f"{what} is missing: its list ends before it", offset)
    header = data[offset]
    if header < SHORT_STRING:
        if header == 0 and not allow_zero_byte:
            raise RLPError(f"{what} is not canonical: 0 must be encoded as 0x80, not 0x00", offset)
        return header, offset + 1
    if header <= SHORT_STRING + MAX_SHORT_LENGTH:
        start = offset + 1
        stop = start + header - SHORT_STRING
        if stop - start > max_bytes:
            raise TxFieldError(f"{what} is longer than {max_bytes} bytes", offset)
        if stop > end:
            raise _overrun(what, stop - start, end - start, offset)
        if stop == start:
            return 0, stop
        first = data[start]
        if first == 0:
            raise RLPError(f"{what} is not canonical: leading zero byte", offset)
        if stop == start + 1:
            if first < SHORT_STRING:
                raise _wrapped_byte(what, first, offset)
            return first, stop
        return int.from_bytes(data[start:stop], "big"), stop
    if header < SHORT_LIST and max_bytes <= MAX_SHORT_LENGTH:
        # a long-form string holds at least 56 bytes
        raise TxFieldError(f"{what} is longer than {max_bytes} bytes", offset)
    start, stop = read_string(data, offset, end, what)
    if stop - start > max_bytes:
        raise TxFieldError(f"{what} is longer than {max_bytes} bytes", offset)
    if data[start] == 0:
        raise RLPError(f"{what} is not canonical: leading zero byte", offset)
    return int.from_bytes(data[start:stop], "big"), stop


def decode(data: bytes) -> Decoded:
    """Decode one complete, canonical RLP item (nested lists of byte strings); nothing may follow it."""
    item, stop = _decode_item(data, 0, len(data), 0)
    if stop != len(data):
        raise RLPError(f"{len(data) - stop} bytes follow the RLP item", stop)
    return item


_MAX_DEPTH: Final = 64


def _decode_item(data: bytes, offset: int, end: int, depth: int) -> tuple[Decoded, int]:
    if offset < end and data[offset] >= SHORT_LIST:
        if depth >= _MAX_DEPTH:
            raise RLPError(f"lists nested deeper than {_MAX_DEPTH}", offset)
        start, stop = read_list_header(data, offset, end, "list")
        items: list[Decoded] = []
        position = start
        while position < stop:
            item, position = _decode_item(data, position, stop, depth + 1)
            items.append(item)
        return items, stop
    start, stop = read_string(data, offset, end, "item")
    return data[start:stop], stop


def _long_payload(
    data: bytes, offset: int, end: int, what: str, max_length_of_length: int
) -> tuple[int, int]:
    """Read the length bytes of the long-form header at `offset`: `(payload start, payload end)`."""
    header = data[offset]
    length_of_length = header - (0xF7 if header >= SHORT_LIST else 0xB7)
    if length_of_length > max_length_of_length:
        raise TxFieldError(
            f"{what} has {length_of_length} length bytes, at most {max_length_of_length} are allowed", offset
        )
    start = offset + 1 + length_of_length
    if start > end:
        raise RLPError(
            f"{what} truncated: {length_of_length} length bytes announced, {end - offset - 1} available",
            offset,
        )
    if data[offset + 1] == 0:
        raise RLPError(f"{what} is not canonical: its length has a leading zero byte", offset)
    length = int.from_bytes(data[offset + 1 : start], "big")
    if length <= MAX_SHORT_LENGTH:
        raise RLPError(f"{what} is not canonical: long form used for a length of {length} (< 56)", offset)
    return start, start + length


def _overrun(what: str, announced: int, available: int, offset: int) -> RLPError:
    return RLPError(
        f"{what} runs past the end of its list: {announced} bytes announced, {available} available", offset
    )


def _wrapped_byte(what: str, byte: int, offset: int) -> RLPError:
    return RLPError(f"{what} is not canonical: single byte 0x{byte:02x} < 0x80 has a string header", offset)


# --------------------------------------------------------------------------------------------------
# writing


def encode_bytes(value: bytes) -> bytes:
    """A byte string item."""
    if len(value) == 1 and value[0] < SHORT_STRING:
        return bytes(value)
    return _header(len(value), SHORT_STRING) + value


def encode_uint(value: int) -> bytes:
    """A non-negative integer as the item of its minimal big-endian bytes."""
    if value < SHORT_STRING:
        if value < 0:
            raise EncodingError(f"RLP integers are non-negative, got {value}")
        return bytes((value,)) if value else b"\x80"
    return encode_bytes(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def encode_list(encoded_items: Iterable[bytes]) -> bytes:
    """A list of items that are already encoded."""
    payload = b"".join(encoded_items)
    return _header(len(payload), SHORT_LIST) + payload


def encode(item: Item) -> bytes:
    """Encode bytes, non-negative ints and (nested) sequences of them."""
    if isinstance(item, bytes | bytearray | memoryview):
        return encode_bytes(bytes(item))
    if isinstance(item, int):
        return encode_uint(item)
    return encode_list(encode(x) for x in item)


def _header(length: int, short_base: int) -> bytes:
    if length <= MAX_SHORT_LENGTH:
        return bytes((short_base + length,))
    length_bytes = length.to_bytes((length.bit_length() + 7) // 8, "big")
    if len(length_bytes) > MAX_LENGTH_OF_LENGTH:
        raise EncodingError(f"an RLP payload of {length} bytes is too long to encode")
    return bytes((short_base + MAX_SHORT_LENGTH + len(length_bytes),)) + length_bytes

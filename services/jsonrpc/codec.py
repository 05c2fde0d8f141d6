"""The JSON-RPC value encodings, both ways: hex quantities and hex data (Ethereum JSON-RPC spec).

    quantity   "0x0", "0x1b4" — an unsigned integer, hex, no leading zeros on output
    data       "0x", "0x00ff" — bytes, two hex digits each; addresses 20 bytes, hashes 32

Parsers take the decoded JSON value and raise `ParamError` with a message in go-ethereum's words
("hex string without 0x prefix", "hex string of odd length" …); the method registry prefixes it
with the argument's position. On input a quantity may carry leading zeros and may also be a plain
non-negative JSON integer (what people type into curl); on output it is always canonical.
"""

from __future__ import annotations

from typing import Final, TypeAlias

#: any JSON value, as orjson decodes and encodes it
Json: TypeAlias = "bool | int | float | str | list[Json] | dict[str, Json] | None"

ADDRESS_BYTES: Final = 20
HASH_BYTES: Final = 32
MAX_UINT64: Final = (1 << 64) - 1
MAX_UINT256: Final = (1 << 256) - 1
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")


class ParamError(ValueError):
    """A parameter value that does not parse; the message says why."""


# -- output ---------------------------------------------------------------------------------------


def quantity(value: int) -> str:
    return hex(value)


def data(value: bytes) -> str:
    return "0x" + value.hex()


def word(value: int) -> str:
    """A uint256 as 32 bytes of data (eth_getStorageAt)."""
    return "0x" + value.to_bytes(HASH_BYTES, "big").hex()


# -- input ----------------------------------------------------------------------------------------


def _hex_digits(value: object) -> str:
    if not isinstance(value, str):
        raise ParamError(f"expected a hex string, got {describe(value)}")
    if value[:2] not in ("0x", "0X"):
        raise ParamError("hex string without 0x prefix")
    digits = value[2:]
    if not _HEX_DIGITS.issuperset(digits):
        raise ParamError(f"invalid hex string {_short(value)}")
    return digits


def parse_quantity(value: object, max_value: int = MAX_UINT256) -> int:
    """A hex quantity ("0x1a") or a non-negative JSON integer, at most `max_value`."""
    if isinstance(value, bool):
        raise ParamError("expected a hex quantity, got a boolean")
    if isinstance(value, int):
        number = value
        if number < 0:
            raise ParamError(f"expected a non-negative quantity, got {number}")
    else:
        digits = _hex_digits(value)
        if not digits:
            raise ParamError('hex string "0x" has no digits')
        if len(digits.lstrip("0")) > 64:
            raise ParamError("hex number > 256 bits")
        number = int(digits, 16)
    if number > max_value:
        bits = max_value.bit_length()
        if max_value + 1 == 1 << bits:
            raise ParamError(f"hex number > {bits} bits")
        raise ParamError(f"{number} is above the maximum {max_value}")
    return number


def parse_uint64(value: object) -> int:
    return parse_quantity(value, MAX_UINT64)


def parse_data(value: object, size: int | None = None) -> bytes:
    """Hex bytes ("0x" is empty); exactly `size` bytes when given."""
    digits = _hex_digits(value)
    if len(digits) % 2:
        raise ParamError("hex string of odd length")
    raw = bytes.fromhex(digits)
    if size is not None and len(raw) != size:
        raise ParamError(f"hex string has length {len(digits)}, want {2 * size} for {size} bytes")
    return raw


def parse_address(value: object) -> bytes:
    return parse_data(value, ADDRESS_BYTES)


def parse_hash(value: object) -> bytes:
    return parse_data(value, HASH_BYTES)


def parse_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ParamError(f"expected a boolean, got {describe(value)}")
    return value


def parse_storage_slot(value: object) -> int:
    """A storage position: a quantity, or 32 bytes of data (geth accepts both)."""
    digits = _hex_digits(value)
    if not digits:
        raise ParamError('hex string "0x" has no digits')
    if len(digits) > 64:
        raise ParamError("storage slot is longer than 32 bytes")
    return int(digits, 16)


def describe(value: object) -> str:
    """What kind of JSON value this is, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _short(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:77] + "...")

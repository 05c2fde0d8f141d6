"""The structured parameters of the eth_* methods: block identifiers, call arguments, log filters.

Each parser takes the decoded JSON value of one argument and returns a frozen value, or raises
`ParamError` saying what is wrong (the registry turns it into -32602 "invalid argument N: …").

Block identifiers
-----------------
    "latest" "pending" "earliest" "safe" "finalized"  a tag (resolved by the chain reader:
                                                  safe = last virtualized block, finalized = last
                                                  verified block, as in zkevm-node)
    "0x1b4" (or 436)                               a block number
    {"blockNumber": "0x1b4"}                       EIP-1898, same as the number
    {"blockHash": "0x…", "requireCanonical": b}    EIP-1898 by hash (the trusted L2 chain has no
                                                  forks, so every stored block is canonical)
    "0x" + 64 hex digits                           a block hash, where a block id is allowed

Unknown fields of call objects and filters are ignored, as go-ethereum's JSON decoding does; an
EIP-1559 fee field in a call object is accepted and ignored (the chain has legacy gas prices only).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeAlias, TypeVar

from services.jsonrpc.codec import (
    HASH_BYTES,
    MAX_UINT64,
    ParamError,
    describe,
    parse_address,
    parse_bool,
    parse_data,
    parse_hash,
    parse_quantity,
)

_T = TypeVar("_T")

#: geth's limit on topic positions in a filter
MAX_TOPICS: Final = 4


class BlockTag(enum.StrEnum):
    LATEST = "latest"
    PENDING = "pending"
    EARLIEST = "earliest"
    SAFE = "safe"
    FINALIZED = "finalized"


@dataclass(frozen=True, slots=True)
class BlockHashRef:
    block_hash: bytes
    require_canonical: bool = False


#: a block by number or tag (eth_getBlockByNumber, filter bounds)
BlockNumber: TypeAlias = BlockTag | int
#: a block by number, tag or hash (state reads, eth_call)
BlockId: TypeAlias = BlockTag | int | BlockHashRef


def parse_block_number(value: object) -> BlockNumber:
    if isinstance(value, str):
        try:
            return BlockTag(value)
        except ValueError:
            pass
    try:
        return parse_quantity(value, MAX_UINT64)
    except ParamError as exc:
        raise ParamError(
            f"{exc}; a block is a number or one of {', '.join(repr(t.value) for t in BlockTag)}"
        ) from None


def parse_block_id(value: object) -> BlockId:
    if isinstance(value, dict):
        number, block_hash = value.get("blockNumber"), value.get("blockHash")
        if number is not None and block_hash is not None:
            raise ParamError("cannot specify both blockHash and blockNumber, choose one or the other")
        if block_hash is not None:
            canonical = value.get("requireCanonical")
            return BlockHashRef(parse_hash(block_hash), canonical is not None and parse_bool(canonical))
        if number is not None:
            return parse_block_number(number)
        raise ParamError("a block object needs blockNumber or blockHash")
    if isinstance(value, str) and len(value) == 2 + 2 * HASH_BYTES:
        return BlockHashRef(parse_hash(value))
    return parse_block_number(value)


# -- call objects (eth_call, eth_estimateGas) -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallArgs:
    sender: bytes | None = None
    #: None: a contract creation
    to: bytes | None = None
    gas: int | None = None
    gas_price: int | None = None
    value: int = 0
    #: None when neither `data` nor `input` was given
    data: bytes | None = None


def parse_call_args(value: object) -> CallArgs:
    if not isinstance(value, dict):
        raise ParamError(f"expected a transaction call object, got {describe(value)}")

    def field(name: str) -> object:
        return value.get(name)

    data_field, input_field = field("data"), field("input")
    data = parse_data(data_field) if data_field is not None else None
    call_input = parse_data(input_field) if input_field is not None else None
    if data is not None and call_input is not None and data != call_input:
        raise ParamError('both "data" and "input" are set and not equal; use "input" for the call data')
    return CallArgs(
        sender=_opt(field("from"), parse_address, "from"),
        to=_opt(field("to"), parse_address, "to"),
        gas=_opt(field("gas"), _parse_uint64, "gas"),
        gas_price=_opt(field("gasPrice"), parse_quantity, "gasPrice"),
        value=_opt(field("value"), parse_quantity, "value") or 0,
        data=call_input if call_input is not None else data,
    )


def _parse_uint64(value: object) -> int:
    return parse_quantity(value, MAX_UINT64)


def _opt(value: object, parse: Callable[[object], _T], name: str) -> _T | None:
    if value is None:
        return None
    try:
        return parse(value)
    except ParamError as exc:
        raise ParamError(f"{name}: {exc}") from None


# -- log filters (eth_getLogs) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogQuery:
    from_block: BlockNumber | None = None
    to_block: BlockNumber | None = None
    block_hash: bytes | None = None
    addresses: tuple[bytes, ...] = ()
    #: per position: None = any topic, else one of these
    topics: tuple[tuple[bytes, ...] | None, ...] = ()


def parse_log_query(value: object) -> LogQuery:
    if not isinstance(value, dict):
        raise ParamError(f"expected a filter object, got {describe(value)}")
    block_hash = _opt(value.get("blockHash"), parse_hash, "blockHash")
    from_block = _opt(value.get("fromBlock"), parse_block_number, "fromBlock")
    to_block = _opt(value.get("toBlock"), parse_block_number, "toBlock")
    if block_hash is not None and (from_block is not None or to_block is not None):
        raise ParamError("cannot specify both blockHash and fromBlock/toBlock, choose one or the other")
    return LogQuery(
        from_block=from_block,
        to_block=to_block,
        block_hash=block_hash,
        addresses=_addresses(value.get("address")),
        topics=_topics(value.get("topics")),
    )


def _addresses(value: object) -> tuple[bytes, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(_opt_required(item, parse_address, f"address[{i}]") for i, item in enumerate(value))
    return (_opt_required(value, parse_address, "address"),)


def _topics(value: object) -> tuple[tuple[bytes, ...] | None, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ParamError(f"topics: expected an array, got {describe(value)}")
    if len(value) > MAX_TOPICS:
        raise ParamError(f"topics: at most {MAX_TOPICS} positions, got {len(value)}")
    positions: list[tuple[bytes, ...] | None] = []
    for i, position in enumerate(value):
        if position is None:
            positions.append(None)
        elif isinstance(position, list):
            options = [_opt(item, parse_hash, f"topics[{i}]") for item in position]
            # a null among the alternatives, or no alternatives, matches anything (geth)
            if not options or any(o is None for o in options):
                positions.append(None)
            else:
                positions.append(tuple(o for o in options if o is not None))
        else:
            positions.append((_opt_required(position, parse_hash, f"topics[{i}]"),))
    return tuple(positions)


def _opt_required(value: object, parse: Callable[[object], _T], name: str) -> _T:
    try:
        return parse(value)
    except ParamError as exc:
        raise ParamError(f"{name}: {exc}") from None

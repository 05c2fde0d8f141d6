"""Fork-6 L2 transactions: the batchL2Data codec, sender recovery, hashes, effective gas price (spec §5).

Design note
===========

What a transaction is
---------------------
Fork 6 knows only legacy (type-0) transactions. `L2Transaction` holds the signed fields plus the one
byte the sequencer adds, the effective percentage `ep` (§5.1): the sender pays
`egp = floor(gasPrice * (ep + 1) / 256)` per gas, so `ep = 0xff` is the full price. It is a plain
value: decoding checks the *format* only. Whether the transaction may run — signature (§5.2), chain
id, nonce, `gasLimit <= MAX_TX_GAS_LIMIT`, intrinsic gas, balance (§6.3) — is decided by the
processor, because a well-formed but invalid transaction is skipped while the rest of its batch runs.

Two encodings of the same transaction
-------------------------------------
::

    batch record (batchL2Data = records back to back, no framing; §5.1)
    ┌───────────────────────────────────────────────┬───────┬───────┬──────┬───────┐
    │ RLP([nonce, gasPrice, gasLimit, to, value,    │ r[32] │ s[32] │ v[1] │ ep[1] │
    │      data, chainId, 0x80, 0x80])              │       │       │27/28 │ 0..ff │
    └───────────────────────────────────────────────┴───────┴───────┴──────┴───────┘
     └─ the signing payload: keccak of exactly these bytes is what was signed
        (pre-EIP-155: the 6-item list [nonce, gasPrice, gasLimit, to, value, data])

    standard signed tx (eth_sendRawTransaction; the L2 tx hash is keccak of it, §5.3)
    RLP([nonce, gasPrice, gasLimit, to, value, data, V, r, s])
        V = v - 27 + 2·chainId + 35   (EIP-155)      V = v   (pre-EIP-155)

`encode` / `decode_record` / `decode_batch_l2_data` handle the first, `to_raw` /
`decode_raw_transaction` the second; the dataclass is the bridge between them.

Parsing follows the ROM
-----------------------
The ROM parses the whole batch before it runs anything, and any malformed record makes it execute
*no* transaction of the batch (§6.10 quirk 1). `decode_batch_l2_data` therefore raises on the first
bad record instead of skipping it; the caller treats the batch as empty. The rules (ROM
`load-tx-rlp.zkasm`, fork 6) are checked in this order, each failure a `DecodeError` subclass that
names the field and the byte offset:

* a list header (`0xc0 .. 0xfa`: at most 3 length bytes, long form only for >= 56 bytes);
* `nonce` <= 8 bytes, `gasPrice` <= 32, `gasLimit` <= 8, `to` empty or exactly 20 bytes,
  `value` <= 32, `data` any string with at most 3 length bytes, all in canonical RLP
  (no leading zero bytes, no header on a single byte < 0x80, long form only for >= 56 bytes);
* if the list is not yet used up: `chainId` <= 8 bytes, then exactly the bytes `0x80 0x80`;
* the list length must equal the bytes its items took;
* then 66 more bytes, `r ‖ s ‖ v ‖ ep`. Their values are not checked here: a bad `v`, `r` or `s`
  is an invalid transaction (`sender()` raises), not a malformed batch.

A record that is exactly one byte short at the end of a batch is accepted with `ep = 0xff` only when
asked (`allow_missing_last_ep`, quirk 2): that is what the JS reference did to produce processor
vectors 1 and 6, and what the ROM rejects.

What the ROM accepts beyond strict RLP
--------------------------------------
The ROM reads a lone byte `0x00` in an integer field (nonce, gasPrice, gasLimit, value, chainId) as
the integer 0, and hashes the record's bytes as they are. A batch (a forced batch, say) may contain
such a record, and its sender is the signer of *those* bytes. So `decode_record` keeps the original
signing list in `noncanonical_payload` whenever it is not the canonical encoding of the fields;
`signing_payload`, `signing_hash`, `sender` and `encode` then use those bytes, and decoding followed
by encoding gives back the input byte for byte. `to_raw`, like zkevm-node, re-encodes canonically.
`decode_raw_transaction` is strict RLP (as go-ethereum is for `eth_sendRawTransaction`), so every
transaction that enters through the RPC is canonical.

Standard raw transactions
-------------------------
`decode_raw_transaction` accepts exactly `RLP([nonce, gasPrice, gasLimit, to, value, data, V, r,
s])` with the same field widths as a batch record, so whatever it returns can be put in a batch.
Typed (EIP-2718) transactions and a `V` that is neither 27/28 nor an EIP-155 value are refused.

Cost
----
Decoding neither hashes nor recovers anything; a transfer record decodes in a few microseconds.
`sender()` costs one secp256k1 recovery (tens of microseconds) and is cached by
`(signing hash, r, s, v)` in a bounded LRU, so a transaction seen by the pool and again in a batch
is recovered once.
"""

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from coincurve import PrivateKey, PublicKey

from zkevm.errors import DecodeError, EncodingError, InvalidSignatureError, RLPError, TxFieldError
from zkevm.hashing import keccak256
from zkevm.rlp import (
    SHORT_STRING,
    encode_bytes,
    encode_list,
    encode_uint,
    read_list_header,
    read_string,
    read_uint,
)
from zkevm.state_keys import Address

#: Largest gasLimit a transaction may have (it is also the L2 block gas limit, one tx per block):
#: ROM `constants.zkasm` `TX_GAS_LIMIT`, spec §6.1; a larger one is intrinsic-invalid (§6.3 step 5).
MAX_TX_GAS_LIMIT: Final = 30_000_000
#: The effective percentage meaning "pay the full gasPrice"; zkevm-node's default (§5.1).
DEFAULT_EFFECTIVE_PERCENTAGE: Final = 0xFF

#: Field widths in bytes the ROM accepts (§5.1, `load-tx-rlp.zkasm`).
MAX_NONCE_BYTES: Final = 8
MAX_GAS_PRICE_BYTES: Final = 32
MAX_GAS_LIMIT_BYTES: Final = 8
MAX_VALUE_BYTES: Final = 32
MAX_CHAIN_ID_BYTES: Final = 8
ADDRESS_BYTES: Final = 20
#: Length bytes allowed after a long-form header for the signing list and for `data` (so < 16 MiB).
ROM_MAX_LENGTH_OF_LENGTH: Final = 3
#: r[32] ‖ s[32] ‖ v[1] ‖ ep[1] after the signing list.
SIGNATURE_TAIL_BYTES: Final = 66

#: secp256k1 group order; the ROM requires 1 <= r < n and 1 <= s <= n/2 (§5.2, EIP-2 low-s).
SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SECP256K1_HALF_N: Final = SECP256K1_N // 2
#: Recovered senders kept, keyed by (signing hash, r, s, v): a few full batches' worth.
SENDER_CACHE_SIZE: Final = 16_384

_EIP155_TRAILER: Final = b"\x80\x80"
_MAX_DATA_BYTES: Final = (1 << (8 * ROM_MAX_LENGTH_OF_LENGTH)) - 1


@dataclass(frozen=True, slots=True)
class L2Transaction:
    """A signed fork-6 (legacy) transaction with the sequencer's effective percentage.

    Integers are plain non-negative ints; their widths are checked when the transaction is encoded
    (`EncodingError`), and are guaranteed for anything decoded.
    """

    nonce: int
    gas_price: int
    gas_limit: int
    #: the 20-byte callee; None for a contract creation
    to: bytes | None
    value: int
    data: bytes
    #: EIP-155 chain id the transaction was signed for; None if it was signed without one
    chain_id: int | None
    r: int
    s: int
    #: 27 + recovery id, as in the batch record (the chain id is not folded in). Any byte decodes;
    #: only 27 and 28 are valid (`sender()`).
    v: int
    #: sequencer-chosen 0..255; the sender pays floor(gasPrice · (ep + 1) / 256) per gas
    effective_percentage: int
    #: The signing list exactly as it was in a batch record, kept only when it is not the canonical
    #: encoding of the fields (the ROM reads a lone 0x00 as integer 0; see the module notes).
    #: None for everything built from fields or from canonical bytes.
    noncanonical_payload: bytes | None = field(default=None, kw_only=True)

    def signing_payload(self) -> bytes:
        """RLP of the signing list (§5.1): the first part of the batch record, what is signed."""
        if self.noncanonical_payload is not None:
            return self.noncanonical_payload
        items = _common_items(self)
        if self.chain_id is not None:
            items.append(_uint_item(self.chain_id, MAX_CHAIN_ID_BYTES, "chainId"))
            items.append(_EIP155_TRAILER)
        return encode_list(items)

    def signing_hash(self) -> bytes:
        """keccak(signing payload): the message the sender signed and the ROM recovers from."""
        return keccak256(self.signing_payload())

    def effective_gas_price(self) -> int:
        """The gas price actually charged (§5.1): floor(gasPrice · (ep + 1) / 256)."""
        return effective_gas_price(self.gas_price, self.effective_percentage)

    def encode(self) -> bytes:
        """The fork-6 batch record: RLP(signing list) ‖ r[32] ‖ s[32] ‖ v[1] ‖ ep[1]."""
        for name, byte in (("v", self.v), ("effective_percentage", self.effective_percentage)):
            if not 0 <= byte <= 0xFF:
                raise EncodingError(f"{name} must be one byte (0..255), got {byte}")
        return (
            self.signing_payload()
            + _word(self.r, "r")
            + _word(self.s, "s")
            + bytes((self.v, self.effective_percentage))
        )

    def to_raw(self) -> bytes:
        """The standard signed legacy transaction RLP([nonce, gasPrice, gas, to, value, data, V, r, s]).

        `V = v - 27 + 2·chainId + 35` for EIP-155, `V = v` otherwise (§5.3). Always canonical, also
        for a record decoded with a `noncanonical_payload`.
        """
        if self.chain_id is None:
            v_raw = self.v
        else:
            _uint_item(self.chain_id, MAX_CHAIN_ID_BYTES, "chainId")
            v_raw = self.v - 27 + 2 * self.chain_id + 35
        _word(self.r, "r")
        _word(self.s, "s")
        items = _common_items(self)
        items += (encode_uint(v_raw), encode_uint(self.r), encode_uint(self.s))
        return encode_list(items)

    def tx_hash(self) -> bytes:
        """The L2 transaction hash: keccak(to_raw()) (§5.3; not the ROM's internal signing hash)."""
        return keccak256(self.to_raw())

    def sender(self) -> Address:
        """The signer's 20-byte address, recovered as the ROM does (§5.2).

        Raises `InvalidSignatureError` naming the problem when v is not 27/28, r is not in
        [1, n-1], s is not in [1, n/2] (high-s signatures are invalid since EIP-2) or no public key
        can be recovered.
        """
        return _recover_sender(self.signing_hash(), self.r, self.s, self.v)


def effective_gas_price(gas_price: int, effective_percentage: int) -> int:
    """floor(gasPrice · (ep + 1) / 256): the floor applies to the price, not to the fee (§5.1, §6.5)."""
    if not 0 <= effective_percentage <= 0xFF:
        raise EncodingError(f"effective percentage must be 0..255, got {effective_percentage}")
    return gas_price * (effective_percentage + 1) >> 8


# --------------------------------------------------------------------------------------------------
# batch records


def decode_record(data: bytes, offset: int = 0) -> tuple[L2Transaction, int]:
    """Decode the batch record starting at `offset`; returns it and the offset just after it."""
    return _decode_record(data, offset, allow_missing_ep=False)


def decode_batch_l2_data(data: bytes, *, allow_missing_last_ep: bool = False) -> list[L2Transaction]:
    """Decode a whole batchL2Data; any malformed record raises, as it voids the batch (quirk 1).

    `allow_missing_last_ep` reproduces the JS reference on processor vectors 1 and 6 (quirk 2): a
    final record exactly one byte short is read with `ep = 0xff`. The ROM rejects such a batch, so
    leave it off for anything that must match the chain.
    """
    txs: list[L2Transaction] = []
    offset = 0
    end = len(data)
    while offset < end:
        tx, offset = _decode_record(data, offset, allow_missing_last_ep)
        txs.append(tx)
    return txs


def encode_batch_l2_data(txs: Iterable[L2Transaction]) -> bytes:
    """The batchL2Data of these transactions: their records back to back."""
    return b"".join(tx.encode() for tx in txs)


def _decode_record(data: bytes, offset: int, allow_missing_ep: bool) -> tuple[L2Transaction, int]:
    end = len(data)
    if not 0 <= offset < end:
        raise DecodeError(f"no record at offset {offset}: the data is {end} bytes long", max(offset, 0))
    position, list_end = read_list_header(data, offset, end, "signing list", ROM_MAX_LENGTH_OF_LENGTH)
    nonce_at = position
    nonce, position = read_uint(
        data, position, list_end, "nonce", max_bytes=MAX_NONCE_BYTES, allow_zero_byte=True
    )
    gas_price_at = position
    gas_price, position = read_uint(
        data, position, list_end, "gasPrice", max_bytes=MAX_GAS_PRICE_BYTES, allow_zero_byte=True
    )
    gas_limit_at = position
    gas_limit, position = read_uint(
        data, position, list_end, "gasLimit", max_bytes=MAX_GAS_LIMIT_BYTES, allow_zero_byte=True
    )
    to, position = _read_to(data, position, list_end)
    value_at = position
    value, position = read_uint(
        data, position, list_end, "value", max_bytes=MAX_VALUE_BYTES, allow_zero_byte=True
    )
    start, position = read_string(data, position, list_end, "data", ROM_MAX_LENGTH_OF_LENGTH)
    call_data = data[start:position]
    # A lone 0x00 is the integer 0 to the ROM but not canonical RLP; such a payload is kept verbatim.
    zero_byte = (
        data[nonce_at] == 0 or data[gas_price_at] == 0 or data[gas_limit_at] == 0 or data[value_at] == 0
    )
    chain_id: int | None = None
    if position != list_end:
        zero_byte = zero_byte or data[position] == 0
        chain_id, position = read_uint(
            data, position, list_end, "chainId", max_bytes=MAX_CHAIN_ID_BYTES, allow_zero_byte=True
        )
        if position + 2 > list_end:
            raise RLPError("the signing list ends before the two empty strings that follow chainId", position)
        if data[position] != SHORT_STRING or data[position + 1] != SHORT_STRING:
            raise TxFieldError(
                "an EIP-155 signing list must end with 0x8080 after chainId, "
                f"found 0x{data[position : position + 2].hex()}",
                position,
            )
        position += 2
        if position != list_end:
            raise RLPError(
                f"signing list length mismatch: {list_end - position} bytes follow its 9 items", position
            )
    tail = end - list_end
    if tail >= SIGNATURE_TAIL_BYTES:
        ep = data[list_end + 65]
        next_offset = list_end + SIGNATURE_TAIL_BYTES
    elif allow_missing_ep and tail == SIGNATURE_TAIL_BYTES - 1:
        ep = DEFAULT_EFFECTIVE_PERCENTAGE
        next_offset = end
    else:
        raise DecodeError(
            f"record truncated: {SIGNATURE_TAIL_BYTES} bytes of r, s, v, effectivePercentage expected, "
            f"{tail} available",
            list_end,
        )
    tx = L2Transaction(
        nonce,
        gas_price,
        gas_limit,
        to,
        value,
        call_data,
        chain_id,
        int.from_bytes(data[list_end : list_end + 32], "big"),
        int.from_bytes(data[list_end + 32 : list_end + 64], "big"),
        data[list_end + 64],
        ep,
        noncanonical_payload=data[offset:list_end] if zero_byte else None,
    )
    return tx, next_offset


def _read_to(data: bytes, position: int, list_end: int) -> tuple[bytes | None, int]:
    """`to`: the empty string (contract creation) or a 20-byte string."""
    start, stop = read_string(data, position, list_end, "to")
    if stop == start:
        return None, stop
    if stop - start != ADDRESS_BYTES:
        raise TxFieldError(f"to must be empty or {ADDRESS_BYTES} bytes, got {stop - start}", position)
    return data[start:stop], stop


# --------------------------------------------------------------------------------------------------
# standard raw transactions


def decode_raw_transaction(
    raw: bytes, effective_percentage: int = DEFAULT_EFFECTIVE_PERCENTAGE
) -> L2Transaction:
    """Decode a standard signed legacy transaction, as `eth_sendRawTransaction` receives it.

    Strict canonical RLP of exactly `[nonce, gasPrice, gasLimit, to, value, data, V, r, s]` with the
    field widths of a batch record. `V >= 35` is EIP-155 (`chainId = (V - 35) // 2`,
    `v = 27 + (V - 35) % 2`), `V` in {27, 28} is pre-EIP-155; anything else is a `TxFieldError`, and
    so is a typed (EIP-2718) transaction.
    """
    if not 0 <= effective_percentage <= 0xFF:
        raise EncodingError(f"effective percentage must be 0..255, got {effective_percentage}")
    end = len(raw)
    if end and raw[0] < SHORT_STRING:
        raise TxFieldError(
            "only legacy transactions are supported, "
            f"got a typed (EIP-2718) transaction of type 0x{raw[0]:02x}",
            0,
        )
    position, list_end = read_list_header(raw, 0, end, "transaction", ROM_MAX_LENGTH_OF_LENGTH)
    if list_end != end:
        raise RLPError(f"{end - list_end} bytes follow the transaction", list_end)
    nonce, position = read_uint(raw, position, list_end, "nonce", max_bytes=MAX_NONCE_BYTES)
    gas_price, position = read_uint(raw, position, list_end, "gasPrice", max_bytes=MAX_GAS_PRICE_BYTES)
    gas_limit, position = read_uint(raw, position, list_end, "gasLimit", max_bytes=MAX_GAS_LIMIT_BYTES)
    to, position = _read_to(raw, position, list_end)
    value, position = read_uint(raw, position, list_end, "value", max_bytes=MAX_VALUE_BYTES)
    start, position = read_string(raw, position, list_end, "data", ROM_MAX_LENGTH_OF_LENGTH)
    call_data = raw[start:position]
    v_offset = position
    v_raw, position = read_uint(raw, position, list_end, "V", max_bytes=32)
    r, position = read_uint(raw, position, list_end, "r", max_bytes=32)
    s, position = read_uint(raw, position, list_end, "s", max_bytes=32)
    if position != list_end:
        raise RLPError(
            f"transaction list length mismatch: {list_end - position} bytes follow its 9 items", position
        )
    chain_id: int | None
    if v_raw in (27, 28):
        chain_id, v = None, v_raw
    elif v_raw >= 35:
        chain_id, parity = divmod(v_raw - 35, 2)
        if chain_id >> (8 * MAX_CHAIN_ID_BYTES):
            raise TxFieldError(f"chainId {chain_id} is longer than {MAX_CHAIN_ID_BYTES} bytes", v_offset)
        v = 27 + parity
    else:
        raise TxFieldError(f"V must be 27, 28 or an EIP-155 value >= 35, got {v_raw}", v_offset)
    return L2Transaction(
        nonce, gas_price, gas_limit, to, value, call_data, chain_id, r, s, v, effective_percentage
    )


# --------------------------------------------------------------------------------------------------
# signing and recovery


def sign_transaction(
    *,
    nonce: int,
    gas_price: int,
    gas_limit: int,
    to: bytes | None,
    value: int,
    data: bytes = b"",
    chain_id: int | None,
    private_key: bytes,
    effective_percentage: int = DEFAULT_EFFECTIVE_PERCENTAGE,
) -> L2Transaction:
    """Sign a transaction with a 32-byte secp256k1 key (EIP-155 when `chain_id` is not None).

    libsecp256k1 always produces low-s signatures, so the result is valid for the ROM.
    """
    unsigned = L2Transaction(
        nonce, gas_price, gas_limit, to, value, data, chain_id, 0, 0, 27, effective_percentage
    )
    if len(private_key) != 32 or not 0 < int.from_bytes(private_key, "big") < SECP256K1_N:
        raise EncodingError("a private key is 32 bytes holding an integer in [1, n-1]")
    key = PrivateKey(private_key)
    signature = key.sign_recoverable(unsigned.signing_hash(), hasher=None)
    return L2Transaction(
        nonce,
        gas_price,
        gas_limit,
        to,
        value,
        data,
        chain_id,
        int.from_bytes(signature[:32], "big"),
        int.from_bytes(signature[32:64], "big"),
        27 + signature[64],
        effective_percentage,
    )


@functools.lru_cache(maxsize=SENDER_CACHE_SIZE)
def _recover_sender(signing_hash: bytes, r: int, s: int, v: int) -> Address:
    if v not in (27, 28):
        raise InvalidSignatureError(f"v must be 27 or 28, got {v}")
    if r == 0:
        raise InvalidSignatureError("r is zero")
    if r >= SECP256K1_N:
        raise InvalidSignatureError(f"r = {r:#x} is not below the secp256k1 order n")
    if s == 0:
        raise InvalidSignatureError("s is zero")
    if s > SECP256K1_HALF_N:
        raise InvalidSignatureError(f"s = {s:#x} is above n/2 (high-s signatures are invalid, EIP-2)")
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((v - 27,))
    try:
        public_key = PublicKey.from_signature_and_message(signature, signing_hash, hasher=None)
    except ValueError:
        raise InvalidSignatureError("no public key can be recovered from this signature") from None
    return Address(keccak256(public_key.format(compressed=False)[1:])[12:])


# --------------------------------------------------------------------------------------------------
# field encoding (widths checked here, so decoding never needs to)


def _common_items(tx: L2Transaction) -> list[bytes]:
    """The six encoded items both encodings start with."""
    if tx.to is None:
        to_item = b"\x80"
    elif len(tx.to) == ADDRESS_BYTES:
        to_item = b"\x94" + tx.to
    else:
        raise EncodingError(f"to must be None or {ADDRESS_BYTES} bytes, got {len(tx.to)}")
    if len(tx.data) > _MAX_DATA_BYTES:
        raise EncodingError(f"data of {len(tx.data)} bytes is longer than a record can hold")
    return [
        _uint_item(tx.nonce, MAX_NONCE_BYTES, "nonce"),
        _uint_item(tx.gas_price, MAX_GAS_PRICE_BYTES, "gasPrice"),
        _uint_item(tx.gas_limit, MAX_GAS_LIMIT_BYTES, "gasLimit"),
        to_item,
        _uint_item(tx.value, MAX_VALUE_BYTES, "value"),
        encode_bytes(tx.data),
    ]


def _uint_item(value: int, max_bytes: int, name: str) -> bytes:
    if not 0 <= value < 1 << (8 * max_bytes):
        raise EncodingError(f"{name} = {value} does not fit {max_bytes} unsigned bytes")
    return encode_uint(value)


def _word(value: int, name: str) -> bytes:
    if not 0 <= value < 1 << 256:
        raise EncodingError(f"{name} = {value} does not fit 32 unsigned bytes")
    return value.to_bytes(32, "big")

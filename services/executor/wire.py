"""executor.v1 protobuf ↔ executor domain types. Protobuf stops here.

Input checks follow the prover's executor service (zkevm-prover v3.0.2 `executor_service.cpp`): a
field that does not fit is answered with its `ExecutorError` (raised here as `BatchRejected`), never
with a transport error. Byte fields shorter than 32 bytes are big-endian numbers (left-padded),
longer ones are rejected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from protos.executor.v1 import executor_pb2 as pb
from services.executor.errors import BatchRejected, ExecutorError
from services.executor.processor import BatchRequest, BatchResult, TxResult
from zkevm.batch import batch_hash_data
from zkevm.field import H4, Node, P, hex_to_h4

#: a node of `db` is 12 field elements, or 8 for a value node (capacity implied 0), 16 hex digits each
_WORD_HEX = 16


@dataclass(frozen=True, slots=True)
class ProcessCall:
    """A ProcessBatch request: the batch plus what the executor does around it."""

    batch: BatchRequest
    #: keep the new state (flush it to the HashDB's store) or forget it after the call
    update_merkle_tree: bool
    #: testing: tree nodes and bytecode to load before running
    preload_nodes: Mapping[H4, Node] = field(default_factory=dict)
    preload_programs: Mapping[H4, bytes] = field(default_factory=dict)
    context_id: str = ""


@dataclass(frozen=True, slots=True)
class FlushInfo:
    flush_id: int = 0
    stored_flush_id: int = 0


def _word32(value: bytes, error: ExecutorError, name: str) -> bytes:
    if len(value) > 32:
        raise BatchRejected(error, f"{name} is {len(value)} bytes, at most 32")
    return value.rjust(32, b"\x00")


def _address(text: str, error: ExecutorError, name: str) -> bytes:
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    if len(digits) > 40:
        raise BatchRejected(error, f"{name} {text[:60]!r} is longer than 20 bytes")
    try:
        value = int(digits, 16) if digits else 0
    except ValueError:
        raise BatchRejected(error, f"{name} {text[:60]!r} is not hexadecimal") from None
    return value.to_bytes(20, "big")


def _hash_key(text: str, error: ExecutorError) -> H4:
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    if not digits or len(digits) > 64:
        raise BatchRejected(error, f"key {text[:80]!r} is not a hash of at most 64 hex digits")
    try:
        h = hex_to_h4("0x" + digits.rjust(64, "0"))
    except ValueError:
        raise BatchRejected(error, f"key {text[:80]!r} is not hexadecimal") from None
    return h


def _node(text: str) -> Node:
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    if len(digits) % _WORD_HEX or len(digits) // _WORD_HEX not in (8, 12):
        raise BatchRejected(
            ExecutorError.INVALID_DB_VALUE,
            f"a db value is 8 or 12 words of 16 hex digits, got {len(digits)} digits",
        )
    try:
        words = [int(digits[i : i + _WORD_HEX], 16) for i in range(0, len(digits), _WORD_HEX)]
    except ValueError:
        raise BatchRejected(ExecutorError.INVALID_DB_VALUE, "a db value is not hexadecimal") from None
    if any(w >= P for w in words):
        raise BatchRejected(
            ExecutorError.INVALID_DB_VALUE, "a db value has a word that is not a field element"
        )
    return (*words, *[0] * (12 - len(words)))


def _program(text: str) -> bytes:
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    if len(digits) % 2:
        digits = "0" + digits
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise BatchRejected(
            ExecutorError.INVALID_CONTRACTS_BYTECODE_VALUE, "a contracts_bytecode value is not hexadecimal"
        ) from None


def call_from_proto(request: pb.ProcessBatchRequest) -> ProcessCall:
    """Decode a request; raises `BatchRejected` with the prover's error code for a bad field."""
    if request.get_keys and request.fork_id < 5:
        raise BatchRejected(ExecutorError.INVALID_GET_KEY, "get_keys needs fork id 5 or later")
    batch = BatchRequest(
        old_state_root=_word32(
            request.old_state_root, ExecutorError.INVALID_OLD_STATE_ROOT, "old_state_root"
        ),
        old_acc_input_hash=_word32(
            request.old_acc_input_hash, ExecutorError.INVALID_OLD_ACC_INPUT_HASH, "old_acc_input_hash"
        ),
        old_batch_num=request.old_batch_num,
        chain_id=request.chain_id,
        fork_id=request.fork_id,
        batch_l2_data=request.batch_l2_data,
        global_exit_root=_word32(
            request.global_exit_root, ExecutorError.INVALID_GLOBAL_EXIT_ROOT, "global_exit_root"
        ),
        timestamp=request.eth_timestamp,
        coinbase=_address(request.coinbase, ExecutorError.INVALID_COINBASE, "coinbase"),
        no_counters=request.no_counters != 0,
        from_address=_address(getattr(request, "from"), ExecutorError.INVALID_FROM, "from")
        if getattr(request, "from")
        else None,
    )
    nodes = {_hash_key(k, ExecutorError.INVALID_DB_KEY): _node(v) for k, v in request.db.items()}
    programs = {
        _hash_key(k, ExecutorError.INVALID_CONTRACTS_BYTECODE_KEY): _program(v)
        for k, v in request.contracts_bytecode.items()
    }
    return ProcessCall(
        batch=batch,
        update_merkle_tree=request.update_merkle_tree != 0,
        preload_nodes=nodes,
        preload_programs=programs,
        context_id=request.context_id,
    )


def _hex(address: bytes) -> str:
    return "0x" + address.hex()


def _tx_to_proto(
    tx: TxResult, index: int, batch_number: int, batch_hash: bytes
) -> pb.ProcessTransactionResponse:
    return pb.ProcessTransactionResponse(
        tx_hash=tx.tx_hash,
        rlp_tx=tx.rlp_tx,
        type=0,
        return_value=tx.return_value,
        gas_left=tx.gas_left,
        gas_used=tx.gas_used,
        gas_refunded=tx.gas_refunded,
        error=int(tx.error),  # type: ignore[arg-type]
        create_address=_hex(tx.create_address) if tx.create_address is not None else "",
        state_root=tx.state_root,
        logs=[
            pb.Log(
                address=_hex(log.address),
                topics=list(log.topics),
                data=log.data,
                batch_number=batch_number,
                tx_hash=tx.tx_hash,
                tx_index=index,
                batch_hash=batch_hash,
                index=n,
            )
            for n, log in enumerate(tx.logs)
        ],
        effective_gas_price=str(tx.effective_gas_price),
        effective_percentage=tx.effective_percentage,
        has_gasprice_opcode=int(tx.has_gasprice_opcode),
        has_balance_opcode=int(tx.has_balance_opcode),
    )


def result_to_proto(
    result: BatchResult, batch_l2_data: bytes, flush: FlushInfo, prover_id: str
) -> pb.ProcessBatchResponse:
    c = result.counters
    batch_hash = batch_hash_data(batch_l2_data)
    return pb.ProcessBatchResponse(
        new_state_root=result.new_state_root,
        new_acc_input_hash=result.new_acc_input_hash,
        new_local_exit_root=result.new_local_exit_root,
        new_batch_num=result.new_batch_num,
        cnt_keccak_hashes=c.keccak_hashes,
        cnt_poseidon_hashes=c.poseidon_hashes,
        cnt_poseidon_paddings=c.poseidon_paddings,
        cnt_mem_aligns=c.mem_aligns,
        cnt_arithmetics=c.arithmetics,
        cnt_binaries=c.binaries,
        cnt_steps=c.steps,
        cumulative_gas_used=result.cumulative_gas_used,
        responses=[_tx_to_proto(tx, i, result.new_batch_num, batch_hash) for i, tx in enumerate(result.txs)],
        error=pb.EXECUTOR_ERROR_NO_ERROR,
        read_write_addresses={
            _hex(address): pb.InfoReadWrite(nonce=str(touch.nonce), balance=str(touch.balance))
            for address, touch in result.touched_accounts.items()
        },
        flush_id=flush.flush_id,
        stored_flush_id=flush.stored_flush_id,
        prover_id=prover_id,
    )


def rejected_to_proto(error: ExecutorError, prover_id: str) -> pb.ProcessBatchResponse:
    return pb.ProcessBatchResponse(error=int(error), prover_id=prover_id)  # type: ignore[arg-type]

"""Batch hashes (spec §5.4).

    batchHashData   = keccak(batchL2Data)
    newAccInputHash = keccak(oldAccInputHash[32] ‖ batchHashData[32] ‖ globalExitRoot[32]
                             ‖ timestamp[8, big-endian] ‖ sequencerAddress[20])

The same 124-byte `abi.encodePacked` chain is computed by the L1 contract in `sequenceBatches` (with
`l2Coinbase` as the sequencer address) and by the ROM; the first batch starts from 32 zero bytes.
"""

from typing import Final, NewType

from zkevm.errors import EncodingError
from zkevm.hashing import keccak256

Hash32 = NewType("Hash32", bytes)

ZERO_HASH: Final = Hash32(bytes(32))
MAX_UINT64: Final = (1 << 64) - 1


def batch_hash_data(batch_l2_data: bytes) -> Hash32:
    return Hash32(keccak256(batch_l2_data))


def acc_input_hash(
    old_acc_input_hash: bytes,
    batch_hash: bytes,
    global_exit_root: bytes,
    timestamp: int,
    sequencer_address: bytes,
) -> Hash32:
    """The accumulated input hash after one more batch."""
    for name, value, size in (
        ("old_acc_input_hash", old_acc_input_hash, 32),
        ("batch_hash_data", batch_hash, 32),
        ("global_exit_root", global_exit_root, 32),
        ("sequencer_address", sequencer_address, 20),
    ):
        if len(value) != size:
            raise EncodingError(f"{name} must be {size} bytes, got {len(value)}")
    if not 0 <= timestamp <= MAX_UINT64:
        raise EncodingError(f"timestamp {timestamp} does not fit uint64")
    return Hash32(
        keccak256(
            old_acc_input_hash
            + batch_hash
            + global_exit_root
            + timestamp.to_bytes(8, "big")
            + sequencer_address
        )
    )

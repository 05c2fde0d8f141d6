"""The embedded default node store: LMDB, one environment directory with three named databases.

    nodes     32-byte hash (big-endian h3‖h2‖h1‖h0) → 96-byte node (12 × 8 bytes big-endian)
    program   32-byte bytecode hash → bytecode
    meta      b"stored_flush_id" → 8 bytes big-endian;  b"state_root" → 32-byte root

The byte layout of `nodes` and `program` is the prover's `state.nodes` / `state.program` (spec
§3.6), so the two stores can be copied into each other row for row. A flush is one LMDB write
transaction; with `sync` on (the default) it is on disk when `write` returns. LMDB allows one
writer and any number of readers on other threads at the same time.

The map is writable (MDB_WRITEMAP): a commit changes the pages in place and syncs them, where the
default mode copies every touched page and writes it with pwrite before the sync. Node keys are
random hashes, so a flush touches about one 4 KiB page per node; on the devnet (ext4) the default
mode caused 4.8 MB of device writes per transaction at 100 tx/s, the writable map 0.4 MB, with the
same latency. The price: data.mdb is created at the full map size as a sparse file (`ls` shows
ZKSEQ_HASHDB_LMDB_MAP_SIZE_BYTES, `du` what is used), and only this process may open the store.
"""

import struct
from pathlib import Path
from typing import Final

import lmdb

from services.hashdb.stores.base import StoredStatus, StoreError, StoreWrite
from zkevm.errors import EncodingError
from zkevm.field import H4, ZERO_H4, Node, bytes_to_h4, h4_to_bytes

_STORED_FLUSH_ID: Final = b"stored_flush_id"
_STATE_ROOT: Final = b"state_root"
#: a node row: 12 × 8 bytes big-endian (`field.node_to_bytes`, done in one C call)
NODE_ROW: Final = struct.Struct(">12Q")
#: a hash key: h3‖h2‖h1‖h0, 8 bytes each big-endian (`field.h4_to_bytes`)
_HASH: Final = struct.Struct(">4Q")


def decode_node_row(data: bytes) -> Node:
    """A stored node row back to its 12 elements."""
    if len(data) != NODE_ROW.size:
        raise EncodingError(f"a stored node is 96 bytes, got {len(data)}")
    node: Node = NODE_ROW.unpack(data)
    return node


def hash_key(h: H4) -> bytes:
    return _HASH.pack(h[3], h[2], h[1], h[0])


class LmdbStore:
    def __init__(self, path: Path, map_size_bytes: int, sync: bool = True) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        try:
            self._env = lmdb.open(
                str(path),
                map_size=map_size_bytes,
                max_dbs=3,
                sync=sync,
                metasync=sync,
                readahead=False,
                writemap=True,
            )
        except lmdb.Error as exc:
            raise StoreError(f"cannot open the LMDB store at {path}: {exc}") from exc
        self._nodes = self._env.open_db(b"nodes")
        self._programs = self._env.open_db(b"program")
        self._meta = self._env.open_db(b"meta")

    def get_node(self, node_hash: H4) -> Node | None:
        with self._env.begin(db=self._nodes) as txn:
            data = txn.get(hash_key(node_hash))
        return None if data is None else decode_node_row(data)

    def get_program(self, code_hash: H4) -> bytes | None:
        with self._env.begin(db=self._programs) as txn:
            data = txn.get(h4_to_bytes(code_hash))
        return None if data is None else bytes(data)

    def write(self, batch: StoreWrite) -> None:
        try:
            with self._env.begin(write=True) as txn:
                if batch.nodes:
                    pack, key = NODE_ROW.pack, hash_key
                    txn.cursor(self._nodes).putmulti(
                        [(key(h), pack(*n)) for h, n in batch.nodes.items()], overwrite=False
                    )
                if batch.programs:
                    txn.cursor(self._programs).putmulti(
                        [(hash_key(h), code) for h, code in batch.programs.items()], overwrite=False
                    )
                if batch.state_root is not None:
                    txn.put(_STATE_ROOT, h4_to_bytes(batch.state_root), db=self._meta)
                txn.put(_STORED_FLUSH_ID, batch.flush_id.to_bytes(8, "big"), db=self._meta)
        except lmdb.MapFullError as exc:
            raise StoreError(
                f"the LMDB store at {self.path} is full ({self._env.info()['map_size']} bytes): "
                "raise ZKSEQ_HASHDB_LMDB_MAP_SIZE_BYTES"
            ) from exc
        except lmdb.Error as exc:
            raise StoreError(f"LMDB write failed: {exc}") from exc

    def stored_status(self) -> StoredStatus:
        with self._env.begin(db=self._meta) as txn:
            flush_id = txn.get(_STORED_FLUSH_ID)
            root = txn.get(_STATE_ROOT)
        return StoredStatus(
            stored_flush_id=0 if flush_id is None else int.from_bytes(flush_id, "big"),
            state_root=ZERO_H4 if root is None else bytes_to_h4(bytes(root)),
        )

    def close(self) -> None:
        self._env.close()

"""A node store on RocksDB (rocksdict): one database directory, one key space by prefix.

    b"n" + 32-byte hash (big-endian h3‖h2‖h1‖h0) → 96-byte node (12 × 8 bytes big-endian)
    b"p" + 32-byte bytecode hash                  → bytecode
    b"m" + b"stored_flush_id" → 8 bytes big-endian;  b"m" + b"state_root" → 32-byte root

The rows are the LMDB store's (and the prover's `state.nodes` / `state.program`, spec §3.6) with a
one-byte prefix. A flush is one `WriteBatch`, written with `sync` (the write-ahead log fsynced)
when `sync` is on: atomic and durable when `write` returns.

Why a second embedded store: node keys are random hashes, so in a B-tree every node a flush writes
lands on its own page (LMDB: a 4 KiB page copied and synced per node once the tree outgrows a
flush); a log-structured tree appends the flush to its log and sorts it later, in the background.
Measured with bench/bench_node_store.py (one run prints both). Insert-if-absent is kept: the keys a
flush writes are looked up first (one multi-get; a Bloom filter answers most absent keys).
"""

from pathlib import Path
from typing import Final, cast

import rocksdict

from services.hashdb.stores.base import StoredStatus, StoreError, StoreWrite
from services.hashdb.stores.lmdb_store import NODE_ROW, decode_node_row, hash_key
from zkevm.field import H4, ZERO_H4, Node, bytes_to_h4, h4_to_bytes

_NODE: Final = b"n"
_PROGRAM: Final = b"p"
_STORED_FLUSH_ID: Final = b"mstored_flush_id"
_STATE_ROOT: Final = b"mstate_root"


class RocksStore:
    def __init__(self, path: Path, sync: bool = True) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(10, False)
        options.set_block_based_table_factory(table)
        try:
            self._db = rocksdict.Rdict(str(path), options)
        except Exception as exc:  # rocksdict raises plain exceptions carrying RocksDB's message
            raise StoreError(f"cannot open the RocksDB store at {path}: {exc}") from exc
        write_options = rocksdict.WriteOptions()
        write_options.sync = sync
        self._db.set_write_options(write_options)
        self._closed = False

    def get_node(self, node_hash: H4) -> Node | None:
        data = self._db.get(_NODE + hash_key(node_hash))
        return None if data is None else decode_node_row(data)

    def get_program(self, code_hash: H4) -> bytes | None:
        data = self._db.get(_PROGRAM + h4_to_bytes(code_hash))
        return None if data is None else bytes(data)

    def write(self, batch: StoreWrite) -> None:
        pack = NODE_ROW.pack
        rows = [(_NODE + hash_key(h), pack(*n)) for h, n in batch.nodes.items()]
        rows += [(_PROGRAM + h4_to_bytes(h), code) for h, code in batch.programs.items()]
        try:
            out = rocksdict.WriteBatch(raw_mode=True)
            if rows:
                # insert-if-absent: one multi-get for every key of the flush
                found = cast("list[bytes | None]", self._db.get([key for key, _ in rows]))
                for (key, value), stored in zip(rows, found, strict=True):
                    if stored is None:
                        out.put(key, value)
            if batch.state_root is not None:
                out.put(_STATE_ROOT, h4_to_bytes(batch.state_root))
            out.put(_STORED_FLUSH_ID, batch.flush_id.to_bytes(8, "big"))
            self._db.write(out)
        except Exception as exc:  # as above: RocksDB errors come as plain exceptions
            raise StoreError(f"RocksDB write failed: {exc}") from exc

    def stored_status(self) -> StoredStatus:
        flush_id = self._db.get(_STORED_FLUSH_ID)
        root = self._db.get(_STATE_ROOT)
        return StoredStatus(
            stored_flush_id=0 if flush_id is None else int.from_bytes(flush_id, "big"),
            state_root=ZERO_H4 if root is None else bytes_to_h4(bytes(root)),
        )

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._db.close()

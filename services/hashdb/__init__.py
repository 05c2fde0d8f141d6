"""The HashDB service: the node store of the fork-6 state tree, behind `hashdb.v1.HashDBService`.

It is what the zkevm-prover's HashDB is to a fork-6 executor (l1-and-protos.md §3.3–3.5, §4): the
same RPCs, messages and field numbers, plus a batched extension (SetMany / GetMany) so that a whole
transaction's write set is one call.

    executor / pool / tools
        │ gRPC (Set, Get, SetMany, GetMany, SemiFlush, Flush, GetFlushStatus …)
        ▼
    servicer.py ── protobuf ↔ domain values (wire.py); errors → status codes (services.common)
        ▼
    service.py  HashDB ── tree work under one lock: inline, or on the tree thread when large
        │   sessions.py   per batch_uuid, per tx: writes in memory; SemiFlush / Flush keep only
        │                 what the end roots reach
        ▼
    database.py NodeDatabase ── node cache → pending buffer → sealed flushes → store
        │   writer: sealed flushes ─▶ store.write (one atomic write) ─▶ stored_flush_id
        ▼
    stores/     LMDB (embedded default) · PostgreSQL (state.nodes / state.program) · memory twin

Guarantees: a flush id is reported stored only once its data is durable in the store, and flush
ids keep growing across restarts; a root that was stored can be read after any restart; TEMPORARY
data never reaches the store; CACHE data stays in memory. A batch session that was never flushed
is lost with the process (as in the prover); `prover_id` changes at every start so clients notice.

Files: config.py (ZKSEQ_HASHDB_*), metrics.py, app.py (wiring), __main__.py (the process),
client.py (a typed client for tests, benchmarks and tools).
"""

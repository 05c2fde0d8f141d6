"""The StateDB: the trusted L2 chain and what L1 said about it, shared by the sequencer, jsonrpc,
the sequence sender, the EthTxManager and the L1 watcher — through small repositories, never handles.

::

    sequencer ────────── BatchRepository ─────────┐    open / add L2 block / close, forced batches
    jsonrpc ──────────── BlockRepository ─────────┤    blocks, txs, receipts, eth_getLogs
    sequencesender ───── BatchRepository ─────────┤    closed batches after the last virtual one
                         VirtualBatchRepository ──┤
    L1 watcher ───────── L1BlockRepository ───────┤    blocks + events atomically, reorg deletion
                         Virtual/Verified/Forced ─┤
    ethtxmanager ─────── MonitoredTxRepository ───┤    idempotent insert, attempts, statuses
                                                  ▼
                           Database (sql.py): pool, transactions, one Dialect per backend
                           ├── SQLite file, WAL          embedded default (`make run`, tests)
                           └── PostgreSQL, one schema    production

Modules
-------
    sql            `open_database(url)`, `Database.transaction()`, the two dialects
    migrations     versioned schema, `migrate(db)`: both backends from one list
    models         the frozen domain values, validated on construction (ValueError names the field)
    batches        BatchRepository: trusted batches and their L2 blocks (the write path)
    blocks         BlockRepository: JSON-RPC reads, eth_getLogs with geth's rules and bounds
    l1             L1 blocks; virtual, verified and forced batches; reorg deletion
    monitored_txs  MonitoredTxRepository: the EthTxManager's persisted L1 transactions
    store          `open_statedb(url)`: a migrated database with every repository, for wiring code
    errors         StateConflict, DatabaseUnavailable, QueryLimitExceeded, MigrationError

Each repository module declares the reference `Protocol` of its store. They document the shape; a
consumer declares its own Protocol with the few methods it calls (zkevm-node style), and the `Sql…`
classes satisfy it structurally. The in-memory twin for unit tests is the same code over
`sqlite:///:memory:`, so there is no second implementation to drift.

Schema (migrations 1–4)
-----------------------
    batches           number PK, batch_l2_data, global_exit_root, timestamp, coinbase, state_root,
                      local_exit_root, acc_input_hash, closed, forced_batch_number UNIQUE
                      (closed ⇒ the three roots are set; at most one open batch)
    l2_blocks         number PK, hash UNIQUE, parent_hash, batch_number → batches, state_root,
                      timestamp, coinbase, tx_hash UNIQUE (NULL only for genesis), gas_used, gas_limit
    transactions      hash PK, from_address, to_address, nonce, gas_price, gas_limit, value, data,
                      effective_percentage, effective_gas_price, encoded, l2_block_number UNIQUE →
                      l2_blocks, batch_number → batches, index_in_batch; UNIQUE (batch, index)
    receipts          tx_hash PK → transactions, status, gas_used, cumulative_gas_used,
                      contract_address, effective_gas_price, logs_bloom
    logs              (block_number, log_index) PK, tx_hash → transactions, tx_index, address,
                      topic0..topic3 (positional, NULL when absent), data
    l1_blocks         number PK, hash UNIQUE, parent_hash
    virtual_batches   batch_number PK, l1_tx_hash, l1_block_number → l1_blocks, sequencer, acc_input_hash
    verified_batches  batch_number PK, l1_tx_hash, l1_block_number → l1_blocks, state_root, aggregator
    forced_batches    forced_batch_number PK, global_exit_root, timestamp, batch_l2_data, sender,
                      l1_block_number → l1_blocks, sequenced_in_batch
    monitored_txs     id PK, owner, from_address, to_address, nonce, value, data, gas, gas_price,
                      status, block_number, created_at, updated_at
    monitored_tx_attempts  seq (auto-increment) PK, monitored_tx_id → monitored_txs, tx_hash UNIQUE,
                      created_at
    schema_migrations version PK, name, applied_at

Amounts (uint256)
-----------------
Values, gas prices and effective gas prices are uint256. SQLite has no integer wider than 64 bits,
so they are stored as canonical decimal TEXT there (a CHECK refuses signs, leading zeros, non-digits
and anything above 2**256 - 1), and as NUMERIC(78, 0) with a range CHECK on PostgreSQL, where they
stay numbers for operators' SQL (SUM, ORDER BY). Decimal rather than hex or 32-byte blobs because it
is what a person reading the table expects, and both forms convert exactly to Python ints. No query
of the StateDB itself compares or sorts amounts (gas-price ordering lives in the pool). Hashes and
addresses are raw bytes (BLOB / BYTEA) of fixed length, checked by the database too. Counters —
numbers, nonces, gas, timestamps — are signed 64-bit columns, so they are limited to 2**63 - 1.

Threading
---------
A `Database` and every repository over it are safe to share between threads. Services call them
from worker threads (`await asyncio.to_thread(batches.add_l2_block, …)`), never on the event loop;
each call is one database transaction that begins and ends inside that call. See `sql` for the
pool and isolation levels.
"""

from services.common.statedb.batches import BatchRepository, SqlBatchRepository
from services.common.statedb.blocks import BlockRepository, SqlBlockRepository
from services.common.statedb.errors import (
    DatabaseUnavailable,
    MigrationError,
    QueryLimitExceeded,
    StateConflict,
    StateDBError,
)
from services.common.statedb.l1 import (
    ForcedBatchRepository,
    L1BlockRepository,
    SqlForcedBatchRepository,
    SqlL1BlockRepository,
    SqlVerifiedBatchRepository,
    SqlVirtualBatchRepository,
    VerifiedBatchRepository,
    VirtualBatchRepository,
)
from services.common.statedb.migrations import MIGRATIONS, migrate, schema_version
from services.common.statedb.models import (
    PENDING_STATUSES,
    Address,
    Batch,
    BlockContents,
    ForcedBatch,
    Hash32,
    L1Block,
    L2Block,
    L2Tx,
    Log,
    LogFilter,
    MinedL2Tx,
    MonitoredL1Tx,
    MonitoredTxStatus,
    Receipt,
    ReorgDeletion,
    StateRoot,
    VerifiedBatch,
    VirtualBatch,
)
from services.common.statedb.monitored_txs import MonitoredTxRepository, SqlMonitoredTxRepository
from services.common.statedb.sql import Database, Transaction, open_database
from services.common.statedb.store import StateDB, open_statedb

__all__ = [
    "MIGRATIONS",
    "PENDING_STATUSES",
    "Address",
    "Batch",
    "BatchRepository",
    "BlockContents",
    "BlockRepository",
    "Database",
    "DatabaseUnavailable",
    "ForcedBatch",
    "ForcedBatchRepository",
    "Hash32",
    "L1Block",
    "L1BlockRepository",
    "L2Block",
    "L2Tx",
    "Log",
    "LogFilter",
    "MigrationError",
    "MinedL2Tx",
    "MonitoredL1Tx",
    "MonitoredTxRepository",
    "MonitoredTxStatus",
    "QueryLimitExceeded",
    "Receipt",
    "ReorgDeletion",
    "SqlBatchRepository",
    "SqlBlockRepository",
    "SqlForcedBatchRepository",
    "SqlL1BlockRepository",
    "SqlMonitoredTxRepository",
    "SqlVerifiedBatchRepository",
    "SqlVirtualBatchRepository",
    "StateConflict",
    "StateDB",
    "StateDBError",
    "StateRoot",
    "Transaction",
    "VerifiedBatch",
    "VerifiedBatchRepository",
    "VirtualBatch",
    "VirtualBatchRepository",
    "migrate",
    "open_database",
    "open_statedb",
    "schema_version",
]

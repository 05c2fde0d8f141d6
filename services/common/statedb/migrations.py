"""Versioned migrations of the StateDB schema, one list for both backends.

    schema_migrations (version PK, name, applied_at)     one row per migration applied

`migrate(db)` applies, in version order, every migration whose version is not recorded yet, each in
a transaction of its own together with its `schema_migrations` row: a migration is applied entirely
or not at all, and running `migrate` again is a no-op. Two processes migrating at once are
serialised (PostgreSQL: a transaction-scoped advisory lock per schema; SQLite: `BEGIN IMMEDIATE`),
and each re-checks under the lock whether its migration is still missing.

A migration is plain SQL with `{column:kind}` tokens that the dialect expands (`Dialect.expand_ddl`):

    {number:u64}       number INTEGER CHECK (number >= 0)        | number BIGINT CHECK (number >= 0)
    {value:u256}       value TEXT CHECK (canonical decimal ≤ 2**256-1) | value NUMERIC(78, 0) CHECK (…)
    {hash:bytes32}     hash BLOB CHECK (length(hash) = 32)       | hash BYTEA CHECK (octet_length(hash) = 32)
    {closed:bool}      closed INTEGER CHECK (closed IN (0, 1))   | closed BOOLEAN
    {seq:serial}       seq INTEGER PRIMARY KEY AUTOINCREMENT     | seq BIGINT GENERATED ALWAYS AS IDENTITY …
    {strict}           STRICT (after a CREATE TABLE's closing parenthesis; empty on PostgreSQL)

Released migrations are never edited: a change is a new migration at the end of the list. A database
whose recorded versions the code does not know (a newer zkseq ran on it), or whose recorded names
differ from the code's, is refused with `MigrationError`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from services.common.statedb.errors import MigrationError
from services.common.statedb.sql import Database, Transaction


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


# -- 1: the trusted batches -------------------------------------------------------------------------

_BATCHES = (
    """
    CREATE TABLE batches (
        {number:u64} PRIMARY KEY,
        {batch_l2_data:bytes} NOT NULL,
        {global_exit_root:bytes32} NOT NULL,
        {timestamp:u64} NOT NULL,
        {coinbase:bytes20} NOT NULL,
        {state_root:bytes32},
        {local_exit_root:bytes32},
        {acc_input_hash:bytes32},
        {closed:bool} NOT NULL,
        {forced_batch_number:u64} UNIQUE,
        CHECK (NOT closed OR (state_root IS NOT NULL AND local_exit_root IS NOT NULL
                              AND acc_input_hash IS NOT NULL))
    ){strict}
    """,
    # at most one open batch, enforced by the database itself
    "CREATE UNIQUE INDEX batches_single_open ON batches (closed) WHERE NOT closed",
)

# -- 2: L2 blocks, transactions, receipts, logs ----------------------------------------------------

_L2 = (
    """
    CREATE TABLE l2_blocks (
        {number:u64} PRIMARY KEY,
        {hash:bytes32} NOT NULL UNIQUE,
        {parent_hash:bytes32} NOT NULL,
        {batch_number:u64} NOT NULL REFERENCES batches (number),
        {state_root:bytes32} NOT NULL,
        {timestamp:u64} NOT NULL,
        {coinbase:bytes20} NOT NULL,
        {tx_hash:bytes32} UNIQUE,
        {gas_used:u64} NOT NULL,
        {gas_limit:u64} NOT NULL
    ){strict}
    """,
    "CREATE INDEX l2_blocks_batch_number ON l2_blocks (batch_number)",
    """
    CREATE TABLE transactions (
        {hash:bytes32} PRIMARY KEY,
        {from_address:bytes20} NOT NULL,
        {to_address:bytes20},
        {nonce:u64} NOT NULL,
        {gas_price:u256} NOT NULL,
        {gas_limit:u64} NOT NULL,
        {value:u256} NOT NULL,
        {data:bytes} NOT NULL,
        {effective_percentage:u8} NOT NULL,
        {effective_gas_price:u256} NOT NULL,
        {encoded:bytes} NOT NULL,
        {l2_block_number:u64} NOT NULL UNIQUE REFERENCES l2_blocks (number),
        {batch_number:u64} NOT NULL REFERENCES batches (number),
        {index_in_batch:u64} NOT NULL,
        UNIQUE (batch_number, index_in_batch)
    ){strict}
    """,
    "CREATE INDEX transactions_from_address_nonce ON transactions (from_address, nonce)",
    """
    CREATE TABLE receipts (
        {tx_hash:bytes32} PRIMARY KEY REFERENCES transactions (hash),
        {status:u8} NOT NULL CHECK (status IN (0, 1)),
        {gas_used:u64} NOT NULL,
        {cumulative_gas_used:u64} NOT NULL,
        {contract_address:bytes20},
        {effective_gas_price:u256} NOT NULL,
        {logs_bloom:bytes256} NOT NULL
    ){strict}
    """,
    # topics in four positional columns, so eth_getLogs filters by position in SQL
    """
    CREATE TABLE logs (
        {block_number:u64} NOT NULL REFERENCES l2_blocks (number),
        {log_index:u64} NOT NULL,
        {tx_hash:bytes32} NOT NULL REFERENCES transactions (hash),
        {tx_index:u64} NOT NULL,
        {address:bytes20} NOT NULL,
        {topic0:bytes32},
        {topic1:bytes32},
        {topic2:bytes32},
        {topic3:bytes32},
        {data:bytes} NOT NULL,
        PRIMARY KEY (block_number, log_index),
        CHECK ((topic1 IS NULL OR topic0 IS NOT NULL) AND (topic2 IS NULL OR topic1 IS NOT NULL)
               AND (topic3 IS NULL OR topic2 IS NOT NULL))
    ){strict}
    """,
    "CREATE INDEX logs_address_block ON logs (address, block_number)",
    "CREATE INDEX logs_topic0_block ON logs (topic0, block_number)",
    "CREATE INDEX logs_tx_hash ON logs (tx_hash)",
)

# -- 3: what the L1 watcher saw -------------------------------------------------------------------

_L1 = (
    """
    CREATE TABLE l1_blocks (
        {number:u64} PRIMARY KEY,
        {hash:bytes32} NOT NULL UNIQUE,
        {parent_hash:bytes32} NOT NULL
    ){strict}
    """,
    # batch_number is L1's word, not a reference: L1 may sequence batches this node never had
    """
    CREATE TABLE virtual_batches (
        {batch_number:u64} PRIMARY KEY,
        {l1_tx_hash:bytes32} NOT NULL,
        {l1_block_number:u64} NOT NULL REFERENCES l1_blocks (number),
        {sequencer:bytes20} NOT NULL,
        {acc_input_hash:bytes32} NOT NULL
    ){strict}
    """,
    "CREATE INDEX virtual_batches_l1_block ON virtual_batches (l1_block_number)",
    """
    CREATE TABLE verified_batches (
        {batch_number:u64} PRIMARY KEY,
        {l1_tx_hash:bytes32} NOT NULL,
        {l1_block_number:u64} NOT NULL REFERENCES l1_blocks (number),
        {state_root:bytes32} NOT NULL,
        {aggregator:bytes20} NOT NULL
    ){strict}
    """,
    "CREATE INDEX verified_batches_l1_block ON verified_batches (l1_block_number)",
    """
    CREATE TABLE forced_batches (
        {forced_batch_number:u64} PRIMARY KEY,
        {global_exit_root:bytes32} NOT NULL,
        {timestamp:u64} NOT NULL,
        {batch_l2_data:bytes} NOT NULL,
        {sender:bytes20} NOT NULL,
        {l1_block_number:u64} NOT NULL REFERENCES l1_blocks (number),
        {sequenced_in_batch:u64}
    ){strict}
    """,
    "CREATE INDEX forced_batches_l1_block ON forced_batches (l1_block_number)",
    """
    CREATE INDEX forced_batches_pending ON forced_batches (forced_batch_number)
        WHERE sequenced_in_batch IS NULL
    """,
)

# -- 4: the EthTxManager's transactions ------------------------------------------------------------

_MONITORED_TXS = (
    """
    CREATE TABLE monitored_txs (
        {id:text} PRIMARY KEY,
        {owner:text} NOT NULL,
        {from_address:bytes20} NOT NULL,
        {to_address:bytes20},
        {nonce:u64} NOT NULL,
        {value:u256} NOT NULL,
        {data:bytes} NOT NULL,
        {gas:u64} NOT NULL,
        {gas_price:u256} NOT NULL,
        {status:text} NOT NULL CHECK (status IN ('created', 'sent', 'mined', 'confirmed', 'failed')),
        {block_number:u64},
        {created_at:u64} NOT NULL,
        {updated_at:u64} NOT NULL
    ){strict}
    """,
    "CREATE INDEX monitored_txs_owner_status ON monitored_txs (owner, status, created_at)",
    "CREATE INDEX monitored_txs_status ON monitored_txs (status, created_at)",
    # every signed version sent, in order; a hash belongs to one monitored tx
    """
    CREATE TABLE monitored_tx_attempts (
        {seq:serial},
        {monitored_tx_id:text} NOT NULL REFERENCES monitored_txs (id),
        {tx_hash:bytes32} NOT NULL UNIQUE,
        {created_at:u64} NOT NULL
    ){strict}
    """,
    "CREATE INDEX monitored_tx_attempts_by_tx ON monitored_tx_attempts (monitored_tx_id, seq)",
)

MIGRATIONS: Final = (
    Migration(1, "batches", _BATCHES),
    Migration(2, "l2 blocks, transactions, receipts, logs", _L2),
    Migration(3, "l1 blocks, virtual, verified and forced batches", _L1),
    Migration(4, "monitored l1 transactions", _MONITORED_TXS),
)

_CREATE_MIGRATIONS_TABLE: Final = """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        {version:u64} PRIMARY KEY,
        {name:text} NOT NULL,
        {applied_at:u64} NOT NULL
    ){strict}
"""


def migrate(db: Database, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Apply the missing migrations in order; returns the versions applied by this call."""
    _check_list(migrations)
    with db.transaction() as tx:
        _lock(db, tx)
        if db.schema is not None:
            tx.execute(f'CREATE SCHEMA IF NOT EXISTS "{db.schema}"')
        tx.execute(db.dialect.expand_ddl(_CREATE_MIGRATIONS_TABLE))
        _check_recorded(_recorded(tx), migrations)
    applied: list[int] = []
    for migration in migrations:
        with db.transaction() as tx:
            _lock(db, tx)
            if migration.version in _recorded(tx):
                continue
            for statement in migration.statements:
                tx.execute(db.dialect.expand_ddl(statement))
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, int(time.time())),
            )
        applied.append(migration.version)
    return applied


def schema_version(db: Database) -> int:
    """The highest migration version recorded (0 for a database never migrated)."""
    with db.transaction(readonly=True) as tx:
        if db.dialect.name == "postgresql":
            exists = tx.scalar(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                (db.schema, "schema_migrations"),
            )
        else:
            exists = tx.scalar(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
            )
        if exists is None:
            return 0
        return int(tx.scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))


def _lock(db: Database, tx: Transaction) -> None:
    if db.dialect.lock_statement is not None:
        tx.execute(db.dialect.lock_statement, (db.lock_key("migrations"),))


def _recorded(tx: Transaction) -> dict[int, str]:
    return {int(v): str(n) for v, n in tx.fetchall("SELECT version, name FROM schema_migrations")}


def _check_list(migrations: Sequence[Migration]) -> None:
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(migrations) + 1)):
        raise MigrationError(f"migration versions must be 1, 2, 3, … in order; got {versions}")


def _check_recorded(recorded: dict[int, str], migrations: Sequence[Migration]) -> None:
    known = {m.version: m.name for m in migrations}
    unknown = sorted(set(recorded) - set(known))
    if unknown:
        raise MigrationError(
            f"the database has migrations {unknown} that this code does not know (latest known: "
            f"{max(known, default=0)}); was it migrated by a newer zkseq?"
        )
    for version, name in recorded.items():
        if known[version] != name:
            raise MigrationError(
                f"migration {version} is recorded as {name!r} but this code calls it {known[version]!r}"
            )

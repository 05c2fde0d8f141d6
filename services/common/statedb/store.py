"""`StateDB`: one database, migrated, with every repository over it — for a service's wiring code.

    statedb = open_statedb(os.environ["ZKSEQ_SEQUENCER_STATEDB_URL"])
    sequencer = Sequencer(batches=statedb.batches, forced_batches=statedb.forced_batches, ...)
    ...
    statedb.close()

Domain code receives the repositories it needs (typed by its own Protocols), never this object or
the `Database` under it.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.statedb.batches import SqlBatchRepository
from services.common.statedb.blocks import SqlBlockRepository
from services.common.statedb.l1 import (
    SqlForcedBatchRepository,
    SqlL1BlockRepository,
    SqlVerifiedBatchRepository,
    SqlVirtualBatchRepository,
)
from services.common.statedb.migrations import migrate as apply_migrations
from services.common.statedb.monitored_txs import SqlMonitoredTxRepository
from services.common.statedb.sql import Database, open_database


@dataclass(frozen=True, slots=True)
class StateDB:
    database: Database
    batches: SqlBatchRepository
    blocks: SqlBlockRepository
    virtual_batches: SqlVirtualBatchRepository
    verified_batches: SqlVerifiedBatchRepository
    forced_batches: SqlForcedBatchRepository
    l1_blocks: SqlL1BlockRepository
    monitored_txs: SqlMonitoredTxRepository

    @classmethod
    def over(cls, database: Database) -> StateDB:
        return cls(
            database=database,
            batches=SqlBatchRepository(database),
            blocks=SqlBlockRepository(database),
            virtual_batches=SqlVirtualBatchRepository(database),
            verified_batches=SqlVerifiedBatchRepository(database),
            forced_batches=SqlForcedBatchRepository(database),
            l1_blocks=SqlL1BlockRepository(database),
            monitored_txs=SqlMonitoredTxRepository(database),
        )

    def close(self) -> None:
        self.database.close()


def open_statedb(
    url: str,
    *,
    migrate: bool = True,
    max_connections: int | None = None,
    acquire_timeout_s: float | None = None,
) -> StateDB:
    """Open the StateDB at `url`, apply any missing migrations (unless `migrate=False`), wire it up."""
    database = open_database(url, max_connections=max_connections, acquire_timeout_s=acquire_timeout_s)
    try:
        if migrate:
            apply_migrations(database)
    except BaseException:
        database.close()
        raise
    return StateDB.over(database)

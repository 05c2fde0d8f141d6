"""Node stores: the `DurableStore` interface (`base`), LMDB (the embedded default), PostgreSQL
(production, the prover's tables), and the bounded in-memory caches in front of them."""

from services.hashdb.stores.base import DurableStore, MemoryStore, StoredStatus, StoreError, StoreWrite

__all__ = ["DurableStore", "MemoryStore", "StoreError", "StoreWrite", "StoredStatus"]

"""`python -m services.hashdb`: the HashDB service, configured by ZKSEQ_HASHDB_* (see config.py).

Exit codes: 0 after a graceful shutdown (SIGTERM / SIGINT), 1 if it could not start (store or port),
2 for an invalid configuration.
"""

import sys

from services.common.runner import run_service
from services.hashdb.app import start_hashdb
from services.hashdb.config import HashDBConfig
from services.hashdb.stores.base import StoreError


def main() -> int:
    return run_service("hashdb", HashDBConfig.from_env, start_hashdb, (StoreError, OSError))


if __name__ == "__main__":
    sys.exit(main())

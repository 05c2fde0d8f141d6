"""`python -m services.pool`: the pool service, configured by ZKSEQ_POOL_* (see config.py).

Exit codes: 0 after a graceful shutdown (SIGTERM / SIGINT), 1 if it could not start (Redis, port),
2 for an invalid configuration.
"""

import sys

from services.common.errors import ServiceError
from services.common.runner import run_service
from services.pool.app import start_pool
from services.pool.config import PoolConfig


def main() -> int:
    return run_service("pool", PoolConfig.from_env, start_pool, (ServiceError, OSError))


if __name__ == "__main__":
    sys.exit(main())

"""`python -m services.pool`: the pool service, configured by ZKSEQ_POOL_* (see config.py).

Exit codes: 0 after a graceful shutdown (SIGTERM / SIGINT), 1 if it could not start (Redis, port),
2 for an invalid configuration.
"""

import asyncio
import os
import sys

from services.common.config import ConfigError
from services.common.errors import ServiceError
from services.common.grpc_server import wait_for_shutdown_signal
from services.common.logs import EventLogger, configure_logging
from services.pool.app import start_pool
from services.pool.config import PoolConfig


async def serve(config: PoolConfig) -> int:
    log = EventLogger("zkseq.pool")
    shutdown = asyncio.create_task(wait_for_shutdown_signal())
    await asyncio.sleep(0)  # the signal handlers are in place before anything starts
    try:
        running = await start_pool(config)
    except (ServiceError, OSError) as exc:
        log.error("pool_start_failed", error=str(exc))
        shutdown.cancel()
        return 1
    signal_name = await shutdown
    log.info("pool_stopping", signal=signal_name)
    await running.stop()
    log.info("pool_stopped")
    return 0


def main() -> int:
    try:
        config = PoolConfig.from_env(os.environ)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    return asyncio.run(serve(config))


if __name__ == "__main__":
    sys.exit(main())

"""`python -m services.hashdb`: the HashDB service, configured by ZKSEQ_HASHDB_* (see config.py).

Exit codes: 0 after a graceful shutdown (SIGTERM / SIGINT), 1 if it could not start (store or port),
2 for an invalid configuration.
"""

import asyncio
import os
import sys

from services.common.config import ConfigError
from services.common.grpc_server import wait_for_shutdown_signal
from services.common.logs import EventLogger, configure_logging
from services.hashdb.app import start_hashdb
from services.hashdb.config import HashDBConfig
from services.hashdb.stores.base import StoreError


async def serve(config: HashDBConfig) -> int:
    log = EventLogger("zkseq.hashdb")
    shutdown = asyncio.create_task(wait_for_shutdown_signal())
    await asyncio.sleep(0)  # the signal handlers are in place before anything starts
    try:
        running = await start_hashdb(config)
    except (StoreError, OSError) as exc:
        log.error("hashdb_start_failed", error=str(exc))
        shutdown.cancel()
        return 1
    signal_name = await shutdown
    log.info("hashdb_stopping", signal=signal_name)
    await running.stop()
    log.info("hashdb_stopped")
    return 0


def main() -> int:
    try:
        config = HashDBConfig.from_env(os.environ)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    return asyncio.run(serve(config))


if __name__ == "__main__":
    sys.exit(main())

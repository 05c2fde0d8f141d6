"""`python -m services.ethtxmanager`: the EthTxManager, configured by ZKSEQ_ETHTXMANAGER_* (config.py).

Exit codes: 0 after a graceful shutdown (SIGTERM / SIGINT), 1 if it could not start (L1 node,
StateDB, port), 2 for an invalid configuration.
"""

import asyncio
import os
import sys

from services.common.config import ConfigError
from services.common.grpc_server import wait_for_shutdown_signal
from services.common.logs import EventLogger, configure_logging
from services.ethtxmanager.app import StartupError, start_ethtxmanager
from services.ethtxmanager.config import EthTxManagerConfig


async def serve(config: EthTxManagerConfig) -> int:
    log = EventLogger("zkseq.ethtxmanager")
    shutdown = asyncio.create_task(wait_for_shutdown_signal())
    await asyncio.sleep(0)  # the signal handlers are in place before anything starts
    try:
        running = await start_ethtxmanager(config)
    except (StartupError, OSError) as exc:
        log.error("ethtxmanager_start_failed", error=str(exc))
        shutdown.cancel()
        return 1
    signal_name = await shutdown
    log.info("ethtxmanager_stopping", signal=signal_name)
    await running.stop()
    log.info("ethtxmanager_stopped")
    return 0


def main() -> int:
    try:
        config = EthTxManagerConfig.from_env(os.environ)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    return asyncio.run(serve(config))


if __name__ == "__main__":
    sys.exit(main())

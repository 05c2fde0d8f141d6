"""`python -m services.executor`: the executor service, configured by ZKSEQ_EXECUTOR_* (config.py).

Exit codes: 0 after a graceful shutdown (SIGTERM / SIGINT), 1 if it could not start (port),
2 for an invalid configuration.
"""

import asyncio
import os
import sys

from services.common.config import ConfigError
from services.common.grpc_server import wait_for_shutdown_signal
from services.common.logs import EventLogger, configure_logging
from services.executor.app import start_executor
from services.executor.config import ExecutorConfig


async def serve(config: ExecutorConfig) -> int:
    log = EventLogger("zkseq.executor")
    shutdown = asyncio.create_task(wait_for_shutdown_signal())
    await asyncio.sleep(0)  # the signal handlers are in place before anything starts
    try:
        running = await start_executor(config)
    except OSError as exc:
        log.error("executor_start_failed", error=str(exc))
        shutdown.cancel()
        return 1
    signal_name = await shutdown
    log.info("executor_stopping", signal=signal_name)
    await running.stop()
    log.info("executor_stopped")
    return 0


#: how long a thread may hold the GIL while another waits (CPython's default is 5 ms): the batch
#: thread calls C code that releases the GIL (secp256k1, Poseidon) thousands of times a second,
#: and must not wait 5 ms each time the flush or gRPC threads hold it
SWITCH_INTERVAL_S = 0.0005


def main() -> int:
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        config = ExecutorConfig.from_env(os.environ)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    return asyncio.run(serve(config))


if __name__ == "__main__":
    sys.exit(main())

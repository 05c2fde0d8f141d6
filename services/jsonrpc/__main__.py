"""`python -m services.jsonrpc`: the JSON-RPC server, configured by ZKSEQ_JSONRPC_* (see config.py).

Exit codes: 0 after a graceful shutdown (SIGTERM / SIGINT), 1 if it could not start (StateDB, port),
2 for an invalid configuration.
"""

import asyncio
import os
import sys

from services.common.config import ConfigError
from services.common.grpc_server import wait_for_shutdown_signal
from services.common.logs import EventLogger, configure_logging
from services.common.statedb import StateDBError
from services.jsonrpc.app import start_jsonrpc
from services.jsonrpc.config import JsonRpcConfig


async def serve(config: JsonRpcConfig) -> int:
    log = EventLogger("zkseq.jsonrpc")
    shutdown = asyncio.create_task(wait_for_shutdown_signal())
    await asyncio.sleep(0)  # the signal handlers are in place before anything starts
    try:
        running = await start_jsonrpc(config)
    except (StateDBError, OSError, ValueError) as exc:
        log.error("jsonrpc_start_failed", error=str(exc))
        shutdown.cancel()
        return 1
    signal_name = await shutdown
    log.info("jsonrpc_stopping", signal=signal_name)
    await running.stop()
    log.info("jsonrpc_stopped")
    return 0


def main() -> int:
    try:
        config = JsonRpcConfig.from_env(os.environ)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    return asyncio.run(serve(config))


if __name__ == "__main__":
    sys.exit(main())

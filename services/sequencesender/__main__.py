"""`python -m services.sequencesender`: the sequence sender and its L1 watcher, configured by
ZKSEQ_SEQUENCESENDER_* (see config.py).

Exit codes: 0 after a graceful shutdown (SIGTERM / SIGINT), 1 if it could not start (the StateDB or
the L1 node unreachable, the rollup and the configured global exit root manager disagree, a port
taken), 2 for an invalid configuration. An alarm does not end the process: it stops sending and
is reported by the status RPC, the `sequencing_alarm` log line and the metrics, while the watcher
keeps recording what L1 says.
"""

import asyncio
import os
import sys

from services.common.config import ConfigError
from services.common.errors import ServiceError
from services.common.grpc_server import wait_for_shutdown_signal
from services.common.logs import EventLogger, configure_logging
from services.common.statedb import StateDBError
from services.sequencesender.app import start_sequencesender
from services.sequencesender.config import SequenceSenderConfig
from services.sequencesender.ports import L1Unavailable


async def serve(config: SequenceSenderConfig) -> int:
    log = EventLogger("zkseq.sequencesender")
    shutdown = asyncio.create_task(wait_for_shutdown_signal())
    await asyncio.sleep(0)  # the signal handlers are in place before anything starts
    try:
        running = await start_sequencesender(config)
    except (ServiceError, StateDBError, L1Unavailable, OSError, ValueError) as exc:
        log.error("sequencesender_start_failed", error=str(exc), error_type=type(exc).__name__)
        shutdown.cancel()
        return 1
    signal_name = await shutdown
    log.info("sequencesender_stopping", signal=signal_name)
    await running.stop()
    log.info("sequencesender_stopped")
    return 0


def main() -> int:
    try:
        config = SequenceSenderConfig.from_env(os.environ)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    return asyncio.run(serve(config))


if __name__ == "__main__":
    sys.exit(main())

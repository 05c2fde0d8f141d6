"""`python -m services.sequencer`: the sequencer, configured by ZKSEQ_SEQUENCER_* (see config.py).

Exit codes: 0 after a graceful shutdown (SIGTERM / SIGINT), 1 if it could not start (a service or
the StateDB unreachable, no genesis, a bad genesis file), 2 for an invalid configuration, 3 if it
halted (a batch re-executed to another state root, the executor refused the sequencer's request):
the reason is in the `sequencer_halted` log line and an operator must look before it runs again.
"""

import asyncio
import os
import sys

from grpc import aio

from services.common.config import ConfigError
from services.common.grpc_server import wait_for_shutdown_signal
from services.common.logs import EventLogger, configure_logging
from services.common.statedb import StateDBError
from services.sequencer.app import start_sequencer
from services.sequencer.config import SequencerConfig
from services.sequencer.genesis import GenesisError
from services.sequencer.sequencer import NoGenesis
from services.sequencer.work import SequencerHalted

EXIT_HALTED = 3


async def serve(config: SequencerConfig) -> int:
    log = EventLogger("zkseq.sequencer")
    shutdown = asyncio.create_task(wait_for_shutdown_signal())
    await asyncio.sleep(0)  # the signal handlers are in place before anything starts
    try:
        running = await start_sequencer(config)
    except (GenesisError, StateDBError, OSError, ValueError, aio.AioRpcError) as exc:
        log.error("sequencer_start_failed", error=str(exc))
        shutdown.cancel()
        return 1
    done, _ = await asyncio.wait({shutdown, running.done}, return_when=asyncio.FIRST_COMPLETED)
    if running.done in done:
        shutdown.cancel()
        failure = running.done.exception() if not running.done.cancelled() else None
        await running.server.stop(0)
        await running.close_connections()
        if isinstance(failure, NoGenesis):
            log.error("sequencer_start_failed", error=str(failure))
            return 1
        if isinstance(failure, SequencerHalted):
            return EXIT_HALTED
        log.error("sequencer_stopped_unexpectedly", error=repr(failure))
        return 1
    log.info("sequencer_stopping", signal=shutdown.result())
    await running.stop()
    log.info("sequencer_stopped")
    return 0


def main() -> int:
    try:
        config = SequencerConfig.from_env(os.environ)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    return asyncio.run(serve(config))


if __name__ == "__main__":
    sys.exit(main())

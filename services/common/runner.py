"""The `__main__` of a service: read its config, start it, serve until SIGTERM / SIGINT, stop it.

Exit codes: 0 after a graceful shutdown, 1 when start-up fails with one of the service's expected
start-up errors (a store, a node or a port), 2 for an invalid configuration (the message on stderr).
Log events are `<name>_start_failed`, `<name>_stopping` and `<name>_stopped`.
"""

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, TypeVar

from services.common.config import ConfigError
from services.common.grpc_server import wait_for_shutdown_signal
from services.common.logs import EventLogger, configure_logging


class Stoppable(Protocol):
    async def stop(self) -> None: ...


class ServiceConfig(Protocol):
    @property
    def log_level(self) -> str: ...


C = TypeVar("C", bound=ServiceConfig)


async def serve(
    name: str,
    start: Callable[[], Awaitable[Stoppable]],
    startup_errors: tuple[type[BaseException], ...],
) -> int:
    log = EventLogger(f"zkseq.{name}")
    shutdown = asyncio.create_task(wait_for_shutdown_signal())
    await asyncio.sleep(0)  # the signal handlers are in place before anything starts
    try:
        running = await start()
    except startup_errors as exc:
        log.error(f"{name}_start_failed", error=str(exc), error_type=type(exc).__name__)
        shutdown.cancel()
        return 1
    signal_name = await shutdown
    log.info(f"{name}_stopping", signal=signal_name)
    await running.stop()
    log.info(f"{name}_stopped")
    return 0


def run_service(
    name: str,
    read_config: Callable[[Mapping[str, str]], C],
    start: Callable[[C], Awaitable[Stoppable]],
    startup_errors: tuple[type[BaseException], ...] = (OSError,),
) -> int:
    """Run the service `name` to completion and return its exit code."""
    try:
        config = read_config(os.environ)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    return asyncio.run(serve(name, lambda: start(config), startup_errors))

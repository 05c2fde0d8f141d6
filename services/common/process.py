"""Run a zkseq service as a child process and wait until it reports that it serves.

Every service logs one JSON line with a constant event name once it listens (for the HashDB,
`hashdb_serving` with its `port`). Tests, benchmarks and the local devnet start services with
`spawn_service` and read the bound ports from that line, so services can bind port 0.
"""

import asyncio
import json
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class ServiceStartError(Exception):
    """The child exited, or did not report serving in time; the message carries its last log lines."""


@dataclass(slots=True)
class ServiceProcess:
    process: asyncio.subprocess.Process
    #: the fields of the "serving" log line (ports, ids …)
    ready: dict[str, Any]
    log_lines: list[str] = field(default_factory=list)
    _drain: "asyncio.Task[None] | None" = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    async def wait(self, timeout_s: float) -> int:
        code = await asyncio.wait_for(self.process.wait(), timeout_s)
        if self._drain is not None:
            await self._drain
        return code

    async def stop(self, timeout_s: float = 15.0) -> int:
        """SIGTERM, then SIGKILL if it has not exited within `timeout_s`."""
        if self.process.returncode is None:
            self.send(signal.SIGTERM)
            try:
                return await self.wait(timeout_s)
            except TimeoutError:
                self.send(signal.SIGKILL)
        return await self.wait(timeout_s)


async def spawn_service(
    module: str, env: Mapping[str, str], ready_event: str, timeout_s: float = 30.0
) -> ServiceProcess:
    """Start `python -m module` with `env` added to this process's environment; return once it logs
    `ready_event` on stderr. The child's log lines keep being collected in `log_lines`."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        env={**os.environ, **env},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    stderr = process.stderr
    lines: list[str] = []

    async def until_ready() -> dict[str, Any]:
        while True:
            raw = await stderr.readline()
            if not raw:
                code = await process.wait()
                raise ServiceStartError(f"{module} exited with {code}:\n" + "".join(lines[-20:]))
            line = raw.decode(errors="replace")
            lines.append(line)
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("event") == ready_event:
                return record

    async def kill() -> None:
        if process.returncode is None:
            process.kill()
            await process.wait()

    try:
        ready = await asyncio.wait_for(until_ready(), timeout_s)
    except TimeoutError as exc:
        await kill()
        raise ServiceStartError(
            f"{module} did not log {ready_event!r} within {timeout_s} s:\n" + "".join(lines[-20:])
        ) from exc
    except BaseException:
        await kill()
        raise

    async def drain() -> None:
        while raw := await stderr.readline():
            lines.append(raw.decode(errors="replace"))

    service = ServiceProcess(process, ready, lines)
    service._drain = asyncio.create_task(drain())
    return service

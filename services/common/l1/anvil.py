"""Run anvil (Foundry's dev L1 node, installed from npm into contracts/node_modules) as a child process.

    node = Anvil.start(block_time_s=1)      # or no_mining=True, or extra_args=[...]
    node.rpc_url                            # http://127.0.0.1:<port anvil chose>
    node.stop()                             # SIGTERM to its PID, SIGKILL if it lingers

anvil binds port 0 (`-p 0`) and prints "Listening on 127.0.0.1:<port>", so two nodes never race for
a port. Its output goes to a log file, not a pipe: a pipe nobody reads fills up and stalls anvil.
The binary comes from npm's platform package `@foundry-rs/anvil-<os>-<arch>` (contracts/package.json
pins the linux-amd64 one: the registry this project uses serves no other platform, so the
`@foundry-rs/anvil` wrapper, whose optional dependencies name all of them, cannot have a complete
lock file). `ZKSEQ_ANVIL_BIN` names another binary; an `anvil` on PATH is the last resort.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final

from services.common.l1.artifacts import CONTRACTS_DIR

ANVIL_BIN_ENV: Final = "ZKSEQ_ANVIL_BIN"
_LISTENING: Final = re.compile(rb"Listening on ([0-9.]+):(\d+)")
_PLATFORMS: Final = {
    ("linux", "x86_64"): "linux-amd64",
    ("linux", "amd64"): "linux-amd64",
    ("linux", "aarch64"): "linux-arm64",
    ("linux", "arm64"): "linux-arm64",
    ("darwin", "x86_64"): "darwin-amd64",
    ("darwin", "arm64"): "darwin-arm64",
}


class AnvilError(Exception):
    """anvil is not installed, did not start, or exited; the message says which and shows its log."""


def find_anvil(contracts_dir: Path = CONTRACTS_DIR) -> Path:
    """The anvil binary: $ZKSEQ_ANVIL_BIN, else contracts/node_modules (npm ci), else PATH."""
    if configured := os.environ.get(ANVIL_BIN_ENV):
        path = Path(configured)
        if not path.is_file():
            raise AnvilError(f"{ANVIL_BIN_ENV}={configured} is not a file")
        return path
    suffix = _PLATFORMS.get((sys.platform, platform.machine().lower()))
    if suffix is not None:
        path = contracts_dir / "node_modules" / "@foundry-rs" / f"anvil-{suffix}" / "bin" / "anvil"
        if path.is_file():
            return path
    if on_path := shutil.which("anvil"):
        return Path(on_path)
    raise AnvilError(
        f"no anvil binary: run `npm ci` in {contracts_dir} (it installs @foundry-rs/anvil), "
        f"or set {ANVIL_BIN_ENV}"
    )


@dataclass(slots=True)
class Anvil:
    """A running anvil; `stop()` (or a `with` block) ends it."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path
    _log: IO[bytes] = field(repr=False)
    #: the log is a temporary file of ours, removed by stop()
    _owns_log: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @classmethod
    def start(
        cls,
        *,
        block_time_s: float | None = None,
        no_mining: bool = False,
        chain_id: int | None = None,
        extra_args: Sequence[str] = (),
        binary: Path | None = None,
        log_path: Path | None = None,
        timeout_s: float = 20.0,
    ) -> Anvil:
        """Start anvil on 127.0.0.1 and a free port; return once it answers `eth_chainId`.

        Without `block_time_s` or `no_mining` it mines one block per transaction (automine).
        `log_path` keeps anvil's output; by default it goes to a temporary file that `stop()` removes
        (read it before with `log_tail()`).
        """
        if block_time_s is not None and no_mining:
            raise ValueError("block_time_s and no_mining exclude each other")
        args = [str(binary or find_anvil()), "--host", "127.0.0.1", "--port", "0"]
        if block_time_s is not None:
            args += ["--block-time", f"{block_time_s:g}"]
        if no_mining:
            args.append("--no-mining")
        if chain_id is not None:
            args += ["--chain-id", str(chain_id)]
        args += list(extra_args)

        owns_log = log_path is None
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="zkseq-anvil-", suffix=".log")
            os.close(fd)
            log_path = Path(name)
        log = log_path.open("wb")
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            host, port = _wait_listening(process, log_path, timeout_s)
            node = cls(process, host, port, log_path, log, owns_log)
            node._wait_answering(timeout_s)
        except BaseException:
            _terminate(process, timeout_s=5.0)
            log.close()
            raise
        return node

    def _wait_answering(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                rpc_call(self.rpc_url, "eth_chainId", [])
                return
            except (OSError, urllib.error.URLError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AnvilError(
                        f"anvil at {self.rpc_url} did not answer within {timeout_s} s:\n{self.log_tail()}"
                    ) from None
                time.sleep(0.02)

    def log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_bytes().decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout_s: float = 10.0) -> int:
        """SIGTERM to anvil's PID, SIGKILL after `timeout_s`; returns its exit status."""
        code = _terminate(self.process, timeout_s)
        self._log.close()
        if self._owns_log:
            self.log_path.unlink(missing_ok=True)
        return code

    def __enter__(self) -> Anvil:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def rpc_call(url: str, method: str, params: list[object], timeout_s: float = 5.0) -> object:
    """One JSON-RPC call with the standard library (for readiness checks and anvil's own methods:
    `evm_increaseTime`, `evm_mine`, `evm_setAutomine` …)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise AnvilError(f"{method} failed: {reply['error']}")
    return reply.get("result")


def _wait_listening(process: subprocess.Popen[bytes], log_path: Path, timeout_s: float) -> tuple[str, int]:
    deadline = time.monotonic() + timeout_s
    while True:
        text = log_path.read_bytes()
        if match := _LISTENING.search(text):
            return match.group(1).decode(), int(match.group(2))
        if process.poll() is not None:
            raise AnvilError(
                f"anvil exited with {process.returncode}:\n{text.decode(errors='replace')[-2000:]}"
            )
        if time.monotonic() > deadline:
            raise AnvilError(
                f"anvil did not listen within {timeout_s} s:\n{text.decode(errors='replace')[-2000:]}"
            )
        time.sleep(0.02)


def _terminate(process: subprocess.Popen[bytes], timeout_s: float) -> int:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            return process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
    return process.wait()

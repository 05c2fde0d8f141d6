"""The deployment files, checked without a cluster: the image definition, every kustomize overlay
rendered (`kubectl kustomize`) and validated against the Kubernetes JSON schemas (the strict ones
shipped in the kubernetes-validate package, offline), and the wiring a schema cannot see: Services
select pods and target ports they expose, probes hit exposed ports, each service's own config
validation accepts its ConfigMap, the executor is headless and autoscaled, singletons never run
twice, no Secret value is in the repository, and the genesis matches the pool's state root.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from services.common.l1.testkeys import ANVIL_TEST_KEYS
from zkevm.field import h4_to_bytes
from zkevm.genesis import GenesisAccount, build_genesis
from zkevm.nodestore import MemoryNodeStore

REPO: Final = Path(__file__).resolve().parents[2]
DEPLOY: Final = REPO / "deploy"
K8S: Final = DEPLOY / "k8s"
OVERLAYS: Final = ("local", "production")
#: validated against the oldest release with GA gRPC probes and a recent one
KUBERNETES_VERSIONS: Final = ("1.27.0", "1.32.0")
NAMESPACE: Final = "zkseq"

#: service -> (config module, class, listen-port attribute); every zkseq container runs one of them
SERVICES: Final[dict[str, tuple[str, str, str]]] = {
    "hashdb": ("services.hashdb.config", "HashDBConfig", "grpc_port"),
    "executor": ("services.executor.config", "ExecutorConfig", "grpc_port"),
    "pool": ("services.pool.config", "PoolConfig", "grpc_port"),
    "jsonrpc": ("services.jsonrpc.config", "JsonRpcConfig", "http_port"),
    "sequencer": ("services.sequencer.config", "SequencerConfig", "grpc_port"),
    "sequencesender": ("services.sequencesender.config", "SequenceSenderConfig", "grpc_port"),
    "ethtxmanager": ("services.ethtxmanager.config", "EthTxManagerConfig", "grpc_port"),
}
#: exactly one may run at a time: they own the open batch, the L1 nonce, the sequences in flight
SINGLETONS: Final = ("sequencer", "sequencesender", "ethtxmanager")
#: a throwaway key (not a real one) that stands for a Secret's content in config checks
DUMMY_KEY: Final = "0x" + "11" * 32

Obj = dict[str, Any]


# -- rendering ------------------------------------------------------------------------------------


class _KubeLoader(yaml.SafeLoader):
    """YAML as the API server gets it from kubectl (Go): a long 0x-hex scalar such as a state root
    or an address, which kustomize prints unquoted, stays a string; PyYAML would make it an int."""


_KubeLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:int"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_KubeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)


def kustomize(path: Path) -> list[Obj]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is not installed: it renders the kustomize overlays (`kubectl kustomize`)")
    result = subprocess.run(
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"kubectl kustomize {path} failed:\n{result.stderr}"
    return [doc for doc in yaml.load_all(result.stdout, Loader=_KubeLoader) if doc]


@functools.cache
def rendered(overlay: str) -> tuple[Obj, ...]:
    return tuple(kustomize(K8S / "overlays" / overlay))


@pytest.fixture(params=OVERLAYS)
def objects(request: pytest.FixtureRequest) -> tuple[Obj, ...]:
    return rendered(request.param)


def of_kind(objects: tuple[Obj, ...], *kinds: str) -> list[Obj]:
    return [o for o in objects if o["kind"] in kinds]


def named(objects: tuple[Obj, ...], kind: str, name: str) -> Obj:
    found = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


@dataclass(frozen=True)
class PodTemplate:
    workload: Obj
    labels: Mapping[str, str]
    spec: Obj

    @property
    def name(self) -> str:
        return str(self.workload["metadata"]["name"])

    def containers(self) -> list[Obj]:
        return list(self.spec.get("containers", [])) + list(self.spec.get("initContainers", []))


def pod_templates(objects: tuple[Obj, ...]) -> list[PodTemplate]:
    templates = []
    for o in of_kind(objects, "Deployment", "StatefulSet", "DaemonSet", "Job"):
        template = o["spec"]["template"]
        templates.append(PodTemplate(o, template["metadata"].get("labels", {}), template["spec"]))
    return templates


def zkseq_containers(objects: tuple[Obj, ...]) -> Iterator[tuple[PodTemplate, Obj, str]]:
    """(pod, container, service name) for every container that runs a zkseq service."""
    for pod in pod_templates(objects):
        for container in pod.spec["containers"]:
            args = container.get("args") or []
            if args and args[0] in SERVICES:
                yield pod, container, args[0]


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def container_ports(container: Obj) -> dict[str | int, int]:
    """Each port by name and by number -> its number."""
    ports: dict[str | int, int] = {}
    for port in container.get("ports", []):
        ports[port["containerPort"]] = port["containerPort"]
        if "name" in port:
            ports[port["name"]] = port["containerPort"]
    return ports


# -- schema validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_object_validates_against_the_kubernetes_schema(overlay: str, version: str) -> None:
    try:
        # untyped; the package ships the JSON schemas of every Kubernetes release it supports
        kubernetes_validate: Any = importlib.import_module("kubernetes_validate")
    except ModuleNotFoundError:
        pytest.fail("kubernetes-validate is not installed: it holds the Kubernetes schemas (dev dependency)")
    objects = rendered(overlay)
    assert len(objects) > 20
    problems = []
    for o in objects:
        where = f"{o['kind']}/{o['metadata']['name']}"
        try:
            kubernetes_validate.validate(o, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            problems.append(f"{where}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(f"{where}: no schema ({exc.message})")
    assert not problems, f"{overlay} against Kubernetes {version}:\n" + "\n".join(problems)


def test_the_base_renders_and_every_object_is_in_the_zkseq_namespace(objects: tuple[Obj, ...]) -> None:
    assert kustomize(K8S / "base")
    for o in objects:
        if o["kind"] != "Namespace":
            assert o["metadata"].get("namespace") == NAMESPACE, o["metadata"]["name"]


# -- wiring ---------------------------------------------------------------------------------------


def test_every_service_selects_pods_and_targets_a_port_they_expose(objects: tuple[Obj, ...]) -> None:
    pods = pod_templates(objects)
    for service in of_kind(objects, "Service"):
        name = service["metadata"]["name"]
        selector = service["spec"].get("selector", {})
        chosen = [p for p in pods if selects(selector, p.labels)]
        assert len(chosen) == 1, f"Service {name} selects {[p.name for p in chosen]}, not one workload"
        pod = chosen[0]
        assert pod.name == name, f"Service {name} selects the pods of {pod.name}"
        exposed: dict[str | int, int] = {}
        for container in pod.spec["containers"]:
            exposed |= container_ports(container)
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            assert target in exposed, f"Service {name} port {port['port']} targets {target!r}: not exposed"


def test_every_workload_is_selected_by_its_own_selector(objects: tuple[Obj, ...]) -> None:
    for pod in pod_templates(objects):
        if pod.workload["kind"] == "Job":
            continue
        selector = pod.workload["spec"]["selector"]["matchLabels"]
        assert selects(selector, pod.labels), pod.name


def test_every_probe_targets_a_port_the_container_exposes(objects: tuple[Obj, ...]) -> None:
    probes = 0
    for pod in pod_templates(objects):
        for container in pod.spec["containers"]:
            ports = container_ports(container)
            for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
                probe = container.get(kind)
                if probe is None:
                    continue
                for action in ("grpc", "httpGet", "tcpSocket"):
                    if action in probe:
                        probes += 1
                        port = probe[action]["port"]
                        assert port in ports, f"{pod.name}/{container['name']} {kind} hits {port!r}"
    assert probes >= 2 * len(SERVICES)


def test_grpc_services_are_probed_over_grpc_health_and_jsonrpc_over_http(objects: tuple[Obj, ...]) -> None:
    seen = set()
    for pod, container, service in zkseq_containers(objects):
        seen.add(service)
        for kind in ("readinessProbe", "livenessProbe"):
            probe = container[kind]
            if service == "jsonrpc":
                assert probe["httpGet"]["path"] == "/health", f"jsonrpc {kind}"
            else:
                grpc_port = container_ports(container)["grpc"]
                assert probe["grpc"]["port"] == grpc_port, f"{pod.name} {kind}: grpc.health.v1 on {grpc_port}"
    assert seen == set(SERVICES), f"services without a workload: {set(SERVICES) - seen}"


def test_every_container_has_resource_requests_and_limits(objects: tuple[Obj, ...]) -> None:
    for pod in pod_templates(objects):
        for container in pod.containers():
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    assert resource in resources.get(part, {}), f"{pod.name}/{container['name']} {part}"


def test_every_pod_runs_unprivileged_as_a_non_root_user(objects: tuple[Obj, ...]) -> None:
    """What the namespace's `restricted` Pod Security level demands, for every pod it holds."""
    namespace = named(objects, "Namespace", NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for pod in pod_templates(objects):
        pod_security = pod.spec.get("securityContext", {})
        assert pod_security.get("seccompProfile", {}).get("type") == "RuntimeDefault", pod.name
        assert pod.spec.get("automountServiceAccountToken") is False, pod.name
        for container in pod.containers():
            security = container.get("securityContext", {})
            where = f"{pod.name}/{container['name']}"
            assert security.get("runAsNonRoot", pod_security.get("runAsNonRoot")) is True, where
            assert security.get("runAsUser", pod_security.get("runAsUser", 1)) != 0, where
            assert security.get("allowPrivilegeEscalation") is False, where
            assert security.get("capabilities", {}).get("drop") == ["ALL"], where
            assert security.get("readOnlyRootFilesystem") is True, where


def test_every_zkseq_pod_is_scraped_on_its_metrics_port(objects: tuple[Obj, ...]) -> None:
    for pod, container, _ in zkseq_containers(objects):
        annotations = pod.workload["spec"]["template"]["metadata"].get("annotations", {})
        assert annotations.get("prometheus.io/scrape") == "true", pod.name
        assert annotations.get("prometheus.io/path") == "/metrics", pod.name
        assert int(annotations["prometheus.io/port"]) == container_ports(container)["metrics"], pod.name


# -- each service's own config validation accepts what the manifests give it --------------------


def container_env(objects: tuple[Obj, ...], pod: PodTemplate, container: Obj, tmp: Path) -> dict[str, str]:
    """The environment the container would get; Secret values replaced by throwaway ones, files
    from mounted Secrets by a throwaway file (their mount is checked)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, f"{pod.name}: envFrom only from ConfigMaps"
        env |= named(objects, "ConfigMap", source["configMapRef"]["name"])["data"]
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            assert not of_kind_named(objects, "Secret", ref["name"]), "Secrets are referenced, never shipped"
            env[item["name"]] = secret_stand_in(item["name"])
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.spec.get("volumes", [])}
    for name, value in list(env.items()):
        if not name.endswith("_FILE"):
            continue
        directory, _, file_name = value.rpartition("/")
        assert directory in mounts, f"{pod.name}: {name}={value} is not on a mounted volume"
        volume = volumes[mounts[directory]]
        if "secret" in volume:
            keys = [i["path"] for i in volume["secret"].get("items", [])]
            assert file_name in keys, f"{pod.name}: {name} names {file_name}, the Secret gives {keys}"
            stand_in = tmp / f"{pod.name}-{file_name}"
            stand_in.write_text(DUMMY_KEY)
            env[name] = str(stand_in)
        else:
            config_map = named(objects, "ConfigMap", volume["configMap"]["name"])
            assert file_name in config_map.get("data", {}), f"{pod.name}: {name} names a missing {file_name}"
    return env


def of_kind_named(objects: tuple[Obj, ...], kind: str, name: str) -> list[Obj]:
    return [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]


def secret_stand_in(variable: str) -> str:
    if "REDIS" in variable:
        return "rediss://default:stand-in@redis.example.internal:6380/0"
    if "STATEDB" in variable or "PG_DSN" in variable:
        return "postgresql://zkseq:stand-in@postgres.example.internal:5432/zkseq?schema=statedb"
    if "L1_RPC" in variable:
        return "https://l1.example.internal/stand-in"
    if "KEY" in variable:
        return DUMMY_KEY
    raise AssertionError(f"no stand-in for the Secret-backed variable {variable}")


def test_each_service_accepts_its_configuration_and_listens_where_the_pod_says(
    objects: tuple[Obj, ...], tmp_path: Path
) -> None:
    for pod, container, service in zkseq_containers(objects):
        module, class_name, port_attribute = SERVICES[service]
        config_class = getattr(importlib.import_module(module), class_name)
        env = container_env(objects, pod, container, tmp_path)
        config = config_class.from_env(env)  # raises ConfigError with every problem
        ports = container_ports(container)
        listen = getattr(config, port_attribute)
        assert listen == ports["grpc" if port_attribute == "grpc_port" else "http"], f"{service} port"
        assert config.metrics_port == ports["metrics"], f"{service} metrics port"
        assert config.metrics_enabled, service


def service_addresses(objects: tuple[Obj, ...]) -> Iterator[tuple[str, str, str, int]]:
    """(variable, service, namespace, port) for every in-cluster address in the ConfigMaps."""
    pattern = re.compile(r"([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)")
    for config_map in of_kind(objects, "ConfigMap"):
        for variable, value in config_map.get("data", {}).items():
            for match in pattern.finditer(value):
                yield variable, match[1], match[2], int(match[3])


def test_every_in_cluster_address_names_a_service_and_one_of_its_ports(objects: tuple[Obj, ...]) -> None:
    addresses = list(service_addresses(objects))
    assert len(addresses) >= 8
    for variable, name, namespace, port in addresses:
        assert namespace == NAMESPACE, f"{variable} points into namespace {namespace}"
        services = of_kind_named(objects, "Service", name)
        assert services, f"{variable}: no Service {name}"
        assert port in [p["port"] for p in services[0]["spec"]["ports"]], f"{variable}: {name} has no {port}"


# -- the executor: N replicas behind one headless Service, spread by the sequencer --------------


def test_the_executor_is_headless_and_the_sequencer_balances_over_its_pods(objects: tuple[Obj, ...]) -> None:
    service = named(objects, "Service", "executor")
    assert service["spec"]["clusterIP"] == "None", "headless: one DNS record per ready pod"
    port = service["spec"]["ports"][0]["port"]
    sequencer = [c for c in of_kind(objects, "ConfigMap") if "ZKSEQ_SEQUENCER_EXECUTOR_URL" in c["data"]]
    assert len(sequencer) == 1
    target = sequencer[0]["data"]["ZKSEQ_SEQUENCER_EXECUTOR_URL"]
    assert target == f"dns:///executor.{NAMESPACE}.svc.cluster.local:{port}"
    # the JSON-RPC server too: its channel balances round_robin over the addresses the name has
    jsonrpc = [c for c in of_kind(objects, "ConfigMap") if "ZKSEQ_JSONRPC_EXECUTOR_URL" in c["data"]]
    assert len(jsonrpc) == 1
    assert jsonrpc[0]["data"]["ZKSEQ_JSONRPC_EXECUTOR_URL"] == target


def test_the_executor_scales_with_an_autoscaler_that_owns_its_replica_count(objects: tuple[Obj, ...]) -> None:
    (hpa,) = of_kind(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "executor",
    }
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    deployment = named(objects, "Deployment", "executor")
    assert "replicas" not in deployment["spec"], "the autoscaler owns the executor's replica count"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "cpu" in container["resources"]["requests"], "CPU utilisation needs a CPU request"
    pdb = named(objects, "PodDisruptionBudget", "executor")
    assert pdb["spec"]["minAvailable"] >= 1


def test_every_zkseq_workload_has_a_disruption_budget(objects: tuple[Obj, ...]) -> None:
    budgets = of_kind(objects, "PodDisruptionBudget")
    for pod, _, service in zkseq_containers(objects):
        covering = [b for b in budgets if selects(b["spec"]["selector"]["matchLabels"], pod.labels)]
        assert len(covering) == 1, f"{service}: {len(covering)} PodDisruptionBudgets"


def test_singletons_never_run_twice(objects: tuple[Obj, ...]) -> None:
    for name in SINGLETONS:
        deployment = named(objects, "Deployment", name)
        assert deployment["spec"]["replicas"] == 1, name
        assert deployment["spec"]["strategy"]["type"] == "Recreate", f"{name}: a rolling update runs two"
    hashdb = named(objects, "StatefulSet", "hashdb")
    assert hashdb["spec"]["replicas"] == 1, "one writer per LMDB environment"


def test_the_hashdb_keeps_its_tree_on_a_persistent_volume(objects: tuple[Obj, ...]) -> None:
    hashdb = named(objects, "StatefulSet", "hashdb")
    (claim,) = hashdb["spec"]["volumeClaimTemplates"]
    (container,) = hashdb["spec"]["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    config = named(objects, "ConfigMap", container["envFrom"][0]["configMapRef"]["name"])["data"]
    if config.get("ZKSEQ_HASHDB_STORE", "lmdb") == "lmdb":
        assert config["ZKSEQ_HASHDB_LMDB_PATH"].startswith(mounts[claim["metadata"]["name"]] + "/")
    assert hashdb["spec"]["serviceName"] == "hashdb"


# -- secrets --------------------------------------------------------------------------------------


def deploy_files() -> list[Path]:
    files = [p for p in DEPLOY.rglob("*") if p.is_file()]
    return [*files, REPO / "Dockerfile", REPO / ".dockerignore"]


def test_no_secret_is_shipped_only_referenced(objects: tuple[Obj, ...]) -> None:
    assert not of_kind(objects, "Secret"), "Secrets are created by the operator, never rendered from here"
    references = 0
    for pod in pod_templates(objects):
        for volume in pod.spec.get("volumes", []):
            references += "secret" in volume
        for container in pod.containers():
            for item in container.get("env", []):
                references += "secretKeyRef" in item.get("valueFrom", {})
    assert references >= 1


#: 32-byte hex values that are public by nature, by the name they stand under
_PUBLIC_HASH_NAMES: Final = ("STATE_ROOT", "GLOBAL_EXIT_ROOT", "ROOT")


def test_no_private_key_is_written_in_the_deploy_files() -> None:
    hex32 = re.compile(r"(?<![0-9a-fA-F])(?:0x)?[0-9a-fA-F]{64}(?![0-9a-fA-F])")
    for path in deploy_files():
        text = path.read_text()
        for key in ANVIL_TEST_KEYS:
            assert key[2:].lower() not in text.lower(), f"{path}: holds a (test) private key"
        for line in text.splitlines():
            if hex32.search(line):
                assert any(name in line for name in _PUBLIC_HASH_NAMES), f"{path}: 32-byte hex in {line!r}"
        assert not re.search(r"PRIVATE_KEY\s*[=:]\s*\S", text), f"{path}: sets a private key inline"


# -- genesis --------------------------------------------------------------------------------------


def genesis_root(document: Any) -> bytes:
    accounts = [
        GenesisAccount(
            address=bytes.fromhex(a["address"].removeprefix("0x")),
            balance=int(str(a.get("balance", 0)), 0),
            nonce=int(str(a.get("nonce", 0)), 0),
            bytecode=bytes.fromhex(a["bytecode"].removeprefix("0x")) if "bytecode" in a else None,
            storage={int(str(k), 0): int(str(v), 0) for k, v in (a.get("storage") or {}).items()},
        )
        for a in document["accounts"]
    ]
    return h4_to_bytes(build_genesis(accounts, MemoryNodeStore()))


def test_the_pool_reads_state_at_the_root_of_the_genesis_the_sequencer_writes(
    objects: tuple[Obj, ...],
) -> None:
    sequencer = named(objects, "Deployment", "sequencer")["spec"]["template"]["spec"]
    (genesis_volume,) = [v for v in sequencer["volumes"] if "configMap" in v]
    genesis = named(objects, "ConfigMap", genesis_volume["configMap"]["name"])["data"]["genesis.json"]
    pool = [c for c in of_kind(objects, "ConfigMap") if "ZKSEQ_POOL_STATE_ROOT" in c["data"]]
    assert len(pool) == 1
    assert pool[0]["data"]["ZKSEQ_POOL_STATE_ROOT"] == "0x" + genesis_root(json.loads(genesis)).hex()


# -- the image ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    stage: int


def dockerfile() -> list[Instruction]:
    """The Dockerfile's instructions (continuation lines joined, comments dropped)."""
    instructions: list[Instruction] = []
    stage = -1
    pending = ""
    for line in (REPO / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        pending += " " + stripped.removesuffix("\\") if pending else stripped.removesuffix("\\")
        if stripped.endswith("\\"):
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        if keyword.upper() == "FROM":
            stage += 1
        instructions.append(Instruction(keyword.upper(), arguments.strip(), stage))
        pending = ""
    return instructions


def test_the_image_builds_from_the_repository_and_runs_as_a_non_root_user() -> None:
    instructions = dockerfile()
    final = max(i.stage for i in instructions)
    assert final >= 1, "a build stage with the compiler, a run stage without it"
    args = {
        i.arguments.split("=")[0]: i.arguments.split("=", 1)[1] for i in instructions if i.keyword == "ARG"
    }
    assert args["PYTHON_IMAGE"].startswith("python:3.11-slim")
    froms = [i.arguments for i in instructions if i.keyword == "FROM"]
    assert all(f.split()[0] == "${PYTHON_IMAGE}" for f in froms)
    runs = " ".join(i.arguments for i in instructions if i.keyword == "RUN" and i.stage == 0)
    assert "gcc" in runs, "the C extension (zkevm/_poseidon.c) is compiled at build time"
    assert "grpc_tools.protoc" in runs and "find protos -name '*.proto'" in runs, "protos generated"
    assert re.search(r"pip install --no-deps \.(\s|$)", runs), "the package is installed from the repo"
    copies = [
        i.arguments.split() for i in instructions if i.keyword == "COPY" and "--from" not in i.arguments
    ]
    for *sources, _ in copies:
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: not in the repository"
    users = [i.arguments for i in instructions if i.keyword == "USER" and i.stage == final]
    assert users, "the run stage sets USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), "the services run as a non-root user"
    entry = [i.arguments for i in instructions if i.keyword == "ENTRYPOINT" and i.stage == final]
    assert json.loads(entry[-1]) == ["zkseq-service"]
    assert any(
        i.keyword == "COPY" and i.arguments.split()[0] == "deploy/docker/entrypoint.sh" for i in instructions
    )


def dockerignore_allows(path: str) -> bool:
    """Whether `path` is in the build context (Docker's rules: the last matching pattern wins)."""
    included = True
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        if re.fullmatch(f"{regex}(/.*)?", path):
            included = negate
    return included


def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_local() -> None:
    for instruction in dockerfile():
        if instruction.keyword == "COPY" and "--from" not in instruction.arguments:
            *sources, _ = instruction.arguments.split()
            for source in sources:
                assert dockerignore_allows(source.rstrip("/")), f"COPY {source} is excluded by .dockerignore"
    for kept in ("zkevm/_poseidon.c", "services/hashdb/__main__.py", "protos/pool/v1/pool.proto"):
        assert dockerignore_allows(kept), kept
    for excluded in (".venv/bin/python", ".git/HEAD", "tests/conftest.py", "protos/pool/v1/pool_pb2.py"):
        assert not dockerignore_allows(excluded), excluded
    assert not dockerignore_allows("zkevm/_poseidon.cpython-311-x86_64-linux-gnu.so")
    assert not dockerignore_allows("contracts/node_modules/solc/package.json")


def entrypoint_services() -> list[str]:
    text = (DEPLOY / "docker" / "entrypoint.sh").read_text()
    match = re.search(r'^SERVICES="([a-z ]+)"$', text, re.MULTILINE)
    assert match is not None
    return match[1].split()


def test_every_service_the_manifests_start_is_a_module_the_image_runs() -> None:
    assert sorted(entrypoint_services()) == sorted(SERVICES)
    for overlay in OVERLAYS:
        for _, container, service in zkseq_containers(rendered(overlay)):
            assert container["image"].rsplit("/", 1)[-1].split(":")[0] == "zkseq"
            assert (REPO / "services" / service / "__main__.py").is_file(), (
                f"services.{service} has no __main__"
            )
    for overlay in OVERLAYS:
        for pod in pod_templates(rendered(overlay)):
            for container in pod.containers():
                if container["image"].rsplit("/", 1)[-1].split(":")[0] == "zkseq":
                    first = (container.get("args") or ["--help"])[0]
                    assert first in SERVICES or first == "python", f"{pod.name}: unknown command {first}"


def test_the_entrypoint_runs_the_named_service_module() -> None:
    """`zkseq-service hashdb` is `python -m services.hashdb`: the hashdb's own config check answers."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    env["ZKSEQ_HASHDB_NO_SUCH_SETTING"] = "1"
    with tempfile.TemporaryDirectory() as cwd:
        result = subprocess.run(
            ["sh", str(DEPLOY / "docker" / "entrypoint.sh"), "hashdb"],
            capture_output=True,
            text=True,
            env={**env, "PYTHONPATH": str(REPO)},
            cwd=cwd,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2, result.stderr
    assert "ZKSEQ_HASHDB_NO_SUCH_SETTING: not a known setting" in result.stderr
    usage = subprocess.run(
        ["sh", str(DEPLOY / "docker" / "entrypoint.sh")], capture_output=True, text=True, check=False
    )
    assert usage.returncode == 64 and "one of: hashdb executor" in usage.stderr


# -- monitoring files -----------------------------------------------------------------------------


def test_the_scrape_config_keeps_exactly_the_pods_and_ports_the_manifests_annotate() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    for rule_file in config["rule_files"]:
        assert (DEPLOY / "prometheus" / rule_file).is_file(), rule_file
    (job,) = config["scrape_configs"]
    (sd,) = job["kubernetes_sd_configs"]
    assert sd["role"] == "pod" and sd["namespaces"]["names"] == [NAMESPACE]
    keep = {
        tuple(r["source_labels"]): r["regex"] for r in job["relabel_configs"] if r.get("action") == "keep"
    }
    assert keep[("__meta_kubernetes_pod_annotation_prometheus_io_scrape",)] == "true"
    part_of = keep[("__meta_kubernetes_pod_label_app_kubernetes_io_part_of",)]
    port_name = keep[("__meta_kubernetes_pod_container_port_name",)]
    for overlay in OVERLAYS:
        for pod, container, _ in zkseq_containers(rendered(overlay)):
            assert re.fullmatch(part_of, pod.labels["app.kubernetes.io/part-of"]), pod.name
            names = [
                p.get("name", "") for p in container["ports"] if re.fullmatch(port_name, p.get("name", ""))
            ]
            assert len(names) == 1, f"{pod.name}: one container port named like {port_name!r}"


def test_the_dashboard_is_a_grafana_dashboard_on_a_prometheus_datasource_variable() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "zkseq-dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    (variable,) = dashboard["templating"]["list"]
    assert (variable["type"], variable["query"], variable["name"]) == (
        "datasource",
        "prometheus",
        "datasource",
    )
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in (
        "transactions per second",
        "close reasons",
        "executor",
        "hashdb",
        "pool size",
        "l1 resends",
    ):
        assert topic in titles, topic
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip() and target["datasource"]["uid"] == "${datasource}"

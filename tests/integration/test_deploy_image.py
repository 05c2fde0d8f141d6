"""The image's build, rehearsed without a container engine (this machine has none): the build
context exactly as .dockerignore allows it, the Dockerfile's protoc call, the package built from it
(C extension included) and installed away from the sources, then what the Dockerfile checks at
build time: every service imports (`zkseq-service --check`) and the contract ABIs load from where
the installed package looks for them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from tests.unit.test_deploy_manifests import dockerfile, dockerignore_allows

pytestmark = pytest.mark.integration

REPO: Final = Path(__file__).resolve().parents[2]
ENTRYPOINT: Final = "deploy/docker/entrypoint.sh"


def build_context(into: Path) -> int:
    """Copy what `docker build .` would send (tracked or not, as Docker sees the directory)."""
    copied = 0
    for path in REPO.rglob("*"):
        relative = path.relative_to(REPO).as_posix()
        if relative.split("/", 1)[0] in (".git", ".venv") or not path.is_file():
            continue
        if dockerignore_allows(relative):
            target = into / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            copied += 1
    return copied


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, (
        f"{' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout


def test_the_image_build_steps_install_every_service_from_the_build_context(tmp_path: Path) -> None:
    context, site, elsewhere = tmp_path / "context", tmp_path / "site", tmp_path / "run"
    elsewhere.mkdir()
    assert build_context(context) > 50
    for copied in dockerfile():
        if copied.keyword == "COPY" and "--from" not in copied.arguments:
            for source in copied.arguments.split()[:-1]:
                assert (context / source).exists(), f"COPY {source}: not in the build context"
    assert not list(context.rglob("*_pb2.py")), "generated code comes from the build, not the context"

    protos = sorted(str(p.relative_to(context)) for p in context.rglob("*.proto"))
    python = sys.executable
    run(
        [
            python,
            "-m",
            "grpc_tools.protoc",
            "-I",
            ".",
            "--python_out=.",
            "--grpc_python_out=.",
            "--pyi_out=.",
            *protos,
        ],
        context,
    )
    wheels = tmp_path / "wheels"
    # the Dockerfile's `pip install --no-deps .`, as a wheel built offline with this venv's setuptools
    run(
        [python, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), "."],
        context,
    )
    (wheel,) = wheels.glob("zkseq-*.whl")
    run([python, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)], context)
    assert list((site / "zkevm").glob("_poseidon*.so")), "the C extension is built into the package"

    env = {**os.environ, "PYTHONPATH": str(site), "PATH": f"{Path(python).parent}:{os.environ['PATH']}"}
    artifacts = run(
        [python, "-c", "from services.common.l1.artifacts import ARTIFACTS_DIR; print(ARTIFACTS_DIR)"],
        elsewhere,
        env,
    ).strip()
    assert Path(artifacts).is_relative_to(site), "the installed package, not the sources"
    Path(artifacts).mkdir(parents=True)
    for abi in (context / "contracts" / "artifacts").glob("*.json"):
        shutil.copy2(abi, artifacts)
    run(
        [
            python,
            "-c",
            "from services.common.l1.artifacts import load_artifact; load_artifact('ZkEVMRollup')",
        ],
        elsewhere,
        env,
    )
    checked = run(["sh", str(context / ENTRYPOINT), "--check"], elsewhere, env)
    assert "every service imports" in checked
    where = run(
        [python, "-c", "import services.sequencer.__main__ as m, zkevm._poseidon; print(m.__file__)"],
        elsewhere,
        env,
    )
    assert Path(where.strip()).is_relative_to(site)

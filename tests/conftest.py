"""Shared fixtures. The fork-6 vectors are read from files at test time, never pasted into code:
ZKSEQ_VECTORS names their folder (default: ../shared/spec/vectors beside the repository)."""

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def vectors_dir() -> Path:
    path = Path(os.environ.get("ZKSEQ_VECTORS", REPO_ROOT.parent / "shared" / "spec" / "vectors"))
    if not path.is_dir():
        raise RuntimeError(f"fork-6 vector folder not found at {path}; set ZKSEQ_VECTORS")
    return path


def load_vector(relative: str) -> Any:
    return json.loads((vectors_dir() / relative).read_text())


@pytest.fixture(scope="session")
def vectors() -> Path:
    return vectors_dir()

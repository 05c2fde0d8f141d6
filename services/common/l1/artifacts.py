"""The compiled L1 contracts: contracts/artifacts/<Name>.json, written by `contracts/compile.js`.

Each artifact holds `abi`, `bytecode` (creation code), `deployedBytecode` and `sourceHash`. The
hash covers every `.sol` file under contracts/src and compile.js itself, so `source_hash()` tells
whether the committed artifacts were built from the committed sources without running a compiler:

    sourceHash = "0x" + sha256( for each file, sorted by its path relative to contracts/:
                                path + "\\n" + hex(sha256(content)) + "\\n" )
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

#: contracts/ at the repository root
CONTRACTS_DIR: Final = Path(__file__).resolve().parents[3] / "contracts"
ARTIFACTS_DIR: Final = CONTRACTS_DIR / "artifacts"

ROLLUP: Final = "ZkEVMRollup"
GLOBAL_EXIT_ROOT_MANAGER: Final = "GlobalExitRootManager"
VERIFIER: Final = "AcceptAnyProofVerifier"
#: every artifact compile.js writes
CONTRACT_NAMES: Final = (VERIFIER, GLOBAL_EXIT_ROOT_MANAGER, ROLLUP)


class ArtifactError(Exception):
    """An artifact is missing or malformed; the message says which file and what to run."""


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    deployed_bytecode: bytes
    source_hash: str
    compiler: str


def load_artifact(name: str, artifacts_dir: Path = ARTIFACTS_DIR) -> Artifact:
    path = artifacts_dir / f"{name}.json"
    try:
        raw = json.loads(path.read_text())
        return Artifact(
            name=raw["contractName"],
            abi=raw["abi"],
            bytecode=bytes.fromhex(raw["bytecode"].removeprefix("0x")),
            deployed_bytecode=bytes.fromhex(raw["deployedBytecode"].removeprefix("0x")),
            source_hash=raw["sourceHash"],
            compiler=raw["compiler"],
        )
    except FileNotFoundError:
        raise ArtifactError(f"{path} is missing: run `make contracts`") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{path} is not a compile.js artifact ({exc!r}): run `make contracts`") from exc


def source_files(contracts_dir: Path = CONTRACTS_DIR) -> list[Path]:
    """The files `sourceHash` covers: src/**/*.sol and compile.js."""
    return [*sorted((contracts_dir / "src").rglob("*.sol")), contracts_dir / "compile.js"]


def source_hash(contracts_dir: Path = CONTRACTS_DIR) -> str:
    """The `sourceHash` the current sources would give (same algorithm as compile.js)."""
    named = sorted((path.relative_to(contracts_dir).as_posix(), path) for path in source_files(contracts_dir))
    listing = "".join(f"{name}\n{hashlib.sha256(path.read_bytes()).hexdigest()}\n" for name, path in named)
    return "0x" + hashlib.sha256(listing.encode()).hexdigest()

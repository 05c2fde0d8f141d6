import json
import shutil
from pathlib import Path

import pytest

from services.cli.conformance import KNOWN_DIVERGENCES, Status, run_conformance
from services.cli.main import main

EXPECTED_SUITES = {
    "poseidon-params",
    "poseidon",
    "smt-raw",
    "state-key",
    "bytecode-hash",
    "genesis-root",
    "effective-gas-price",
    "old-root",
    "batch-hash-data",
    "acc-input-hash",
    "batch-decode",
    "db-nodes",
}


def test_every_vector_passes_and_divergences_are_only_the_known_ones(vectors: Path) -> None:
    report, _ = run_conformance(vectors)
    failed = [r for r in report.results if r.status is Status.FAILED]
    assert failed == []
    assert set(report.suites()) >= EXPECTED_SUITES
    divergent = {(r.case, r.suite, r.quirk) for r in report.results if r.status is Status.DIVERGENT}
    known = {(f"{path}#{cid}", suite, q[0]) for (path, cid, suite), q in KNOWN_DIVERGENCES.items()}
    assert divergent == known
    assert report.count(Status.PASSED, "effective-gas-price") == len(
        json.loads((vectors / "effective-gas-price/effective-gas-price.json").read_text())
    )


def test_compat_option_turns_quirk_2_into_passes(vectors: Path) -> None:
    report, _ = run_conformance(vectors, frozenset({"missing-ep"}))
    assert report.ok
    assert report.compat_used == {"batch-decode": {"missing-ep"}}
    assert all(r.quirk != 2 for r in report.results if r.status is Status.DIVERGENT)


def test_a_wrong_expected_root_is_a_failure(
    vectors: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = json.loads((vectors / "merkle-tree/smt-raw.json").read_text())
    cases[3]["expectedRoot"] = "0x" + "11" * 32
    (tmp_path / "merkle-tree").mkdir()
    (tmp_path / "merkle-tree/smt-raw.json").write_text(json.dumps(cases))
    shutil.copy(vectors / "poseidon_test_vectors.json", tmp_path)
    assert main(["conformance", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert f"smt-raw: {len(cases) - 1} passed, 1 failed" in out
    assert out[-1] == f"total: {len(cases) - 1 + 6} passed, 1 failed"
    assert any("failed smt-raw merkle-tree/smt-raw.json#3" in line for line in out)


def test_malformed_vector_values_fail_with_a_reason(tmp_path: Path, vectors: Path) -> None:
    cases = json.loads((vectors / "merkle-tree/smt-hash-bytecode.json").read_text())
    cases[0]["bytecode"] = "zz"
    (tmp_path / "smt-hash-bytecode.json").write_text(json.dumps(cases))
    report, _ = run_conformance(tmp_path)
    bad = [r for r in report.results if r.status is Status.FAILED]
    assert len(bad) == 1
    assert "not hex" in bad[0].detail


def test_missing_or_empty_paths_exit_2(tmp_path: Path) -> None:
    assert main(["conformance", str(tmp_path / "nope")]) == 2
    assert main(["conformance", str(tmp_path)]) == 2

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
    "new-root",
    "new-acc-input-hash",
    "new-local-exit-root",
    "new-leafs",
}

#: files the execution suites must run (issue 4): each must produce at least one new-root or
#: new-local-exit-root case
EXECUTED_FILES = (
    "processor/state-transition.json",
    "zkevm-db/state-transition.json",
    "zkevm-db/recursive.json",
    "block-info/block-info.json",
    "block-info/block-info-batches.json",
    "selfdestruct/selfdestruct.json",
    "end-to-end/state-transition.json",
    "inputs-executor/input_executor.json",
    "prover-v3.0.2/batchProof/input_executor_0.json",
    "prover-v3.0.2/batchProof/input_executor_1.json",
    "prover-v3.0.2/batchProof/input_executor_2.json",
    "prover-v3.0.2/batchProof/input_executor_3.json",
)


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
    assert report.compat_used == {
        "batch-decode": {"missing-ep"},
        "new-root": {"missing-ep"},
        "new-leafs": {"missing-ep"},
    }
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


def test_execution_suites_cover_every_batch_file(vectors: Path) -> None:
    report, _ = run_conformance(vectors)
    executed = {
        r.case.split("#")[0]
        for r in report.results
        if r.suite in ("new-root", "new-local-exit-root") and r.status is Status.PASSED
    }
    assert set(EXECUTED_FILES) <= executed
    prover = [r for r in report.results if r.suite == "new-root" and r.case.startswith("prover-v3.0.2/")]
    assert len(prover) == 4 and all(r.status is Status.PASSED for r in prover)
    # every field left out is named, with its reason, in the report
    assert report.unchecked
    assert all(("(" in line and "stale" in line) or "genesis" in line for line in report.unchecked)


def test_a_wrong_new_root_is_a_failure(vectors: Path, tmp_path: Path) -> None:
    cases = json.loads((vectors / "selfdestruct/selfdestruct.json").read_text())
    cases[0]["expectedNewRoot"] = "0x" + "22" * 32
    (tmp_path / "selfdestruct.json").write_text(json.dumps(cases))
    report, _ = run_conformance(tmp_path)
    bad = [r for r in report.results if r.status is Status.FAILED]
    assert [(r.suite, r.case) for r in bad] == [("new-root", "selfdestruct.json#0")]

"""`zkseq load`: its arithmetic, its refusals, the token it deploys and its command line."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from rich.console import Console

from services.cli import load
from services.cli.devnet import LOAD_SENDERS, load_sender_key
from services.cli.main import build_parser, main
from services.common.l1.artifacts import CONTRACTS_DIR
from services.common.l1.deploy import create_address
from zkevm.hashing import keccak256

SOLC_JS = CONTRACTS_DIR / "node_modules" / "solc"
_COMPILE = """
const solc = require(process.argv[1]);
let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => process.stdout.write(solc.compile(input)));
"""


def compile_with_solc_js(name: str, source: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Compile one source with contracts/node_modules/solc; {contract name: {abi, bytecode}}.
    Skips the calling test when node or solc-js is not installed (`npm ci` in contracts/)."""
    node = shutil.which("node")
    if node is None or not (SOLC_JS / "package.json").is_file():
        pytest.skip("needs node and solc-js in contracts/node_modules (`npm ci` in contracts/)")
    standard = {
        "language": "Solidity",
        "sources": {name: {"content": source}},
        "settings": {
            **settings,
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }
    result = subprocess.run(
        [node, "-e", _COMPILE, str(SOLC_JS)],
        input=json.dumps(standard),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    output = json.loads(result.stdout)
    errors = [e for e in output.get("errors", []) if e["severity"] == "error"]
    assert not errors, [e["formattedMessage"] for e in errors]
    return {
        contract: {"abi": data["abi"], "bytecode": bytes.fromhex(data["evm"]["bytecode"]["object"])}
        for contract, data in output["contracts"][name].items()
    }


def test_the_embedded_token_is_its_source_compiled() -> None:
    compiled = compile_with_solc_js(
        load.TOKEN_FILE_NAME, load.TOKEN_SOURCE, dict(load.TOKEN_COMPILER_SETTINGS)
    )
    assert compiled["LoadToken"]["bytecode"] == load.TOKEN_BYTECODE
    names = {entry.get("name") for entry in compiled["LoadToken"]["abi"]}
    assert {"transfer", "balanceOf", "Transfer", "approve", "transferFrom"} <= names


def test_the_token_bytecode_has_no_push0_for_fork_6_and_any_l1() -> None:
    # a crude but sufficient check: PUSH0 (0x5f) never appears as an opcode
    code, i = load.TOKEN_BYTECODE, 0
    while i < len(code):
        op = code[i]
        assert op != 0x5F, f"PUSH0 at {i}"
        i += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)


def test_token_transfer_calldata_is_the_abi_encoding() -> None:
    to = bytes(range(20))
    data = load.token_transfer_data(to, 5)
    assert data[:4] == keccak256(b"transfer(address,uint256)")[:4] == bytes.fromhex("a9059cbb")
    address, value = abi_decode(["address", "uint256"], data[4:])
    assert address == "0x" + to.hex() and value == 5


def test_the_token_address_is_the_create_address() -> None:
    sender = bytes.fromhex("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
    for nonce in (0, 1, 127, 128, 70_000):
        assert (
            "0x" + load.contract_address(sender, nonce).hex()
            == create_address("0x" + sender.hex(), nonce).lower()
        )


def test_recipients_cycle_over_a_fixed_set() -> None:
    assert load.recipient(0) == load.recipient(load.RECIPIENTS)
    assert len({load.recipient(i) for i in range(load.RECIPIENTS)}) == load.RECIPIENTS
    assert all(len(load.recipient(i)) == 20 for i in range(10))


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert load.percentile(values, 0.5) == 50.0
    assert load.percentile(values, 0.99) == 99.0
    assert load.percentile(values, 1.0) == 100.0
    assert load.percentile([3.0], 0.99) == 3.0
    assert load.percentile([], 0.5) is None


def test_latencies_skip_what_did_not_happen() -> None:
    assert load.latencies([1.0, 2.0, None, 4.0], [1.5, None, 3.0, 4.25]) == [0.5, 0.25]


def test_tracked_counts() -> None:
    tracked = load.Tracked(4, ["transfer"] * 4, [0, 1, 0, 1])
    tracked.sent[:3] = [1.0, 1.1, 1.2]
    tracked.accepted[:2] = [1.01, 1.11]
    tracked.error[2] = "nonce too low"
    tracked.included[0] = 1.5
    assert tracked.counts() == {"sent": 3, "accepted": 2, "included": 1, "virtual": 0, "errors": 1}


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ({"code": -32000, "message": "nonce too low: the sender's next nonce is 5"}, "nonce too low"),
        ({"code": -32000, "message": "txpool is full: 1024 transactions"}, "txpool is full"),
        ({"code": -32603, "message": ""}, "code -32603"),
    ],
)
def test_error_reasons_are_bounded_labels(error: dict[str, Any], reason: str) -> None:
    assert load.error_reason(error) == reason


def test_only_loopback_unless_told() -> None:
    load.check_loopback("http://127.0.0.1:8123", allow_remote=False)
    load.check_loopback("http://localhost:8123", allow_remote=False)
    load.check_loopback("http://[::1]:8123", allow_remote=False)
    with pytest.raises(load.LoadError, match="loopback"):
        load.check_loopback("http://10.1.2.3:8123", allow_remote=False)
    with pytest.raises(load.LoadError, match="loopback"):
        load.check_loopback("http://192.168.0.7:8123", allow_remote=False)
    load.check_loopback("http://10.1.2.3:8123", allow_remote=True)
    with pytest.raises(load.LoadError):
        load.check_loopback("not a url", allow_remote=False)


def _scrape(executor_calls: int, select_calls: int, closed: dict[str, int]) -> str:
    """A /metrics page with the sequencer's series, as prometheus_client writes it."""
    registry = CollectorRegistry()
    stage = Histogram(
        "zkseq_sequencer_stage_duration_seconds", "stages", ["stage"], registry=registry, buckets=(1.0,)
    )
    for _ in range(executor_calls):
        stage.labels("executor_call").observe(0.01)
    for _ in range(select_calls):
        stage.labels("pool_select").observe(0.002)
    batches = Counter("zkseq_sequencer_batches_closed", "closed", ["reason"], registry=registry)
    for reason, n in closed.items():
        batches.labels(reason).inc(n)
    return generate_latest(registry).decode()


def test_the_stage_breakdown_is_the_difference_of_two_scrapes() -> None:
    before = _scrape(10, 10, {"time": 2})
    after = _scrape(110, 110, {"time": 5, "tx_count": 1})
    rows = load.stage_breakdown({"sequencer": before}, {"sequencer": after}, wall_s=2.0)
    assert [r["stage"] for r in rows] == ["sequencer executor_call", "sequencer pool_select"]
    executor = rows[0]
    assert executor["calls"] == 100
    assert executor["mean_ms"] == pytest.approx(10.0)
    assert executor["busy"] == pytest.approx(0.5)
    assert rows[1]["mean_ms"] == pytest.approx(2.0)
    assert load._closed_reasons(after) == {"time": 5.0, "tx_count": 1.0}


def test_the_command_line_checks_its_bounds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["load", "--tps", "0", "--duration", "10"]) == 2
    assert "--tps" in capsys.readouterr().err
    assert main(["load", "--tps", "10", "--duration", "10", "--senders", str(LOAD_SENDERS + 1)]) == 2
    assert "--senders" in capsys.readouterr().err
    assert main(["load", "--tps", "10", "--duration", "10", "--senders", "32", "--sender-offset", "250"]) == 2
    assert "--sender-offset" in capsys.readouterr().err
    args = build_parser().parse_args(["load", "--tps", "300", "--duration", "30", "--kind", "mixed"])
    assert (args.tps, args.duration, args.kind, args.senders, args.drain) == (300.0, 30.0, "mixed", 32, 60.0)


def test_a_remote_node_is_refused_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(
        [
            "load",
            "--tps",
            "1",
            "--duration",
            "1",
            "--rpc",
            "http://10.9.8.7:8123",
            "--data-dir",
            str(tmp_path),
        ]
    )
    assert code == 1
    assert "loopback" in capsys.readouterr().err


def test_the_load_senders_are_distinct_test_keys() -> None:
    keys = {load_sender_key(i) for i in range(LOAD_SENDERS)}
    assert len(keys) == LOAD_SENDERS
    assert load_sender_key(0) == keccak256(b"zkseq devnet load sender 0")


def test_the_summary_says_how_long_the_chain_was_and_what_was_measured() -> None:
    """The rate depends on the chain's length (README, known limits): the summary prints it beside
    the rates, latencies, errors and CPU it reports."""
    latency = {"p50": 0.25, "p95": 0.5, "p99": 0.75, "max": 1.0}
    report: dict[str, Any] = {
        "config": {"kind": "transfer", "tps": 200.0, "duration_s": 30.0, "senders": 128},
        "counts": {"sent": 6000, "accepted": 5990, "included": 5990, "virtual": 0, "errors": 10},
        "l2_blocks_before": 25_000,
        "offered_tps": 200.0,
        "accepted_tps": 199.7,
        "included_tps_during_sending": 191.8,
        "included_tps": 195.2,
        "max_send_lag_s": 0.0,
        "latency_s": {
            "accept": latency,
            "receipt": latency,
            "virtual": {"p50": None, "p95": None, "p99": None, "max": None},
            "receipt_p50_first_third": 0.2,
            "receipt_p50_last_third": 0.3,
        },
        "errors": {"txpool is full": 10},
        "cpu_cores": {"hashdb": 0.66},
        "stages": [],
    }
    console = Console(record=True, width=120)
    load.print_summary(report, console)
    text = console.export_text()
    assert "L2 blocks before the run" in text and "25,000" in text
    assert "191.8 tx/s" in text and "750 ms" in text and "txpool is full" in text and "0.66" in text
    assert "flat" in text

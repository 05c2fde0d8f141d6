"""`zkseq devnet` without starting anything: ports, the genesis, the data folder, the environment
each child gets, log reading and the refusals. tests/e2e/test_devnet.py runs the real thing."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from services.cli import devnet
from services.cli.main import build_parser, main
from services.common.l1.testkeys import ANVIL_TEST_KEYS, anvil_test_address
from zkevm.field import h4_to_bytes
from zkevm.genesis import GenesisAccount, build_genesis
from zkevm.nodestore import MemoryNodeStore


def test_standard_ports_are_the_services_defaults() -> None:
    ports = devnet.Ports.standard()
    assert ports.services["jsonrpc"] == (8123, 9094)
    assert (ports.l1, ports.redis) == (8545, 6380)
    assert set(ports.services) == set(devnet.SERVICES)


def test_a_port_base_puts_every_port_in_a_block_of_its_own() -> None:
    ports = devnet.Ports.from_base(20000)
    used = [port for _, port in ports.fixed()]
    assert len(used) == len(set(used)) == 2 + 2 * len(devnet.SERVICES)
    assert min(used) == 20000 == ports.services["jsonrpc"][0]
    assert ports.l1 == 20001 and ports.redis == 20002
    assert max(used) < 20000 + 17


def test_port_base_zero_lets_the_os_choose_and_bad_bases_are_refused() -> None:
    ports = devnet.Ports.from_base(0)
    assert ports.fixed() == [] and ports.l1 == 0
    for bad in (80, 65530):
        with pytest.raises(devnet.DevnetError, match="--port-base"):
            devnet.Ports.from_base(bad)


def test_the_genesis_funds_anvils_accounts_and_the_load_senders() -> None:
    document = devnet.genesis_document()
    accounts = document["accounts"]
    assert len(accounts) == 10 + devnet.LOAD_SENDERS
    assert [a["address"] for a in accounts[:10]] == [anvil_test_address(i) for i in range(10)]
    assert {int(a["balance"]) for a in accounts[:10]} == {devnet.TEST_ACCOUNT_BALANCE_WEI}
    assert accounts[10]["address"] == devnet.address_of(devnet.load_sender_key(0))
    assert len({a["address"] for a in accounts}) == len(accounts)
    assert "TEST-ONLY" in document["comment"]


def test_the_genesis_root_is_the_tree_of_those_accounts() -> None:
    document = {"accounts": [{"address": anvil_test_address(0), "balance": "5"}]}
    expected = build_genesis([GenesisAccount(bytes.fromhex(anvil_test_address(0)[2:]), 5)], MemoryNodeStore())
    assert devnet.genesis_root(document) == h4_to_bytes(expected)
    full = devnet.genesis_document()
    assert devnet.genesis_root(full) == devnet.genesis_root(json.loads(json.dumps(full)))


def test_fresh_wipes_the_chain_and_keeps_the_logs(tmp_path: Path) -> None:
    data = devnet.DataDir(tmp_path)
    for path in (data.setup, data.genesis, data.l1_key, data.statedb, tmp_path / "statedb.db-wal"):
        path.write_text("x")
    for folder in (data.hashdb, data.redis, data.anvil_state.parent, data.logs):
        folder.mkdir()
        (folder / "file").write_text("x")
    data.wipe_chain()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs"]
    assert (data.logs / "file").exists()


def test_a_child_gets_the_devnets_settings_then_the_users_then_the_wiring(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ZKSEQ_SEQUENCER_BATCH_TIME_LIMIT_S", "7")
    monkeypatch.setenv("ZKSEQ_SEQUENCER_POOL_URL", "10.0.0.1:1")
    monkeypatch.setenv("ZKSEQ_POOL_MAX_TXS", "5")
    net = devnet.Devnet(devnet.UpOptions(data_dir=tmp_path), lambda _: None)
    env = net._service_env(
        "sequencer",
        {"BATCH_TIME_LIMIT_S": "2", "POLL_INTERVAL_S": "0.1"},
        {"POOL_URL": "127.0.0.1:50081"},
    )
    assert env["ZKSEQ_SEQUENCER_BATCH_TIME_LIMIT_S"] == "7"  # the user's
    assert env["ZKSEQ_SEQUENCER_POLL_INTERVAL_S"] == "0.1"  # the devnet's
    assert env["ZKSEQ_SEQUENCER_POOL_URL"] == "127.0.0.1:50081"  # the wiring
    assert "ZKSEQ_POOL_MAX_TXS" not in env  # another service's setting would be an unknown variable
    assert env["PATH"] == os.environ["PATH"]


def test_log_records_are_read_as_they_come(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_bytes(b'not json\n{"event": "a", "n": 1}\n{"event": "b"')
    popen = subprocess.Popen([sys.executable, "-c", "pass"])
    popen.wait()
    child = devnet.Child("x", popen, log)
    assert child.read_records() == [{"event": "a", "n": 1}]
    assert child.find("b") is None
    with log.open("ab") as more:
        more.write(b', "port": 5}\n')
    assert child.find("b") == {"event": "b", "port": 5}
    assert "not json" in child.tail()


def test_running_state_is_ignored_once_its_process_is_gone(tmp_path: Path) -> None:
    data = devnet.DataDir(tmp_path)
    assert devnet.read_running(data) is None
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    devnet.write_json(data.running, {"pid": gone.pid, "processes": {}})
    assert devnet.read_running(data) is None
    devnet.write_json(data.running, {"pid": os.getpid(), "processes": {}})
    assert devnet.read_running(data) == {"pid": os.getpid(), "processes": {}}


def test_exit_codes_are_explained() -> None:
    assert "HALTED" in devnet._explain_exit("sequencer", 3)
    assert devnet._explain_exit("pool", 2) == "exit code 2 (invalid configuration)"
    assert devnet._explain_exit("pool", -signal.SIGKILL) == "killed by SIGKILL"


def test_up_refuses_ports_in_use_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        taken = holder.getsockname()[1]
        ports = devnet.Ports(taken, 0, {name: (0, 0) for name in devnet.SERVICES})
        said: list[str] = []
        code = devnet.up(devnet.UpOptions(data_dir=tmp_path, ports=ports, install=False), said.append)
    assert code == 1
    assert any("ports in use" in line and str(taken) in line for line in said)
    assert not (tmp_path / "devnet.json").exists()


def test_up_refuses_a_second_devnet_on_the_same_folder(tmp_path: Path) -> None:
    data = devnet.DataDir(tmp_path)
    devnet.write_json(data.running, {"pid": os.getpid(), "processes": {}})
    said: list[str] = []
    options = devnet.UpOptions(data_dir=tmp_path, ports=devnet.Ports.from_base(0), install=False)
    assert devnet.up(options, said.append) == 1
    assert any("already runs" in line for line in said)


def test_a_data_folder_without_its_l1_state_is_not_resumed(tmp_path: Path) -> None:
    data = devnet.DataDir(tmp_path)
    devnet.write_json(data.setup, {"not": "read before the check"})
    said: list[str] = []
    options = devnet.UpOptions(data_dir=tmp_path, ports=devnet.Ports.from_base(0), install=False)
    assert devnet.up(options, said.append) == 1
    assert any("--fresh" in line for line in said)


def test_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    args = parser.parse_args(["devnet", "up", "--fresh", "--port-base", "0", "--data-dir", str(tmp_path)])
    assert (args.fresh, args.port_base, args.data_dir, args.detach) == (True, 0, tmp_path, False)
    assert parser.parse_args(["devnet", "up"]).data_dir == devnet.DEFAULT_DATA_DIR
    assert devnet._forwarded(args)[:3] == ["--data-dir", str(tmp_path.resolve()), "--fresh"]
    assert main(["devnet", "down", "--data-dir", str(tmp_path)]) == 0
    assert "no devnet runs" in capsys.readouterr().out
    assert main(["devnet", "status", "--data-dir", str(tmp_path)]) == 1
    assert main(["devnet", "status", "--json", "--data-dir", str(tmp_path)]) == 1
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["running"] is False
    assert main(["devnet", "up", "--port-base", "80", "--data-dir", str(tmp_path)]) == 2


def test_the_banner_names_the_endpoints_and_the_test_keys() -> None:
    processes = {
        name: {"port": 1, "metrics_port": 9000 + i, "pid": 1} for i, name in enumerate(devnet.SERVICES)
    }
    document = {
        "data_dir": "/x/data/devnet",
        "resumed": False,
        "l2_rpc_url": "http://127.0.0.1:8123",
        "l1_rpc_url": "http://127.0.0.1:8545",
        "setup": {
            "l2_chain_id": 1001,
            "l1_chain_id": 31337,
            "rollup": "0xR",
            "global_exit_root_manager": "0xG",
        },
        "processes": processes,
    }
    text = devnet.banner(document)
    assert "http://127.0.0.1:8123" in text and "http://127.0.0.1:8545" in text
    assert "TEST-ONLY" in text and all(key in text for key in ANVIL_TEST_KEYS)
    assert "sequencer :9003" in text.replace("  ", " ")
    assert "/x/data/devnet/logs/" in text

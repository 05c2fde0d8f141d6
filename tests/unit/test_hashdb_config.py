"""HashDB configuration from ZKSEQ_HASHDB_* and the shared EnvReader behind it."""

import json
import logging
from pathlib import Path

import pytest

from services.common.config import ConfigError, EnvReader
from services.common.logs import EventLogger, JsonFormatter
from services.hashdb.config import HashDBConfig


def test_defaults_without_any_variable() -> None:
    config = HashDBConfig.from_env({})
    assert config == HashDBConfig()
    assert (config.grpc_port, config.store, config.pg_schema) == (50061, "lmdb", "state")


def test_every_variable_is_read() -> None:
    config = HashDBConfig.from_env(
        {
            "ZKSEQ_HASHDB_GRPC_ADDRESS": "127.0.0.1:0",
            "ZKSEQ_HASHDB_METRICS_ADDRESS": "[::1]:9100",
            "ZKSEQ_HASHDB_STORE": "postgres",
            "ZKSEQ_HASHDB_PG_DSN": "postgresql://postgres@127.0.0.1/test",
            "ZKSEQ_HASHDB_PG_SCHEMA": "state_b",
            "ZKSEQ_HASHDB_LMDB_SYNC": "off",
            "ZKSEQ_HASHDB_NODE_CACHE_ENTRIES": "1_000",
            "ZKSEQ_HASHDB_FLUSH_DATA_WAIT_S": "2.5",
            "ZKSEQ_HASHDB_LOG_LEVEL": "DEBUG",
        }
    )
    assert (config.grpc_host, config.grpc_port) == ("127.0.0.1", 0)
    assert (config.metrics_host, config.metrics_port) == ("::1", 9100)
    assert config.store == "postgres" and config.pg_schema == "state_b"
    assert config.lmdb_sync is False
    assert config.node_cache_entries == 1000
    assert config.flush_data_wait_s == 2.5
    assert config.log_level == "debug"


def test_the_rocksdb_store_has_its_own_path_and_sync() -> None:
    config = HashDBConfig.from_env(
        {
            "ZKSEQ_HASHDB_STORE": "rocksdb",
            "ZKSEQ_HASHDB_ROCKSDB_PATH": "/srv/state",
            "ZKSEQ_HASHDB_ROCKSDB_SYNC": "false",
        }
    )
    assert (config.store, config.rocksdb_path, config.rocksdb_sync) == ("rocksdb", Path("/srv/state"), False)
    assert config.lmdb_sync is True


def test_a_rocksdb_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    with pytest.raises(ConfigError) as error:
        HashDBConfig.from_env({"ZKSEQ_HASHDB_STORE": "rocksdb", "ZKSEQ_HASHDB_ROCKSDB_PATH": str(not_a_dir)})
    assert f"ZKSEQ_HASHDB_ROCKSDB_PATH: {not_a_dir} exists and is not a directory" in str(error.value)
    assert not_a_dir.read_text() == ""  # nothing was written over it


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    with pytest.raises(ConfigError) as error:
        HashDBConfig.from_env(
            {
                "ZKSEQ_HASHDB_GRPC_ADDRESS": "localhost",
                "ZKSEQ_HASHDB_STORE": "leveldb",
                "ZKSEQ_HASHDB_NODE_CACHE_ENTRIES": "-1",
                "ZKSEQ_HASHDB_FLUSH_DATA_WAIT_S": "soon",
                "ZKSEQ_HASHDB_LMDB_SYNC": "maybe",
                "ZKSEQ_HASHDB_LMDB_PATH": str(not_a_dir),
                "ZKSEQ_HASHDB_PG_SCHEMA": "State; DROP",
                "ZKSEQ_HASHDB_CACHE_ENTRIES": "5",
            }
        )
    problems = "\n".join(error.value.problems)
    for fragment in (
        "ZKSEQ_HASHDB_GRPC_ADDRESS: 'localhost' is not host:port",
        "ZKSEQ_HASHDB_STORE: 'leveldb' is not one of lmdb, postgres, rocksdb",
        "ZKSEQ_HASHDB_NODE_CACHE_ENTRIES: -1 is below the minimum 0",
        "ZKSEQ_HASHDB_FLUSH_DATA_WAIT_S: 'soon' is not a number",
        "ZKSEQ_HASHDB_LMDB_SYNC: 'maybe' is not a boolean",
        "exists and is not a directory",
        "ZKSEQ_HASHDB_PG_SCHEMA: 'State; DROP' is not a plain lower-case SQL name",
        "ZKSEQ_HASHDB_CACHE_ENTRIES: not a known setting",
    ):
        assert fragment in problems
    assert len(error.value.problems) == 8


def test_postgres_needs_a_dsn() -> None:
    with pytest.raises(ConfigError, match="ZKSEQ_HASHDB_PG_DSN: required when ZKSEQ_HASHDB_STORE=postgres"):
        HashDBConfig.from_env({"ZKSEQ_HASHDB_STORE": "postgres"})


def test_env_reader_bounds_and_non_finite_numbers() -> None:
    env = EnvReader("X_", {"X_A": "11", "X_B": "inf", "X_C": "3"})
    assert env.integer("A", 1, maximum=10) == 1
    assert env.number("B", 2.0) == 2.0
    assert env.integer("C", 0, minimum=0, maximum=5) == 3
    with pytest.raises(ConfigError) as error:
        env.finish()
    assert error.value.problems == ["X_A: 11 is above the maximum 10", "X_B: 'inf' is not a finite number"]


def test_log_lines_are_json_with_a_constant_event(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="zkseq.test")
    EventLogger("zkseq.test").info("flush_stored", flush_id=7, nodes=120)
    line = json.loads(JsonFormatter().format(caplog.records[-1]))
    assert line["event"] == "flush_stored" and line["flush_id"] == 7 and line["nodes"] == 120
    assert line["level"] == "info" and line["logger"] == "zkseq.test"

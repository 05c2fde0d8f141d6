"""Fixtures for integration tests against real servers.

PostgreSQL: ZKSEQ_TEST_PG_DSN (default postgresql://postgres@127.0.0.1:5432/test, the server .ci/run
starts). Each test that needs it gets a schema of its own, dropped afterwards, so runs never collide.
An unreachable server fails the test with the reason: integration tests do not skip silently.
"""

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

PG_DSN = os.environ.get("ZKSEQ_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    try:
        psycopg.connect(PG_DSN, connect_timeout=3).close()
    except psycopg.Error as exc:
        pytest.fail(f"PostgreSQL at {PG_DSN} is not reachable ({exc}); start it or set ZKSEQ_TEST_PG_DSN")
    return PG_DSN


@pytest.fixture
def pg_schema(pg_dsn: str) -> Iterator[str]:
    """A fresh schema name, dropped with everything in it after the test."""
    schema = f"zkseq_test_{uuid.uuid4().hex[:12]}"
    yield schema
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

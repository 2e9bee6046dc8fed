"""Real services for tests, one place: which to use, and a private share of each per test.

Services come from TEST_POSTGRES_URL, TEST_REDIS_URL and TEST_AMQP_URL. Unset, the tests that need
them skip, unless REQUIRE_SERVICES=1 / REQUIRE_POSTGRES=1 (CI), where a missing service fails.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
REQUIRE_POSTGRES = REQUIRE_SERVICES or os.environ.get("REQUIRE_POSTGRES") == "1"


def service_url(variable: str) -> str:
    """URL of a real service from the environment; skip when unset, fail when it is required."""
    url = os.environ.get(variable, "")
    if not url:
        required = REQUIRE_POSTGRES if variable == "TEST_POSTGRES_URL" else REQUIRE_SERVICES
        if required:
            pytest.fail(f"{variable} is not set but REQUIRE_SERVICES/REQUIRE_POSTGRES demand it")
        pytest.skip(f"{variable} not set")
    return url


# gunicorn's line once its socket is bound (text and JSON logs alike).
_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


def reported_port(
    read_log: Callable[[], str], alive: Callable[[], bool], timeout: float = 90
) -> int:
    """The port a gunicorn started on port 0 reports ("Listening at: ..."), waiting for it.

    The server binds port 0 itself and keeps it: no bind-release-reuse race with other tests
    starting servers at the same time (a port picked in advance can be taken meanwhile).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = _LISTENING.search(read_log())
        if match:
            return int(match.group(1))
        if not alive():
            pytest.fail("the server exited before it listened:\n" + read_log()[-3000:])
        time.sleep(0.1)
    pytest.fail(f"no 'Listening at' line within {timeout}s:\n" + read_log()[-3000:])


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port held bound but not listening: connecting is refused, nobody can take it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@contextlib.contextmanager
def own_postgres_database(prefix: str = "permit_test") -> Iterator[str]:
    """A new PostgreSQL database (dropped afterwards); yields its psycopg URL."""
    admin_url = sa.make_url(service_url("TEST_POSTGRES_URL")).set(drivername="postgresql+psycopg")
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@contextlib.contextmanager
def own_redis_db() -> Iterator[str]:
    """An empty Redis database number claimed for this test (flushed afterwards); yields its URL.

    Other test runs on this machine use Redis too: take a database that is empty and mark it
    with a claim key atomically, so two runs never share one.
    """
    import redis

    base = service_url("TEST_REDIS_URL").rstrip("/")
    base = base.rsplit("/", 1)[0] if base.count("/") > 2 else base  # drop a given /N
    claim = f"permit_test_claim:{os.getpid()}:{uuid.uuid4().hex}"
    for number in range(15, 0, -1):
        client = redis.Redis.from_url(f"{base}/{number}")
        try:
            if client.dbsize() == 0 and client.set("permit_test_claimed", claim, nx=True, ex=900):
                break
        finally:
            client.close()
    else:
        pytest.fail("no empty Redis database number left (1-15)")
    url = f"{base}/{number}"
    try:
        yield url
    finally:
        client = redis.Redis.from_url(url)
        try:
            client.flushdb()
        finally:
            client.close()


@contextlib.contextmanager
def statements_run(engine: sa.engine.Engine) -> Iterator[list[str]]:
    """The SQL statements sent through `engine` inside the block, in order (a list that fills)."""
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)

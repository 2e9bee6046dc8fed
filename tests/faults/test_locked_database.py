"""A write lock held elsewhere makes a request wait DATABASE_LOCK_TIMEOUT at most, then answer 503.

SQLite: another connection holds the file's write lock (BEGIN IMMEDIATE), as a long sweep or a
stuck process would. PostgreSQL: another session holds a lock on the permits table that blocks
writes. Before, a web request waited 30 s (SQLite's busy_timeout) or for ever (PostgreSQL), then
failed with a 500 or was killed by gunicorn.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from tests.conftest import SEED

LOCK_TIMEOUT = 1
BOUND = LOCK_TIMEOUT + 2.5  # the lock timeout plus time for a loaded machine


@contextlib.contextmanager
def write_lock_held(database_url: str) -> Iterator[None]:
    """Another connection holds the lock every write to permits needs, until the block ends."""
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(url.database or "", isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
    else:
        conn = psycopg.connect(url.set(drivername="postgresql").render_as_string(False))
        conn.execute("LOCK TABLE permits IN EXCLUSIVE MODE")  # reads pass, writes wait
    try:
        yield
    finally:
        conn.rollback()
        conn.close()


@pytest.fixture
def locked_app(app_factory: Any) -> Any:
    """The app with a 1 s lock timeout, so the tests are quick."""
    return app_factory(DATABASE_LOCK_TIMEOUT=LOCK_TIMEOUT)


def test_api_apply_while_the_database_is_locked_answers_503(
    locked_app: Any, database_url: str
) -> None:
    client = locked_app.test_client()
    with write_lock_held(database_url):
        started = time.monotonic()
        response = client.post("/permits", json=SEED)
        waited = time.monotonic() - started
    assert response.status_code == 503, response.get_data(as_text=True)
    assert waited < BOUND, waited
    assert response.headers["Retry-After"] == "5"
    body = response.get_json()
    assert body["code"] == 503 and "database" in body["message"]
    # The lock gone, the same application goes through.
    assert client.post("/permits", json=SEED).status_code == 201


def test_web_application_while_the_database_is_locked_shows_a_503_page(
    locked_app: Any, database_url: str
) -> None:
    client = locked_app.test_client()
    with write_lock_held(database_url):
        started = time.monotonic()
        response = client.post("/", data=SEED)
        waited = time.monotonic() - started
    assert response.status_code == 503
    assert waited < BOUND, waited
    assert response.headers["Retry-After"] == "5"
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "try again" in page and "Staff sign-in" not in page  # no navigation needing the database


def test_reading_while_the_database_is_locked_for_writes_still_works(
    locked_app: Any, database_url: str
) -> None:
    client = locked_app.test_client()
    permit = client.post("/permits", json=SEED).get_json()
    with write_lock_held(database_url):
        assert client.get(f"/permits/{permit['id']}").status_code == 200
        assert client.get(f"/applications/{permit['id']}").status_code == 200

"""/readyz against real PostgreSQL and brokers and against closed ports; /healthz always answers."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from permit_service import create_app
from permit_service.extensions import db
from tests.conftest import base_config
from tests.deploy.support import REQUIRE_SERVICES, closed_port, own_postgres_database, own_redis_db


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with own_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with own_redis_db() as url:
        yield url


@pytest.fixture
def amqp_url() -> str:
    url = os.environ.get("TEST_AMQP_URL", "")
    if not url:
        if REQUIRE_SERVICES:
            pytest.fail("REQUIRE_SERVICES=1 but TEST_AMQP_URL is not set")
        pytest.skip("TEST_AMQP_URL not set")
    return url


@pytest.fixture
def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Build an app on `database_url` with CELERY_BROKER_URL set as an operator would set it."""
    apps: list[Flask] = []

    def make(database_url: str, broker_url: str) -> Flask:
        monkeypatch.setenv("CELERY_BROKER_URL", broker_url)
        app = create_app(base_config(tmp_path, database_url))
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# Ports held bound (not listening) for the whole run: refused, and never taken by another test.
_HELD = contextlib.ExitStack()


def free_port() -> int:
    """A loopback port where connections are refused for as long as the tests run."""
    return _HELD.enter_context(closed_port())


def closed_postgres() -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing_listens_here"


def closed_redis() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


def test_ready_when_postgres_and_redis_answer(make_app, pg_url: str, redis_url: str) -> None:
    response = make_app(pg_url, redis_url).test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_ready_with_rabbitmq_as_the_broker(make_app, pg_url: str, amqp_url: str) -> None:
    response = make_app(pg_url, amqp_url).test_client().get("/readyz")
    assert response.status_code == 200, response.get_json()


def test_not_ready_names_the_database_when_it_is_down(make_app, redis_url: str) -> None:
    response = make_app(closed_postgres(), redis_url).test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("down")
    assert body["checks"]["broker"] == "ok"
    assert "postgres@" not in response.get_data(as_text=True)  # no connection details leak


def test_not_ready_names_the_broker_when_it_is_down(make_app, pg_url: str) -> None:
    app = make_app(pg_url, closed_redis())
    started = time.monotonic()
    response = app.test_client().get("/readyz")
    # A probe must answer within an orchestrator's timeout, not hang on a dead broker.
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert checks["broker"].startswith("down")
    assert checks["database"] == "ok"


def test_liveness_answers_even_when_both_are_down(make_app) -> None:
    client = make_app(closed_postgres(), closed_redis()).test_client()
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert all(v.startswith("down") for v in response.get_json()["checks"].values())

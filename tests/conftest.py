"""Shared fixtures: an app per test on SQLite and (when configured) PostgreSQL, clients, helpers.

PostgreSQL: set TEST_POSTGRES_URL to a server URL (e.g. postgresql://postgres@127.0.0.1:5432/postgres);
each test run creates its own database there and drops it at the end. With REQUIRE_POSTGRES=1
(as in CI) a missing PostgreSQL fails the run instead of skipping those tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from permit_service import clock, create_app
from permit_service.extensions import db
from permit_service.models import DEFAULT_ZONE, Zone
from tests.support import own_postgres_database

BACKENDS = ["sqlite", "postgres"]


def pytest_sessionstart(session: pytest.Session) -> None:
    """German pages need the compiled catalogue: `make test` makes it; bare pytest does it here."""
    from tests.catalogues import compile_stale

    compile_stale()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that runs on PostgreSQL, so CI can tell they ran."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec and callspec.params.get("backend") == "postgres":
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run (dropped afterwards)."""
    with own_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file for this test run (a file, as in production: several connections share it)."""
    return "sqlite:///" + str(tmp_path_factory.mktemp("sqlite") / "test.sqlite3")


def base_config(tmp_path: Any, database_url: str, **extra: Any) -> dict[str, Any]:
    """Config overrides every test app gets; `extra` wins."""
    config: dict[str, Any] = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "RATELIMIT_ENABLED": False,
        "WTF_CSRF_ENABLED": False,
        "LOG_FORMAT": "text",
    }
    config.update(extra)
    return config


_migrated: set[str] = set()


def _prepare_schema(app: Flask) -> None:
    """Run the real migrations once per database, then empty the tables before each test."""
    from flask_migrate import upgrade

    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with app.app_context():
        if url not in _migrated:
            upgrade()
            _migrated.add(url)
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        # What migration 0008 creates in a fresh database: the open zone CITY.
        db.session.add(Zone(code=DEFAULT_ZONE, name="Whole city", quota=None, open=True))
        db.session.commit()


@pytest.fixture(autouse=True)
def _real_time_between_tests() -> Iterator[None]:
    """Tests move the service's clock (permit_service.clock.advance); each starts at real time."""
    clock.reset()
    yield
    clock.reset()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Which database the test runs on."""
    return request.param


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    """URL of the per-run database of the chosen backend."""
    return request.getfixturevalue(f"{backend}_url")


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """For migration tests: an empty database of its own (the shared ones are already at head)."""
    if request.param == "sqlite":
        yield "sqlite:///" + str(tmp_path / "upgrade.sqlite3")
    else:
        with own_postgres_database("permit_upgrade") as url:
            yield url


@pytest.fixture
def app_factory(tmp_path: Any, database_url: str) -> Iterator[Any]:
    """Build apps on the test database with extra overrides: app_factory(PENDING_TTL_SECONDS=1)."""
    apps: list[Flask] = []

    def make(**extra: Any) -> Flask:
        app = create_app(base_config(tmp_path, database_url, **extra))
        _prepare_schema(app)
        apps.append(app)
        return app

    yield make
    for app in apps:
        # Enforcement checks' buffered log rows: written now, not into a later test's database.
        check_log = app.extensions.get("enforcement_check_log")
        if check_log is not None:
            check_log.close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(app_factory: Any) -> Flask:
    """The app with default test settings."""
    return app_factory()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of `app`."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    """A CLI runner of `app`."""
    return app.test_cli_runner()


SEED = {"name": "John Doe", "license_plate": "ABC-123", "address": "123 Main St"}


def apply(client: FlaskClient, **overrides: Any) -> dict[str, Any]:
    """Apply through the API and return the created permit (asserting 201)."""
    body = {**SEED, **overrides}
    response = client.post("/permits", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


STRONG_PASSWORD = "correct-horse-battery-9"


def auth_headers(app: Flask, role: str = "admin", email: str | None = None) -> dict[str, str]:
    """Create a user with `role` through the service and return its bearer header.

    Call it after the last `app_factory(...)` of a test: building an app empties the tables.
    """
    from permit_service.services.tokens import issue_token
    from permit_service.services.users import create_user

    with app.app_context():
        email = email or f"{role}-{uuid.uuid4().hex[:8]}@city.example"
        user = create_user(email, STRONG_PASSWORD, role)
        token = issue_token(user).token
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin_headers(app: Flask) -> dict[str, str]:
    """Headers of an authenticated admin API client (every admin endpoint test uses these)."""
    return auth_headers(app, "admin", "admin@city.example")


@pytest.fixture
def viewer_headers(app: Flask) -> dict[str, str]:
    """Headers of an authenticated viewer (may list and read history, not approve or revoke)."""
    return auth_headers(app, "viewer", "viewer@city.example")


# --- the closing line about tests skipped for a missing service ------------------------------

SERVICE_VARIABLES = {
    "TEST_POSTGRES_URL": "PostgreSQL",
    "TEST_REDIS_URL": "Redis",
    "TEST_AMQP_URL": "RabbitMQ",
}
SERVICES_HINT = (
    "to run them, start the services and export TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1"
    ":5432/postgres TEST_REDIS_URL=redis://127.0.0.1:6379 "
    "TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5672// (README, Tests)"
)


def service_skip_line(reasons: list[str]) -> str:
    """One line: how many tests skipped for a missing PostgreSQL, Redis or RabbitMQ, and why."""
    counts = {name: 0 for name in SERVICE_VARIABLES.values()}
    for reason in reasons:
        for variable, name in SERVICE_VARIABLES.items():
            if f"{variable} not set" in reason:
                counts[name] += 1
    total = sum(counts.values())
    if not total:
        return "0 tests skipped for a missing PostgreSQL, Redis or RabbitMQ"
    missing = ", ".join(f"{name} {n}" for name, n in counts.items() if n)
    tests = "test" if total == 1 else "tests"
    return f"{total} {tests} skipped for a missing service ({missing}); {SERVICES_HINT}"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: Any) -> Iterator[None]:
    """After pytest's own summary, just above its closing counts: the service skip line."""
    result = yield
    reasons = []
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        reasons.append(str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr))
    terminalreporter.write_line(service_skip_line(reasons))
    return result

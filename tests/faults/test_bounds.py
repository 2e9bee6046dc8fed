"""Web requests get the configured database timeouts; sweeps, migrations and seeding their own."""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa

from permit_service.db_bounds import background
from permit_service.extensions import db


def session_bounds(backend: str) -> tuple[str, ...]:
    """The timeouts the current session's connection works with."""
    if backend == "sqlite":
        return (str(db.session.execute(sa.text("PRAGMA busy_timeout")).scalar()),)
    return tuple(
        str(db.session.execute(sa.text(f"SHOW {name}")).scalar())
        for name in ("statement_timeout", "lock_timeout", "client_connection_check_interval")
    )


def test_web_requests_use_the_configured_timeouts(app_factory: Any, backend: str) -> None:
    app = app_factory(DATABASE_STATEMENT_TIMEOUT=7, DATABASE_LOCK_TIMEOUT=2)
    with app.app_context():
        expected = ("2000",) if backend == "sqlite" else ("7s", "2s", "2s")
        assert session_bounds(backend) == expected


def test_sweeps_run_with_their_own_longer_timeouts_and_give_them_back(
    app_factory: Any, backend: str
) -> None:
    app = app_factory(DATABASE_STATEMENT_TIMEOUT=7, DATABASE_LOCK_TIMEOUT=2)
    with app.app_context():
        sweep = ("45000",) if backend == "sqlite" else ("45s", "45s")
        with background(45):
            assert session_bounds(backend)[:2] == sweep
            db.session.commit()
            # Every transaction inside the block, not only the first.
            assert session_bounds(backend)[:2] == sweep
            db.session.commit()
        web = ("2000",) if backend == "sqlite" else ("7s", "2s", "2s")
        assert session_bounds(backend) == web


def test_migrations_and_seeding_run_without_a_statement_timeout(
    app_factory: Any, backend: str
) -> None:
    app = app_factory()
    with app.app_context(), background(0):
        expected = ("30000",) if backend == "sqlite" else ("0", "0")
        assert session_bounds(backend)[:2] == expected


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_web_statement_longer_than_the_statement_timeout_is_cancelled(
    app_factory: Any, backend: str
) -> None:
    app = app_factory(DATABASE_STATEMENT_TIMEOUT=1)
    with app.app_context():
        started = time.monotonic()
        with pytest.raises(sa.exc.OperationalError, match="statement timeout"):
            db.session.execute(sa.text("SELECT pg_sleep(4)"))
        assert time.monotonic() - started < 2.5
        db.session.rollback()
        assert db.session.execute(sa.text("SELECT 1")).scalar() == 1  # the connection lives on

"""The enforcement check log writer (services.check_log): batched, bounded, fails no check."""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa

from permit_service.extensions import db
from permit_service.models import EnforcementCheck, utcnow
from permit_service.services import check_log
from tests.conftest import auth_headers
from tests.support import closed_port


def _row(n: int = 0) -> dict[str, Any]:
    now = utcnow()
    return {
        "user_id": 1,
        "plate_key": f"W{n}",
        "zone": "CITY",
        "checked_at": now,
        "at": now,
        "permitted": False,
    }


def _count(app: Any) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(EnforcementCheck))


def test_the_writer_thread_writes_a_full_batch_by_itself(app, monkeypatch):
    monkeypatch.setattr(check_log, "FLUSH_ROWS", 5)
    log = check_log.for_app(app)
    for n in range(5):
        log.record(_row(n))
    deadline = time.monotonic() + 10
    while _count(app) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _count(app) == 5
    assert log.written == 5 and log.pending() == 0


def test_rows_are_written_in_one_transaction_of_multi_row_inserts(app, monkeypatch):
    """SQLite: executemany in chunks of ROWS_PER_STATEMENT; PostgreSQL: one COPY (not seen by
    SQLAlchemy's events). Either way one transaction: a batch with a bad row writes nothing."""
    monkeypatch.setattr(check_log, "ROWS_PER_STATEMENT", 4)
    statements: list[str] = []
    log = check_log.for_app(app)
    engine = _engine(app)

    def remember(conn, cursor, statement, *args):  # noqa: ANN001
        if statement.lstrip().upper().startswith("INSERT INTO ENFORCEMENT_CHECKS"):
            statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", remember)
    try:
        for n in range(10):
            log.record(_row(n))
        assert log.flush() == 10
    finally:
        sa.event.remove(engine, "before_cursor_execute", remember)
    assert len(statements) == (0 if engine.dialect.driver == "psycopg" else 3)  # 4 + 4 + 2 rows
    assert _count(app) == 10
    for n in range(9):
        log.record(_row(n))
    log.record({**_row(9), "user_id": None})  # NOT NULL: the last chunk fails
    assert log.flush() == 0 and log.dropped == 10
    assert _count(app) == 10


def test_a_database_that_refuses_the_log_drops_rows_and_fails_no_check(app, client, caplog):
    """The log's database unreachable (a closed port): checks answer, rows are dropped, counted."""
    headers = auth_headers(app, "enforcer")
    with closed_port() as port:
        dead = sa.create_engine(
            f"postgresql+psycopg://postgres@127.0.0.1:{port}/none",
            connect_args={"connect_timeout": 2},
        )
        broken = check_log.CheckLog(dead)
        app.extensions["enforcement_check_log"] = broken
        started = time.monotonic()
        for _ in range(3):
            response = client.get(
                "/enforcement/check?license_plate=AB-1&zone=CITY", headers=headers
            )
            assert response.status_code == 200
        assert time.monotonic() - started < 2  # no check waited for the log
        assert broken.flush() == 0
        dead.dispose()
    assert broken.dropped == 3 and broken.pending() == 0
    assert "enforcement check log rows dropped" in caplog.text
    assert "AB1" not in caplog.text and "AB-1" not in caplog.text  # no plate in the log line


def test_a_full_buffer_drops_new_rows_instead_of_growing(app, monkeypatch):
    monkeypatch.setattr(check_log, "MAX_ROWS", 3)
    monkeypatch.setattr(check_log, "FLUSH_SECONDS", 3600)  # the thread waits: the buffer fills
    log = check_log.CheckLog(_engine(app))
    for n in range(5):
        log.record(_row(n))
    assert log.pending() == 3 and log.dropped == 2
    assert log.flush() == 3
    log.close()


def _engine(app: Any) -> sa.Engine:
    with app.app_context():
        return db.engine


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_close_writes_what_is_buffered(app, monkeypatch):
    monkeypatch.setattr(check_log, "FLUSH_SECONDS", 3600)
    log = check_log.CheckLog(_engine(app))
    log.record(_row())
    log.close()  # what the exit handler does
    assert _count(app) == 1


def test_rows_are_stored_exactly_as_the_orm_statement_stores_them(app):
    """SQLite's batches skip SQLAlchemy's per-row binding (issue 17): the stored values (text,
    types) must be what the table's own INSERT stores, for any offset and microsecond."""
    from datetime import UTC, datetime, timedelta, timezone

    moments = [
        datetime(2026, 12, 3, 17, 0, 0, tzinfo=UTC),
        datetime(2026, 12, 3, 18, 0, 0, 123, tzinfo=timezone(timedelta(hours=1))),
        utcnow(),
    ]
    rows = [
        {"user_id": 7, "plate_key": "K1", "zone": "CITY", "checked_at": m, "at": m, "permitted": p}
        for m in moments
        for p in (True, False)
    ]
    log = check_log.CheckLog(_engine(app))
    log._rows = list(rows)
    assert log.flush() == len(rows)
    columns = "user_id, plate_key, zone, checked_at, at, permitted"
    if _engine(app).dialect.name == "sqlite":  # the stored text and storage classes too
        columns += ", typeof(checked_at), typeof(at), typeof(permitted)"
    with _engine(app).begin() as conn:
        conn.execute(sa.insert(EnforcementCheck.__table__), rows)
        stored = conn.execute(
            sa.text(f"SELECT {columns} FROM enforcement_checks ORDER BY id")  # noqa: S608
        ).all()
    assert len(stored) == 2 * len(rows)
    assert stored[: len(rows)] == stored[len(rows) :]
    with app.app_context():
        read = db.session.scalars(sa.select(EnforcementCheck).order_by(EnforcementCheck.id)).all()
    assert [(r.checked_at, r.at, r.permitted) for r in read[: len(rows)]] == [
        (row["checked_at"], row["at"], row["permitted"]) for row in rows
    ]


def _engine(app: Any) -> sa.Engine:
    with app.app_context():
        return db.engine

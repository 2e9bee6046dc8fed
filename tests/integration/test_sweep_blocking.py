"""A big sweep never stalls the service: applies and approves keep answering while it runs.

Issue 13: a sweep that moved every due permit in one transaction held SQLite's single write lock
(and, on PostgreSQL, the row lock of every due permit) for its whole run: writes waited seconds.
The sweep now commits in short batches. Here a sweep of DUE due permits runs in its own thread
and connection, as Beat's worker would, while a client applies for permits and approves others
in turn (pending ones: 200; due ones, which the sweep is moving: 409) as fast as it can. No
answer may take more than the bound, with a margin for a busy shared machine. Against the
one-transaction sweep this test fails: there a write waited for the whole sweep (0.5-1 s on
SQLite, 2-3 s on PostgreSQL at this size on the development machine).
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from permit_service.db_bounds import background
from permit_service.domain import PermitStatus
from permit_service.extensions import db
from permit_service.models import Permit, PermitCount, PermitEvent, Zone
from permit_service.services import permits as service
from permit_service.services.seeding import seed_permits
from tests import factories

pytestmark = pytest.mark.integration

DUE = 60_000
WAIT_BOUND = 0.2  # issue 13: no write waits longer than this behind a sweep
MARGIN = 0.15  # the request itself, and a shared 2-core machine under load
APPROVABLE = 60


def _writer(
    app: Flask,
    calls: list[tuple[str, str, dict[str, Any] | None]],
    headers: dict[str, str],
    sweeping: threading.Event,
    done: threading.Event,
    out: list[tuple[str, float, int, float]],
) -> None:
    """POST the calls one after another while the sweep runs: (kind, when, status, seconds)."""
    client = app.test_client()
    sweeping.wait(timeout=30)
    for kind, path, body in calls:
        if done.is_set():
            break
        started = time.perf_counter()
        response = client.post(path, json=body, headers=headers if kind == "approve" else {})
        out.append((kind, started, response.status_code, time.perf_counter() - started))


def _measure(
    app: Flask, admin_headers: dict[str, str]
) -> tuple[float, dict[str, list[tuple[float, int, float]]], dict[str, Any]]:
    """Seed DUE due permits, sweep them while one client writes: (worst wait, answers during
    the sweep by kind, the sweep's outcome)."""
    with app.app_context():
        seed_permits(DUE, mix={PermitStatus.PENDING: 1.0}, due=True)
        # Due permits spread over the whole sweep (it goes by deadline): approving one waits
        # for the batch that holds it, then answers 409 (expired).
        due_ids = db.session.scalars(
            sa.select(Permit.id).order_by(Permit.expires_at, Permit.id)
        ).all()[:: DUE // APPROVABLE]
        pending_ids = [factories.make_permit().id for _ in range(APPROVABLE)]
        if db.engine.dialect.name == "postgresql":
            db.session.commit()
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE permits, permit_events"))
        db.session.remove()

    # One writer, in turn: apply, approve a pending permit, apply, approve a due one, ... Two
    # writers in a tight loop would measure SQLite's unfairness between them (a writer that
    # just committed takes the lock again before a sleeping one looks), not the sweep.
    approves = [pid for pair in zip(pending_ids, due_ids, strict=False) for pid in pair]
    calls: list[tuple[str, str, dict[str, Any] | None]] = []
    for i, pid in enumerate(approves * 20):
        plate = f"BLK-{i}"
        calls.append(("apply", "/permits", {"name": "J", "license_plate": plate, "address": "1"}))
        calls.append(("approve", f"/permits/{pid}/approve", None))
    sweeping, done = threading.Event(), threading.Event()
    answers: list[tuple[str, float, int, float]] = []
    writer = threading.Thread(
        target=_writer, args=(app, calls, admin_headers, sweeping, done, answers)
    )
    swept: dict[str, Any] = {}

    def sweep() -> None:
        try:
            with app.app_context(), background(app.config["SWEEP_STATEMENT_TIMEOUT"]):
                sweeping.set()
                swept["started"] = time.perf_counter()
                swept["count"] = service.expire_due_permits()
                swept["ended"] = time.perf_counter()
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported below
            swept["error"] = exc
        finally:
            done.set()

    writer.start()
    sweeper = threading.Thread(target=sweep)
    sweeper.start()
    sweeper.join(timeout=120)
    writer.join(timeout=30)
    assert "error" not in swept, repr(swept.get("error"))
    began, ended = swept["started"], swept["ended"]

    # Every answer that overlapped the sweep (one begun just before it may have waited all along).
    during = {
        kind: [a[1:] for a in answers if a[0] == kind and a[1] <= ended and a[1] + a[3] >= began]
        for kind in ("apply", "approve")
    }
    seconds = ended - began
    for kind, found in during.items():
        waits = [a[2] for a in found] or [0.0]
        print(
            f"{app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]} sweep {seconds:.2f}s:"
            f" {len(found)} {kind} answers, worst {max(waits):.3f}s,"
            f" median {statistics.median(waits):.3f}s"
        )
    worst = max((a[2] for found in during.values() for a in found), default=0.0)
    return worst, during, swept


def _clear_permits(app: Flask) -> None:
    """Remove the permits, their rows in other tables and the counts (users and zones stay)."""
    with app.app_context():
        permits = Permit.__table__
        for table in reversed(db.metadata.sorted_tables):
            if table is permits or any(fk.column.table is permits for fk in table.foreign_keys):
                db.session.execute(table.delete())
        db.session.execute(PermitCount.__table__.delete())
        db.session.execute(sa.update(Zone.__table__).values(valid_permits=0, surplus=0))
        db.session.commit()
        db.session.remove()


ATTEMPTS = 3  # a wait over the bound must repeat: a sweep that holds the lock always does


def test_applies_and_approves_answer_within_the_bound_during_a_big_sweep(
    app: Flask, admin_headers: dict[str, str]
) -> None:
    # A shared 2-core machine under load can starve one request for longer than the bound on
    # any run; a sweep that stalls writers does so on every run. So a wait over the bound is
    # measured again on fresh data, and the test fails when every attempt saw one.
    worsts = []
    for _ in range(ATTEMPTS):
        worst, during, swept = _measure(app, admin_headers)
        worsts.append(worst)
        if worst < WAIT_BOUND + MARGIN:
            break
        _clear_permits(app)
    assert worst < WAIT_BOUND + MARGIN, f"writes waited {worsts} (s) behind the sweep"
    # The writes really overlapped the sweep, all along it.
    assert len(during["apply"]) >= 5 and len(during["approve"]) >= 5, during
    statuses = {a[1] for found in during.values() for a in found}
    assert statuses <= {200, 201, 409}, statuses
    assert {200, 409} <= {a[1] for a in during["approve"]}, during["approve"]

    with app.app_context():
        # Every due permit expired once, with its event; the counts agree with the rows.
        expired_events = db.session.scalar(
            sa.select(sa.func.count()).where(
                PermitEvent.to_status == "expired", PermitEvent.actor == service.SYSTEM_ACTOR
            )
        )
        by_status = sa.select(Permit.status, sa.func.count()).group_by(Permit.status)
        rows = {status: n for status, n in db.session.execute(by_status)}
        stored = sa.select(PermitCount.status, PermitCount.n)
        counts = {status: n for status, n in db.session.execute(stored)}
        db.session.remove()
    # Approving a due permit the sweep has not reached yet records its expiry itself.
    assert DUE - APPROVABLE <= swept["count"] <= DUE
    assert expired_events == rows["expired"] == DUE
    assert {s: n for s, n in counts.items() if n} == rows

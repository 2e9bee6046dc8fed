"""Time one expiry sweep over N due permits on a fresh database, and what writers waited meanwhile.

Run by bench/run.py in its own process per size: `python bench/sweep.py DATABASE_URL N`.
The database must be empty; it is migrated here, seeded with N pending permits whose deadline
has passed (each with its application event), then swept once by the real service function
under the sweep's own bounds (db_bounds.background, as the Celery task does).

While the sweep runs, one writer in another thread (its own connection) applies for permits and
approves others in turn through the JSON API (the Flask test client, no network): pending ones
(200) and due ones, spread over the sweep's order (409 once the sweep, or the approve, has
recorded the expiry). Each answer's time is what a write waits behind the sweep plus its own
work; the same writer's answers before the sweep give the latter.

The sweep's statements are counted with SQLAlchemy's before_cursor_execute hook (the sweep's
thread only). With PYTHONPATH pointing at another checkout, this measures that code instead
(bench/run.py --sweep-before REF): it only uses functions every version has.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
import uuid
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

import permit_service
from permit_service import create_app
from permit_service.db_bounds import background
from permit_service.domain import PermitStatus
from permit_service.extensions import db
from permit_service.models import Permit, PermitEvent
from permit_service.services.permits import apply_for_permit, expire_due_permits
from permit_service.services.seeding import seed_permits
from permit_service.services.tokens import issue_token
from permit_service.services.users import create_user

APPROVABLE = 100  # pending and due permits each, for the writer to approve


def _writer(
    app: Flask,
    calls: list[tuple[str, str, Any]],
    headers: dict[str, str],
    stop: threading.Event,
    out: list[tuple[str, float, int, float]],
) -> None:
    """POST the calls in turn until told to stop: (kind, when, status, seconds) of each."""
    client = app.test_client()
    for kind, path, body in calls:
        if stop.is_set():
            return
        started = time.perf_counter()
        response = client.post(path, json=body, headers=headers if kind == "approve" else {})
        out.append((kind, started, response.status_code, time.perf_counter() - started))


class _ServerCpu:
    """CPU time of the PostgreSQL server processes that run the sweep's statements.

    Readable only when the server runs on this machine (/proc/<pid>/stat); None otherwise.
    Every backend of the database is read before the sweep (a pooled connection may serve it);
    the sweep's thread notes which ones it used.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.thread = threading.get_ident()
        self.pids: set[int] = set()
        self.before: dict[int, float] = {}
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                pids = conn.scalars(
                    sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
                ).all()
            self.before = {pid: t for pid in pids if (t := _process_cpu(pid)) is not None}

    def note(self, conn: sa.Connection, *_a: Any) -> None:
        if threading.get_ident() == self.thread and conn.dialect.name == "postgresql":
            self.pids.add(conn.connection.dbapi_connection.info.backend_pid)  # type: ignore[union-attr]

    def used(self) -> float | None:
        if not self.pids:
            return None
        total = 0.0
        for pid in self.pids:
            now = _process_cpu(pid)
            if now is None:
                return None
            total += now - self.before.get(pid, 0.0)  # a backend started during the sweep: 0
        return round(total, 3)


def _process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a local process, or None when it cannot be read."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _waits(answers: list[tuple[str, float, int, float]], kind: str | None = None) -> dict[str, Any]:
    seconds = [a[3] for a in answers if kind is None or a[0] == kind]
    if not seconds:
        return {"answers": 0}
    return {
        "answers": len(seconds),
        "worst_ms": round(max(seconds) * 1000, 1),
        "median_ms": round(statistics.median(seconds) * 1000, 1),
    }


def main(database_url: str, count: int) -> dict[str, Any]:
    """Seed `count` due permits, sweep once while a writer writes, check, return the figures."""
    # The embedded broker may still be writing a delivery request when the run ends.
    with tempfile.TemporaryDirectory(prefix="bench-sweep-", ignore_cleanup_errors=True) as instance:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": database_url,
                "SECRET_KEY": secrets.token_hex(32),
                "INSTANCE_PATH": instance,
                "LOG_LEVEL": "WARNING",
                "RATELIMIT_ENABLED": False,
            }
        )
        with app.app_context():
            upgrade()
            started = time.perf_counter()
            seed_permits(count, mix={PermitStatus.PENDING: 1.0}, due=True)
            seeded = time.perf_counter() - started
            step = max(1, count // APPROVABLE)
            due_ids = db.session.scalars(
                sa.select(Permit.id).order_by(Permit.expires_at, Permit.id)
            ).all()[::step]
            pending_ids = [
                apply_for_permit("Bench Writer", f"PEN-{i}", "1 Bench St").permit.id
                for i in range(APPROVABLE)
            ]
            admin = create_user(
                f"bench-{uuid.uuid4().hex[:8]}@city.example", "correct-horse-battery-9", "admin"
            )
            headers = {"Authorization": f"Bearer {issue_token(admin).token}"}
            db.session.commit()
            if db.engine.dialect.name == "postgresql":
                # What autovacuum does to a freshly loaded table; plans then match production.
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                    c.execute(sa.text("VACUUM ANALYZE permits, permit_events"))
            db.session.remove()

        calls: list[tuple[str, str, Any]] = []
        for i, pid in enumerate(
            [p for pair in zip(pending_ids, due_ids, strict=False) for p in pair] * 50
        ):
            body = {"name": "Bench Writer", "license_plate": f"WR-{i}", "address": "1 Bench St"}
            calls.append(("apply", "/permits", body))
            calls.append(("approve", f"/permits/{pid}/approve", None))
        answers: list[tuple[str, float, int, float]] = []
        stop = threading.Event()
        writer = threading.Thread(target=_writer, args=(app, calls, headers, stop, answers))

        with app.app_context():
            statements: list[str] = []
            sweeper = threading.get_ident()

            def count_statement(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
                if threading.get_ident() == sweeper:
                    statements.append(statement.split(None, 1)[0].upper())

            writer.start()
            time.sleep(0.5)  # the writer alone: its own time per write
            servers = _ServerCpu(db.engine)
            sa.event.listen(db.engine, "before_cursor_execute", count_statement)
            sa.event.listen(db.engine, "before_cursor_execute", servers.note)
            with background(app.config["SWEEP_STATEMENT_TIMEOUT"]):
                began = time.perf_counter()
                cpu_began = time.thread_time()
                expired = expire_due_permits()
                cpu = time.thread_time() - cpu_began
                ended = time.perf_counter()
            sa.event.remove(db.engine, "before_cursor_execute", count_statement)
            sa.event.remove(db.engine, "before_cursor_execute", servers.note)
            server_cpu = servers.used()
            stop.set()
            writer.join(timeout=60)

            left = db.session.scalar(
                sa.select(sa.func.count()).where(
                    Permit.status == PermitStatus.PENDING.value, Permit.id.in_(due_ids)
                )
            )
            events = db.session.scalar(
                sa.select(sa.func.count()).where(
                    PermitEvent.to_status == PermitStatus.EXPIRED.value
                )
            )
            backend = db.engine.dialect.name
            db.session.remove()
            db.engine.dispose()
    # Approving a due permit the sweep has not reached records its expiry itself.
    if not count - APPROVABLE <= expired <= count or left != 0 or events != count:
        raise SystemExit(f"sweep check failed: expired={expired} left={left} events={events}")
    during = [a for a in answers if a[1] <= ended and a[1] + a[3] >= began]  # overlapping
    alone = [a for a in answers if a[1] + a[3] < began]
    return {
        "backend": backend,
        "code": str(permit_service.__file__).rsplit("/permit_service/", 1)[0],
        "due_permits": count,
        "seconds": round(ended - began, 4),
        "statements": len(statements),
        # CPU seconds of the sweep's own thread (on SQLite: all of the database work) and, on a
        # local PostgreSQL, of the server process that ran its statements (None elsewhere).
        "cpu_seconds": round(cpu, 3),
        "server_cpu_seconds": server_cpu,
        "statement_kinds": sorted(set(statements)),
        "expired_events": events,
        "seed_seconds": round(seeded, 2),
        "writes_during_sweep": _waits(during),
        "applies_during_sweep": _waits(during, "apply"),
        "approves_during_sweep": _waits(during, "approve"),
        "writes_before_sweep": _waits(alone),
    }


if __name__ == "__main__":
    print("SWEEP_JSON " + json.dumps(main(sys.argv[1], int(sys.argv[2]))), flush=True)

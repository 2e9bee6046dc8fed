"""Reminders exactly once per offset and validity period, even with sweeps running at once.

Several threads (each its own connection) sweep together, round after round, while the clock
crosses each REMINDERS_BEFORE offset: every permit gets one reminder per offset. On PostgreSQL
both sweeps' INSERT ... SELECT can see no reminder yet; the partial unique index is what keeps
the second out, so the test also checks the index refuses a copy outright.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import IntegrityError

from permit_service import clock
from permit_service.extensions import db
from permit_service.models import Notification, utcnow
from permit_service.services import permits as service
from tests import factories
from tests.services.test_validity_races import run_threads

BACKENDS = pytest.mark.parametrize("backend", ["postgres", "sqlite"], indirect=True)
DAY = 86400


@BACKENDS
def test_concurrent_sweeps_write_each_reminder_once(app_factory: Any) -> None:
    app: Flask = app_factory(REMINDERS_BEFORE=[7 * DAY, 2 * DAY])
    sweeps, permits = 4, 120
    with app.app_context():
        end = utcnow() + timedelta(days=10)
        ids = [
            factories.make_permit("approved", email=f"r{i}@example.org", valid_until=end).id
            for i in range(permits)
        ]
    rounds = [timedelta(days=3, hours=1), timedelta(hours=1), timedelta(days=5)]
    for step in rounds:  # 6.9 days left, 6.8, 1.8: the 7-day one, again, then the 2-day one
        clock.advance(step)
        start = threading.Barrier(sweeps)

        def sweep(start: threading.Barrier = start) -> None:
            with app.app_context():
                start.wait(timeout=60)
                service.expire_due_permits()

        assert run_threads([sweep] * sweeps) == []
    with app.app_context():
        rows = db.session.execute(
            sa.select(Notification.permit_id, Notification.offset_seconds).where(
                Notification.kind == "validity_ending"
            )
        ).all()
        counts = Counter(rows)
        assert set(counts.values()) == {1}
        assert set(counts) == {(pid, o) for pid in ids for o in (7 * DAY, 2 * DAY)}

        copy = db.session.get(
            Notification,
            db.session.scalar(
                sa.select(sa.func.min(Notification.id)).where(
                    Notification.kind == "validity_ending"
                )
            ),
        )
        assert copy is not None
        with pytest.raises(IntegrityError):
            db.session.execute(
                sa.insert(Notification.__table__).values(
                    permit_id=copy.permit_id,
                    kind="validity_ending",
                    status="queued",
                    attempts=0,
                    created_at=utcnow(),
                    next_attempt_at=utcnow(),
                    period_end=copy.period_end,
                    offset_seconds=copy.offset_seconds,
                )
            )
        db.session.rollback()

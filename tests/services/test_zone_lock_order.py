"""Lock order on PostgreSQL: a place given on while its head leaves the line does not deadlock.

A revoke that frees a place locks the permit, the zone, then the head of the line it gives the
place to. A cancel of that head locks the head's row, then (at its commit) the count rows. If
the revoke took the count rows before the head's row (as it once did, in move_counts), each
would wait for the other: PostgreSQL aborts one with a deadlock, a 503 for an officer or a
resident. Here the cancel is held half done on its own connection, deterministically, while the
revoke waits behind it.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from permit_service import clock
from permit_service.domain import PermitStatus
from permit_service.extensions import db
from permit_service.models import Permit, Zone
from permit_service.services import permits as service
from permit_service.services import queries, zones
from tests import factories

W, A, R = PermitStatus.WAITLISTED, PermitStatus.APPROVED, PermitStatus.REVOKED


def _full_zone() -> tuple[str, str, str]:
    """Zone NORTH, quota 1: one approved permit and two waiting (holder, head, second)."""
    zones.create_zone("NORTH", "North", quota=1, monthly_fee="10.00")
    ids = []
    for n in range(3):
        ids.append(
            service.apply_for_permit("Jane Roe", f"LK-{n}", "1 Elm St", zone="NORTH").permit.id
        )
        clock.advance(timedelta(seconds=1))  # distinct moments in line
        service.approve_permit(ids[-1], factories.ADMIN)
    return ids[0], ids[1], ids[2]


def _waiting_for_a_lock(timeout: float = 20) -> None:
    """Until some session of this database waits for a row lock."""
    deadline = time.monotonic() + timeout
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while time.monotonic() < deadline:
        with db.engine.connect() as conn:
            if conn.scalar(query):
                return
        time.sleep(0.02)
    raise AssertionError("the revoke never waited for the head's row")


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_place_given_while_its_head_leaves_the_line_does_not_deadlock(app: Flask) -> None:
    with app.app_context():
        holder, head, second = _full_zone()
        assert [queries.get_permit(p).status for p in (holder, head, second)] == [
            "approved",
            "waitlisted",
            "waitlisted",
        ]
        outcome: dict[str, Any] = {}

        # The head's cancel, half done: its row changed (and locked) on its own connection.
        cancel = db.engine.connect()
        cancelling = cancel.begin()
        cancel.execute(
            sa.text(
                "UPDATE permits SET status = 'revoked' WHERE id = :id AND status = 'waitlisted'"
            ),
            {"id": head},
        )

        def revoke() -> None:
            with app.app_context():
                try:
                    outcome["revoke"] = service.revoke_permit(holder, factories.ADMIN, "moved")
                except BaseException as exc:  # noqa: BLE001 - reported below
                    outcome["error"] = exc

        thread = threading.Thread(target=revoke)
        thread.start()
        try:
            _waiting_for_a_lock()  # the revoke holds the zone and waits for the head's row
            # The cancel ends as every change does: its event, then the count rows at commit.
            # A revoke holding a count row here would make this wait for it: a deadlock.
            cancel.execute(sa.text("SET LOCAL lock_timeout = '5s'"))
            cancel.execute(
                sa.text(
                    "INSERT INTO permit_events (permit_id, from_status, to_status, actor, reason,"
                    " created_at) VALUES (:id, 'waitlisted', 'revoked', 'applicant',"
                    " 'cancelled by the applicant', now())"
                ),
                {"id": head},
            )
            cancel.execute(
                sa.text(
                    "INSERT INTO permit_counts (status, n)"
                    " VALUES ('revoked', 1), ('waitlisted', -1)"
                    " ON CONFLICT (status) DO UPDATE SET n = permit_counts.n + excluded.n"
                )
            )
            cancelling.commit()
        finally:
            cancel.close()
            thread.join(timeout=30)
        assert "error" not in outcome, outcome.get("error")
        assert outcome["revoke"].after is R
        db.session.rollback()
        # The place went past the head that left to the next in line.
        assert queries.get_permit(head).status == R.value
        assert queries.get_permit(second).status == A.value
        zone = db.session.get(Zone, "NORTH", populate_existing=True)
        assert zone is not None and zone.valid_permits == 1
        stored = dict(
            db.session.execute(
                sa.select(Permit.status, sa.func.count()).group_by(Permit.status)
            ).all()
        )
        for status in PermitStatus:
            assert queries.count_permits(status) == stored.get(status.value, 0), status

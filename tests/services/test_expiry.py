"""The expiry sweep (expire_due_permits): exactly the due pending permits, once, set-based."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from permit_service import clock
from permit_service.extensions import db
from permit_service.models import Permit, PermitCount, PermitEvent
from permit_service.services import permits as service
from permit_service.services import sweep
from tests.support import statements_run


def _apply(app: Flask, plate: str, ttl: int = 300) -> Permit:
    """Apply through the service with a given TTL (the setting in force when applying counts)."""
    app.config["PENDING_TTL_SECONDS"] = ttl
    return service.apply_for_permit("Jane Roe", plate, "1 Elm St").permit


def _stored_status(permit_id: str) -> str:
    """The status column itself, not the status computed for readers."""
    return db.session.scalar(sa.select(Permit.status).where(Permit.id == permit_id))


def _events(permit_id: str) -> list[tuple[Any, ...]]:
    rows = db.session.execute(
        sa.select(PermitEvent.from_status, PermitEvent.to_status, PermitEvent.actor)
        .where(PermitEvent.permit_id == permit_id)
        .order_by(PermitEvent.id)
    )
    return [tuple(r) for r in rows]


def test_sweep_expires_exactly_the_due_pending_permits(app: Flask) -> None:
    with app.app_context():
        due = [_apply(app, "DUE-1", ttl=60), _apply(app, "DUE-2", ttl=60)]
        later = _apply(app, "LATER-1", ttl=3600)
        approved = service.approve_permit(
            _apply(app, "APP-1", ttl=60).id, actor="a@example.org"
        ).permit
        revoked = service.revoke_permit(
            _apply(app, "REV-1", ttl=60).id, actor="a@example.org"
        ).permit
        cutoff = max(p.expires_at for p in due)
        ids = {p.id: p.id for p in [*due, later, approved, revoked]}  # plain ids: no stale ORM
        db.session.remove()

        assert service.expire_due_permits(now=cutoff) == 2

        for permit in due:
            assert _stored_status(ids[permit.id]) == "expired"
            assert _events(ids[permit.id]) == [
                (None, "pending", "applicant"),
                ("pending", "expired", service.SYSTEM_ACTOR),
            ]
        assert _stored_status(ids[later.id]) == "pending"
        assert _stored_status(ids[approved.id]) == "approved"
        assert _stored_status(ids[revoked.id]) == "revoked"
        for untouched in (later, approved, revoked):
            assert all(e[2] != service.SYSTEM_ACTOR for e in _events(ids[untouched.id]))


def test_deadline_is_inclusive_to_the_microsecond(app: Flask) -> None:
    with app.app_context():
        first = _apply(app, "EDGE-1", ttl=60)
        second = _apply(app, "EDGE-2", ttl=60)
        assert first.expires_at < second.expires_at
        first_id, second_id, deadline = first.id, second.id, first.expires_at
        db.session.remove()

        assert service.expire_due_permits(now=deadline) == 1
        assert _stored_status(first_id) == "expired"
        assert _stored_status(second_id) == "pending"
        assert service.expire_due_permits(now=deadline - timedelta(microseconds=1)) == 0


def test_sweep_is_idempotent(app: Flask) -> None:
    with app.app_context():
        permit = _apply(app, "IDEM-1", ttl=60)
        permit_id, after = permit.id, permit.expires_at + timedelta(seconds=1)
        db.session.remove()

        assert service.expire_due_permits(now=after) == 1
        assert service.expire_due_permits(now=after) == 0
        assert service.expire_due_permits(now=after + timedelta(hours=1)) == 0
        assert _stored_status(permit_id) == "expired"
        assert [e for e in _events(permit_id) if e[1] == "expired"] == [
            ("pending", "expired", "system")
        ]


def test_permit_approved_between_cutoff_and_sweep_stays_approved(app: Flask) -> None:
    with app.app_context():
        permit = _apply(app, "RACE-1", ttl=60)
        permit_id = permit.id
        # The sweep's cutoff lies past the deadline, but the approve lands before the sweep's
        # statement runs: the sweep must see the approved row and leave it alone.
        cutoff = permit.expires_at + timedelta(seconds=5)
        service.approve_permit(permit_id, actor="admin@example.org")
        db.session.remove()

        assert service.expire_due_permits(now=cutoff) == 0
        assert _stored_status(permit_id) == "approved"
        assert _events(permit_id) == [
            (None, "pending", "applicant"),
            ("pending", "approved", "admin@example.org"),
        ]


def test_sweep_of_many_permits_writes_one_event_each(app: Flask) -> None:
    with app.app_context():
        ids = [_apply(app, f"BULK-{i}", ttl=60).id for i in range(30)]
        cutoff = db.session.scalar(sa.select(sa.func.max(Permit.expires_at)))
        db.session.remove()

        assert service.expire_due_permits(now=cutoff) == 30
        expired_events = db.session.scalar(
            sa.select(sa.func.count()).where(
                PermitEvent.to_status == "expired", PermitEvent.permit_id.in_(ids)
            )
        )
        assert expired_events == 30
        statuses = db.session.scalars(sa.select(Permit.status).where(Permit.id.in_(ids))).all()
        assert set(statuses) == {"expired"}


def test_cli_expire_sweeps_now_and_prints_how_many(app_factory: Any) -> None:
    # A TTL of zero puts the deadline at the moment of applying: due at once, no waiting.
    app = app_factory(PENDING_TTL_SECONDS=0)
    runner = app.test_cli_runner()
    with app.app_context():
        permit_id = service.apply_for_permit("Jane Roe", "CLI-1", "1 Elm St").permit.id
        db.session.remove()

    result = runner.invoke(args=["permits", "expire"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "expired 1 permit(s)"
    assert runner.invoke(args=["permits", "expire"]).output.strip() == "expired 0 permit(s)"
    with app.app_context():
        assert _stored_status(permit_id) == "expired"


def test_sweep_in_many_small_batches_moves_each_due_permit_once(
    app: Flask, monkeypatch: Any
) -> None:
    # Batches of 4 rows: the keyset walk (deadline, id) from batch to batch, equal deadlines
    # included, and the end of the due range are what a big sweep relies on.
    with app.app_context():
        ids = [_apply(app, f"MANY-{i}", ttl=60).id for i in range(7)]
        # Eight applied in the same microsecond: one deadline for all, the id decides the order.
        instant = clock.now()
        monkeypatch.setattr(clock, "now", lambda: instant)
        ids += [_apply(app, f"SAME-{i}", ttl=60).id for i in range(8)]
        monkeypatch.undo()
        later = _apply(app, "MANY-LATER", ttl=3600).id
        monkeypatch.setattr(sweep, "FIRST_BATCH", 4)
        monkeypatch.setattr(sweep, "MIN_BATCH", 4)
        monkeypatch.setattr(sweep, "MAX_BATCH", 4)
        monkeypatch.setattr(sweep, "SQLITE_GAP_SECONDS", 0.0)
        cutoff = db.session.scalar(
            sa.select(sa.func.max(Permit.expires_at)).where(Permit.id.in_(ids))
        )
        db.session.remove()

        assert service.expire_due_permits(now=cutoff) == 15
        assert service.expire_due_permits(now=cutoff) == 0
        events = db.session.execute(
            sa.select(PermitEvent.permit_id, sa.func.count())
            .where(PermitEvent.to_status == "expired")
            .group_by(PermitEvent.permit_id)
        ).all()
        assert sorted(events) == sorted((pid, 1) for pid in ids)
        assert _stored_status(later) == "pending"
        counts = dict(db.session.execute(sa.select(PermitCount.status, PermitCount.n)).all())
        assert counts == {"pending": 1, "expired": 15}


def test_sweep_with_nothing_due_is_three_queries_and_no_write(app: Flask) -> None:
    """One read for the time events, one for the outbox (reminders due, messages waiting), one
    for enforcement check rows past ENFORCEMENT_LOG_HOURS (issue 17)."""
    with app.app_context():
        _apply(app, "NOT-DUE-1", ttl=3600)
        db.session.remove()
        with statements_run(db.engine) as statements:
            assert service.expire_due_permits() == 0
    assert len(statements) == 3, statements
    assert all(s.lstrip().upper().startswith("SELECT") for s in statements), statements
    assert "notifications" in statements[1]
    assert "enforcement_checks" in statements[2]

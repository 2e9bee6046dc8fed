"""The end of validity is exact on every read path, before any sweep; the sweep records it."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from permit_service import clock
from permit_service.domain import PermitStatus
from permit_service.extensions import db
from permit_service.models import Permit, PermitEvent, utcnow
from permit_service.services import permits as service
from permit_service.services import queries
from tests import factories
from tests.conftest import auth_headers

A, E = PermitStatus.APPROVED, PermitStatus.EXPIRED


def _stored(pid: str) -> str:
    return db.session.scalar(sa.select(Permit.status).where(Permit.id == pid))


def test_every_read_agrees_the_moment_validity_ends_without_a_sweep(app_factory):
    app = app_factory()
    headers = auth_headers(app)
    client = app.test_client()
    with app.app_context():
        ending = factories.make_permit(
            "approved", plate="END-1", valid_until=utcnow() + timedelta(hours=1)
        )
        lasting = factories.make_permit("approved", plate="LAST-1")
        pid, other = ending.id, lasting.id
        until = ending.valid_until

    def api(path: str) -> object:
        return client.get(path, headers=headers).get_json()

    def seen() -> dict[str, object]:
        with app.app_context():
            permit = queries.get_permit(pid)
            return {
                "service": queries.status_of(permit),
                "approved_list": pid in [p.id for p in queries.list_permits(A).items],
                "expired_list": pid in [p.id for p in queries.list_permits(E).items],
                "plate_list": [p.id for p in queries.list_permits(E, license_plate="end1").items],
                "counts": queries.count_by_status(),
                "count": (queries.count_permits(A), queries.count_permits(E)),
                "queue": queries.review_queue(status=E).counts[E],
                "api": client.get(f"/permits/{pid}").get_json()["status"],
                "api_expired": [
                    p["id"]
                    for p in client.get("/permits?status=expired", headers=headers).get_json()
                ],
                "api_count": client.get(
                    "/permits/count?status=approved", headers=headers
                ).get_json(),
            }

    # One microsecond before the end: approved everywhere.
    clock.advance(until - utcnow() - timedelta(seconds=1))
    before = seen()
    assert before["service"] is A and before["approved_list"] and not before["expired_list"]
    assert before["plate_list"] == []
    assert before["counts"][A] == 2 and before["counts"][E] == 0
    assert before["count"] == (2, 0) and before["queue"] == 0
    assert before["api"] == "approved" and before["api_expired"] == []
    assert before["api_count"] == {"count": 2}

    # At the end (a second later): expired everywhere at once, no worker, no sweep.
    clock.advance(timedelta(seconds=1))
    after = seen()
    assert after["service"] is E and not after["approved_list"] and after["expired_list"]
    assert after["plate_list"] == [pid]
    assert after["counts"][A] == 1 and after["counts"][E] == 1
    assert after["count"] == (1, 1) and after["queue"] == 1
    assert after["api"] == "expired" and after["api_expired"] == [pid]
    assert after["api_count"] == {"count": 1}
    with app.app_context():
        assert _stored(pid) == "approved"  # nothing recorded it yet: reads alone say expired

    # Approve and renew answer 409 before any sweep (and record what time decided).
    assert client.post(f"/permits/{pid}/approve", headers=headers).status_code == 409
    response = client.post(f"/permits/{pid}/renew")
    assert response.status_code == 409
    assert "apply for a new permit" in response.get_json()["message"]
    with app.app_context():
        assert _stored(pid) == "expired"
        assert queries.status_of(queries.get_permit(other)) is A


def test_the_sweep_records_the_end_of_validity_once_by_the_system(app):
    with app.app_context():
        ended = [factories.make_permit("approved", due=True) for _ in range(3)]
        overdue = factories.make_permit("pending", due=True)
        valid = factories.make_permit("approved")
        ids = [p.id for p in ended]
        assert service.expire_due_permits() == 4
        assert service.expire_due_permits() == 0  # idempotent: nothing twice
        for pid in ids:
            assert _stored(pid) == "expired"
            events = queries.list_events(pid)
            assert [(e.from_status, e.to_status, e.actor) for e in events] == [
                (None, "pending", "applicant"),
                ("pending", "approved", factories.ADMIN),
                ("approved", "expired", "system"),
            ]
            assert events[-1].reason == "validity ended"
            # The validity stays as it was: it says when the permit ended.
            assert queries.get_permit(pid).valid_until is not None
        assert queries.list_events(overdue.id)[-1].reason == "not approved before the deadline"
        assert _stored(valid.id) == "approved"
        stored = dict(db.session.execute(sa.text("SELECT status, n FROM permit_counts")).all())
        assert stored["expired"] == 4 and stored["approved"] == 1
        events = db.session.scalar(
            sa.select(sa.func.count()).select_from(PermitEvent).where(PermitEvent.actor == "system")
        )
        assert events == 4


def test_a_renewal_just_before_the_sweep_is_not_overwritten(app):
    with app.app_context():
        soon = utcnow() + timedelta(minutes=5)
        permit = factories.make_permit("approved", valid_until=soon)
        renewed = service.renew_permit(permit.id, actor=factories.ADMIN).permit
        clock.advance(timedelta(minutes=10))  # past the OLD end: the sweep must leave it alone
        assert service.expire_due_permits() == 0
        assert _stored(permit.id) == "approved"
        assert queries.status_of(queries.get_permit(permit.id)) is A
        assert queries.get_permit(permit.id).valid_until == renewed.valid_until

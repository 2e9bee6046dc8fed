"""Every cell of SPEC.md section 3's table, through the service and the API, on each database."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from permit_service.domain import InvalidTransition, PermitNotFound, PermitStatus
from permit_service.extensions import db
from permit_service.models import PermitEvent, utcnow
from permit_service.services import permits as service
from permit_service.services import queries
from permit_service.services.lifecycle import APPLICANT_ACTOR, SYSTEM_ACTOR
from tests import factories

ADMIN = "b@city.test"


def permit_in(app, state: str, plate: str = "LC-1") -> str:
    """A permit in `state`.

    'due': pending past its deadline, unswept. 'ended': approved past its validity, unswept.
    'renewable': approved, inside its renewal window. 'approved': approved for the default
    validity (outside the window).
    """
    with app.app_context():
        if state == "due":
            return factories.make_permit("pending", due=True, plate=plate).id
        if state == "ended":
            return factories.make_permit("approved", due=True, plate=plate).id
        if state == "renewable":
            soon = utcnow() + timedelta(days=10)
            return factories.make_permit("approved", plate=plate, valid_until=soon).id
        return factories.make_permit(state, plate=plate, reason="test").id


# (state, action) -> expected: a status (200) or None (409). SPEC.md section 3 (v2), the rows
# this issue covers; "ended"/"due" are the deadline columns, met before any sweep.
CELLS = {
    ("pending", "approve"): "approved",
    ("pending", "revoke"): "revoked",
    ("pending", "cancel"): "revoked",
    ("pending", "renew"): None,
    ("approved", "approve"): "approved",
    ("approved", "revoke"): "revoked",
    ("approved", "cancel"): "revoked",
    ("approved", "renew"): None,  # outside the window
    ("renewable", "approve"): "approved",
    ("renewable", "revoke"): "revoked",
    ("renewable", "cancel"): "revoked",
    ("renewable", "renew"): "approved",  # extended
    ("revoked", "approve"): None,
    ("revoked", "revoke"): "revoked",
    ("revoked", "cancel"): "revoked",
    ("revoked", "renew"): None,
    ("expired", "approve"): None,
    ("expired", "revoke"): None,
    ("expired", "cancel"): None,
    ("expired", "renew"): None,
    ("due", "approve"): None,
    ("due", "revoke"): None,
    ("due", "cancel"): None,
    ("due", "renew"): None,
    ("ended", "approve"): None,
    ("ended", "revoke"): None,
    ("ended", "cancel"): None,
    ("ended", "renew"): None,
}
STORED = {"renewable": "approved", "due": "pending", "ended": "approved"}
ACTORS = {"cancel": APPLICANT_ACTOR}


def act(action: str, pid: str):
    """Run `action` through the service."""
    if action == "approve":
        return service.approve_permit(pid, actor=ADMIN)
    if action == "revoke":
        return service.revoke_permit(pid, actor=ADMIN)
    if action == "cancel":
        return service.cancel_permit(pid)
    return service.renew_permit(pid, actor=ADMIN)


@pytest.mark.parametrize(("state", "action"), list(CELLS))
def test_service_follows_the_life_cycle_table(app, state, action):
    pid = permit_in(app, state)
    expected = CELLS[(state, action)]
    stored = STORED.get(state, state)
    with app.app_context():
        before = queries.get_permit(pid)
        until_before = before.valid_until
        events_before = db.session.scalar(sa.select(sa.func.count()).select_from(PermitEvent))
        if expected is None:
            with pytest.raises(InvalidTransition):
                act(action, pid)
        else:
            done = act(action, pid)
            assert done.after == PermitStatus(expected)
            assert done.changed is (expected != stored or action == "renew")
        permit = queries.get_permit(pid)
        events = queries.list_events(pid)
        events_after = db.session.scalar(sa.select(sa.func.count()).select_from(PermitEvent))
    # The status the events replay to is the status the permit has.
    assert events[-1].to_status == permit.status
    noop = expected is not None and expected == stored and action != "renew"
    if expected is None or noop:
        assert events_after - events_before == (1 if state in {"due", "ended"} else 0)
        if state in {"due", "ended"}:  # time's event recorded on the way, by the system
            assert (events[-1].to_status, events[-1].actor) == ("expired", SYSTEM_ACTOR)
    else:
        assert events_after - events_before == 1
        assert (events[-1].from_status, events[-1].to_status) == (stored, expected)
        assert events[-1].actor == ACTORS.get(action, ADMIN)
        assert permit.expires_at is None  # decided: no deadline any more
    if expected == "approved" and stored == "pending":
        assert permit.valid_from is not None and permit.valid_until > permit.valid_from
    if action == "renew" and expected is not None:
        assert permit.valid_until > until_before
        assert events[-1].reason.startswith("renewed until ")
    elif stored == "approved":  # every other action keeps the validity as it was
        assert permit.valid_until == until_before


@pytest.mark.parametrize(("state", "action"), list(CELLS))
def test_api_answers_the_life_cycle_table(app, client, admin_headers, state, action):
    pid = permit_in(app, state)
    expected = CELLS[(state, action)]
    # The resident cancels and renews with the id alone; admins approve and revoke.
    headers = admin_headers if action in {"approve", "revoke"} else {}
    response = client.post(f"/permits/{pid}/{action}", headers=headers)
    if expected is None:
        assert response.status_code == 409
        body = response.get_json()
        assert body["code"] == 409 and body["message"]
        if action == "renew" and state == "approved":
            assert "can be renewed from" in body["message"]
        elif action == "renew" and state in {"revoked", "expired", "ended"}:
            assert "apply for a new permit" in body["message"]
    else:
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["status"] == expected


def test_pending_permit_expires_by_the_sweep(app):
    pid = permit_in(app, "due")
    with app.app_context():
        assert service.expire_due_permits() == 1
        permit = queries.get_permit(pid)
        assert permit.status == "expired"  # stored, not only computed
        last = queries.list_events(pid)[-1]
    assert (last.from_status, last.to_status, last.actor) == ("pending", "expired", "system")


def test_unknown_and_malformed_ids_are_not_found(app):
    with app.app_context():
        for bad in ["00000000-0000-4000-8000-000000000000", "nope", "", "1' OR '1'='1"]:
            with pytest.raises(PermitNotFound):
                service.approve_permit(bad, actor="x")
            with pytest.raises(PermitNotFound):
                queries.get_permit(bad)

"""Every cell of SPEC.md section 3's table, through the service and the API, on each database."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from permit_service.domain import InvalidTransition, PermitNotFound, PermitStatus
from permit_service.extensions import db
from permit_service.models import PermitEvent
from permit_service.services import permits as service
from permit_service.services import queries
from tests import factories


def permit_in(app, state: str, plate: str = "LC-1") -> str:
    """A permit in `state`; 'due' is pending past its deadline, not yet swept."""
    with app.app_context():
        if state == "due":
            return factories.make_permit("pending", due=True, plate=plate).id
        return factories.make_permit(state, plate=plate, reason="test").id


# (state, action) -> expected: a status (200) or None (409)
CELLS = {
    ("pending", "approve"): "approved",
    ("pending", "revoke"): "revoked",
    ("approved", "approve"): "approved",
    ("approved", "revoke"): "revoked",
    ("revoked", "approve"): None,
    ("revoked", "revoke"): "revoked",
    ("expired", "approve"): None,
    ("expired", "revoke"): None,
    ("due", "approve"): None,
    ("due", "revoke"): None,
}


@pytest.mark.parametrize(("state", "action"), list(CELLS))
def test_service_follows_the_life_cycle_table(app, state, action):
    pid = permit_in(app, state)
    expected = CELLS[(state, action)]
    with app.app_context():
        events_before = db.session.scalar(sa.select(sa.func.count()).select_from(PermitEvent))
        do = service.approve_permit if action == "approve" else service.revoke_permit
        if expected is None:
            with pytest.raises(InvalidTransition):
                do(pid, actor="b@city.test")
        else:
            assert do(pid, actor="b@city.test").after == PermitStatus(expected)
        permit = queries.get_permit(pid)
        events = queries.list_events(pid)
        events_after = db.session.scalar(sa.select(sa.func.count()).select_from(PermitEvent))
    # The status the events replay to is the status the permit has.
    assert events[-1].to_status == permit.status
    noop = expected is not None and expected == state
    if expected is None or noop:
        assert events_after - events_before == (1 if state == "due" else 0)
    else:
        assert events_after - events_before == 1
        assert (events[-1].from_status, events[-1].to_status) == (state, expected)
        assert events[-1].actor == "b@city.test"
        assert permit.expires_at is None  # decided: no deadline any more


@pytest.mark.parametrize(("state", "action"), list(CELLS))
def test_api_answers_the_life_cycle_table(app, client, admin_headers, state, action):
    pid = permit_in(app, state)
    expected = CELLS[(state, action)]
    response = client.post(f"/permits/{pid}/{action}", headers=admin_headers)
    if expected is None:
        assert response.status_code == 409
        assert response.get_json()["code"] == 409
        assert "Cannot" in response.get_json()["message"]
    else:
        assert response.status_code == 200
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

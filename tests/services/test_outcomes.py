"""Use cases say what they did (Outcome), and a compare-and-set that keeps losing says so (409)."""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa

from permit_service.domain import ChangedMeanwhile, PermitStatus
from permit_service.extensions import db
from permit_service.services import permits as service
from tests import factories


def test_outcomes_carry_the_status_before_and_after(app):
    with app.app_context():
        applied = service.apply_for_permit("Jane Roe", "OUT-1", "1 Elm St")
        assert (applied.before, applied.after, applied.changed) == (None, "pending", True)
        pid = applied.permit.id
        approved = service.approve_permit(pid, actor="a@example.test")
        assert (approved.before, approved.after, approved.changed) == ("pending", "approved", True)
        again = service.approve_permit(pid, actor="a@example.test")
        assert (again.before, again.after, again.changed) == ("approved", "approved", False)
        revoked = service.revoke_permit(pid, actor="a@example.test")
        assert revoked.permit.status == revoked.after == PermitStatus.REVOKED


def test_a_decision_that_keeps_losing_its_compare_and_set_is_409_changed_meanwhile(
    app, client, admin_headers
):
    """Another writer moves the row between every read and write of the revoke: 5 losses."""
    with app.app_context():
        pid = factories.make_permit(plate="CAS-1").id
        engine = db.engine
    flips = itertools.cycle(["approved", "pending"])
    rivals: list[str] = []
    busy: list[bool] = []

    def rival(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        ours = statement.lstrip().upper().startswith("UPDATE PERMITS SET STATUS")
        if ours and not busy:
            busy.append(True)
            status = next(flips)
            rivals.append(status)
            with engine.connect() as other:  # its own connection, committed before ours writes
                other.execute(
                    sa.text("UPDATE permits SET status = :s WHERE id = :id"),
                    {"s": status, "id": pid},
                )
                other.commit()
            busy.clear()

    sa.event.listen(engine, "before_cursor_execute", rival)
    try:
        response = client.post(f"/permits/{pid}/revoke", headers=admin_headers)
        assert len(rivals) == 5  # one rival write before each of the five attempts
        assert response.status_code == 409
        assert response.get_json()["message"] == "This permit was changed meanwhile; try again."
        # The service's own error, not "Cannot revoke a permit that is pending".
        with app.app_context(), pytest.raises(ChangedMeanwhile):
            service.revoke_permit(pid, actor="a@example.test")
    finally:
        sa.event.remove(engine, "before_cursor_execute", rival)

"""review_queue: pages, totals and tab counts agree with the permits themselves."""

from __future__ import annotations

import pytest

from permit_service.domain import PermitStatus, plate_key
from permit_service.extensions import db
from permit_service.models import Permit
from permit_service.services import permits as service
from permit_service.services import queries
from tests import factories

STATES = ["pending", "approved", "revoked", "due", "pending"]


@pytest.fixture
def mixed(app):
    """Permits in every status, including pending ones past their deadline (not swept)."""
    with app.app_context():
        for n in range(14):
            state = STATES[n % 5]
            factories.make_permit(
                "pending" if state == "due" else state,
                due=state == "due",
                name=f"Resident {n:02d}",
                plate=f"RQ-{n:02d}",
            )
        factories.make_permit(name="Swept Late", plate="RQ-99", due=True)
        service.expire_due_permits()  # some expired rows are recorded, others only overdue
        factories.make_permit(name="Overdue Only", plate="RQ-98", due=True)
    return app


def _by_hand(status, search):
    """The queue's rows computed the slow way: every permit, filtered and sorted in Python."""
    rows = db.session.query(Permit).all()
    if status is not None:
        rows = [p for p in rows if queries.status_of(p) is status]
    if search:
        term = search.lower()
        rows = [
            p
            for p in rows
            if term in p.name.lower() or p.plate_key.startswith(plate_key(search) or "\0")
        ]
    return sorted(rows, key=lambda p: (p.created_at, p.id), reverse=True)


@pytest.mark.parametrize("status", [None, *PermitStatus])
@pytest.mark.parametrize("search", [None, "resident 1", "rq-0"])
def test_queue_pages_and_counts_match_the_permits(mixed, status, search):
    with mixed.app_context():
        expected = [p.id for p in _by_hand(status, search)]
        every = {s: len(_by_hand(s, None)) for s in PermitStatus}
        for page in (1, 2, 3):
            got = queries.review_queue(status=status, search=search, page=page, page_size=3)
            assert [p.id for p in got.items] == expected[(page - 1) * 3 : page * 3], (status, page)
            assert got.total == len(expected)
            assert got.counts == every


def test_overdue_pending_counts_as_expired(mixed):
    with mixed.app_context():
        queue = queries.review_queue(status=PermitStatus.EXPIRED, page_size=50)
        plates = {p.license_plate for p in queue.items}
        assert {"RQ-98", "RQ-99", "RQ-03", "RQ-08", "RQ-13"} <= plates
        assert queue.counts[PermitStatus.EXPIRED] == queue.total == len(plates)
        pending = queries.review_queue(status=PermitStatus.PENDING, page_size=50)
        assert "RQ-98" not in {p.license_plate for p in pending.items}

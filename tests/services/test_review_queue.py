"""review_queue: the admin queue's query gives exactly what list_permits + count_by_status give."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from permit_service.domain import PermitStatus
from permit_service.extensions import db
from permit_service.models import Permit, utcnow
from permit_service.services import permits as service


@pytest.fixture
def mixed(app):
    """Permits in every status, including pending ones past their deadline (not swept)."""
    with app.app_context():
        ids = [
            service.apply_for_permit(f"Resident {n:02d}", f"RQ-{n:02d}", "1 Main St").id
            for n in range(14)
        ]
        for n, permit_id in enumerate(ids):
            if n % 5 == 1:
                service.approve_permit(permit_id, actor="admin@example.test")
            elif n % 5 == 2:
                service.revoke_permit(permit_id, actor="admin@example.test", reason="test")
            elif n % 5 == 3:
                db.session.execute(
                    sa.update(Permit)
                    .where(Permit.id == permit_id)
                    .values(expires_at=utcnow() - timedelta(seconds=1))
                )
        db.session.commit()
        service.apply_for_permit("Swept Late", "RQ-99", "1 Main St")
        db.session.execute(
            sa.update(Permit)
            .where(Permit.plate_key == "RQ99")
            .values(expires_at=utcnow() - timedelta(seconds=5))
        )
        db.session.commit()
        service.expire_due_permits()  # some expired rows are recorded, others only overdue
        service.apply_for_permit("Overdue Only", "RQ-98", "1 Main St")
        db.session.execute(
            sa.update(Permit)
            .where(Permit.plate_key == "RQ98")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    return app


@pytest.mark.parametrize("status", [None, *PermitStatus])
@pytest.mark.parametrize("search", [None, "resident 1", "rq-0"])
def test_queue_pages_match_list_permits(mixed, status, search):
    with mixed.app_context():
        expected_counts = service.count_by_status()
        for page in (1, 2, 3):
            want = service.list_permits(status=status, search=search, page=page, page_size=3)
            got = service.review_queue(status=status, search=search, page=page, page_size=3)
            assert [p.id for p in got.items] == [p.id for p in want.items], (status, search, page)
            assert got.total == want.total
            assert got.counts == expected_counts


def test_overdue_pending_counts_as_expired(mixed):
    with mixed.app_context():
        queue = service.review_queue(status=PermitStatus.EXPIRED, page_size=50)
        plates = {p.license_plate for p in queue.items}
        assert {"RQ-98", "RQ-99", "RQ-03", "RQ-08", "RQ-13"} <= plates
        assert queue.counts[PermitStatus.EXPIRED] == queue.total == len(plates)
        pending = service.review_queue(status=PermitStatus.PENDING, page_size=50)
        assert "RQ-98" not in {p.license_plate for p in pending.items}

"""Existing pages keep working with a waitlisted permit (its own pages come with issue 14's web)."""

from __future__ import annotations

from permit_service.services import permits as service
from permit_service.services import zones
from tests import factories


def test_receipt_and_staff_pages_show_a_waitlisted_permit(app, client, admin_client):
    with app.app_context():
        zones.update_zone("CITY", quota=0)
        permit = service.apply_for_permit("Jane Roe", "WL-1", "1 Elm St").permit
        assert service.approve_permit(permit.id, factories.ADMIN).after.value == "waitlisted"
    receipt = client.get(f"/applications/{permit.id}")
    assert receipt.status_code == 200
    assert "On the waiting list" in receipt.get_data(as_text=True)
    assert admin_client.get(f"/admin/permits/{permit.id}").status_code == 200
    assert admin_client.get("/admin/permits").status_code == 200

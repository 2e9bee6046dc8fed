"""Staff read a permit's e-mails and their delivery state in Chromium (axe-core on the page)."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import Page, expect

from permit_service import clock
from permit_service.services import delivery
from permit_service.services import permits as service
from tests.e2e.conftest import ADMIN, LiveServer, check_accessibility
from tests.e2e.test_journeys import sign_in


def test_admin_sees_the_emails_of_a_permit_and_their_delivery(
    page: Page, live: LiveServer, shoot, console_errors
) -> None:
    with live.app.app_context():
        permit = service.apply_for_permit(
            "Aisha Khan", "BR 2210", "8 Mill Lane, Springfield", "aisha.khan@example.org"
        ).permit
        pid, plate = permit.id, permit.license_plate
        assert delivery.deliver_due() == 1  # received: an .eml file (no MAIL_SERVER)
        service.approve_permit(pid, actor=ADMIN[0])
        assert delivery.deliver_due() == 1
        # The mail server refuses the next one until it fails for good.
        live.app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=9, MAIL_MAX_ATTEMPTS=2)
        service.revoke_permit(pid, actor=ADMIN[0], reason="Moved out of the zone")
        assert delivery.deliver_due() == 0
        clock.advance(timedelta(seconds=31))
        assert delivery.deliver_due() == 0
        live.app.config.update(MAIL_SERVER=None)
    sign_in(page, live)
    page.goto(live(f"/admin/permits/{pid}"))
    expect(page.get_by_role("heading", name=f"Permit {plate}")).to_be_visible()
    expect(page.get_by_role("heading", name="E-mails to the resident")).to_be_visible()
    rows = page.locator("table.notifications tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0).locator("td").nth(1)).to_have_text("Application received")
    expect(rows.nth(0).locator("td").nth(2)).to_have_text("Sent")
    expect(rows.nth(1).locator("td").nth(1)).to_have_text("Approved")
    expect(rows.nth(2).locator("td").nth(1)).to_have_text("Revoked")
    expect(rows.nth(2).locator("td").nth(2)).to_have_text("Failed after 2 attempts")
    expect(rows.nth(2).locator("td").nth(4)).to_have_text(re.compile("ConnectionRefusedError"))
    expect(page.get_by_text("flask notifications retry-failed")).to_be_visible()
    check_accessibility(page)
    shoot(page, "permit-notifications")
    assert console_errors == []

"""Residents and administrators in Chromium against a live server, axe-core on every page."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Browser, Page, expect

from permit_service.services import permits as service
from permit_service.services import queries
from tests.e2e.conftest import ADMIN, VIEWER, LiveServer, check_accessibility


def sign_in(page: Page, live: LiveServer, who: tuple[str, str] = ADMIN) -> None:
    """Sign in through the login page and land on the review queue."""
    page.goto(live("/admin/login"))
    page.get_by_label("E-mail address").fill(who[0])
    page.get_by_label("Password").fill(who[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()


def seed(live: LiveServer, *rows: tuple[str, str, str]) -> list[str]:
    """Applications recorded through the service (as if residents had applied); their ids."""
    with live.app.app_context():
        return [service.apply_for_permit(n, p, a).permit.id for n, p, a in rows]


def test_resident_applies_and_sees_the_receipt(page: Page, live: LiveServer, shoot, console_errors):
    page.goto(live("/"))
    expect(page).to_have_title("Apply for a parking permit · City parking permits")
    check_accessibility(page)
    shoot(page, "start")

    page.get_by_label("Full name").fill("Maria Garcia")
    page.get_by_label("Licence plate").fill("KL 48!")
    page.get_by_label("Address in the permit zone").fill("12 Rose Street, Springfield")
    page.get_by_role("button", name="Apply for a permit").click()
    expect(page.get_by_role("alert")).to_contain_text("There is a problem")
    expect(page.locator(".error-summary")).to_be_focused()  # at the top, read out first
    expect(page.locator("#license_plate-error")).to_contain_text("That licence plate is not valid")
    expect(page.get_by_label("Full name")).to_have_value("Maria Garcia")  # kept
    check_accessibility(page)
    shoot(page, "start-errors")

    page.get_by_label("Licence plate").fill("kl-4821")
    page.get_by_label("E-mail address (optional)").fill("maria@example.org")
    page.get_by_role("button", name="Apply for a permit").click()
    expect(page).to_have_url(re.compile(r"/applications/[0-9a-f-]{36}$"))
    expect(page.get_by_role("status")).to_contain_text("Your application was received")
    expect(page.locator(".status-line")).to_have_text("Status: Waiting for a decision")
    expect(page.get_by_text("A permit officer will decide by")).to_contain_text("(in 5 minutes)")
    permit_id = page.url.rsplit("/", 1)[1]
    with live.app.app_context():
        reference = queries.get_permit(permit_id).reference
    expect(page.locator(".reference")).to_have_text(reference)
    expect(page.get_by_role("heading", name="What happens next")).to_be_visible()
    check_accessibility(page)
    shoot(page, "receipt")

    # Applying again for the same car explains itself.
    page.goto(live("/"))
    page.get_by_label("Full name").fill("Maria Garcia")
    page.get_by_label("Licence plate").fill("KL4821")
    page.get_by_label("Address in the permit zone").fill("12 Rose Street, Springfield")
    page.get_by_role("button", name="Apply for a permit").click()
    expect(page.locator("#license_plate-error")).to_contain_text(
        "Licence plate KL4821 already has an open (pending, approved or waitlisted) permit."
    )
    assert console_errors == []


def test_admin_approves_revokes_and_reads_the_history(
    page: Page, live: LiveServer, shoot, console_errors
):
    seed(
        live,
        ("Tom Becker", "MX-77", "3 Oak Avenue, Springfield"),
        ("Aisha Khan", "BR 2210", "8 Mill Lane, Springfield"),
        ("Jonas Weber", "HD-901", "44 Station Road, Springfield"),
        ("Lena Novak", "ZK 5", "19 Park Row, Springfield"),
    )
    page.goto(live("/admin/permits"))
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    check_accessibility(page)
    shoot(page, "login")

    page.get_by_label("E-mail address").fill(ADMIN[0])
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match an active account")
    check_accessibility(page)
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(live("/admin/permits"))
    expect(page.get_by_role("status")).to_contain_text("Signed in as admin@example.org.")
    expect(
        page.get_by_role("link", name=re.compile(r"Waiting for a decision \d+"))
    ).to_have_attribute("aria-current", "page")
    check_accessibility(page)
    shoot(page, "queue")

    # Find a permit by plate and approve it.
    page.get_by_label("Search by licence plate, name or reference").fill("br2210")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    page.get_by_role("button", name="Approve BR 2210").click()
    expect(page.get_by_role("status")).to_contain_text("Approved BR 2210 (Aisha Khan).")
    check_accessibility(page)

    # A pending permit's own page, with its decision forms.
    page.goto(live("/admin/permits?q=HD-901"))
    page.get_by_role("link", name="HD-901").click()
    expect(page.get_by_role("button", name="Approve HD-901")).to_be_visible()
    expect(page.get_by_label("Reason (optional, shown to the resident)")).to_be_visible()
    check_accessibility(page)
    shoot(page, "permit-pending")

    # Refuse another (it is pending) with a reason.
    page.goto(live("/admin/permits?q=Becker"))
    page.get_by_text("Refuse MX-77…").click()
    page.get_by_label("Reason (optional, shown to the resident)").fill("Moved out of the zone")
    page.get_by_role("button", name="Refuse application MX-77").click()
    expect(page.get_by_role("status")).to_contain_text("Refused MX-77 (Tom Becker).")

    # The history says who did what, when and why, in the interface's status words.
    page.get_by_role("link", name=re.compile(r"^Refused or revoked")).click()
    page.get_by_role("link", name="MX-77").click()
    expect(page.get_by_role("heading", name="Permit MX-77")).to_be_visible()
    rows = page.locator("table.history tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td")).to_have_text(
        [re.compile(r"UTC$"), "Applied: Waiting for a decision", "the resident", "—"]
    )
    expect(rows.nth(1).locator("td")).to_have_text(
        [re.compile(r"UTC$"), "Waiting for a decision → Refused", ADMIN[0], "Moved out of the zone"]
    )
    check_accessibility(page)
    shoot(page, "permit-history")

    # The resident's receipt now gives the reason.
    page.get_by_role("link", name="The resident’s page").click()
    expect(page.locator(".status-line")).to_have_text("Status: Refused")
    expect(page.locator("blockquote.reason")).to_have_text("Moved out of the zone")
    check_accessibility(page)
    page.go_back()

    page.get_by_role("link", name="← Back to the review queue").click()
    expect(page).to_have_url(re.compile(r"/admin/permits\?status=revoked"))
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
    page.goto(live("/admin/permits"))
    expect(page).to_have_url(re.compile(r"/admin/login"))
    assert console_errors == []


def test_viewer_can_look_but_a_decision_is_refused(page: Page, live: LiveServer, shoot):
    [permit_id] = seed(live, ("Viktor Ols", "VO-12", "2 Hill St, Springfield"))
    sign_in(page, live, VIEWER)
    expect(page.get_by_role("row", name=re.compile("VO-12"))).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Approve"))).to_have_count(0)
    # A hand-made POST with a valid CSRF token is still refused: the role decides, not the page.
    page.evaluate(
        """id => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = `/admin/permits/${id}/approve`;
            form.appendChild(document.querySelector('input[name=csrf_token]').cloneNode());
            document.body.appendChild(form);
            form.submit();
        }""",
        permit_id,
    )
    expect(page.get_by_role("heading", name="You are not allowed to do that")).to_be_visible()
    check_accessibility(page)
    shoot(page, "forbidden")


def test_error_page_is_accessible(page: Page, live: LiveServer, shoot):
    response = page.goto(live("/applications/not-a-reference"))
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="We could not find that page")).to_be_visible()
    check_accessibility(page)
    shoot(page, "not-found")


def test_pending_permit_past_its_deadline_is_expired_and_cannot_be_approved(
    page: Page, live_short_ttl: LiveServer, shoot
):
    live = live_short_ttl
    sign_in(page, live)
    [permit_id] = seed(live, ("Eva Late", "EV-303", "7 Clock Lane, Springfield"))
    with live.app.app_context():
        deadline = queries.get_permit(permit_id).expires_at.timestamp()
    page.goto(live("/admin/permits"))
    approve = page.get_by_role("button", name="Approve EV-303")
    expect(approve).to_be_visible()  # still pending when the page was drawn
    time.sleep(max(0.0, deadline - time.time()) + 0.3)
    approve.click()
    expect(page.get_by_role("status")).to_contain_text(
        "EV-303 (Eva Late) cannot be approved: its deadline passed before anyone decided"
    )
    expect(page.get_by_role("link", name="Expired 1")).to_be_visible()
    expect(page.get_by_role("button", name="Approve EV-303")).to_have_count(0)
    shoot(page, "expired-conflict")

    page.goto(live(f"/applications/{permit_id}"))
    expect(page.locator(".status-line")).to_have_text("Status: Expired")
    check_accessibility(page)
    with live.app.app_context():
        assert queries.status_of(queries.get_permit(permit_id)).value == "expired"


def test_phone_sized_pages(page: Page, live: LiveServer, shoot):
    seed(
        live,
        ("Priya Raman", "PR-4410", "6 Canal Walk, Springfield"),
        ("Oskar Lind", "OL 73", "31 Harbour St, Springfield"),
    )
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live("/"))
    # Nothing wider than the screen: no sideways scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(page, "start-phone")
    sign_in(page, live)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    check_accessibility(page)
    shoot(page, "queue-phone")


def test_everything_works_with_javascript_turned_off(browser: Browser, live: LiveServer):
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(live("/"))
        page.get_by_label("Full name").fill("Nils Nojs")
        page.get_by_label("Licence plate").fill("NJ-100")
        page.get_by_label("Address in the permit zone").fill("1 Quiet Road, Springfield")
        page.get_by_role("button", name="Apply for a permit").click()
        expect(page.locator(".status-line")).to_have_text("Status: Waiting for a decision")
        receipt = page.url

        sign_in(page, live)
        page.get_by_label("Search by licence plate, name or reference").fill("NJ-100")
        page.get_by_role("button", name="Search").click()
        page.get_by_role("button", name="Approve NJ-100").click()
        expect(page.get_by_role("status")).to_contain_text("Approved NJ-100 (Nils Nojs).")
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("status")).to_contain_text("You are signed out.")

        page.goto(receipt)
        expect(page.locator(".status-line")).to_have_text("Status: Approved")
        # Cancelling asks first, then ends the permit: plain forms, no script.
        page.get_by_role("link", name="Cancel my permit…").click()
        page.get_by_role("button", name="Yes, cancel my permit").click()
        expect(page.locator(".status-line")).to_have_text("Status: Cancelled")
    finally:
        context.close()

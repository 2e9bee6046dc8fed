"""Zones in Chromium (issue 14): an administrator adds a zone with a quota of one, residents
apply in it with the zone select, the second approval waits in the line, the receipt says its
place, the zones page shows the waiting list; axe-core on every new page, English and German."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from permit_service.services import permits as service
from tests.e2e.conftest import LiveServer, _start, check_accessibility
from tests.e2e.test_journeys import sign_in


@pytest.fixture(scope="module")
def zoned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server in Berlin time (local times on the waiting list)."""
    yield from _start(tmp_path_factory.mktemp("zones"), CITY_TIMEZONE="Europe/Berlin")


def apply_in(page: Page, live: LiveServer, name: str, plate: str, zone: str) -> str:
    """Apply through the start page choosing `zone` in the select; the receipt's permit id."""
    page.goto(live("/"))
    page.get_by_label("Full name").fill(name)
    page.get_by_label("Licence plate").fill(plate)
    page.get_by_label("Address in the permit zone").fill("4 Harbour Road, Springfield")
    page.get_by_label("Zone", exact=True).select_option(label=zone)
    page.get_by_role("button", name="Apply for a permit").click()
    expect(page.get_by_role("heading", name="Your permit application")).to_be_visible()
    match = re.search(r"/applications/([0-9a-f-]{36})$", page.url)
    assert match, page.url
    return match.group(1)


def test_zones_select_waiting_list_and_receipt(
    page: Page, zoned: LiveServer, shoot, console_errors, browser
):
    live = zoned
    # One zone (the city): the form asks nothing about zones.
    page.goto(live("/"))
    expect(page.locator("select[name=zone]")).to_have_count(0)

    # The administrator adds a zone with one place and a fee, and sees it in the list.
    sign_in(page, live)
    page.get_by_role("link", name="Zones", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Zones")
    check_accessibility(page)
    page.get_by_label("Code").fill("HARBOUR")
    page.get_by_label("Name").fill("Harbour")
    page.get_by_label("Quota (optional)").fill("1")
    page.get_by_label("Monthly fee").fill("abc")
    page.get_by_role("button", name="Add the zone").click()
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("Enter the monthly fee as an amount, for example 12.50.")
    check_accessibility(page)
    shoot(page, "zones-errors")
    page.get_by_label("Monthly fee").fill("8.50")
    page.get_by_role("button", name="Add the zone").click()
    expect(page.get_by_role("status")).to_contain_text("Zone Harbour (HARBOUR) was created.")
    row = page.get_by_role("row", name=re.compile("Harbour"))
    expect(row).to_contain_text("€8.50")
    expect(row).to_contain_text("nobody waiting")

    # Residents apply in the zone with the select (a second browser context: no staff session).
    resident = browser.new_context()
    other = resident.new_page()
    other.goto(live("/"))
    select = other.get_by_label("Zone", exact=True)
    expect(select).to_be_visible()
    expect(select.locator("option", has_text="Harbour (€8.50 a month)")).to_have_count(1)
    expect(other.get_by_role("heading", name="Zones and fees")).to_be_visible()
    check_accessibility(other)
    shoot(other, "start-zones")
    # Sent without a choice: the error summary says so and the select is marked.
    other.get_by_label("Full name").fill("Lea Brandt")
    other.get_by_label("Licence plate").fill("HB-1")
    other.get_by_label("Address in the permit zone").fill("4 Harbour Road, Springfield")
    other.get_by_role("button", name="Apply for a permit").click()
    expect(other.locator(".error-summary")).to_be_visible()
    expect(other.locator(".error-summary a[href='#zone']")).to_have_count(1)
    check_accessibility(other)
    shoot(other, "start-zone-error")
    first = apply_in(other, live, "Lea Brandt", "HB-1", "Harbour (€8.50 a month)")
    second = apply_in(other, live, "Omar Said", "HB-2", "Harbour (€8.50 a month)")
    third = apply_in(other, live, "Nina Vogel", "HB-3", "Harbour (€8.50 a month)")
    with live.app.app_context():
        for permit_id in (first, second, third):
            service.approve_permit(permit_id, actor="officer@example.org")

    # The third waits as number 2, in words, in English and German.
    other.goto(live(f"/applications/{third}"))
    expect(other.locator(".status-line")).to_have_text("Status: On the waiting list")
    expect(other.locator(".waitlist-place")).to_have_text(
        "You are number 2 in the waiting list for zone Harbour."
    )
    check_accessibility(other)
    shoot(other, "receipt-waitlisted")
    other.set_extra_http_headers({"Accept-Language": "de-DE,de;q=0.9"})
    other.reload()
    expect(other.locator(".waitlist-place")).to_have_text(
        "Sie sind Nummer 2 auf der Warteliste für die Zone Harbour."
    )
    expect(other.locator(".status-panel")).to_contain_text("8,50 €")
    check_accessibility(other)
    shoot(other, "de-receipt-waitlisted")
    # The permit that got the place shows its zone and fee (12 months of 8.50).
    other.goto(live(f"/applications/{first}"))
    card = other.locator(".permit-card")
    expect(card.locator(".permit-zone-name")).to_have_text("Harbour (HARBOUR)")
    expect(card.locator(".permit-fee")).to_have_text("102,00 €")
    resident.close()

    # The zones page: places taken, the waiting list in order with local times.
    page.goto(live("/admin/zones"))
    row = page.get_by_role("row", name=re.compile("Harbour"))
    expect(row).to_contain_text("2 waiting")
    shoot(page, "zones")
    row.get_by_role("link", name="Harbour").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Zone Harbour")
    waiting = page.locator("table.waitlist tbody tr")
    expect(waiting).to_have_count(2)
    expect(waiting.nth(0)).to_contain_text("HB-2")
    expect(waiting.nth(1)).to_contain_text("HB-3")
    expect(waiting.nth(0)).to_contain_text(re.compile(r"\d{2}:\d{2}:\d{2} CES?T"))
    check_accessibility(page)
    shoot(page, "zone-waitlist")

    # Raising the quota gives the head of the line its place at once.
    page.get_by_label("Quota (optional)").fill("2")
    page.get_by_role("button", name="Save the zone").click()
    expect(page.get_by_role("status")).to_contain_text("Zone Harbour (HARBOUR) was saved.")
    expect(page.locator("table.waitlist tbody tr")).to_have_count(1)
    expect(page.locator("table.waitlist tbody tr").nth(0)).to_contain_text("HB-3")

    # The queue: a waiting-list tab, zone filter and fees.
    page.goto(live("/admin/permits?status=waitlisted"))
    expect(page.get_by_role("link", name=re.compile(r"^Waiting list 1"))).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(1)
    page.get_by_label("Zone", exact=True).select_option(label="Harbour (HARBOUR)")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"zone=HARBOUR"))
    check_accessibility(page)
    shoot(page, "queue-waitlist")
    assert console_errors == []

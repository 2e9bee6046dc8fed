"""The permit itself in Chromium: its QR code scans to its reference (zbarimg), it prints alone,
the resident renews and cancels it, an admin finds it by reference and renews it; axe-core on
every page, in English and German."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from permit_service.localtime import city_zone, local_today
from permit_service.models import utcnow
from permit_service.services import permits as service
from permit_service.services import queries
from tests.e2e.conftest import LiveServer, _start, check_accessibility
from tests.e2e.test_journeys import sign_in

ZBARIMG = shutil.which("zbarimg")
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="module")
def berlin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server in Berlin time (CET/CEST on the permit)."""
    yield from _start(tmp_path_factory.mktemp("permit"), CITY_TIMEZONE="Europe/Berlin")


def approved_permit(live: LiveServer, name: str, plate: str, days: int | None = None) -> str:
    """An application approved by an officer (valid `days` local days from today, or the
    default year); its id."""
    with live.app.app_context():
        permit_id = service.apply_for_permit(name, plate, "12 Rose Street, Springfield").permit.id
        until = None
        if days is not None:
            until = (local_today(utcnow(), city_zone()) + timedelta(days=days)).isoformat()
        service.approve_permit(permit_id, actor="officer@example.org", valid_until=until)
        return permit_id


def reference_of(live: LiveServer, permit_id: str) -> str:
    with live.app.app_context():
        return queries.get_permit(permit_id).reference


def decode_qr(png: Path) -> str:
    """What a QR code scanner reads in the image (zbarimg, from the zbar-tools package)."""
    if ZBARIMG is None:
        message = "zbarimg not found: apt-get install -y zbar-tools"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    found = subprocess.run(
        [ZBARIMG, "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(png)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert found.returncode == 0, f"no QR code found in {png}: {found.stderr}"
    return found.stdout.strip()


def test_resident_prints_renews_and_cancels_the_permit(
    page: Page, berlin: LiveServer, shoot, screenshot_dir: Path, console_errors
):
    live = berlin
    permit_id = approved_permit(live, "Maria Garcia", "KL-4821", days=12)
    reference = reference_of(live, permit_id)
    page.goto(live(f"/applications/{permit_id}"))
    expect(page).to_have_title(f"Parking permit KL-4821 ({reference}) · City parking permits")
    card = page.locator(".permit-card")
    expect(card.get_by_role("heading", name="Residential parking permit")).to_be_visible()
    expect(card.locator(".permit-plate")).to_have_text("KL-4821")
    expect(card.locator(".permit-reference")).to_have_text(reference)
    expect(card).to_contain_text(re.compile(r"Valid until\s*\d{1,2} \w+ \d{4}, 23:59 CES?T"))
    expect(card).to_contain_text("Times are local times in the time zone Europe/Berlin.")
    expect(
        card.get_by_role("img", name=f"QR code of the permit reference {reference}")
    ).to_be_visible()
    check_accessibility(page)
    shoot(page, "receipt-approved")

    # The QR code, as the browser drew it, scans to the reference.
    card.locator("img.qr").screenshot(path=str(screenshot_dir / "qr-screen.png"))
    assert decode_qr(screenshot_dir / "qr-screen.png") == reference

    # Printed: only the permit. No navigation, language switch, buttons or the page's address.
    page.emulate_media(media="print")
    expect(card).to_be_visible()
    for hidden in (".site-header", ".site-footer", "nav.languages", ".status-panel"):
        expect(page.locator(hidden)).to_be_hidden()
    expect(page.get_by_role("button", name="Renew my permit")).to_be_hidden()
    expect(page.get_by_role("link", name="Cancel my permit…")).to_be_hidden()
    private_link = page.locator(f'a[href="{live(f"/applications/{permit_id}")}"]')
    expect(private_link).to_have_count(1)  # on the screen, never on paper
    expect(private_link).to_be_hidden()
    page.screenshot(path=str(screenshot_dir / "receipt-print.png"), full_page=True)
    assert decode_qr(screenshot_dir / "receipt-print.png") == reference
    page.emulate_media(media="screen")

    # Renew: inside the window, one button; afterwards the next window is a year away.
    page.get_by_role("button", name="Renew my permit").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Your permit was renewed. It is now valid until"
    )
    expect(page.get_by_role("button", name="Renew my permit")).to_have_count(0)
    expect(page.locator(".renewal-opens")).to_contain_text(
        re.compile(r"You can renew this permit from \d{1,2} \w+ \d{4}")
    )
    check_accessibility(page)

    # Cancel: a confirmation page first; "No" keeps the permit.
    page.get_by_role("link", name="Cancel my permit…").click()
    expect(page).to_have_url(live(f"/applications/{permit_id}/cancel"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Cancel the permit for KL-4821?")
    check_accessibility(page)
    shoot(page, "cancel-confirm")
    page.get_by_role("link", name="No, keep my permit").click()
    expect(page.locator(".status-line")).to_have_text("Status: Approved")
    page.get_by_role("link", name="Cancel my permit…").click()
    page.get_by_role("button", name="Yes, cancel my permit").click()
    expect(page.get_by_role("status")).to_contain_text("You cancelled your permit.")
    expect(page.locator(".status-line")).to_have_text("Status: Cancelled")
    expect(page.locator(".permit-card")).to_have_count(0)
    check_accessibility(page)
    shoot(page, "receipt-cancelled")
    with live.app.app_context():
        events = queries.list_events(permit_id)
    assert [(e.to_status, e.actor) for e in events[-2:]] == [
        ("approved", "applicant"),
        ("revoked", "applicant"),
    ]
    assert console_errors == []


def test_the_permit_in_german(page: Page, berlin: LiveServer, shoot, screenshot_dir: Path):
    permit_id = approved_permit(berlin, "Jonas Weber", "HD-901")
    reference = reference_of(berlin, permit_id)
    page.set_extra_http_headers({"Accept-Language": "de-DE,de;q=0.9"})
    page.goto(berlin(f"/applications/{permit_id}"))
    expect(page.locator("html")).to_have_attribute("lang", "de")
    card = page.locator(".permit-card")
    expect(card.get_by_role("heading", name="Bewohnerparkausweis")).to_be_visible()
    expect(card).to_contain_text(re.compile(r"Gültig bis\s*\d{1,2}\. \w+ \d{4}, 23:59 MES?Z"))
    expect(page.locator(".renewal-opens")).to_contain_text(
        re.compile(r"Sie können diesen Parkausweis ab dem \d{1,2}\. \w+ \d{4} verlängern")
    )
    check_accessibility(page)
    shoot(page, "de-receipt-approved")
    card.locator("img.qr").screenshot(path=str(screenshot_dir / "qr-de.png"))
    assert decode_qr(screenshot_dir / "qr-de.png") == reference

    # On a phone: nothing wider than the screen, the QR code still whole and readable.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    check_accessibility(page)
    shoot(page, "de-receipt-approved-phone")
    card.locator("img.qr").screenshot(path=str(screenshot_dir / "qr-phone.png"))
    assert decode_qr(screenshot_dir / "qr-phone.png") == reference
    page.set_viewport_size({"width": 1280, "height": 720})

    page.get_by_role("link", name="Parkausweis zurückgeben…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Parkausweis für HD-901 zurückgeben?")
    check_accessibility(page)
    shoot(page, "de-cancel-confirm")


def test_admin_finds_a_permit_by_reference_and_renews_it(page: Page, berlin: LiveServer, shoot):
    live = berlin
    permit_id = approved_permit(live, "Aisha Khan", "BR 2210", days=20)
    approved_permit(live, "Tom Becker", "MX-77")
    reference = reference_of(live, permit_id)
    sign_in(page, live)
    page.get_by_role("link", name=re.compile(r"^Approved \d+")).click()
    row = page.get_by_role("row", name=re.compile("BR 2210"))
    expect(row).to_contain_text(reference)
    check_accessibility(page)
    shoot(page, "queue-references")

    page.get_by_label("Search by licence plate, name or reference").fill(reference.lower())
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    page.get_by_role("link", name="BR 2210").click()
    expect(page.locator(".permit-reference")).to_have_text(reference)
    expect(page.get_by_text("it can be renewed now, without a gap")).to_be_visible()
    check_accessibility(page)
    shoot(page, "permit-renew")
    page.get_by_role("button", name="Renew BR 2210").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Renewed BR 2210 (Aisha Khan): now valid until"
    )
    expect(page.get_by_role("button", name="Renew BR 2210")).to_have_count(0)
    rows = page.locator("table.history tbody tr")
    expect(rows.last.locator("td").nth(1)).to_have_text("Renewed")
    expect(rows.last.locator("td").nth(3)).to_contain_text("renewed until")
    check_accessibility(page)
    shoot(page, "permit-renewed")

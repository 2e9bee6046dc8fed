"""The review queue in Chromium (issue 16): soonest deadline first, earlier permits marked, a
bulk approval of ticked rows with one of them already expired, the news of an application that
arrived meanwhile (the polling script, under the production CSP), axe-core, English and German."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from permit_service import clock
from permit_service.domain import PermitStatus
from permit_service.services import permits as service
from permit_service.services import queries
from tests.e2e.conftest import LiveServer, _start, check_accessibility
from tests.e2e.test_journeys import sign_in


@pytest.fixture(scope="module")
def queue_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server whose queue asks for news every second."""
    yield from _start(tmp_path_factory.mktemp("queue"), QUEUE_POLL_SECONDS=1)


def applied(live: LiveServer, name: str, plate: str, address: str, minutes_ago: float) -> str:
    """An application recorded `minutes_ago` (its deadline as much earlier)."""
    with live.app.app_context():
        clock.advance(timedelta(minutes=-minutes_ago))
        try:
            return service.apply_for_permit(name, plate, address).permit.id
        finally:
            clock.advance(timedelta(minutes=minutes_ago))


def test_bulk_approval_with_an_expired_row_and_news(
    page: Page, queue_live: LiveServer, shoot, console_errors
):
    live = queue_live
    with live.app.app_context():  # refused yesterday: an earlier permit of plate and address
        clock.advance(timedelta(days=-1))
        try:
            old = service.apply_for_permit("Lea Brandt", "KI-LB 12", "4 Harbour Road").permit.id
            service.revoke_permit(old, actor="officer@example.org", reason="Not a resident")
        finally:
            clock.advance(timedelta(days=1))
    applied(live, "Lea Brandt", "KI-LB 12", "4 Harbour Road", 3)
    applied(live, "Omar Said", "HH-OS 7", "12 Mill Lane", 2)
    applied(live, "Nina Vogel", "B-NV 300", "4 harbour road", 1)
    applied(live, "Paul Weber", "M-PW 44", "9 Station Street", 0.5)
    late = applied(live, "Tom Late", "K-TL 9", "1 Late Street", 4.9)

    sign_in(page, live)
    rows = page.locator("table.permits tbody tr")
    # Soonest deadline first: Tom's application (about to expire) heads the list.
    expect(rows.first).to_contain_text("K-TL 9")
    expect(rows.nth(1)).to_contain_text("KI-LB 12")
    expect(page.locator("#results-summary")).to_contain_text("Soonest deadline first.")
    expect(rows.nth(1)).to_contain_text("1 of this plate")
    expect(rows.nth(1)).to_contain_text("1 at this address")
    check_accessibility(page)
    shoot(page, "queue")

    # Tom's deadline passes while the officer ticks his row and two others.
    page.get_by_label("Select K-TL 9").check()
    page.get_by_label("Select KI-LB 12").check()
    page.get_by_label("Select HH-OS 7").check()
    clock.advance(timedelta(seconds=10))
    try:
        page.get_by_role("button", name="Approve selected").click()
        expect(page.locator(".flash-success")).to_have_text("2 approved, 1 already expired.")
        expect(rows).to_have_count(2)
        with live.app.app_context():
            assert queries.status_of(queries.get_permit(late)) is PermitStatus.EXPIRED
        check_accessibility(page)
        shoot(page, "queue-bulk-approved")

        # A resident applies meanwhile: the page says so without a reload.
        applied(live, "Ida Neu", "F-IN 1", "3 New Street", 0)
        news = page.locator("#news-text")
        expect(news).to_have_text("1 new application since this page was loaded.", timeout=8000)
        check_accessibility(page)
        page.get_by_role("link", name="Reload to see new applications").click()
        expect(page.locator(".news .flash-info")).to_contain_text("1 new application")
        expect(rows).to_have_count(3)

        # The approved tab: decided when and by whom instead of a deadline.
        page.get_by_role("link", name="Approved").first.click()
        expect(page.get_by_role("columnheader", name="Decided by")).to_be_visible()
        expect(rows.first).to_contain_text("admin@")
        check_accessibility(page)
        shoot(page, "queue-approved")

        page.set_extra_http_headers({"Accept-Language": "de-DE,de;q=0.9"})
        page.goto(live("/admin/permits"))
        expect(page.locator("#results-summary")).to_contain_text("Früheste Frist zuerst.")
        expect(page.get_by_role("button", name="Ausgewählte genehmigen")).to_be_visible()
        check_accessibility(page)
        # A wide table scrolls inside its frame: the page itself never scrolls sideways.
        assert page.evaluate("document.documentElement.scrollWidth") <= page.evaluate(
            "document.documentElement.clientWidth"
        )
        shoot(page, "de-queue")
    finally:
        clock.reset()
    assert console_errors == []

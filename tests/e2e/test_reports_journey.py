"""Monthly reports in Chromium (issue 16): an administrator opens Reports, makes last month's
report with the button, downloads the PDF; a viewer sees the list without the button; axe-core
on the page in English and German."""

from __future__ import annotations

from collections.abc import Iterator

import pypdf
import pytest
from playwright.sync_api import Page, expect

from permit_service.services import reports
from tests.e2e.conftest import VIEWER, LiveServer, _start, check_accessibility
from tests.e2e.test_journeys import sign_in


@pytest.fixture(scope="module")
def berlin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from _start(tmp_path_factory.mktemp("reports"), CITY_TIMEZONE="Europe/Berlin")


def test_an_admin_makes_and_downloads_last_months_report(
    page: Page, berlin: LiveServer, shoot, console_errors, tmp_path
):
    live = berlin
    with live.app.app_context():
        month = str(reports.last_month())
    sign_in(page, live)
    page.get_by_role("link", name="Reports", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Monthly reports")
    expect(page.get_by_text("No report has been made yet.")).to_be_visible()
    check_accessibility(page)
    page.get_by_role("button", name="Make the report of").click()
    expect(page.locator(".flash-success")).to_contain_text("was made and e-mailed")
    link = page.get_by_role("link", name="Download the report of")
    expect(link).to_have_count(1)
    check_accessibility(page)
    shoot(page, "reports")
    with page.expect_download() as download:
        link.click()
    saved = tmp_path / "report.pdf"
    download.value.save_as(saved)
    assert download.value.suggested_filename == f"permit-report-{month}.pdf"
    text = pypdf.PdfReader(saved).pages[0].extract_text()
    assert "Parking permits: monthly report" in text and "Applications per day" in text

    page.get_by_role("link", name="Deutsch").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Monatsberichte")
    check_accessibility(page)
    shoot(page, "reports-de")
    assert console_errors == []


def test_a_viewer_sees_the_reports_without_the_button(page: Page, berlin: LiveServer):
    sign_in(page, berlin, VIEWER)
    page.goto(berlin("/admin/reports"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Monthly reports")
    expect(page.get_by_role("button", name="Make the report of")).to_have_count(0)
    check_accessibility(page)

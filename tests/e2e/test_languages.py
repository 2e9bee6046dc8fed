"""German in Chromium: a resident whose browser asks for German applies and follows the receipt
entirely in German with local times; an officer switches language; axe-core in both languages."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from permit_service.services import permits as service
from tests.e2e.conftest import ADMIN, LiveServer, _start, check_accessibility

LOCAL_TIME = re.compile(r"\d\d:\d\d (MEZ|MESZ|CET|CEST)")


@pytest.fixture(scope="module")
def berlin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server for a city in Berlin's time zone, with a contact address."""
    yield from _start(
        tmp_path_factory.mktemp("berlin"),
        CITY_TIMEZONE="Europe/Berlin",
        CONTACT_EMAIL="parken@stadt.example",
    )


def _page(browser: Browser, locale: str) -> Page:
    # The browser's language, as Chromium sends it in Accept-Language.
    return browser.new_context(locale=locale, viewport={"width": 1100, "height": 900}).new_page()


def test_resident_applies_and_follows_the_receipt_in_german(
    browser: Browser, berlin: LiveServer, shoot
):
    page = _page(browser, "de-DE")
    try:
        page.goto(berlin("/"))
        expect(page.locator("html")).to_have_attribute("lang", "de")
        expect(page).to_have_title("Bewohnerparkausweis beantragen · Bewohnerparken der Stadt")
        expect(page.get_by_role("heading", name="Wer einen Antrag stellen kann")).to_be_visible()
        check_accessibility(page)
        shoot(page, "de-start")

        page.get_by_label("Vollständiger Name").fill("Jana Schneider")
        page.get_by_label("Kennzeichen").fill("M-AB 12!")
        page.get_by_label("Adresse in der Parkzone").fill("Lindenstraße 4, 80331 München")
        page.get_by_role("button", name="Ausweis beantragen").click()
        summary = page.locator(".error-summary")
        expect(summary).to_contain_text("Es gibt ein Problem")
        expect(summary).to_contain_text("Dieses Kennzeichen ist ungültig.")
        expect(summary).to_be_focused()
        check_accessibility(page)
        shoot(page, "de-start-errors")

        page.get_by_label("Kennzeichen").fill("m-ab 1234")
        page.get_by_role("button", name="Ausweis beantragen").click()
        expect(page).to_have_url(re.compile(r"/applications/[0-9a-f-]{36}$"))
        expect(page.get_by_role("status")).to_contain_text("Ihr Antrag ist eingegangen.")
        expect(page.locator(".status-line")).to_have_text("Status: Wartet auf Entscheidung")
        deadline = page.get_by_text("Die Parkausweisstelle entscheidet bis")
        expect(deadline).to_contain_text("(in 5 Minuten)")
        expect(deadline).to_contain_text(LOCAL_TIME)
        expect(page.get_by_role("heading", name="Wie es weitergeht")).to_be_visible()
        check_accessibility(page)
        shoot(page, "de-receipt")
        receipt = page.url

        # The office refuses it; the receipt says so in German, with the reason.
        permit_id = receipt.rsplit("/", 1)[1]
        with berlin.app.app_context():
            service.revoke_permit(permit_id, actor=ADMIN[0], reason="Adresse liegt außerhalb")
        page.reload()
        expect(page.locator(".status-line")).to_have_text("Status: Abgelehnt")
        expect(page.locator("blockquote.reason")).to_have_text("Adresse liegt außerhalb")
        expect(page.get_by_text("Die Parkausweisstelle hat Ihren Antrag")).to_be_visible()
        check_accessibility(page)
        shoot(page, "de-receipt-refused")
    finally:
        page.context.close()


def test_officer_switches_language_and_every_page_passes_axe_in_both(
    browser: Browser, berlin: LiveServer, shoot
):
    with berlin.app.app_context():
        ids = [
            service.apply_for_permit(name, plate, address).permit.id
            for name, plate, address in (
                ("Tom Becker", "B-TB 77", "Oranienstraße 3, Berlin"),
                ("Aisha Khan", "B-AK 2210", "Mühlenweg 8, Berlin"),
                ("Jonas Weber", "HD-JW 901", "Bahnhofstraße 44, Berlin"),
            )
        ]
        service.approve_permit(ids[1], actor=ADMIN[0])
    page = _page(browser, "en-GB")
    try:
        page.goto(berlin("/admin/login"))
        check_accessibility(page)
        shoot(page, "en-login")
        page.get_by_role("link", name="Deutsch").click()
        expect(page.locator("html")).to_have_attribute("lang", "de")
        expect(page).to_have_url(berlin("/admin/login"))
        check_accessibility(page)
        shoot(page, "de-login")
        page.get_by_label("E-Mail-Adresse").fill(ADMIN[0])
        page.get_by_label("Passwort").fill(ADMIN[1])
        page.get_by_role("button", name="Anmelden").click()
        expect(page.get_by_role("heading", name="Antragsliste")).to_be_visible()
        expect(page.get_by_role("button", name="Genehmigen HD-JW 901")).to_be_visible()
        expect(page.get_by_text("Ablehnen B-TB 77 …")).to_be_visible()
        check_accessibility(page)
        shoot(page, "de-queue")

        page.goto(berlin(f"/admin/permits/{ids[0]}"))
        expect(page.get_by_role("heading", name="Ausweis B-TB 77")).to_be_visible()
        expect(page.get_by_role("button", name="Antrag ablehnen B-TB 77")).to_be_visible()
        expect(page.locator("table.history tbody tr td").first).to_have_text(LOCAL_TIME)
        check_accessibility(page)
        shoot(page, "de-permit")

        page.goto(berlin("/admin/permits?status=all&page=999"))
        expect(page.get_by_text("Es gibt keine Seite 999")).to_be_visible()
        check_accessibility(page)

        response = page.goto(berlin("/applications/keine-referenz"))
        assert response is not None and response.status == 404
        expect(page.get_by_role("heading", name="Diese Seite gibt es nicht")).to_be_visible()
        check_accessibility(page)
        shoot(page, "de-not-found")

        # Back to English: the cookie follows the switch, on every page.
        page.get_by_role("link", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.get_by_role("heading", name="We could not find that page")).to_be_visible()
        check_accessibility(page)
        shoot(page, "en-not-found")
        page.goto(berlin("/admin/permits"))
        expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
        check_accessibility(page)
        shoot(page, "en-queue")
        page.goto(berlin(f"/admin/permits/{ids[0]}"))
        expect(page.get_by_role("button", name="Refuse application B-TB 77")).to_be_visible()
        check_accessibility(page)
        shoot(page, "en-permit")
    finally:
        page.context.close()


def test_english_resident_pages_pass_axe(browser: Browser, berlin: LiveServer, shoot):
    page = _page(browser, "en-GB")
    try:
        page.goto(berlin("/"))
        expect(page.locator("html")).to_have_attribute("lang", "en")
        check_accessibility(page)
        shoot(page, "en-start")
        page.get_by_label("Full name").fill("Maria Garcia")
        page.get_by_label("Licence plate").fill("B-MG 4821")
        page.get_by_label("Address in the permit zone").fill("Rosenstraße 12, Berlin")
        page.get_by_role("button", name="Apply for a permit").click()
        expect(page.locator(".status-line")).to_have_text("Status: Waiting for a decision")
        expect(page.get_by_text("A permit officer will decide by")).to_contain_text(LOCAL_TIME)
        check_accessibility(page)
        shoot(page, "en-receipt")
    finally:
        page.context.close()


def test_stale_form_page_in_both_languages(browser: Browser, berlin: LiveServer, shoot):
    for locale, heading, name in (
        ("de-DE", "Ihr Formular wurde nicht gesendet", "de-stale-form"),
        ("en-GB", "Your form was not sent", "en-stale-form"),
    ):
        page = _page(browser, locale)
        try:
            page.goto(berlin("/"))
            page.context.clear_cookies()  # the session (and its CSRF secret) is gone
            page.get_by_role("button").last.click()
            expect(page.get_by_role("heading", name=heading)).to_be_visible()
            check_accessibility(page)
            shoot(page, name)
        finally:
            page.context.close()

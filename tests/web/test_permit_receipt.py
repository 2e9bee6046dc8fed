"""The receipt of an approved permit is the permit: validity, reference, QR code, printable; the
resident renews it (inside the window) and cancels it (after a confirmation step)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from xml.etree import ElementTree

import pytest

from permit_service import clock
from permit_service.domain import PermitStatus
from permit_service.localtime import local_today
from permit_service.models import utcnow
from permit_service.services import permits as service
from permit_service.services import queries
from tests import factories
from tests.web.conftest import text, title

BERLIN = "Europe/Berlin"
GERMAN = {"Accept-Language": "de"}


@pytest.fixture
def berlin(app_factory):
    """An app whose city is Berlin: pages show CET/CEST times."""
    return app_factory(CITY_TIMEZONE=BERLIN)


def approved(app, days: int | None = None, plate: str = "B-PM 42", **fields) -> str:
    """An approved permit whose validity ends `days` local days from today (default: the
    default length); its id."""
    with app.app_context():
        permit = factories.make_permit(plate=plate, name="Rosa Park", **fields)
        until = None
        if days is not None:
            until = (local_today(utcnow(), _zone(app)) + timedelta(days=days)).isoformat()
        service.approve_permit(permit.id, actor=factories.ADMIN, valid_until=until)
        return permit.id


def _zone(app):
    from zoneinfo import ZoneInfo

    return ZoneInfo(app.config["CITY_TIMEZONE"])


def permit_of(app, permit_id: str):
    with app.app_context():
        return queries.get_permit(permit_id)


def day_text(day: date) -> str:
    """'3 December 2027' as the English pages write it."""
    return f"{day.day} {day.strftime('%B')} {day.year}"


def local_day(app, moment) -> date:
    return local_today(moment, _zone(app))


# --- the permit ------------------------------------------------------------------------------


def test_an_approved_permit_shows_plate_reference_validity_and_status_in_words(berlin):
    app = berlin
    permit_id = approved(app)
    permit = permit_of(app, permit_id)
    response = app.test_client().get(f"/applications/{permit_id}")
    assert response.status_code == 200
    page = text(response)
    assert title(response) == f"Parking permit B-PM 42 ({permit.reference}) · City parking permits"
    assert re.fullmatch(r"P-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{2}", permit.reference)
    assert "Your parking permit" in page and "Status: Approved" in page
    end = local_day(app, permit.valid_until)
    assert end == local_day(app, permit.valid_from) + timedelta(days=365)
    # The validity in the city's local time, and the page says which zone that is.
    assert f"Valid until {day_text(end)}, 23:59 CE" in page  # CET or CEST
    assert f"Valid from {day_text(local_day(app, permit.valid_from))}" in page
    assert "Times are local times in the time zone Europe/Berlin." in page
    assert f"Reference {permit.reference}" in page and "Licence plate B-PM 42" in page
    assert "Holder Rosa Park" in page
    html = response.get_data(as_text=True)
    # The permit card (what prints) holds the QR code of the reference, as an image with words.
    card = html[html.index('class="permit-card"') :]
    assert f'src="/applications/{permit_id}/qr.svg"' in card
    assert f'alt="QR code of the permit reference {permit.reference}"' in card
    assert 'class="wrap narrow print-permit"' in html  # print: only the permit card
    # Not yet renewable: the page says when that opens, as a local date, and offers no button.
    opens = end - timedelta(days=app.config["RENEWAL_WINDOW_DAYS"] - 1)
    assert f"You can renew this permit from {day_text(opens)}" in page
    assert "Renew my permit" not in page
    assert "Cancel my permit…" in page


def test_a_pending_application_shows_its_deadline_and_reference_but_is_not_yet_a_permit(
    app, client
):
    with app.app_context():
        permit = factories.make_permit(plate="PE-1")
    page = text(client.get(f"/applications/{permit.id}"))
    assert "Your permit application" in page and "Status: Waiting for a decision" in page
    assert "A permit officer will decide by" in page
    assert "Your reference Keep this reference" in page and permit.reference in page
    assert "Residential parking permit" not in page and "qr.svg" not in page
    assert "Withdraw my application…" in page and "Renew" not in page


def test_the_qr_code_is_an_svg_image_of_the_reference(app, client):
    permit_id = approved(app)
    permit = permit_of(app, permit_id)
    response = client.get(f"/applications/{permit_id}/qr.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    svg = ElementTree.fromstring(response.get_data())  # noqa: S314 - our own output
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    ns = {"svg": "http://www.w3.org/2000/svg"}
    assert svg.find("svg:title", ns).text == f"QR code of the permit reference {permit.reference}"
    assert svg.find(".//svg:path[@stroke='#000']", ns) is not None  # the dark modules
    assert "<script" not in response.get_data(as_text=True)
    assert client.get("/applications/not-an-id/qr.svg").status_code == 404


def test_the_print_stylesheet_prints_only_the_permit(app, client):
    permit_id = approved(app)
    html = client.get(f"/applications/{permit_id}").get_data(as_text=True)
    assert 'href="/static/css/site.css"' in html
    css = client.get("/static/css/site.css").get_data(as_text=True)
    printed = css[css.index("@media print") :]
    hidden = re.search(r"\n  ([^{}]+) \{ display: none !important; \}", printed).group(1)
    selectors = {part.strip() for part in hidden.split(",")}
    # No navigation, language switch (in the header), buttons or forms on paper.
    assert {".site-header", ".site-footer", ".no-print", "form", ".button"} <= selectors
    assert "main.print-permit > :not(.permit-card) { display: none !important; }" in printed
    # The buttons and the private address of the page are outside the card: not printed.
    card_end = html.index("</section>", html.index('class="permit-card"'))
    assert permit_id not in html[html.index('class="permit-card"') : card_end].replace(
        f"/applications/{permit_id}/qr.svg", ""
    )


def test_the_permit_in_german(berlin):
    app = berlin
    permit_id = approved(app)
    permit = permit_of(app, permit_id)
    response = app.test_client().get(f"/applications/{permit_id}", headers=GERMAN)
    page = text(response)
    assert '<html lang="de">' in response.get_data(as_text=True)
    assert "Ihr Bewohnerparkausweis" in page and "Status: Genehmigt" in page
    assert f"Aktenzeichen {permit.reference}" in page
    assert "Gültig bis" in page and "23:59 ME" in page  # MEZ or MESZ
    assert "Zeiten sind Ortszeiten in der Zeitzone Europe/Berlin." in page
    assert "Sie können diesen Parkausweis ab dem" in page
    assert f'alt="QR-Code des Aktenzeichens {permit.reference}"' in response.get_data(as_text=True)
    for english in ("Valid until", "Renewal opens", "Cancel my permit", "Holder"):
        assert english not in page


# --- renewing --------------------------------------------------------------------------------


def test_renewing_inside_the_window_extends_the_validity_without_a_gap(berlin):
    app = berlin
    client = app.test_client()
    permit_id = approved(app, days=10)
    before = permit_of(app, permit_id)
    page = text(client.get(f"/applications/{permit_id}"))
    assert "can be renewed now" in page and "Renew my permit" in page

    response = client.post(f"/applications/{permit_id}/renew")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/applications/{permit_id}"
    after = permit_of(app, permit_id)
    assert local_day(app, after.valid_until) == local_day(app, before.valid_until) + timedelta(
        days=365
    )
    assert after.valid_from == before.valid_from
    page = text(client.get(response.headers["Location"]))
    new_end = day_text(local_day(app, after.valid_until))
    assert f"Your permit was renewed. It is now valid until {new_end}, 23:59" in page
    assert "Renew my permit" not in page  # a year ahead again: outside the window
    with app.app_context():
        events = queries.list_events(permit_id)
    assert (events[-1].from_status, events[-1].to_status, events[-1].actor) == (
        "approved",
        "approved",
        "applicant",
    )


def test_renewing_outside_the_window_is_a_409_page_saying_when_it_opens(app, client):
    permit_id = approved(app)
    before = permit_of(app, permit_id)
    response = client.post(f"/applications/{permit_id}/renew")
    assert response.status_code == 409
    assert response.mimetype == "text/html"
    page = text(response)
    opens = local_day(app, before.valid_until) - timedelta(days=29)
    assert "Nothing was changed" in page
    assert f"This permit cannot be renewed yet. Renewal opens on {day_text(opens)}." in page
    assert "Your parking permit" in page  # the permit is still shown under the message
    assert permit_of(app, permit_id).valid_until == before.valid_until


def test_renewing_a_permit_whose_validity_ended_says_to_apply_again(app, client):
    permit_id = approved(app, days=1)
    clock.advance(timedelta(days=3))  # past valid_until; no sweep has run
    page = text(client.get(f"/applications/{permit_id}"))
    assert "Status: Expired" in page and "at the end of its validity" in page
    assert "Renew my permit" not in page and "Cancel my permit" not in page
    response = client.post(f"/applications/{permit_id}/renew")
    assert response.status_code == 409
    assert "its validity has ended. Apply again for a new permit." in text(response)


def test_renewing_a_pending_application_is_a_409_page(app, client):
    with app.app_context():
        permit = factories.make_permit(plate="PR-1")
    response = client.post(f"/applications/{permit.id}/renew")
    assert response.status_code == 409
    assert "An application can be renewed only once it is approved." in text(response)


# --- cancelling ------------------------------------------------------------------------------


def test_cancelling_asks_first_then_ends_the_permit_as_the_resident(app, client):
    permit_id = approved(app)
    permit = permit_of(app, permit_id)
    confirm = client.get(f"/applications/{permit_id}/cancel")
    assert confirm.status_code == 200
    assert title(confirm) == "Cancel the permit for B-PM 42? · City parking permits"
    page = text(confirm)
    assert f"Your permit {permit.reference} ends at once" in page
    assert "This cannot be undone." in page
    assert "Yes, cancel my permit" in page and "No, keep my permit" in page
    html = confirm.get_data(as_text=True)
    assert f'action="/applications/{permit_id}/cancel"' in html and 'method="post"' in html
    assert queries_status(app, permit_id) is PermitStatus.APPROVED  # asking changed nothing

    done = client.post(f"/applications/{permit_id}/cancel")
    assert done.status_code == 303 and done.headers["Location"] == f"/applications/{permit_id}"
    page = text(client.get(done.headers["Location"]))
    assert "You cancelled your permit. The car B-PM 42 no longer has a permit." in page
    assert "Status: Cancelled" in page and "You cancelled this permit" in page
    assert "Cancel my permit" not in page and "Residential parking permit" not in page
    with app.app_context():
        last = queries.list_events(permit_id)[-1]
        assert queries.get_permit(permit_id).status == "revoked"  # the API's word
    assert (last.from_status, last.to_status, last.actor) == ("approved", "revoked", "applicant")
    assert last.reason == service.CANCEL_REASON


def test_withdrawing_a_pending_application(app, client):
    with app.app_context():
        permit = factories.make_permit(plate="WD-1")
    confirm = text(client.get(f"/applications/{permit.id}/cancel"))
    assert "Withdraw the application for WD-1?" in confirm
    assert "Yes, withdraw my application" in confirm
    done = client.post(f"/applications/{permit.id}/cancel")
    assert done.status_code == 303
    page = text(client.get(done.headers["Location"]))
    assert "You withdrew your application." in page
    assert "Status: Withdrawn" in page and "Refused" not in page


def test_cancel_needs_the_csrf_token(app_factory):
    app = app_factory(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    permit_id = approved(app)
    refused = client.post(f"/applications/{permit_id}/cancel")
    assert refused.status_code == 400 and refused.mimetype == "text/html"
    assert "Your form was not sent" in title(refused)
    assert queries_status(app, permit_id) is PermitStatus.APPROVED
    html = client.get(f"/applications/{permit_id}/cancel").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    done = client.post(f"/applications/{permit_id}/cancel", data={"csrf_token": token})
    assert done.status_code == 303
    assert queries_status(app, permit_id) is PermitStatus.REVOKED


def test_cancelling_what_has_already_ended(app, client):
    with app.app_context():
        refused = factories.make_permit(PermitStatus.REVOKED, plate="EN-1", reason="No").id
        lapsed = factories.make_permit(plate="EN-2", due=True).id  # pending past its deadline
    ended = approved(app, days=1, plate="EN-3")
    clock.advance(timedelta(days=3))

    # The confirmation page is not offered: back to the receipt, which says why.
    response = client.get(f"/applications/{refused}/cancel")
    assert response.status_code == 303
    page = text(client.get(response.headers["Location"]))
    assert "has already ended. Nothing was changed." in page and "Status: Refused" in page

    # Cancelling a refused application again: nothing to do (the no-op), still refused.
    response = client.post(f"/applications/{refused}/cancel")
    assert response.status_code == 303
    assert "Status: Refused" in text(client.get(response.headers["Location"]))

    # Expired ones are a 409 page in plain words, never a 500.
    response = client.post(f"/applications/{lapsed}/cancel")
    assert response.status_code == 409 and response.mimetype == "text/html"
    assert "This application has already expired. There is nothing to withdraw." in text(response)
    response = client.post(f"/applications/{ended}/cancel")
    assert response.status_code == 409
    assert "This permit has already ended: its validity ran out." in text(response)
    assert client.post("/applications/not-an-id/cancel").status_code == 404


def test_the_cancel_confirmation_in_german(app, client):
    permit_id = approved(app)
    page = text(client.get(f"/applications/{permit_id}/cancel", headers=GERMAN))
    assert "Parkausweis für B-PM 42 zurückgeben?" in page
    assert "Ja, Parkausweis zurückgeben" in page and "Nein, Parkausweis behalten" in page
    client.post(f"/applications/{permit_id}/cancel")
    page = text(client.get(f"/applications/{permit_id}", headers=GERMAN))
    assert "Status: Zurückgegeben" in page


def queries_status(app, permit_id: str) -> PermitStatus:
    with app.app_context():
        return queries.status_of(queries.get_permit(permit_id))

"""Staff see each permit's e-mails and their delivery state; the form records the language."""

from __future__ import annotations

import re

from flask import Flask

from permit_service.extensions import db
from permit_service.models import Permit
from permit_service.services import delivery
from permit_service.services import permits as service
from tests.web.conftest import ADMIN, apply_web, text


def test_the_permit_page_lists_its_emails_with_their_delivery_state(
    app: Flask, admin_client
) -> None:
    pid = apply_web(admin_client, email="resident@example.org")
    with app.app_context():
        service.revoke_permit(pid, actor=ADMIN[0], reason="not a resident")
    response = admin_client.get(f"/admin/permits/{pid}")
    page = text(response)
    assert "E-mails to the resident" in page
    assert "Application received" in page and "Refused" in page
    assert _states(response) == ["Queued", "Queued"]
    with app.app_context():
        assert delivery.deliver_due() == 2  # MAIL_SERVER unset: .eml files
    assert _states(admin_client.get(f"/admin/permits/{pid}")) == ["Sent", "Sent"]


def _states(response) -> list[str]:
    """The delivery badges of the page's e-mails, in order."""
    html = response.get_data(as_text=True)
    return re.findall(r'class="badge badge-mail-\w+">([^<]+)<', html)


def test_no_address_no_emails_said_plainly(app: Flask, admin_client) -> None:
    pid = apply_web(admin_client)
    page = text(admin_client.get(f"/admin/permits/{pid}"))
    assert "The resident gave no e-mail address, so no e-mails are sent." in page


def test_the_form_records_the_language_the_resident_applied_in(app: Flask, client) -> None:
    english = apply_web(client, email="en@example.org", license_plate="LANG-1")
    client.set_cookie("lang", "de")
    german = apply_web(client, email="de@example.org", license_plate="LANG-2")
    with app.app_context():
        assert db.session.get(Permit, english).language == "en"
        assert db.session.get(Permit, german).language == "de"


def test_the_api_records_the_language_the_client_asks_for(app: Flask, client) -> None:
    body = {
        "name": "Eva Berg",
        "license_plate": "LANG-3",
        "address": "1 St",
        "email": "e@example.org",
    }
    de = client.post("/permits", json=body, headers={"Accept-Language": "de-DE,de;q=0.9"})
    en = client.post("/permits", json={**body, "license_plate": "LANG-4"})
    assert (de.status_code, en.status_code) == (201, 201)
    assert "language" not in de.get_json()  # not part of the API's permit
    with app.app_context():
        assert db.session.get(Permit, de.get_json()["id"]).language == "de"
        assert db.session.get(Permit, en.get_json()["id"]).language == "en"

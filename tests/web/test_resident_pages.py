"""Residents: the start page with its form, form errors, duplicates and the receipt page."""

from __future__ import annotations

import re

from permit_service.services import permits as service
from permit_service.services import queries
from tests.web.conftest import apply_web, let_deadline_pass, text, title


def test_start_page_explains_the_service_and_shows_the_form(client):
    response = client.get("/")
    assert response.status_code == 200
    assert title(response) == "Apply for a parking permit · City parking permits"
    page = text(response)
    assert "A permit officer decides within 5 minutes" in page
    for label in (
        "Full name",
        "Licence plate",
        "Address in the permit zone",
        "E-mail address (optional)",
    ):
        assert label in page
    html = response.get_data(as_text=True)
    assert '<label for="license_plate">' in html and 'id="license_plate"' in html
    assert "Staff sign-in" in page  # navigation when signed out
    assert response.headers["Cache-Control"] == "no-store"


def test_applying_redirects_to_a_receipt_with_deadline_and_reference(app, client):
    response = client.post(
        "/",
        data={"name": " Jane Roe ", "license_plate": "xy 987", "address": "5 Elm St", "email": ""},
    )
    assert response.status_code == 303
    permit_id = response.headers["Location"].rsplit("/", 1)[1]

    receipt = client.get(response.headers["Location"])
    assert receipt.status_code == 200
    page = text(receipt)
    assert "Your application was received" in page  # the flash message
    assert "Status: Waiting for a decision" in page
    with app.app_context():
        permit = queries.get_permit(permit_id)
        deadline = permit.expires_at.strftime("%H:%M UTC")
    assert f"A permit officer will decide by {deadline} (in 5 minutes)" in page
    assert permit_id in page and "Keep this reference" in page
    assert "What happens next" in page
    assert "XY 987" in page and "Jane Roe" in page  # trimmed and upper-cased
    assert title(receipt).startswith("Application XY 987: waiting for a decision")


def test_invalid_plate_shows_the_domain_rule_next_to_the_field_and_keeps_values(client):
    response = client.post(
        "/", data={"name": "Jane Roe", "license_plate": "AB!", "address": "5 Elm St"}
    )
    assert response.status_code == 422
    page = text(response)
    assert "There is a problem" in page
    assert "That licence plate is not valid. Use letters A-Z and digits" in page
    html = response.get_data(as_text=True)
    assert 'aria-invalid="true"' in html and 'id="license_plate-error"' in html
    assert 'value="Jane Roe"' in html and 'value="AB!"' in html and 'value="5 Elm St"' in html
    assert title(response).startswith("Error: ")


def test_empty_form_says_what_to_enter(client):
    response = client.post("/", data={"name": "", "license_plate": "", "address": "  "})
    assert response.status_code == 422
    page = text(response)
    assert "Enter your full name." in page
    assert "Enter the licence plate." in page
    assert "Enter the address." in page  # whitespace only: the domain's own message


def test_invalid_email_and_control_characters_are_explained(client):
    response = client.post(
        "/",
        data={
            "name": "Jane\x00Roe",
            "license_plate": "AB-12",
            "address": "x" * 201,
            "email": "no-at",
        },
    )
    assert response.status_code == 422
    page = text(response)
    assert "The name must not contain control characters" in page
    assert "The address must be at most 200 characters (got 201)." in page
    assert "That e-mail address is not valid" in page


def test_duplicate_plate_explains_itself_with_409(client):
    apply_web(client, license_plate="ABC-123")
    response = client.post(
        "/", data={"name": "Someone Else", "license_plate": "abc 123", "address": "9 Oak St"}
    )
    assert response.status_code == 409
    page = text(response)
    assert "Licence plate ABC 123 already has an open (pending, approved or waitlisted) " in page
    assert "If it expires, is refused or is revoked, you can apply again." in page
    assert 'value="Someone Else"' in response.get_data(as_text=True)


def test_receipt_of_an_approved_permit(app, client):
    permit_id = apply_web(client)
    with app.app_context():
        service.approve_permit(permit_id, actor="admin@example.test")
    page = text(client.get(f"/applications/{permit_id}"))
    assert "Status: Approved" in page and "Your permit is valid" in page
    assert "decide by" not in page


def test_receipt_of_a_refused_application_shows_the_reason(app, client):
    permit_id = apply_web(client)
    with app.app_context():
        service.revoke_permit(permit_id, actor="admin@example.test", reason="Not in the zone")
    page = text(client.get(f"/applications/{permit_id}"))
    assert "Status: Refused" in page and "Revoked" not in page
    assert "The permit office refused your application for this reason: Not in the zone" in page
    assert "apply again" in page


def test_receipt_of_a_revoked_permit_shows_the_reason(app, client):
    permit_id = apply_web(client)
    with app.app_context():
        service.approve_permit(permit_id, actor="admin@example.test")
        service.revoke_permit(permit_id, actor="admin@example.test", reason="Moved away")
    page = text(client.get(f"/applications/{permit_id}"))
    assert "Status: Revoked" in page and "Refused" not in page
    assert "The permit office revoked this permit for this reason: Moved away" in page
    assert "apply again" in page


def test_receipt_after_the_deadline_says_expired_before_any_sweep(app, client):
    permit_id = apply_web(client)
    let_deadline_pass(app)
    response = client.get(f"/applications/{permit_id}")
    page = text(response)
    assert "Status: Expired" in page
    assert "Nobody decided on this application before its deadline" in page
    assert "Waiting for a decision" not in page


def test_unknown_or_malformed_receipt_is_an_html_404(client):
    for path in ("/applications/2b1f8c1e-3c4f-4d5e-9a6b-7c8d9e0f1a2b", "/applications/nope"):
        response = client.get(path, headers={"Accept": "text/html"})
        assert response.status_code == 404
        assert response.mimetype == "text/html"
        assert "We could not find that page" in text(response)
        assert title(response) == "Page not found · City parking permits"


def test_applying_is_rate_limited_with_an_html_429(app_factory):
    client = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_APPLY="2 per minute").test_client()
    for plate in ("AA-11", "BB-22"):
        assert (
            client.post(
                "/", data={"name": "A", "license_plate": plate, "address": "1 St"}
            ).status_code
            == 303
        )
    response = client.post("/", data={"name": "A", "license_plate": "CC-33", "address": "1 St"})
    assert response.status_code == 429
    assert response.mimetype == "text/html"
    assert "Please wait a minute before you try again." in text(response)
    assert client.get("/").status_code == 200  # reading the page is not limited


def test_pages_use_no_inline_styles_or_scripts(client):
    # The security headers allow only files from /static (CSP default-src 'self').
    permit_id = apply_web(client)
    for path in ("/", f"/applications/{permit_id}", "/admin/login", "/nowhere"):
        html = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script|\sstyle=|<style|\son[a-z]+=", html), path
        assert "/static/css/site.css" in html


def test_stylesheet_is_served_locally(client):
    response = client.get("/static/css/site.css")
    assert response.status_code == 200
    assert b"@media (max-width: 40rem)" in response.data

"""CSRF protection of every form, and the HTML error pages of the web routes."""

from __future__ import annotations

import re

import pytest

from permit_service.services import queries
from tests import factories
from tests.web.conftest import ADMIN, FORM, add_user, text, title


def _token(client, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token on " + path
    return match.group(1)


@pytest.fixture
def csrf_app(app_factory):
    """An app with CSRF protection on, as in production (the default test config turns it off)."""
    app = app_factory(WTF_CSRF_ENABLED=True)
    add_user(app, ADMIN, "admin")
    return app


def test_application_without_csrf_token_is_refused_with_an_html_400(csrf_app):
    client = csrf_app.test_client()
    response = client.post("/", data=FORM)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    page = text(response)
    assert title(response) == "Your form was not sent · City parking permits"
    assert "This form could not be checked, so nothing was saved" in page
    assert "Go back to the previous page, reload it, and send the form again." in page
    assert "CSRF" not in page
    with csrf_app.app_context():
        assert queries.list_permits().total == 0


def test_application_with_csrf_token_goes_through(csrf_app):
    client = csrf_app.test_client()
    response = client.post("/", data={**FORM, "csrf_token": _token(client, "/")})
    assert response.status_code == 303


def test_sign_in_decisions_and_sign_out_need_the_token(csrf_app):
    client = csrf_app.test_client()
    creds = {"email": ADMIN[0], "password": ADMIN[1]}
    assert client.post("/admin/login", data=creds).status_code == 400
    token = _token(client, "/admin/login")
    assert client.post("/admin/login", data={**creds, "csrf_token": token}).status_code == 303

    with csrf_app.app_context():
        permit = factories.make_permit(plate="CS-1")
    for action in ("approve", "revoke"):
        response = client.post(f"/admin/permits/{permit.id}/{action}")
        assert response.status_code == 400, action
        assert "Your form was not sent" in text(response)
    with csrf_app.app_context():
        assert queries.status_of(queries.get_permit(permit.id)).value == "pending"

    queue_token = _token(client, "/admin/permits")
    response = client.post(f"/admin/permits/{permit.id}/approve", data={"csrf_token": queue_token})
    assert response.status_code == 303

    assert client.post("/admin/logout").status_code == 400
    assert client.get("/admin/permits").status_code == 200  # still signed in
    logout = client.post("/admin/logout", data={"csrf_token": _token(client, "/admin/permits")})
    assert logout.status_code == 303
    assert client.get("/admin/permits").status_code == 302


def test_unknown_page_is_an_html_404_on_the_layout(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "We could not find that page" in text(response)
    assert 'href="/static/css/site.css"' in response.get_data(as_text=True)


def test_server_error_is_an_html_500_without_details(app):
    def broken() -> str:
        raise RuntimeError("secret internals")

    app.add_url_rule("/broken-for-test", view_func=broken)
    response = app.test_client().get("/broken-for-test")
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    page = text(response)
    assert "Something went wrong on our side" in page
    assert "secret internals" not in page
    assert title(response) == "Something went wrong · City parking permits"


def test_method_not_allowed_is_an_html_page(client):
    response = client.get("/admin/logout")
    assert response.status_code == 405
    assert response.mimetype == "text/html"
    assert "That cannot be done here" in text(response)
    assert "Method Not Allowed" not in text(response)

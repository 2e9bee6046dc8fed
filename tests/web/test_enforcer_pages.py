"""Enforcement accounts have no staff pages (issue 17): sign-in refused, every /admin page 403."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from permit_service.models import StaffSession, User
from tests.web.conftest import add_user, login, text

ENFORCER = ("camera@example.test", "camera-password-42")


def test_an_enforcer_cannot_sign_in_to_the_staff_pages(app, client):
    add_user(app, ENFORCER, "enforcer")
    response = login(client, ENFORCER)
    assert response.status_code == 403
    assert "enforcement account" in text(response)
    assert "has no staff pages" in text(response)
    with app.app_context():
        from permit_service.extensions import db

        assert db.session.query(StaffSession).count() == 0  # no session was started
    assert client.get("/admin/permits").status_code == 302  # still signed out


def test_the_refusal_speaks_german(app, client):
    add_user(app, ENFORCER, "enforcer")
    response = client.post(
        "/admin/login",
        data={"email": ENFORCER[0], "password": ENFORCER[1]},
        headers={"Accept-Language": "de"},
    )
    assert response.status_code == 403
    assert "Durchsetzungskonto" in text(response)


def _enforcer_session(app: Any) -> Any:
    """A client holding a live session of an account that is now an enforcer's.

    No command changes a role today; an account edited in the database must still see no
    page, so a viewer signs in and its row then becomes an enforcer's.
    """
    add_user(app, ENFORCER, "viewer")
    client = app.test_client()
    assert login(client, ENFORCER).status_code == 303
    assert client.get("/admin/permits").status_code == 200
    with app.app_context():
        from permit_service.extensions import db

        db.session.execute(sa.update(User).where(User.email == ENFORCER[0]).values(role="enforcer"))
        db.session.commit()
    return client


@pytest.mark.parametrize(
    "path",
    ["/admin/permits", "/admin/permits?tab=all", "/admin/zones", "/admin/zones/CITY", "/admin/"],
)
def test_every_staff_page_is_403_for_an_enforcer_session(app, path):
    client = _enforcer_session(app)
    response = client.get(path)
    assert response.status_code == 403
    assert "has no staff pages" in text(response)


def test_staff_page_routes_are_all_covered(app):
    """Every GET page of the admin blueprint refuses an enforcer (the hook is blueprint-wide)."""
    client = _enforcer_session(app)
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("admin.") and "GET" in rule.methods and not rule.arguments
    ]
    assert len(rules) >= 4
    for rule in rules:
        # Signing in and out stay open (a signed-in account is sent on from the login page,
        # to a page that refuses it).
        answer = client.get(rule.rule, follow_redirects=rule.endpoint == "admin.login")
        assert answer.status_code == 403, rule.rule
    some_id = "00000000-0000-4000-8000-000000000000"
    assert client.get(f"/admin/permits/{some_id}").status_code == 403
    for path in (f"/admin/permits/{some_id}/approve", "/admin/permits/bulk", "/admin/zones"):
        assert client.post(path, data={}).status_code == 403, path

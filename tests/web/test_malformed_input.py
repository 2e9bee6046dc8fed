"""The pages never answer 500 to hostile input: NUL bytes in forms, huge numbers in queries.

The same causes as the JSON API's (tests/api/test_malformed_bodies.py), looked for on the web
side, on SQLite and PostgreSQL: PostgreSQL refuses NUL in text, Python refuses integers of more
than 4,300 digits.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from permit_service.extensions import db
from permit_service.models import Permit, PermitEvent
from tests.web.conftest import ADMIN, FORM, apply_web, login

NUL = "a\x00b"
HUGE = "9" * 5_000


def counts(app: Any) -> tuple[int, int]:
    """How many permits and events exist."""
    with app.app_context():
        permits = db.session.scalar(sa.select(sa.func.count()).select_from(Permit))
        events = db.session.scalar(sa.select(sa.func.count()).select_from(PermitEvent))
        db.session.rollback()
    return permits, events


@pytest.mark.parametrize("field", ["name", "license_plate", "address", "email"])
def test_nul_byte_in_the_application_form_is_422(app, client, field):
    response = client.post("/", data={**FORM, field: NUL})
    assert response.status_code == 422
    assert counts(app) == (0, 0)


@pytest.mark.parametrize("field", ["email", "password"])
def test_nul_byte_in_the_login_form_is_refused(client, staff, field):
    data = {"email": ADMIN[0], "password": ADMIN[1], field: NUL}
    response = client.post("/admin/login", data=data)
    assert response.status_code == 422
    assert client.get("/admin/permits").status_code == 302  # still signed out


def test_nul_byte_in_the_login_next_parameter_is_ignored(client, staff):
    response = login(client, next=f"/admin/permits{NUL}")
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/permits"


@pytest.mark.parametrize("reason", [NUL, "evil\u202etxt", "two\nlines"])
def test_revoke_reason_with_control_characters_is_refused(app, admin_client, reason):
    permit_id = apply_web(admin_client)
    before = counts(app)
    response = admin_client.post(
        f"/admin/permits/{permit_id}/revoke", data={"reason": reason}, follow_redirects=True
    )
    assert response.status_code == 200
    assert "Use one line of plain text" in response.get_data(as_text=True)
    assert counts(app) == before
    with app.app_context():
        assert db.session.get(Permit, permit_id).status == "pending"


@pytest.mark.parametrize(
    "query",
    [
        {"page": HUGE},
        {"page": "-" + HUGE},
        {"page": "1e999"},
        {"status": NUL},
        {"q": NUL},
        {"q": HUGE},
        f"status=all&page={HUGE}&q=%ED%A0%80%FF%00",  # an encoded surrogate, invalid UTF-8
    ],
)
def test_queue_queries_never_fail(admin_client, query):
    response = admin_client.get("/admin/permits", query_string=query)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/applications/%00",
        f"/applications/{HUGE}",
        "/admin/permits/%00",
        f"/admin/permits/{HUGE}",
    ],
)
def test_hostile_ids_are_404(admin_client, path):
    assert admin_client.get(path).status_code == 404


def test_nul_byte_in_the_back_parameter_is_ignored(admin_client):
    permit_id = apply_web(admin_client)
    response = admin_client.get(f"/admin/permits/{permit_id}", query_string={"back": NUL})
    assert response.status_code == 200

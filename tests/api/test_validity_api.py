"""The API of validity, renewal, cancel, references and counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from permit_service.models import utcnow
from tests import factories
from tests.conftest import apply, auth_headers


def test_approve_with_a_date_ends_at_the_end_of_that_local_day(app_factory):
    app = app_factory(CITY_TIMEZONE="Europe/Helsinki")
    headers = auth_headers(app)
    client = app.test_client()
    pid = apply(client)["id"]
    day = (utcnow() + timedelta(days=90)).date()
    response = client.post(
        f"/permits/{pid}/approve", json={"valid_until": day.isoformat()}, headers=headers
    )
    assert response.status_code == 200
    permit = response.get_json()
    until = datetime.fromisoformat(permit["valid_until"])
    assert until.utcoffset() == timedelta(0)  # the API speaks UTC
    local = until.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Helsinki"))
    assert (local.date(), local.hour, local.minute, local.second) == (day, 23, 59, 59)
    assert datetime.fromisoformat(permit["valid_from"]) <= datetime.now(UTC)
    assert permit["status"] == "approved" and permit["expires_at"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"valid_until": "1999-12-31"},
        {"valid_until": "soon"},
        {"valid_until": "2030-01-01T10:00:00"},
        {"valid_until": 20300101},
        {"valid_until": "2999-01-01"},
        {"until": "2030-01-01"},
    ],
)
def test_approve_refuses_an_impossible_end_with_422_and_changes_nothing(
    client, admin_headers, body
):
    pid = apply(client)["id"]
    response = client.post(f"/permits/{pid}/approve", json=body, headers=admin_headers)
    assert response.status_code == 422
    assert response.get_json()["errors"]["json"]
    assert client.get(f"/permits/{pid}").get_json()["status"] == "pending"


def test_approve_without_a_body_or_with_null_gives_the_default_validity(client, admin_headers):
    first = apply(client)["id"]
    second = apply(client, license_plate="DEF-456")["id"]
    one = client.post(f"/permits/{first}/approve", headers=admin_headers).get_json()
    two = client.post(
        f"/permits/{second}/approve", json={"valid_until": None}, headers=admin_headers
    ).get_json()
    assert one["valid_until"] == two["valid_until"] or abs(
        datetime.fromisoformat(one["valid_until"]) - datetime.fromisoformat(two["valid_until"])
    ) == timedelta(days=1)  # approved either side of midnight
    days = datetime.fromisoformat(one["valid_until"]) - datetime.fromisoformat(one["valid_from"])
    assert timedelta(days=365) <= days < timedelta(days=366)


def test_cancel_needs_only_the_id_and_is_recorded_as_the_resident(client, admin_headers):
    pid = apply(client)["id"]
    response = client.post(f"/permits/{pid}/cancel")
    assert response.status_code == 200 and response.get_json()["status"] == "revoked"
    assert client.post(f"/permits/{pid}/cancel").status_code == 200  # no-op
    events = client.get(f"/permits/{pid}/events", headers=admin_headers).get_json()
    assert [(e["to_status"], e["actor"], e["reason"]) for e in events[1:]] == [
        ("revoked", "applicant", "cancelled by the resident")
    ]
    assert client.post("/permits/00000000-0000-4000-8000-000000000000/cancel").status_code == 404


def test_renew_with_an_admin_token_records_the_admin(app):
    headers = auth_headers(app, "admin", "chief@city.example")
    with app.app_context():
        pid = factories.make_permit("approved", valid_until=utcnow() + timedelta(days=3)).id
    client = app.test_client()
    response = client.post(f"/permits/{pid}/renew", headers=headers)
    assert response.status_code == 200
    events = client.get(f"/permits/{pid}/events", headers=headers).get_json()
    assert (events[-1]["from_status"], events[-1]["to_status"], events[-1]["actor"]) == (
        "approved",
        "approved",
        "chief@city.example",
    )
    assert events[-1]["reason"].startswith("renewed until ")
    assert response.get_json()["valid_until"][:10] >= events[-1]["reason"][-10:]


def test_renew_with_a_bad_or_viewer_token_is_refused_not_taken_as_the_resident(app):
    viewer = auth_headers(app, "viewer")
    with app.app_context():
        pid = factories.make_permit("approved", valid_until=utcnow() + timedelta(days=3)).id
    client = app.test_client()
    bad = client.post(f"/permits/{pid}/renew", headers={"Authorization": "Bearer nonsense-token"})
    assert bad.status_code == 401 and bad.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.post(f"/permits/{pid}/renew", headers=viewer).status_code == 403
    assert client.post(f"/permits/{pid}/renew").status_code == 200  # the resident may


def test_renew_outside_the_window_names_the_date_it_opens(client, admin_headers):
    pid = apply(client)["id"]
    until = client.post(f"/permits/{pid}/approve", headers=admin_headers).get_json()["valid_until"]
    response = client.post(f"/permits/{pid}/renew")
    assert response.status_code == 409
    opens = (datetime.fromisoformat(until).date() - timedelta(days=29)).isoformat()
    assert response.get_json()["message"] == f"This permit can be renewed from {opens}."


def test_count_is_exact_and_takes_the_listing_filters(client, admin_headers, viewer_headers):
    apply(client, license_plate="CNT-1")
    pid = apply(client, license_plate="CNT-2")["id"]
    client.post(f"/permits/{pid}/approve", headers=admin_headers)

    def count(query: str = "", headers=admin_headers):
        return client.get(f"/permits/count{query}", headers=headers)

    assert count().get_json() == {"count": 2}
    assert count("?status=approved", viewer_headers).get_json() == {"count": 1}
    assert count("?status=pending&license_plate=cnt 1").get_json() == {"count": 1}
    assert count("?license_plate=CNT2").get_json() == {"count": 1}
    assert count("?status=expired").get_json() == {"count": 0}
    assert count("?page=1").status_code == 422  # not a listing: no pagination
    assert count("?status=lost").status_code == 422
    assert count(headers={}).status_code == 401


def test_the_permit_carries_its_reference_and_validity(client, admin_headers):
    created = apply(client)
    pid = created["id"]
    approved = client.post(f"/permits/{pid}/approve", headers=admin_headers).get_json()
    assert approved["reference"] == created["reference"]
    listed = client.get("/permits?status=approved", headers=admin_headers).get_json()
    assert [(p["reference"], p["valid_until"]) for p in listed] == [
        (created["reference"], approved["valid_until"])
    ]

"""The JSON API as SPEC.md section 4 describes it, on each database."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime

import pytest

from permit_service import clock
from permit_service.domain import PermitStatus
from permit_service.services import queries
from tests import factories
from tests.conftest import SEED, apply, auth_headers

FIELDS = {
    "id",
    "name",
    "license_plate",
    "address",
    "email",
    "status",
    "created_at",
    "updated_at",
    "expires_at",
    "reference",
    "valid_from",
    "valid_until",
    "anonymised",
    "zone",
    "waitlist_position",
    "fee",
    "currency",
}


def test_seed_application_answers_201_pending_with_every_field(client):
    response = client.post("/permits", json=SEED)
    assert response.status_code == 201
    permit = response.get_json()
    assert set(permit) == FIELDS
    assert permit["status"] == "pending"
    assert (permit["name"], permit["license_plate"], permit["address"]) == (
        "John Doe",
        "ABC-123",
        "123 Main St",
    )
    assert permit["email"] is None
    assert re.fullmatch(r"P-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{2}", permit["reference"])
    assert permit["valid_from"] is None and permit["valid_until"] is None
    assert uuid.UUID(permit["id"]).version == 4
    created = datetime.fromisoformat(permit["created_at"])
    expires = datetime.fromisoformat(permit["expires_at"])
    assert created.utcoffset().total_seconds() == 0
    assert (expires - created).total_seconds() == 300
    assert response.headers["Location"].endswith(f"/permits/{permit['id']}")
    assert client.get(response.headers["Location"]).get_json() == permit


def test_input_is_trimmed_and_plate_upper_cased(client):
    permit = apply(
        client, name="  Ann  ", license_plate=" xy 9 ", address=" 2 Elm ", email="a@b.org"
    )
    assert (permit["name"], permit["license_plate"], permit["address"], permit["email"]) == (
        "Ann",
        "XY 9",
        "2 Elm",
        "a@b.org",
    )


@pytest.mark.parametrize("spelling", ["abc-123", "ABC 123", "ABC123", " abc123 "])
def test_second_open_permit_for_the_same_plate_is_409(client, spelling):
    apply(client)
    response = client.post("/permits", json={**SEED, "license_plate": spelling})
    assert response.status_code == 409
    assert "open" in response.get_json()["message"]


def test_plate_is_free_again_after_revocation(client, admin_headers):
    first = apply(client)
    assert client.post(f"/permits/{first['id']}/revoke", headers=admin_headers).status_code == 200
    assert apply(client)["status"] == "pending"


def test_plate_is_free_again_once_the_deadline_passes(app_factory):
    client = app_factory(PENDING_TTL_SECONDS=1).test_client()
    apply(client)
    clock.advance(1.1)
    assert apply(client)["status"] == "pending"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**SEED, "license_plate": "A"}, "license_plate"),
        ({**SEED, "license_plate": "ABC--123"}, "license_plate"),
        ({**SEED, "license_plate": "ABCDEFG12345"}, "license_plate"),
        ({**SEED, "name": "   "}, "name"),
        ({**SEED, "name": "x" * 121}, "name"),
        ({**SEED, "name": "Bad\nName"}, "name"),
        ({**SEED, "address": "y" * 201}, "address"),
        ({**SEED, "email": "not-an-address"}, "email"),
        ({**SEED, "name": 5}, "name"),
        ({**SEED, "surprise": True}, "surprise"),
        ({"name": "x", "address": "y"}, "license_plate"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_changes_nothing(client, admin_headers, body, field):
    response = client.post("/permits", json=body)
    assert response.status_code == 422
    error = response.get_json()
    assert error["code"] == 422 and error["status"] == "Unprocessable Entity"
    assert field in error["errors"]["json"]
    assert client.get("/permits", headers=admin_headers).get_json() == []


def test_malformed_json_is_400(client):
    response = client.post("/permits", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["code"] == 400


@pytest.mark.parametrize("payload", ["[1, 2]", "null", "42", '"text"'])
def test_json_that_is_not_an_object_is_refused(client, payload):
    # Well-formed JSON of the wrong shape is invalid input (422); 400 is for broken JSON.
    response = client.post("/permits", data=payload, content_type="application/json")
    assert response.status_code == 422


def test_non_json_body_is_415(client):
    response = client.post("/permits", data={"name": "x"})
    assert response.status_code == 415
    assert response.get_json()["code"] == 415


def test_oversized_body_is_413(client):
    response = client.post("/permits", json={**SEED, "address": "x" * 100_000})
    assert response.status_code == 413
    assert response.get_json()["code"] == 413


@pytest.mark.parametrize(
    "path", ["/permits/nope", "/permits/00000000-0000-4000-8000-000000000000", "/permits/%00"]
)
def test_unknown_or_malformed_id_is_404(client, admin_headers, path):
    assert client.get(path).status_code == 404
    assert client.post(f"{path}/approve", headers=admin_headers).status_code == 404
    assert client.post(f"{path}/revoke", headers=admin_headers).status_code == 404
    assert client.get(f"{path}/events", headers=admin_headers).status_code == 404
    assert client.get(path).get_json()["status"] == "Not Found"


def test_list_is_newest_first_with_pagination_header(client, admin_headers):
    ids = [apply(client, license_plate=f"PG-{i}")["id"] for i in range(5)]
    response = client.get("/permits?page=1&page_size=2", headers=admin_headers)
    assert response.status_code == 200
    assert [p["id"] for p in response.get_json()] == ids[::-1][:2]
    meta = json.loads(response.headers["X-Pagination"])
    assert meta["total"] == 5 and meta["total_pages"] == 3 and meta["page"] == 1
    page3 = client.get("/permits?page=3&page_size=2", headers=admin_headers).get_json()
    assert [p["id"] for p in page3] == ids[:1]


def test_list_filters_by_status_and_any_plate_spelling(client, admin_headers):
    a = apply(client, license_plate="AA-1")
    b = apply(client, license_plate="BB-2")
    client.post(f"/permits/{b['id']}/approve", headers=admin_headers)

    def ids(query: str) -> list[str]:
        response = client.get(f"/permits?{query}", headers=admin_headers)
        assert response.status_code == 200
        return [p["id"] for p in response.get_json()]

    assert ids("status=pending") == [a["id"]]
    assert ids("status=approved") == [b["id"]]
    assert ids("status=revoked") == []
    assert ids("license_plate=bb2") == [b["id"]]
    assert ids("license_plate=bb-2&status=pending") == []


@pytest.mark.parametrize(
    "query", ["status=bogus", "page=0", "page=-1", "page=x", "page_size=0", "page_size=501"]
)
def test_bad_list_parameters_are_422(client, admin_headers, query):
    response = client.get(f"/permits?{query}", headers=admin_headers)
    assert response.status_code == 422
    assert response.get_json()["code"] == 422


def test_page_size_500_is_allowed(client, admin_headers):
    assert client.get("/permits?page_size=500", headers=admin_headers).status_code == 200


def test_approve_and_revoke_with_reason_are_recorded_in_order(client, admin_headers):
    pid = apply(client)["id"]
    approved = client.post(f"/permits/{pid}/approve", headers=admin_headers)
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"
    assert approved.get_json()["expires_at"] is None
    revoked = client.post(
        f"/permits/{pid}/revoke", json={"reason": "moved away"}, headers=admin_headers
    )
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    events = client.get(f"/permits/{pid}/events", headers=admin_headers).get_json()
    assert [(e["from_status"], e["to_status"]) for e in events] == [
        (None, "pending"),
        ("pending", "approved"),
        ("approved", "revoked"),
    ]
    assert events[-1]["reason"] == "moved away"
    assert events[0]["actor"] == "applicant"


def test_revoke_refuses_unknown_fields(client, admin_headers):
    pid = apply(client)["id"]
    response = client.post(f"/permits/{pid}/revoke", json={"why": "x"}, headers=admin_headers)
    assert response.status_code == 422
    assert client.get(f"/permits/{pid}").get_json()["status"] == "pending"


def test_exact_deadline_lists_as_expired_and_approve_conflicts(app_factory):
    app = app_factory(PENDING_TTL_SECONDS=1)
    admin_headers = auth_headers(app)
    client = app.test_client()
    pid = apply(client)["id"]
    clock.advance(2)  # the permit is 2 seconds old; no sweep has run
    pending = client.get("/permits?status=pending", headers=admin_headers).get_json()
    expired = client.get("/permits?status=expired", headers=admin_headers).get_json()
    assert pid not in [p["id"] for p in pending]
    assert pid in [p["id"] for p in expired]
    assert client.get(f"/permits/{pid}").get_json()["status"] == "expired"
    response = client.post(f"/permits/{pid}/approve", headers=admin_headers)
    assert response.status_code == 409
    assert client.get(f"/permits/{pid}").get_json()["status"] == "expired"
    events = client.get(f"/permits/{pid}/events", headers=admin_headers).get_json()
    assert events[-1]["to_status"] == "expired" and events[-1]["actor"] == "system"


def test_health_and_docs_are_public(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"] == {
        "database": "ok",
        "broker": "ok",
    }
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert {"/permits", "/permits/{permit_id}", "/permits/{permit_id}/approve"} <= set(
        spec["paths"]
    )
    docs = client.get("/docs")
    assert docs.status_code == 200 and b"swagger-ui" in docs.data
    assert b"://" not in docs.data.split(b"<body>")[0]  # no CDN assets in the head
    assert client.get("/docs/swagger-ui-bundle.js").status_code == 200


def test_every_response_carries_a_request_id(client):
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = client.get("/permits/nope")
    assert len(made.headers["X-Request-ID"]) == 32


def test_html_clients_get_html_errors_off_the_api(client):
    response = client.get("/no/such/page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    api = client.get("/permits/nope", headers={"Accept": "text/html"})
    assert api.mimetype == "application/json"


def test_blank_email_is_refused_rather_than_dropped(client):
    response = client.post("/permits", json={**SEED, "email": " "})
    assert response.status_code == 422
    assert "email" in response.get_json()["errors"]["json"]


def test_wrong_method_is_405_with_allow(client):
    response = client.delete("/permits")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize("query", ["=true", "sort=name", "status=pending&extra=1"])
def test_unknown_list_parameters_are_422(client, admin_headers, query):
    response = client.get(f"/permits?{query}", headers=admin_headers)
    assert response.status_code == 422


def test_expired_list_merges_swept_and_unswept_newest_first_across_pages(
    app, client, admin_headers
):
    with app.app_context():  # all five past their deadline; two of them swept
        ids = [
            factories.make_permit(state, due=state == "pending", plate=f"EXO-{i}").id
            for i, state in enumerate(["expired", "pending", "expired", "pending", "pending"])
        ]
        assert queries.count_by_status()[PermitStatus.EXPIRED] == 5
    newest_first = ids[::-1]
    got = []
    for page in (1, 2, 3):
        response = client.get(
            f"/permits?status=expired&page={page}&page_size=2", headers=admin_headers
        )
        assert response.status_code == 200
        got += [p["id"] for p in response.get_json()]
        assert json.loads(response.headers["X-Pagination"])["total"] == 5
    assert got == newest_first


@pytest.mark.parametrize("page", [7_883_587, 2**31, 10**20])
def test_pages_past_the_end_are_empty_not_errors(client, admin_headers, page):
    apply(client)
    response = client.get(f"/permits?page={page}&page_size=409", headers=admin_headers)
    assert response.status_code == 200 and response.get_json() == []
    assert json.loads(response.headers["X-Pagination"])["total"] == 1

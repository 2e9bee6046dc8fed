"""POST /exports, GET /exports/{id}, GET /exports/{id}/download: who, what, when (SPEC.md 10)."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest

from permit_service.api.exports import EXPORT_ROLES
from permit_service.domain_users import ROLES
from permit_service.services import exports as service
from tests import factories
from tests.conftest import auth_headers


def _run(app: Any, export_id: str) -> None:
    """What the worker does (tests/integration/test_export_worker.py runs a real one)."""
    with app.app_context():
        assert service.run_export(export_id) == "done"


def _listed(client: Any, headers: dict[str, str], query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"/permits?page_size=500{query}", headers=headers)
    assert response.status_code == 200
    return response.get_json()


def _rows(response: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


@pytest.fixture
def permits(app: Any) -> Any:
    with app.app_context():
        factories.make_permit(plate="AP-1", name="=cmd|' /C calc'!A0")
        factories.make_permit("approved", plate="AP-2", email="a@example.org")
        factories.make_permit("revoked", plate="AP-3")
        factories.make_permit(plate="AP-4", due=True)
        factories.make_permit("approved", plate="AP-5", due=True)
    return app


def test_viewer_exports_what_the_listing_shows(permits, client, viewer_headers):
    answer = client.post("/exports", json={}, headers=viewer_headers)
    assert answer.status_code == 202
    body = answer.get_json()
    assert body["status"] == "queued" and body["rows"] == 0
    assert body["download_url"] is None and body["finished_at"] is None
    assert answer.headers["Location"].endswith(f"/exports/{body['id']}")
    early = client.get(f"/exports/{body['id']}/download", headers=viewer_headers)
    assert early.status_code == 409
    assert early.get_json()["message"] == "The export is not ready yet."
    _run(permits, body["id"])
    done = client.get(f"/exports/{body['id']}", headers=viewer_headers).get_json()
    assert done["status"] == "done" and done["rows"] == 5 and done["finished_at"]
    assert done["download_url"] == f"/exports/{body['id']}/download"
    download = client.get(done["download_url"], headers=viewer_headers)
    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    assert download.headers["Content-Disposition"].startswith('attachment; filename="permits-')
    assert int(download.headers["Content-Length"]) == len(download.get_data())
    rows = _rows(download)
    listed = _listed(client, viewer_headers)
    columns = [c for c in service.COLUMNS if c != "decided_at"]
    for row, permit in zip(rows, listed, strict=True):
        expected = {c: permit[c] or "" for c in columns}
        if permit["name"].startswith("="):
            expected["name"] = "'" + permit["name"]
        assert {c: row[c] for c in columns} == expected
    assert {r["status"] for r in rows} == {"pending", "approved", "revoked", "expired"}


@pytest.mark.parametrize(
    ("body", "query"),
    [
        ({"status": "expired"}, "&status=expired"),
        ({"status": "approved", "zone": "city"}, "&status=approved&zone=city"),
        ({"created_from": "2000-01-01", "created_to": "2100-01-01"}, "&created_from=2000-01-01"),
        ({"created_to": "2000-01-01"}, "&created_to=2000-01-01"),
    ],
)
def test_filters_select_what_the_listing_selects(permits, client, admin_headers, body, query):
    created = client.post("/exports", json=body, headers=admin_headers).get_json()
    _run(permits, created["id"])
    download = client.get(f"/exports/{created['id']}/download", headers=admin_headers)
    assert [r["id"] for r in _rows(download)] == [
        p["id"] for p in _listed(client, admin_headers, query)
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"license_plate": "AP-1"},
        {"sort": "created_at"},
        {"page": 1},
        {"status": "lost"},
        {"zone": "not a zone"},
        {"created_from": "yesterday"},
        {"created_to": 5},
    ],
)
def test_unknown_or_bad_filters_are_refused(client, admin_headers, body):
    answer = client.post("/exports", json=body, headers=admin_headers)
    assert answer.status_code == 422
    assert set(answer.get_json()["errors"]["json"]) == set(body)


def test_who_may_see_what(app, client):
    owner = auth_headers(app, "viewer")
    other = auth_headers(app, "viewer")
    admin = auth_headers(app, "admin")
    export_id = client.post("/exports", json={}, headers=owner).get_json()["id"]
    _run(app, export_id)
    assert client.get(f"/exports/{export_id}", headers=owner).status_code == 200
    assert client.get(f"/exports/{export_id}", headers=admin).status_code == 200
    for path in (f"/exports/{export_id}", f"/exports/{export_id}/download"):
        assert client.get(path, headers=other).status_code == 404
        assert client.get(path).status_code == 401
    assert client.post("/exports", json={}).status_code == 401
    for unknown in (str(uuid.uuid4()), "nope", "1"):
        assert client.get(f"/exports/{unknown}", headers=admin).status_code == 404
        assert client.get(f"/exports/{unknown}/download", headers=admin).status_code == 404


def test_only_admins_and_viewers_may_export(app, client):
    # Every other role (an enforcer: SPEC.md section 4) is refused on every export endpoint.
    assert {"admin", "viewer"} <= set(ROLES)
    assert {"admin", "viewer"} == EXPORT_ROLES
    admin = auth_headers(app, "admin")
    export_id = client.post("/exports", json={}, headers=admin).get_json()["id"]
    for role in sorted(set(ROLES) - EXPORT_ROLES):
        headers = auth_headers(app, role)
        assert client.post("/exports", json={}, headers=headers).status_code == 403
        assert client.get(f"/exports/{export_id}", headers=headers).status_code == 403
        assert client.get(f"/exports/{export_id}/download", headers=headers).status_code == 403


def test_a_failed_export_cannot_be_downloaded(app, client, admin_headers, monkeypatch):
    export_id = client.post("/exports", json={}, headers=admin_headers).get_json()["id"]

    def broken(*_: Any) -> None:
        raise RuntimeError("disk on fire")

    with app.app_context():
        factories.make_permit()
        monkeypatch.setattr(service, "_cells", broken)
        assert service.run_export(export_id) == "failed"
    shown = client.get(f"/exports/{export_id}", headers=admin_headers).get_json()
    assert shown["status"] == "failed" and shown["download_url"] is None
    answer = client.get(f"/exports/{export_id}/download", headers=admin_headers)
    assert answer.status_code == 409 and answer.get_json()["message"] == "The export failed."


def test_no_body_exports_everything(client, admin_headers):
    answer = client.post("/exports", headers=admin_headers)
    assert answer.status_code == 202
    assert answer.get_json()["filters"] == dict.fromkeys(
        ("status", "zone", "created_from", "created_to")
    )

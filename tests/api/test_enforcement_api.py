"""Enforcement (SPEC.md section 11, issue 17): the check, the valid-permits listing, the role.

Both databases (the `app` fixture is parametrised). Time moves with permit_service.clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from permit_service import clock
from permit_service.domain import PermitStatus
from permit_service.extensions import db
from permit_service.models import EnforcementCheck, utcnow
from permit_service.services import check_log
from permit_service.services import permits as service
from permit_service.services.queries import find_by_plate
from permit_service.services.zones import create_zone, get_zone
from tests.conftest import auth_headers
from tests.factories import make_permit

CHECK_KEYS = {"license_plate", "zone", "at", "permitted", "valid_until"}
ITEM_KEYS = {"license_plate", "zone", "valid_from", "valid_until"}


@pytest.fixture
def enforcer(app: Any) -> dict[str, str]:
    """Headers of an enforcement account."""
    return auth_headers(app, "enforcer", "camera-car-7@city.example")


def check(client: Any, headers: dict[str, str], plate: str, zone: str = "CITY", **extra: Any):
    """GET /enforcement/check, asserting 200; returns the JSON answer."""
    response = client.get(
        "/enforcement/check",
        query_string={"license_plate": plate, "zone": zone, **extra},
        headers=headers,
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == CHECK_KEYS  # no name, address or e-mail: exactly these keys
    return body


def permitted(client: Any, headers: dict[str, str], plate: str, zone: str = "CITY", **extra):
    return check(client, headers, plate, zone, **extra)["permitted"]


def approved(app: Any, plate: str, **kwargs: Any) -> Any:
    with app.app_context():
        return make_permit(PermitStatus.APPROVED, plate=plate, **kwargs)


# --- the check ----------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["ABC-123", "abc 123", "ABC123", "  aBc-123 ", "Abc 1-23"])
def test_an_approved_permit_is_permitted_in_any_spelling(app, client, enforcer, spelling):
    permit = approved(app, "ABC 123")
    body = check(client, enforcer, spelling, zone="city")
    assert body["permitted"] is True
    assert body["license_plate"] == spelling.strip().upper()
    assert body["zone"] == "CITY"
    assert datetime.fromisoformat(body["valid_until"]) == permit.valid_until


def test_the_answer_holds_no_personal_data(app, client, enforcer):
    approved(app, "PD-1", name="Erika Mustermann", address="Hauptstr 5", email="e@example.org")
    response = client.get(
        "/enforcement/check",
        query_string={"license_plate": "PD-1", "zone": "CITY"},
        headers=enforcer,
    )
    text = response.get_data(as_text=True)
    assert set(response.get_json()) == CHECK_KEYS
    for secret in ("Erika", "Mustermann", "Hauptstr", "e@example.org"):
        assert secret not in text


def test_not_permitted_in_another_zone(app, client, enforcer):
    approved(app, "ZN-1")
    with app.app_context():
        create_zone("NORTH", "North")
    assert permitted(client, enforcer, "ZN-1", "CITY") is True
    body = check(client, enforcer, "ZN-1", "north")
    assert body["permitted"] is False and body["valid_until"] is None


def test_not_permitted_after_valid_until_without_a_sweep(app, client, enforcer):
    permit = approved(app, "VU-1", valid_until=utcnow() + timedelta(hours=2))
    assert permitted(client, enforcer, "VU-1") is True
    last = (permit.valid_until - timedelta(microseconds=1)).isoformat()
    assert permitted(client, enforcer, "VU-1", at=last) is True  # the last microsecond
    end = permit.valid_until.isoformat()
    assert permitted(client, enforcer, "VU-1", at=end) is False  # exactly at valid_until: over
    clock.advance(permit.valid_until - utcnow() + timedelta(milliseconds=1))
    assert permitted(client, enforcer, "VU-1") is False  # now, by the service's clock
    with app.app_context():  # no sweep has run: the row is still stored as approved
        assert db.session.get(type(permit), permit.id).status == "approved"


def test_an_ended_validity_found_by_the_factory_is_not_permitted(app, client, enforcer):
    with app.app_context():
        make_permit(PermitStatus.APPROVED, due=True, plate="DUE-1")
    assert permitted(client, enforcer, "DUE-1") is False


def test_grace_seconds_after_valid_until_before_and_after_the_sweep(app_factory):
    app = app_factory(ENFORCEMENT_GRACE_SECONDS=60)
    client = app.test_client()
    headers = auth_headers(app, "enforcer")
    permit = approved(app, "GR-1", valid_until=utcnow() + timedelta(hours=1))
    clock.advance(permit.valid_until - utcnow() + timedelta(seconds=59))
    assert permitted(client, headers, "GR-1") is True  # 59 s into the grace, unswept
    with app.app_context():
        assert service.expire_due_permits() == 1  # the sweep records the end
    assert permitted(client, headers, "GR-1") is True  # the same answer after it
    listed = client.get("/enforcement/permits?zone=CITY", headers=headers).get_json()["items"]
    assert [item["license_plate"] for item in listed] == ["GR-1"]
    clock.advance(1)
    assert permitted(client, headers, "GR-1") is False
    assert client.get("/enforcement/permits?zone=CITY", headers=headers).get_json()["items"] == []


@pytest.mark.parametrize(
    "status", [PermitStatus.PENDING, PermitStatus.REVOKED, PermitStatus.EXPIRED]
)
def test_pending_revoked_and_expired_permits_are_not_permitted(app, client, enforcer, status):
    with app.app_context():
        make_permit(status, plate="ST-1")
    assert permitted(client, enforcer, "ST-1") is False


def test_a_revoked_approval_is_not_permitted(app, client, enforcer):
    permit = approved(app, "RV-1")
    assert permitted(client, enforcer, "RV-1") is True
    with app.app_context():
        service.revoke_permit(permit.id, actor="admin@example.test")
    assert permitted(client, enforcer, "RV-1") is False


def test_a_waitlisted_permit_is_not_permitted(app, client, enforcer):
    with app.app_context():
        create_zone("FULL", "Full", quota=0)
        waiting = service.apply_for_permit("Jane", "WL-1", "1 Elm St", zone="FULL").permit
        outcome = service.approve_permit(waiting.id, actor="admin@example.test")
        assert outcome.permit.status == "waitlisted"
    assert permitted(client, enforcer, "WL-1", "FULL") is False


def test_at_asks_about_another_moment(app, client, enforcer):
    permit = approved(app, "AT-1", valid_until=utcnow() + timedelta(days=3))
    before = (permit.valid_from - timedelta(seconds=1)).isoformat()
    inside = (permit.valid_from + timedelta(days=1)).isoformat()
    after = permit.valid_until.isoformat()
    assert permitted(client, enforcer, "AT-1", at=before) is False
    body = check(client, enforcer, "AT-1", at=inside)
    assert body["permitted"] is True
    assert datetime.fromisoformat(body["at"]) == datetime.fromisoformat(inside)
    assert permitted(client, enforcer, "AT-1", at=after) is False
    # Z and other offsets are the same moment.
    utc = permit.valid_from.astimezone(UTC) + timedelta(hours=1)
    assert permitted(client, enforcer, "AT-1", at=utc.strftime("%Y-%m-%dT%H:%M:%SZ")) is True


@pytest.mark.parametrize(
    "query",
    [
        {"license_plate": "ABC-123"},  # no zone
        {"zone": "CITY"},  # no plate
        {"license_plate": "A", "zone": "CITY"},  # not a plate
        {"license_plate": "АВС-123", "zone": "CITY"},  # Cyrillic look-alikes  # noqa: RUF001
        {"license_plate": "ABC-123", "zone": "NO-SUCH"},  # not a zone code
        {"license_plate": "ABC-123", "zone": "NOWHERE"},  # no such zone
        {"license_plate": "ABC-123", "zone": "CITY", "at": "2026-12-03"},  # a date only
        {"license_plate": "ABC-123", "zone": "CITY", "at": "2026-12-03T10:00:00"},  # no offset
        {"license_plate": "ABC-123", "zone": "CITY", "at": "2026-12-03T10:00:00 01:00"},  # raw +
        {"license_plate": "ABC-123", "zone": "CITY", "name": "x"},  # unknown parameter
    ],
)
def test_bad_queries_are_422_naming_the_argument(client, enforcer, query):
    response = client.get("/enforcement/check", query_string=query, headers=enforcer)
    assert response.status_code == 422, response.get_json()
    assert set(response.get_json()["errors"]["query"]) <= {"license_plate", "zone", "at", "name"}


def test_an_unknown_zone_is_422_even_for_a_plate_permitted_elsewhere(app, client, enforcer):
    approved(app, "UZ-1")
    response = client.get(
        "/enforcement/check",
        query_string={"license_plate": "UZ-1", "zone": "SOUTH"},
        headers=enforcer,
    )
    assert response.status_code == 422
    assert response.get_json()["errors"]["query"] == {"zone": ["No zone with the code SOUTH."]}
    with app.app_context():
        create_zone("SOUTH", "South")  # created in another process meanwhile: known at once
    assert permitted(client, enforcer, "UZ-1", "SOUTH") is False


# --- who may call -------------------------------------------------------------------------------


def test_admins_may_check_viewers_may_not_and_a_token_is_needed(app, client, admin_headers):
    approved(app, "WHO-1")
    assert permitted(client, admin_headers, "WHO-1") is True
    viewer = auth_headers(app, "viewer")
    for url in (
        "/enforcement/check?license_plate=WHO-1&zone=CITY",
        "/enforcement/permits?zone=CITY",
    ):
        refused = client.get(url, headers=viewer)
        assert refused.status_code == 403
        assert "enforcer or admin" in refused.get_json()["message"]
        anonymous = client.get(url)
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_enforcer_is_refused_everything_else(app, client, enforcer):
    permit = approved(app, "EL-1", name="Erika Mustermann")
    pid = permit.id
    calls = [
        ("get", "/permits", None),
        ("get", "/permits/count", None),
        ("get", f"/permits/{pid}", None),  # open to anyone with the id, but not this token
        ("get", f"/permits/{pid}/events", None),
        ("get", f"/permits/{pid}/notifications", None),
        ("post", f"/permits/{pid}/approve", {}),
        ("post", f"/permits/{pid}/revoke", {}),
        ("post", f"/permits/{pid}/renew", None),
        ("post", f"/permits/{pid}/cancel", None),
        ("post", "/permits", {"name": "X", "license_plate": "EL-2", "address": "Y"}),
        ("post", "/zones", {"code": "EAST", "name": "East"}),
        ("patch", "/zones/CITY", {"quota": 1}),
        ("get", "/zones/CITY/waitlist", None),
    ]
    for method, url, body in calls:
        response = getattr(client, method)(url, json=body, headers=enforcer)
        assert response.status_code == 403, (method, url, response.get_json())
        assert "Erika" not in response.get_data(as_text=True)
        assert "/enforcement" in response.get_json()["message"]
    with app.app_context():  # nothing changed
        assert find_by_plate("EL-2") == []
        assert get_zone("CITY").quota is None
        assert db.session.get(type(permit), pid).status == "approved"
    # Without the token the resident's own endpoints answer as before.
    assert client.get(f"/permits/{pid}").status_code == 200
    # Endpoints holding no personal data answer whoever asks.
    assert client.get("/zones", headers=enforcer).status_code == 200
    assert client.get("/healthz", headers=enforcer).status_code == 200


def test_other_tokens_on_the_public_endpoints_are_served_as_before(app, client, admin_headers):
    permit = approved(app, "PT-1")
    viewer = auth_headers(app, "viewer")
    bad = {"Authorization": "Bearer " + "x" * 43}
    for headers in (admin_headers, viewer, bad, {"Authorization": "Basic Zm9vOmJhcg=="}):
        assert client.get(f"/permits/{permit.id}", headers=headers).status_code == 200


def test_users_create_with_role_enforcer(app, runner, client):
    from tests.conftest import STRONG_PASSWORD

    result = runner.invoke(
        args=[
            "users",
            "create",
            "cam@city.example",
            "--role",
            "enforcer",
            "--password",
            STRONG_PASSWORD,
        ]
    )
    assert result.exit_code == 0, result.output
    assert "created enforcer cam@city.example" in result.output
    token = client.post(
        "/auth/token", json={"email": "cam@city.example", "password": STRONG_PASSWORD}
    ).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert (
        client.get("/enforcement/check?license_plate=AB1&zone=CITY", headers=headers).status_code
        == 200
    )
    assert client.get("/permits", headers=headers).status_code == 403


def test_the_database_refuses_an_unknown_role(app):
    from permit_service.models import User

    with app.app_context():
        db.session.add(User(email="x@city.example", password_hash="x", role="warden"))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.commit()
        db.session.rollback()


# --- the zone's valid permits ----------------------------------------------------------------


def test_the_listing_pages_through_the_zones_valid_permits_only(app, client, enforcer):
    with app.app_context():
        plates = [f"LS-{n}" for n in range(7)]
        for plate in plates:
            make_permit(PermitStatus.APPROVED, plate=plate, name="Erika Mustermann")
        make_permit(PermitStatus.PENDING, plate="LS-PEND")
        make_permit(PermitStatus.REVOKED, plate="LS-REV")
        make_permit(PermitStatus.APPROVED, due=True, plate="LS-DUE")  # ended, unswept
        create_zone("WEST", "West")
        other = service.apply_for_permit("Jane", "LS-WEST", "1 Elm St", zone="WEST").permit
        service.approve_permit(other.id, actor="admin@example.test")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"zone": "city", "limit": 3} | ({"cursor": cursor} if cursor else {})
        response = client.get("/enforcement/permits", query_string=query, headers=enforcer)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert set(body) == {"items", "next_cursor"}
        assert "Erika" not in response.get_data(as_text=True)
        for item in body["items"]:
            assert set(item) == ITEM_KEYS and item["zone"] == "CITY"
        seen += [item["license_plate"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(plates) and len(seen) == len(set(seen))
    assert pages == 3


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"zone": "NOWHERE"},
        {"zone": "CITY", "limit": 0},
        {"zone": "CITY", "limit": 5001},
        {"zone": "CITY", "limit": "many"},
        {"zone": "CITY", "cursor": "not-a-cursor"},
        {"zone": "CITY", "cursor": "MTIz"},  # base64 of "123": not one of ours
        {"zone": "CITY", "offset": 10},
    ],
)
def test_bad_listing_queries_are_422(client, enforcer, query):
    response = client.get("/enforcement/permits", query_string=query, headers=enforcer)
    assert response.status_code == 422, response.get_json()


def test_the_default_page_is_500_and_the_largest_5000(app, client, enforcer):
    from permit_service.api.enforcement import ValidPermitsArgsSchema

    assert ValidPermitsArgsSchema().load({"zone": "CITY"})["limit"] == 500
    response = client.get("/enforcement/permits?zone=CITY&limit=5000", headers=enforcer)
    assert response.status_code == 200 and response.get_json() == {"items": [], "next_cursor": None}


# --- the check log ----------------------------------------------------------------------------


def _log_rows(app: Any) -> list[Any]:
    with app.app_context():
        return db.session.execute(
            sa.select(EnforcementCheck.__table__).order_by(EnforcementCheck.id)
        ).all()


def test_every_check_is_logged_and_the_sweep_deletes_it_after_the_window(app, client, enforcer):
    approved(app, "LOG-1")
    log = check_log.for_app(app)
    log.flush()
    before = len(_log_rows(app))
    assert permitted(client, enforcer, "log 1") is True
    assert permitted(client, enforcer, "LOG-2") is False
    # The request did not write: the rows wait in the buffer for the writer thread.
    log.flush()
    rows = _log_rows(app)[before:]
    assert [(r.plate_key, r.zone, r.permitted) for r in rows] == [
        ("LOG1", "CITY", True),
        ("LOG2", "CITY", False),
    ]
    assert {r.user_id for r in rows} == {_user_id(app, "camera-car-7@city.example")}
    with app.app_context():
        service.expire_due_permits()  # inside the window: kept
    assert len(_log_rows(app)) == before + 2
    clock.advance(timedelta(hours=app.config["ENFORCEMENT_LOG_HOURS"], seconds=1))
    with app.app_context():
        service.expire_due_permits()
    assert _log_rows(app) == []


def test_the_sweep_deletes_a_large_log_in_batches(app, monkeypatch):
    from permit_service.services import sweep

    monkeypatch.setattr(sweep, "CHECK_LOG_BATCH", 7)
    old = utcnow() - timedelta(hours=25)
    rows = [
        {
            "user_id": 1,
            "plate_key": f"B{n}",
            "zone": "CITY",
            "checked_at": old,
            "at": old,
            "permitted": False,
        }
        for n in range(30)
    ]
    with app.app_context():
        db.session.execute(sa.insert(EnforcementCheck.__table__), rows)
        db.session.execute(
            sa.insert(EnforcementCheck.__table__), [rows[0] | {"checked_at": utcnow()}]
        )
        db.session.commit()
        assert sweep.delete_old_checks(utcnow(), 24) == 30
    assert len(_log_rows(app)) == 1


def _user_id(app: Any, email: str) -> int:
    from permit_service.services.users import get_user_by_email

    with app.app_context():
        return get_user_by_email(email).id


@pytest.mark.parametrize(
    "query",
    [
        "license_plate=ABC-123&zone=CITY",
        "license_plate=abc%20123&zone=city&at=2026-12-03T10:00:00Z",
        "license_plate=ABC-123&zone=CITY&at=2026-12-03T10:00:00%2B01:00",
        "license_plate=ABC-123&zone=CITY&at=%202026-12-03t10:00:00Z%20",
        "license_plate=&zone=CITY",
        "license_plate=ABC-123&zone=",
        "license_plate=ABC-123&zone=CITY&zone=SOUTH",  # repeated
        "license_plate=ABC-123&license_plate=X-1&zone=CITY",
        "license_plate=ABC-123&zone=CITY&at=",
        "license_plate=ABC-123&zone=CITY&at=2026-12-03",
        "license_plate=ABC-123&zone=NO-SUCH",
        "license_plate=ABC-123&zone=CITY&name=x",
        "license_plate=ABC-123",
        "zone=CITY&at=2026-12-03T10:00:00Z",
    ],
)
def test_the_checks_argument_shortcut_reads_as_the_schema_does(app, query):
    """The check reads a plainly valid query without webargs (issue 17): whatever it reads is
    what the documented schema reads; anything else it leaves to the schema and its 422."""
    from flask import request
    from marshmallow import ValidationError

    from permit_service.api.enforcement import CheckArgsSchema, _plain_check_args

    with app.test_request_context(f"/enforcement/check?{query}"):
        plain = _plain_check_args(request.args)
        single = {key: request.args[key] for key in request.args}
        repeated = any(len(v) > 1 for v in request.args.listvalues())
        try:
            loaded = CheckArgsSchema().load(single)
        except ValidationError:
            loaded = None
    if plain is not None:
        assert plain == loaded
    elif not repeated:
        assert loaded is None  # left to the schema only when the schema refuses it

"""Hostile bodies against every write endpoint: a 4xx in the error shape, and nothing changes.

SPEC.md section 4: no input, however malformed, produces a 500. Each endpoint gets the same corpus
(deep nesting, huge numbers, NUL bytes, lone surrogates, invalid UTF-8, wrong types for every
field, extra fields, huge strings, an empty body, JSON that is not an object), on SQLite and
PostgreSQL; afterwards no permit was created, no event recorded, no token issued and the target
permit is still pending. A hypothesis test adds random bytes and random JSON on top.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from permit_service.extensions import db
from permit_service.models import ApiToken, Permit, PermitEvent
from tests.conftest import SEED, STRONG_PASSWORD, apply

JSON = "application/json"
WRONG_TYPES: list[Any] = [0, -1, 1.5, True, False, [], ["x"], {}, {"a": "b"}]

# Every write endpoint: its fields (name -> may be null) and a valid body to start from.
ENDPOINTS: dict[str, dict[str, Any]] = {
    "apply": {
        "path": "/permits",
        "fields": {"name": False, "license_plate": False, "address": False, "email": True},
        "valid": SEED,
        "body_required": True,
    },
    "token": {
        "path": "/auth/token",
        "fields": {"email": False, "password": False},
        "valid": {"email": "admin@city.example", "password": STRONG_PASSWORD},
        "body_required": True,
    },
    "approve": {
        "path": "/permits/{id}/approve",
        "fields": {},
        "valid": {},
        "body_required": False,
    },
    "revoke": {
        "path": "/permits/{id}/revoke",
        "fields": {"reason": True},
        "valid": {"reason": "Moved out of the zone"},
        "body_required": False,
    },
}


def raw_cases() -> Iterator[tuple[str, bytes, str]]:
    """(label, body bytes, content type) refused on every endpoint, whatever its fields."""
    yield "15,000 nested [", b"[" * 15_000, JSON
    yield "15,000 nested {", b'{"a":' * 3_000 + b"1" + b"}" * 3_000, JSON
    yield "33 nested arrays", b"[" * 33 + b"]" * 33, JSON
    yield "5,000-digit integer", b'{"x": ' + b"9" * 5_000 + b"}", JSON
    yield "5,000-digit integer alone", b"9" * 5_000, JSON
    yield "huge exponent", b'{"x": 1e999999}', JSON
    yield "NaN", b'{"x": NaN}', JSON
    yield "-Infinity", b"-Infinity", JSON
    yield "raw NUL byte", b'{"x": "a\x00b"}', JSON
    yield "NUL in a key", b'{"\\u0000": 1}', JSON
    yield "lone surrogate", b'{"x": "\\ud800"}', JSON
    yield "lone surrogate key", b'{"\\udfff": "x"}', JSON
    yield "invalid UTF-8", b'{"x": "\xff\xfe"}', JSON
    yield "overlong UTF-8 NUL", b'{"x": "\xc0\x80"}', JSON
    yield "UTF-8 encoded surrogate", b'{"x": "\xed\xa0\x80"}', JSON
    yield "truncated", b'{"x": "', JSON
    yield "trailing garbage", b"{} x", JSON
    yield "single quotes", b"{'x': 1}", JSON
    yield "over 16 KiB", json.dumps({"x": "a" * 20_000}).encode(), JSON
    yield "text/plain", b"{}", "text/plain"
    yield "form post", b"name=x", "application/x-www-form-urlencoded"
    for label, value in [("array", []), ("string", "x"), ("number", 1), ("null", None)]:
        yield f"JSON {label}", json.dumps(value).encode(), JSON
    yield "JSON true", b"true", JSON


def field_cases(endpoint: dict[str, Any]) -> Iterator[tuple[str, bytes, str]]:
    """Cases built from the endpoint's valid body: wrong types, extra fields, huge strings."""
    valid, fields = endpoint["valid"], endpoint["fields"]
    for field, nullable in fields.items():
        for wrong in WRONG_TYPES + ([] if nullable else [None]):
            yield f"{field}={wrong!r}", json.dumps({**valid, field: wrong}).encode(), JSON
        for label, text in [
            ("NUL", "a\u0000b"),
            ("lone surrogate", "a\ud800b"),
            ("newline", "a\nb"),
            ("right-to-left override", "abc\u202edcba"),
            ("10,000 characters", "x" * 10_000),
            ("deep list", [[[[["x"]]]]]),
        ]:
            yield f"{field} with {label}", json.dumps({**valid, field: text}).encode(), JSON
    yield "extra field", json.dumps({**valid, "status": "approved"}).encode(), JSON
    yield "extra field with NUL", json.dumps({**valid, "x\u0000": 1}).encode(), JSON
    if endpoint["body_required"]:
        yield "empty body", b"", JSON


def all_cases(endpoint: dict[str, Any]) -> list[tuple[str, bytes, str]]:
    """Every hostile body for one endpoint."""
    return [*raw_cases(), *field_cases(endpoint)]


def snapshot(app: Flask) -> dict[str, Any]:
    """What a hostile request must not change: counts, and every permit's status."""
    with app.app_context():
        state = {
            "permits": db.session.scalar(sa.select(sa.func.count()).select_from(Permit)),
            "events": db.session.scalar(sa.select(sa.func.count()).select_from(PermitEvent)),
            "tokens": db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)),
            "statuses": dict(db.session.execute(sa.select(Permit.id, Permit.status)).all()),
        }
        db.session.rollback()
    return state


def send(client: FlaskClient, path: str, body: bytes, content_type: str, headers: Any) -> Any:
    """POST raw bytes with the given content type."""
    return client.post(path, data=body, headers={**headers, "Content-Type": content_type})


def refusal_problem(response: Any) -> str | None:
    """Why the answer is not a 4xx in the error shape, or None when it is."""
    if not 400 <= response.status_code < 500:
        return f"status {response.status_code}"
    body = response.get_json(silent=True)
    if not isinstance(body, dict) or body.get("code") != response.status_code:
        return f"not the error JSON: {response.get_data()[:200]!r}"
    if not isinstance(body.get("status"), str):
        return f"no status in {body!r}"
    return None


@pytest.fixture
def target(app: Flask, client: FlaskClient, admin_headers: dict[str, str]) -> dict[str, Any]:
    """A pending permit to aim approve and revoke at, and the admin's headers."""
    return {"id": apply(client)["id"], "headers": admin_headers}


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_hostile_bodies_are_refused_and_change_nothing(app, client, target, name):
    endpoint = ENDPOINTS[name]
    path = endpoint["path"].format(id=target["id"])
    headers = target["headers"] if "{id}" in endpoint["path"] else {}
    before = snapshot(app)
    problems = []
    for label, body, content_type in all_cases(endpoint):
        problem = refusal_problem(send(client, path, body, content_type, headers))
        if problem:
            problems.append(f"{label}: {problem}")
    assert not problems, "\n".join(problems)
    assert snapshot(app) == before


@pytest.mark.parametrize(
    ("label", "body", "status", "message"),
    [
        ("deep nesting", b"[" * 15_000, 400, "nested at most 32 levels"),
        ("big integer", b'{"name": ' + b"9" * 5_000 + b"}", 400, "at most 64 characters"),
        ("lone surrogate", b'{"name": "\\ud800"}', 400, "lone surrogate"),
        ("invalid UTF-8", b'{"name": "\xff"}', 400, "not valid UTF-8"),
    ],
)
def test_malformed_json_is_400_saying_why(client, label, body, status, message):
    for path in ("/permits", "/auth/token"):
        response = client.post(path, data=body, content_type=JSON)
        assert response.status_code == status, (label, path, response.get_data())
        assert any(message in text for text in response.get_json()["errors"]["json"])


def test_json_within_the_limits_still_parses(client):
    # 32 levels and a 64-character number are allowed by the decoder; the schema then refuses
    # the wrong type (422), which proves the body was parsed rather than refused as JSON.
    nested = {**SEED, "name": json.loads("[" * 31 + "]" * 31)}
    assert client.post("/permits", json=nested).status_code == 422
    number = {**SEED, "email": int("9" * 64)}
    assert client.post("/permits", json=number).status_code == 422
    assert client.post("/permits", json={**SEED, "name": "Zoë 😀 O'Brien"}).status_code == 201


def test_revoke_reason_rule_is_the_web_forms(client, admin_headers):
    """Line breaks and direction overrides are refused (422) and the permit stays pending."""
    permit_id = apply(client)["id"]
    for reason in ["Moved\nout", "evil\u202etxt.exe", "nul\u0000byte", "x" * 501]:
        response = client.post(
            f"/permits/{permit_id}/revoke", json={"reason": reason}, headers=admin_headers
        )
        assert response.status_code == 422, response.get_json()
        assert list(response.get_json()["errors"]["json"]) == ["reason"]
    assert client.get(f"/permits/{permit_id}").get_json()["status"] == "pending"
    response = client.post(
        f"/permits/{permit_id}/revoke", json={"reason": "  Moved out  "}, headers=admin_headers
    )
    assert response.status_code == 200
    events = client.get(f"/permits/{permit_id}/events", headers=admin_headers).get_json()
    assert events[-1]["reason"] == "Moved out"


def test_approve_refuses_fields_it_does_not_take(client, admin_headers):
    permit_id = apply(client)["id"]
    response = client.post(
        f"/permits/{permit_id}/approve", json={"status": "revoked"}, headers=admin_headers
    )
    assert response.status_code == 422
    assert client.get(f"/permits/{permit_id}").get_json()["status"] == "pending"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@pytest.mark.parametrize("name", list(ENDPOINTS))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode()))
def test_random_bodies_never_fail(app, client, target, name, body):
    endpoint = ENDPOINTS[name]
    path = endpoint["path"].format(id=target["id"])
    headers = target["headers"] if "{id}" in endpoint["path"] else {}
    response = send(client, path, body, JSON, headers)
    if response.status_code < 400:  # an empty or `{}` body is a valid approve or revoke
        assert name in {"approve", "revoke"} and response.status_code == 200
    else:
        assert refusal_problem(response) is None, (body, response.get_data())


@pytest.mark.parametrize(
    "query",
    [
        "page=" + "9" * 5_000,
        "page_size=" + "9" * 5_000,
        "page=-" + "9" * 5_000,
        "page=1e999",
        "status=%00",
        "license_plate=AB%0012",
        "license_plate=%ED%A0%80",  # a UTF-8 encoded surrogate
        "license_plate=" + "A" * 5_000,
    ],
)
def test_hostile_query_strings_are_422(client, admin_headers, query):
    response = client.get(f"/permits?{query}", headers=admin_headers)
    assert response.status_code == 422, response.get_data()
    assert response.get_json()["code"] == 422

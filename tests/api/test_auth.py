"""Bearer tokens on the admin API: who gets 401, 403 and 200; `POST /auth/token`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import check_password_hash, generate_password_hash

from permit_service import clock
from permit_service.extensions import db
from permit_service.models import ApiToken, User
from permit_service.services.tokens import issue_token, revoke_tokens
from permit_service.services.users import (
    DUMMY_HASH,
    PASSWORD_METHOD,
    create_user,
    get_user_by_email,
)
from tests.conftest import STRONG_PASSWORD, apply
from tests.support import own_redis_db, statements_run

# (method, path template, write?) of every admin endpoint.
ADMIN_ENDPOINTS = [
    ("GET", "/permits", False),
    ("GET", "/permits/{id}/events", False),
    ("POST", "/permits/{id}/approve", True),
    ("POST", "/permits/{id}/revoke", True),
]
ENDPOINT_IDS = [f"{m} {p}" for m, p, _ in ADMIN_ENDPOINTS]


def call(
    client: FlaskClient, method: str, template: str, permit_id: str, headers: dict[str, str]
) -> Any:
    """Call an admin endpoint on `permit_id`."""
    return client.open(template.format(id=permit_id), method=method, headers=headers)


def assert_unauthorized(response: Any) -> None:
    """401, the Bearer challenge, and the API's JSON error shape."""
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = response.get_json()
    assert body["code"] == 401 and body["status"] == "Unauthorized" and body["message"]


def token_for(app: Flask, email: str, role: str = "admin") -> str:
    """Create a user and return a fresh clear-text token."""
    with app.app_context():
        return issue_token(create_user(email, STRONG_PASSWORD, role)).token


@pytest.mark.parametrize(("method", "template", "write"), ADMIN_ENDPOINTS, ids=ENDPOINT_IDS)
def test_admin_endpoint_refuses_missing_token(client, method, template, write):
    permit = apply(client)
    assert_unauthorized(call(client, method, template, permit["id"], {}))


@pytest.mark.parametrize(("method", "template", "write"), ADMIN_ENDPOINTS, ids=ENDPOINT_IDS)
def test_admin_endpoint_refuses_unknown_token(client, admin_headers, method, template, write):
    permit = apply(client)
    wrong = {"Authorization": "Bearer not-a-token-we-ever-issued-0123456789"}
    response = call(client, method, template, permit["id"], wrong)
    assert_unauthorized(response)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer    ",
        "Basic YWRtaW46YWRtaW4=",
        "Bearer ../../etc/passwd",
        "Bearer " + "x" * 5000,
        "Token abc",
    ],
    ids=["empty", "blank", "basic", "junk", "huge", "other-scheme"],
)
def test_malformed_authorization_is_refused(client, admin_headers, authorization):
    response = client.get("/permits", headers={"Authorization": authorization})
    assert_unauthorized(response)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(("method", "template", "write"), ADMIN_ENDPOINTS, ids=ENDPOINT_IDS)
def test_admin_endpoint_refuses_expired_token(app, client, method, template, write):
    token = token_for(app, "late@city.example")
    with app.app_context():
        db.session.execute(
            sa.update(ApiToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        db.session.commit()
    permit = apply(client)
    response = call(client, method, template, permit["id"], {"Authorization": f"Bearer {token}"})
    assert_unauthorized(response)


@pytest.mark.parametrize(("method", "template", "write"), ADMIN_ENDPOINTS, ids=ENDPOINT_IDS)
def test_admin_endpoint_refuses_revoked_token(app, client, method, template, write):
    token = token_for(app, "gone@city.example")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/permits", headers=headers).status_code == 200
    with app.app_context():
        revoke_tokens(get_user_by_email("gone@city.example"))
    permit = apply(client)
    assert_unauthorized(call(client, method, template, permit["id"], headers))


def test_inactive_users_token_is_refused(app, client):
    token = token_for(app, "left@city.example")
    with app.app_context():
        db.session.execute(sa.update(User).values(active=False))
        db.session.commit()
    assert_unauthorized(client.get("/permits", headers={"Authorization": f"Bearer {token}"}))


@pytest.mark.parametrize("template", ["/permits/{id}/approve", "/permits/{id}/revoke"])
def test_viewer_may_not_decide(client, viewer_headers, template):
    permit = apply(client)
    response = client.post(template.format(id=permit["id"]), headers=viewer_headers)
    assert response.status_code == 403
    assert response.get_json()["status"] == "Forbidden"
    assert client.get(f"/permits/{permit['id']}").get_json()["status"] == "pending"


def test_viewer_may_list_and_read_history(client, viewer_headers):
    permit = apply(client)
    listing = client.get("/permits", headers=viewer_headers)
    assert listing.status_code == 200
    assert [p["id"] for p in listing.get_json()] == [permit["id"]]
    events = client.get(f"/permits/{permit['id']}/events", headers=viewer_headers)
    assert events.status_code == 200
    assert [e["to_status"] for e in events.get_json()] == ["pending"]


def test_admin_approves_and_events_name_the_admin(client, admin_headers):
    permit = apply(client)
    listing = client.get("/permits", headers=admin_headers)
    assert listing.status_code == 200 and len(listing.get_json()) == 1
    approved = client.post(f"/permits/{permit['id']}/approve", headers=admin_headers)
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"
    revoked = client.post(
        f"/permits/{permit['id']}/revoke", json={"reason": "moved"}, headers=admin_headers
    )
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    events = client.get(f"/permits/{permit['id']}/events", headers=admin_headers).get_json()
    assert [(e["to_status"], e["actor"]) for e in events] == [
        ("pending", "applicant"),
        ("approved", "admin@city.example"),
        ("revoked", "admin@city.example"),
    ]


def test_bearer_scheme_is_case_insensitive(client, admin_headers):
    token = admin_headers["Authorization"].split(" ", 1)[1]
    assert client.get("/permits", headers={"Authorization": f"bearer {token}"}).status_code == 200


def test_anonymous_residents_still_apply_and_read(client):
    permit = apply(client)
    assert permit["status"] == "pending"
    response = client.get(f"/permits/{permit['id']}")
    assert response.status_code == 200 and response.get_json()["id"] == permit["id"]


def test_auth_decided_before_input_validation(client):
    # An anonymous caller learns nothing about valid filters: 401 before 422.
    assert_unauthorized(client.get("/permits?status=bogus"))


# --- POST /auth/token -------------------------------------------------------------------------


def test_token_exchange_gives_a_working_bearer_token(app, client):
    with app.app_context():
        create_user("Chief@City.example", STRONG_PASSWORD, "admin")
    before = datetime.now(UTC)
    response = client.post(
        "/auth/token", json={"email": "chief@city.EXAMPLE", "password": STRONG_PASSWORD}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "token_type", "expires_at"}
    assert body["token_type"] == "bearer"
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=29, hours=23) < expires - before <= timedelta(days=30, minutes=1)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/permits", headers=headers).status_code == 200


def test_token_ttl_follows_config(app_factory):
    app = app_factory(TOKEN_TTL_DAYS=2)
    with app.app_context():
        create_user("brief@city.example", STRONG_PASSWORD, "viewer")
    body = (
        app.test_client()
        .post("/auth/token", json={"email": "brief@city.example", "password": STRONG_PASSWORD})
        .get_json()
    )
    left = datetime.fromisoformat(body["expires_at"]) - datetime.now(UTC)
    assert timedelta(days=1, hours=23) < left <= timedelta(days=2)


def test_bad_credentials_do_not_reveal_whether_the_email_exists(app, client):
    with app.app_context():
        create_user("known@city.example", STRONG_PASSWORD, "admin")
    wrong_password = client.post(
        "/auth/token", json={"email": "known@city.example", "password": "not-the-password-1"}
    )
    unknown_email = client.post(
        "/auth/token", json={"email": "nobody@city.example", "password": "not-the-password-1"}
    )
    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.get_json() == unknown_email.get_json()
    assert "known@city.example" not in wrong_password.get_data(as_text=True)


def test_an_unknown_email_costs_a_hash_check_as_dear_as_a_real_one():
    # The constant checked against for unknown e-mails has the cost parameters (method, N, r, p)
    # a stored hash gets today, and is a real hash of that kind (not one that fails fast).
    made_now = generate_password_hash("any-password-at-all", method=PASSWORD_METHOD)
    assert DUMMY_HASH.split("$")[0] == made_now.split("$")[0]
    assert check_password_hash(DUMMY_HASH, "not-a-real-password")


def test_inactive_user_gets_no_token(app, client):
    with app.app_context():
        create_user("off@city.example", STRONG_PASSWORD, "admin")
        db.session.execute(sa.update(User).values(active=False))
        db.session.commit()
    response = client.post(
        "/auth/token", json={"email": "off@city.example", "password": STRONG_PASSWORD}
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a@city.example"},
        {"password": "x"},
        {"email": "a@city.example", "password": "x", "role": "admin"},
        {"email": 5, "password": ["x"]},
        {"email": "", "password": ""},
        {"email": "a@city.example", "password": "x" * 5000},
        [],
    ],
    ids=["no-password", "no-email", "unknown-field", "wrong-types", "empty", "huge", "array"],
)
def test_token_request_bad_input_is_422(client, body):
    response = client.post("/auth/token", json=body)
    assert response.status_code == 422
    assert response.get_json()["code"] == 422


def test_token_request_malformed_json_is_not_a_500(client):
    response = client.post(
        "/auth/token", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400  # SPEC.md section 4: bad JSON is 400
    assert response.get_json()["code"] == 400


def test_openapi_declares_bearer_scheme_and_refusals(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
    paths = spec["paths"]
    for method, template, _write in ADMIN_ENDPOINTS:
        operation = paths[template.replace("{id}", "{permit_id}")][method.lower()]
        assert operation["security"] == [{"bearerAuth": []}]
        assert "401" in operation["responses"]
        assert "403" in operation["responses"]  # viewers' writes; enforcers everywhere
    assert "security" not in paths["/permits"]["post"]
    assert "429" in paths["/permits"]["post"]["responses"]
    assert {"401", "422", "429"} <= set(paths["/auth/token"]["post"]["responses"])


def test_authentication_costs_one_indexed_query(app, client, admin_headers):
    """The token check is a single statement (token and user together), looked up by digest."""
    with app.app_context():
        engine = db.engine
    with statements_run(engine) as run:
        assert client.get("/permits", headers=admin_headers).status_code == 200
    statements = [s.lower() for s in run]
    auth = [s for s in statements if "api_tokens" in s or "from users" in s]
    assert len(auth) == 1, auth
    assert "join users" in auth[0] and "token_hash =" in auth[0]


def test_token_request_with_control_characters_is_401_not_500(client):
    for email in ["a\x00b@city.example", "admin@city.example\n"]:
        response = client.post("/auth/token", json={"email": email, "password": "x" * 12})
        assert response.status_code == 401, response.get_json()


@pytest.fixture(params=["local-cache", "redis-cache"])
def cache_kind(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Config of the per-process cache (CACHE_URL unset), or of Redis (a database of this run)."""
    if request.param == "local-cache":
        yield {}
        return
    with own_redis_db() as url:
        yield {"CACHE_URL": url}


@pytest.mark.parametrize("command", ["revoke-tokens", "deactivate"])
def test_revocation_in_another_process_refuses_the_very_next_request(
    app_factory, cache_kind, command
):
    """Token holders are cached (issue 17), under a generation every revocation and
    deactivation bumps: `flask users revoke-tokens` / `deactivate`, run as its own process on
    the same database (and the same generations file or Redis), refuses the next request of
    this process, which had just been served with the token from its warm cache."""
    import os
    import subprocess
    import sys

    app = app_factory(**cache_kind)
    client = app.test_client()
    token = token_for(app, "leaving@city.example")
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(3):  # served, and served again: whatever could be warm is warm
        assert client.get("/permits", headers=headers).status_code == 200
    env = {
        **os.environ,
        "FLASK_APP": "wsgi",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": app.config["SECRET_KEY"],
        "INSTANCE_PATH": app.instance_path,
        **cache_kind,
    }
    env.pop("FLASK_DEBUG", None)
    if not cache_kind:
        env.pop("CACHE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "flask", "users", command, "leaving@city.example"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert_unauthorized(client.get("/permits", headers=headers))


def test_a_warm_token_cache_refuses_after_deactivation_and_at_expiry(app, client):
    """The cached holder is dropped by a deactivation in this process, and the expiry is
    decided per request from the cached `expires_at` (no invalidation needed at the deadline)."""
    from permit_service.services.users import deactivate_user

    token = token_for(app, "cached@city.example")
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(2):
        assert client.get("/permits", headers=headers).status_code == 200
    with app.app_context():
        expires_at = db.session.scalar(sa.select(ApiToken.expires_at))
    clock.advance(expires_at - clock.now() - timedelta(seconds=5))
    assert client.get("/permits", headers=headers).status_code == 200
    clock.advance(timedelta(seconds=5))
    assert_unauthorized(client.get("/permits", headers=headers))
    clock.reset()
    assert client.get("/permits", headers=headers).status_code == 200
    with app.app_context():
        deactivate_user("cached@city.example")
    assert_unauthorized(client.get("/permits", headers=headers))

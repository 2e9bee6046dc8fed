"""Staff sessions read through the cache (issues 16/17) are still refused at once.

Every signed-in page resolves its session through permit_service/cache.py. Each test warms
that cache first (several requests served with the session), then changes what it holds and
checks that the very next request sees the change: sign-out, deactivation, revoke-tokens (also
from another process sharing the generations file or Redis), a role change, a password change,
the idle and absolute limits.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from permit_service.extensions import db
from permit_service.models import User, utcnow
from permit_service.services import sessions
from permit_service.services.users import PASSWORD_METHOD, deactivate_user
from tests.support import own_redis_db, statements_run
from tests.web.conftest import ADMIN, add_user, login

PAGE = "/admin/permits"


@pytest.fixture(params=["local-cache", "redis-cache"])
def cache_kind(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Config of the per-process cache (CACHE_URL unset), or of Redis (a database of this run)."""
    if request.param == "local-cache":
        yield {}
        return
    with own_redis_db() as url:
        yield {"CACHE_URL": url}


def _signed_in(app: Flask, role: str = "admin") -> FlaskClient:
    add_user(app, ADMIN, role)
    client = app.test_client()
    assert login(client).status_code == 303
    return client


def _warm(client: FlaskClient) -> None:
    for _ in range(3):  # served, and served again: whatever could be warm is warm
        assert client.get(PAGE).status_code == 200


def _session_reads(app: Flask, client: FlaskClient) -> list[str]:
    """The statements reading staff_sessions that one page view sends."""
    with app.app_context():
        engine = db.engine
    with statements_run(engine) as run:
        assert client.get(PAGE).status_code == 200
    return [s for s in run if "staff_sessions" in s.lower()]


def test_a_warm_session_is_read_from_the_cache(app_factory, cache_kind):
    """The cache is really used: once warm, a page reads no session row (so the tests below
    test a warm cache)."""
    app = app_factory(**cache_kind)
    client = _signed_in(app)
    _warm(client)
    assert _session_reads(app, client) == []


def test_sign_out_refuses_the_next_request_of_a_warm_copy(app_factory, cache_kind):
    app = app_factory(**cache_kind)
    client = _signed_in(app)
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    _warm(client)
    _warm(copy)
    assert client.post("/admin/logout").status_code == 303
    assert copy.get(PAGE).status_code == 302


def test_sign_out_keeps_the_other_sessions_of_the_user_cached_and_valid(app_factory):
    app = app_factory()
    client = _signed_in(app)
    other = app.test_client()
    assert login(other).status_code == 303
    _warm(client)
    _warm(other)
    assert client.post("/admin/logout").status_code == 303
    assert other.get(PAGE).status_code == 200
    assert _session_reads(app, other) == []  # its own generation did not move


@pytest.mark.parametrize("command", ["deactivate", "revoke-tokens"])
def test_ending_sessions_in_another_process_refuses_the_next_request(
    app_factory, cache_kind, command
):
    """`flask users deactivate` / `revoke-tokens`, run as its own process on the same database
    (and the same generations file or Redis), refuses this process's next request, which had
    just been served from its warm cache."""
    app = app_factory(**cache_kind)
    client = _signed_in(app)
    _warm(client)
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
        [sys.executable, "-m", "flask", "users", command, ADMIN[0]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert client.get(PAGE).status_code == 302


def test_deactivation_in_this_process_refuses_the_next_request(app_factory, cache_kind):
    app = app_factory(**cache_kind)
    client = _signed_in(app)
    _warm(client)
    with app.app_context():
        deactivate_user(ADMIN[0])
    assert client.get(PAGE).status_code == 302


def test_a_role_change_shows_on_the_next_request(app_factory, cache_kind):
    """The cached session carries the role: changing a user's row (as any future service that
    changes roles will) marks it stale, so an admin made viewer may not decide at once."""
    app = app_factory(**cache_kind)
    client = _signed_in(app)
    _warm(client)
    assert "(administrator)" in client.get(PAGE).get_data(as_text=True)
    with app.app_context():
        db.session.scalar(sa.select(User).where(User.email == ADMIN[0])).role = "viewer"
        db.session.commit()
    page = client.get(PAGE).get_data(as_text=True)
    assert "(viewer)" in page and "(administrator)" not in page
    assert client.post("/admin/permits/bulk", data={"action": "approve"}).status_code == 403


def test_a_password_change_marks_the_cached_session_stale(app_factory, cache_kind):
    """A changed password (a user row change) makes the next request read the session again,
    not a value cached before the change."""
    app = app_factory(**cache_kind)
    client = _signed_in(app)
    _warm(client)
    assert _session_reads(app, client) == []
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == ADMIN[0]))
        user.password_hash = generate_password_hash("another-password-42", PASSWORD_METHOD)
        db.session.commit()
    assert len(_session_reads(app, client)) == 1
    assert _session_reads(app, client) == []  # and cached again


def test_ending_one_session_through_the_service_refuses_its_warm_value(app_factory, cache_kind):
    """Ending one session by its key (the sign-out's service call, here outside any request)
    bumps its own generation: the warm value is not served again."""
    app = app_factory(**cache_kind)
    client = _signed_in(app)
    _warm(client)
    with client.session_transaction() as cookie:
        key = cookie["_user_id"]
    with app.app_context():
        sessions.end_session(key)
    assert client.get(PAGE).status_code == 302


def test_limits_are_decided_per_request_from_the_cached_times(app_factory, monkeypatch):
    """The idle and absolute limits hold with a warm cache; the last-seen time it holds moves
    when the row is touched (so activity keeps the session alive)."""
    offset = [timedelta(0)]
    monkeypatch.setattr(sessions, "utcnow", lambda: utcnow() + offset[0])
    app = app_factory(SESSION_IDLE_SECONDS=600, SESSION_MAX_SECONDS=1800)
    client = _signed_in(app)
    _warm(client)
    for _ in range(3):
        offset[0] += timedelta(seconds=590)
        _warm(client)  # touched at the first, then served from the cache again
        assert _session_reads(app, client) == []
    offset[0] += timedelta(seconds=60)  # 1830 s after sign-in
    assert client.get(PAGE).status_code == 302

    client = _signed_in_again(app)
    _warm(client)
    offset[0] += timedelta(seconds=601)  # idle
    assert client.get(PAGE).status_code == 302


def _signed_in_again(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert login(client).status_code == 303
    return client


def test_an_orm_update_of_users_shows_on_the_next_request(app_factory, cache_kind):
    """`session.execute(sa.update(User)...)` (no object flushed) marks the cache stale too."""
    app = app_factory(**cache_kind)
    client = _signed_in(app)
    _warm(client)
    with app.app_context():
        db.session.execute(sa.update(User).where(User.email == ADMIN[0]).values(active=False))
        db.session.commit()
    assert client.get(PAGE).status_code == 302


def test_a_change_behind_the_app_is_honoured_within_the_bound(app_factory, monkeypatch):
    """A role changed by plain SQL on the connection (as by hand in psql) bumps no generation:
    the cached session is read again at most CACHED_AT_MOST after it was read."""
    offset = [timedelta(0)]
    monkeypatch.setattr(sessions, "utcnow", lambda: utcnow() + offset[0])
    app = app_factory()
    client = _signed_in(app)
    _warm(client)
    with app.app_context():
        db.session.connection().execute(
            sa.text("UPDATE users SET role = 'viewer' WHERE email = :email"), {"email": ADMIN[0]}
        )
        db.session.commit()
    assert "(administrator)" in client.get(PAGE).get_data(as_text=True)  # still cached
    offset[0] += sessions.CACHED_AT_MOST
    assert "(viewer)" in client.get(PAGE).get_data(as_text=True)

"""Staff sessions end for good: sign-out, idle and absolute limits, deactivation, revoke-tokens.

Each test keeps a copy of the session cookie taken while signed in and replays it from a fresh
client afterwards, as an attacker who copied it would.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from permit_service.models import utcnow
from permit_service.services import sessions
from tests.web.conftest import ADMIN, login


class MovedClock:
    """The sessions service's clock, moved forward instead of sleeping."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = timedelta(0)
        monkeypatch.setattr(sessions, "utcnow", lambda: utcnow() + self.offset)

    def advance(self, seconds: float) -> None:
        """Move the clock `seconds` forward."""
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> MovedClock:
    return MovedClock(monkeypatch)


def session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def replay(app: Flask, cookie: str, path: str = "/admin/permits") -> int:
    """Open `path` from a new client that only has the copied cookie; return the status."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other.get(path).status_code


def test_copied_cookie_is_useless_after_sign_out(app, admin_client):
    copied = session_cookie(admin_client)
    assert replay(app, copied) == 200  # the copy works while the session lives

    assert admin_client.post("/admin/logout").status_code == 303
    assert replay(app, copied) == 302  # to the sign-in page
    assert admin_client.get("/admin/permits").status_code == 302


def test_sign_out_ends_only_that_browsers_session(app, admin_client):
    other = app.test_client()
    assert login(other).status_code == 303
    assert admin_client.post("/admin/logout").status_code == 303
    assert other.get("/admin/permits").status_code == 200


def test_session_ends_after_the_idle_limit(app_factory, clock):
    app = app_factory(SESSION_IDLE_SECONDS=600, SESSION_MAX_SECONDS=86400)
    client = _signed_in(app)
    copied = session_cookie(client)
    clock.advance(590)
    assert client.get("/admin/permits").status_code == 200  # activity resets the idle time
    clock.advance(590)
    assert client.get("/admin/permits").status_code == 200
    clock.advance(601)
    assert client.get("/admin/permits").status_code == 302
    assert replay(app, copied) == 302


def test_session_ends_at_the_absolute_limit_despite_activity(app_factory, clock):
    app = app_factory(SESSION_IDLE_SECONDS=600, SESSION_MAX_SECONDS=1800)
    client = _signed_in(app)
    for _ in range(3):
        clock.advance(590)
        assert client.get("/admin/permits").status_code == 200
    clock.advance(60)  # 1830 s after sign-in, 60 s after the last request
    assert client.get("/admin/permits").status_code == 302


def test_default_limits_are_eight_hours_idle_and_a_day_in_all(app):
    assert app.config["SESSION_IDLE_SECONDS"] == 8 * 3600
    assert app.config["SESSION_MAX_SECONDS"] == 24 * 3600
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=24)


@pytest.mark.parametrize("command", ["deactivate", "revoke-tokens"])
def test_deactivating_or_revoking_tokens_ends_web_sessions(app, admin_client, command):
    copied = session_cookie(admin_client)
    result = app.test_cli_runner().invoke(args=["users", command, ADMIN[0]])
    assert result.exit_code == 0, result.output
    assert admin_client.get("/admin/permits").status_code == 302
    assert replay(app, copied) == 302


def test_a_cookie_naming_a_user_id_opens_nothing(app, staff):
    other = app.test_client()
    with other.session_transaction() as session:  # signed with the real key: a forged session
        session["_user_id"] = "1"
        session["_fresh"] = True
    assert other.get("/admin/permits").status_code == 302


def _signed_in(app: Flask) -> FlaskClient:
    from tests.web.conftest import add_user

    add_user(app, ADMIN, "admin")
    client = app.test_client()
    assert login(client).status_code == 303
    return client

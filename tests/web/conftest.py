"""Helpers for the web page tests: staff accounts, signing in, applying through the form."""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from permit_service import clock
from permit_service.extensions import db
from permit_service.models import User
from permit_service.services.users import PASSWORD_METHOD

ADMIN = ("admin@example.test", "admin-password-42")
VIEWER = ("viewer@example.test", "viewer-password-42")
FORM = {"name": "John Doe", "license_plate": "ABC-123", "address": "123 Main St", "email": ""}


@functools.cache
def _password_hash(password: str) -> str:
    # scrypt is slow on purpose; hash each test password once per run, not once per test.
    return generate_password_hash(password, method=PASSWORD_METHOD)


def add_user(app: Flask, who: tuple[str, str], role: str) -> None:
    """Store an account with a real scrypt hash of its password."""
    with app.app_context():
        db.session.add(User(email=who[0], password_hash=_password_hash(who[1]), role=role))
        db.session.commit()


@pytest.fixture
def staff(app: Flask) -> None:
    """One admin and one viewer account."""
    add_user(app, ADMIN, "admin")
    add_user(app, VIEWER, "viewer")


def login(client: FlaskClient, who: tuple[str, str] = ADMIN, **query: str) -> Any:
    """Sign in through the login form; returns the (unfollowed) response."""
    return client.post(
        "/admin/login", query_string=query, data={"email": who[0], "password": who[1]}
    )


@pytest.fixture
def admin_client(client: FlaskClient, staff: None) -> FlaskClient:
    """A client signed in as the admin."""
    assert login(client).status_code == 303
    return client


@pytest.fixture
def viewer_client(app: Flask, staff: None) -> FlaskClient:
    """A second client, signed in as the viewer."""
    other = app.test_client()
    assert login(other, VIEWER).status_code == 303
    return other


def apply_web(client: FlaskClient, **fields: str) -> str:
    """Apply through the web form; return the new permit's id from the receipt redirect."""
    response = client.post("/", data={**FORM, **fields})
    assert response.status_code == 303, response.get_data(as_text=True)
    match = re.fullmatch(r"/applications/([0-9a-f-]{36})", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def let_deadline_pass(app: Flask) -> None:
    """Move the service's clock past the pending TTL: every pending application is now due."""
    clock.advance(app.config["PENDING_TTL_SECONDS"] + 1)


def text(response: Any) -> str:
    """The page's text with tags removed and whitespace collapsed, as a reader sees it."""
    body = response.get_data(as_text=True)
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    body = re.sub(r"<[^>]+>", " ", body)
    body = body.replace("&#39;", "'").replace("&amp;", "&").replace("&#34;", '"')
    return re.sub(r"\s+", " ", body).strip()


def title(response: Any) -> str:
    """The page's <title>."""
    match = re.search(r"<title>(.*?)</title>", response.get_data(as_text=True), flags=re.S)
    assert match
    return re.sub(r"\s+", " ", match.group(1)).strip()

"""Logs never carry passwords, tokens or residents' names, addresses and e-mails."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from permit_service.logging_setup import PrivacyFilter, log_reference, mask_ids
from tests.conftest import STRONG_PASSWORD

RESIDENT = {
    "name": "Zebedee Quillfeather",
    "license_plate": "QZ-4711",
    "address": "17 Marrowbone Close",
    "email": "zebedee.q@residents.example",
}
WRONG_PASSWORD = "Wr0ng-but-still-secret!"
ADMIN_EMAIL = "chief.admin@city.example"
MISTYPED_EMAIL = "password-typed-in-email-field"


def everything_logged(records: list[logging.LogRecord]) -> str:
    """All a log handler could print: messages, arguments, extra fields, tracebacks."""
    parts: list[str] = []
    for record in records:
        parts.append(record.getMessage())
        parts.extend(repr(value) for value in vars(record).values())
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


def test_full_flow_logs_no_secrets_or_personal_data(app_factory, caplog: Any) -> None:
    app = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3 per minute")
    client = app.test_client()
    runner = app.test_cli_runner()
    # Building the first app configures logging, which replaces the root handlers: re-attach
    # pytest's capturing handler so this test sees every record the app emits.
    logging.getLogger().addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    # The app's handlers mask permit ids with PrivacyFilter (the migrations' fileConfig replaced
    # the root handler here; tests/deploy/test_access_log_privacy.py checks a real process).
    caplog.handler.addFilter(PrivacyFilter())

    created = runner.invoke(
        args=["users", "create-admin", ADMIN_EMAIL], input=f"{STRONG_PASSWORD}\n{STRONG_PASSWORD}\n"
    )
    assert created.exit_code == 0, created.output
    cli_token = runner.invoke(args=["users", "create-token", ADMIN_EMAIL]).output.split()[-1]

    applied = client.post("/permits", json=RESIDENT)
    assert applied.status_code == 201
    permit_id = applied.get_json()["id"]
    # Refused input still must not echo into logs.
    assert client.post("/permits", json={**RESIDENT, "email": "not an email"}).status_code == 422
    assert client.post("/permits", json=RESIDENT).status_code == 409

    failed = client.post("/auth/token", json={"email": ADMIN_EMAIL, "password": WRONG_PASSWORD})
    assert failed.status_code == 401
    unknown = client.post("/auth/token", json={"email": MISTYPED_EMAIL, "password": "x"})
    assert unknown.status_code == 401
    granted = client.post("/auth/token", json={"email": ADMIN_EMAIL, "password": STRONG_PASSWORD})
    assert granted.status_code == 200
    api_token = granted.get_json()["access_token"]
    limited = client.post("/auth/token", json={"email": ADMIN_EMAIL, "password": WRONG_PASSWORD})
    assert limited.status_code == 429

    headers = {"Authorization": f"Bearer {api_token}"}
    assert client.post(f"/permits/{permit_id}/approve", headers=headers).status_code == 200
    revoke = client.post(
        f"/permits/{permit_id}/revoke", json={"reason": "moved away"}, headers=headers
    )
    assert revoke.status_code == 200
    bad = {"Authorization": f"Bearer {api_token}x"}
    assert client.get("/permits", headers=bad).status_code == 401
    assert runner.invoke(args=["users", "revoke-tokens", ADMIN_EMAIL]).exit_code == 0

    logged = everything_logged(caplog.records)
    # The flow was logged at all (otherwise this test could not fail).
    for event in ("permit applied", "api token issued", "permit approved", "permit revoked"):
        assert event in logged
    # A permit id opens the receipt without login: only its keyed reference is logged.
    assert permit_id not in logged
    assert log_reference(permit_id) in logged

    secrets = {
        "resident name": RESIDENT["name"],
        "resident address": RESIDENT["address"],
        "resident e-mail": RESIDENT["email"],
        "password": STRONG_PASSWORD,
        "wrong password": WRONG_PASSWORD,
        "failed-login e-mail": MISTYPED_EMAIL,
        "API token": api_token,
        "CLI token": cli_token,
    }
    leaked = [label for label, value in secrets.items() if value in logged]
    assert not leaked, f"logged: {leaked}"


PERMIT_ID = "6f1c2a9e-1b3d-4c5e-8f70-0a1b2c3d4e5f"


@pytest.mark.parametrize(
    ("logged", "shown"),
    [
        (f"GET /permits/{PERMIT_ID}", "GET /permits/<id>"),
        (f"POST /permits/{PERMIT_ID}/approve 200", "POST /permits/<id>/approve 200"),
        (f"/applications/{PERMIT_ID.replace('-', '')}", "/applications/<id>"),
        (f"/admin/permits/{{{PERMIT_ID.upper()}}}?back=/", "/admin/permits/<id>?back=/"),
        ("/permits?status=pending", "/permits?status=pending"),
    ],
)
def test_paths_lose_the_permit_id_whatever_its_spelling(logged: str, shown: str) -> None:
    assert mask_ids(logged) == shown
    assert mask_ids(mask_ids(logged)) == shown  # several handlers may filter one record


def test_a_permit_id_field_becomes_a_stable_keyed_reference() -> None:
    def logged(permit_id: str) -> str:
        record = logging.LogRecord("x", logging.INFO, "", 0, "permit applied", None, None)
        record.permit_id = permit_id
        PrivacyFilter().filter(record)
        PrivacyFilter().filter(record)  # several handlers may filter one record
        return record.permit_id

    assert logged(PERMIT_ID) == log_reference(PERMIT_ID)
    assert logged(PERMIT_ID).startswith("~") and PERMIT_ID not in logged(PERMIT_ID)
    assert logged(PERMIT_ID.upper()) == logged(PERMIT_ID)
    assert logged(PERMIT_ID) != logged("00000000-0000-4000-8000-000000000000")

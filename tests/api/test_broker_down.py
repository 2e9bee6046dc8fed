"""With the broker down, residents and admins carry on: the sweep and the e-mails wait for it.

The e-mails are written with each change (queued) and handed to the broker after the commit in
a background thread, so an unreachable broker costs a request nothing.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from flask import Flask

from tests.conftest import apply


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(params=["redis", "amqp"])
def broker_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """CELERY_BROKER_URL pointing at a closed port, set before the app is built."""
    port = _closed_port()
    url = {
        "redis": f"redis://127.0.0.1:{port}/0",
        "amqp": f"amqp://guest:guest@127.0.0.1:{port}//",
    }[request.param]
    monkeypatch.setenv("CELERY_BROKER_URL", url)
    return url


@pytest.fixture
def app(broker_url: str, app_factory: Any) -> Flask:
    """The app configured, from the environment, with the unreachable broker."""
    return app_factory()


def test_apply_and_decide_without_the_broker(
    app: Flask, broker_url: str, admin_headers: dict[str, str]
) -> None:
    assert app.config["CELERY"]["broker_url"] == broker_url
    client = app.test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503  # the broker really is unreachable from this app
    assert ready.get_json()["checks"]["broker"].startswith("down")

    began = time.monotonic()
    pending = apply(client, email="resident@example.org")  # asserts 201
    approved = client.post(f"/permits/{pending['id']}/approve", headers=admin_headers)
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["status"] == "approved"
    revoked = client.post(
        f"/permits/{apply(client, license_plate='XYZ-9', email='r2@example.org')['id']}/revoke",
        json={"reason": "moved away"},
        headers=admin_headers,
    )
    assert revoked.status_code == 200, revoked.get_json()
    # No hidden wait on broker connection retries either.
    assert time.monotonic() - began < 2
    shown = client.get(f"/permits/{pending['id']}/notifications", headers=admin_headers)
    assert [(n["kind"], n["status"]) for n in shown.get_json()] == [
        ("received", "queued"),
        ("approved", "queued"),
    ]


def test_cli_sweep_runs_without_the_broker(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["permits", "expire"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "expired 0 permit(s)"

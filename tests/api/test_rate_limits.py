"""Rate limits on applying and on token requests, with in-memory and Redis storage."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from tests.conftest import SEED

REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
BAD_LOGIN = {"email": "someone@city.example", "password": "wrong-password-123"}


@pytest.fixture
def redis_limits() -> Iterator[dict[str, Any]]:
    """Settings for limits kept in the test Redis under a key prefix of their own (cleaned up)."""
    if not REDIS_URL:
        if REQUIRE_SERVICES:
            pytest.fail("REQUIRE_SERVICES=1 but TEST_REDIS_URL is not set")
        pytest.skip("TEST_REDIS_URL not set")
    import redis

    prefix = f"permit_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        yield {"RATELIMIT_STORAGE_URI": REDIS_URL, "RATELIMIT_KEY_PREFIX": prefix, "redis": client}
    finally:
        for key in client.scan_iter(match=f"*{prefix}*"):
            client.delete(key)
        client.close()


def limited_app(app_factory: Any, storage: dict[str, Any] | None = None, **extra: Any) -> Flask:
    """An app with rate limits on (tests turn them off by default)."""
    settings = {k: v for k, v in (storage or {}).items() if k != "redis"}
    return app_factory(RATELIMIT_ENABLED=True, **settings, **extra)


def assert_too_many(response: Any, window_seconds: int = 60) -> None:
    """429 in the API's JSON shape with a usable Retry-After."""
    assert response.status_code == 429, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == 429 and body["status"] == "Too Many Requests"
    assert 0 <= int(response.headers["Retry-After"]) <= window_seconds


def test_token_requests_are_limited_per_client(app_factory):
    app = limited_app(app_factory, RATELIMIT_LOGIN="3 per minute")
    client = app.test_client()
    for _ in range(3):
        assert client.post("/auth/token", json=BAD_LOGIN).status_code == 401
    assert_too_many(client.post("/auth/token", json=BAD_LOGIN))
    # Another client address has its own allowance.
    other = client.post(
        "/auth/token", json=BAD_LOGIN, environ_overrides={"REMOTE_ADDR": "192.0.2.7"}
    )
    assert other.status_code == 401


def test_applications_are_limited_per_client(app_factory):
    app = limited_app(app_factory, RATELIMIT_APPLY="2 per minute")
    client = app.test_client()
    for plate in ("AB-1", "AB-2"):
        assert client.post("/permits", json={**SEED, "license_plate": plate}).status_code == 201
    assert_too_many(client.post("/permits", json={**SEED, "license_plate": "AB-3"}))
    # The refused application was not recorded: the plate is still free for another client.
    other = client.post(
        "/permits",
        json={**SEED, "license_plate": "AB-3"},
        environ_overrides={"REMOTE_ADDR": "192.0.2.8"},
    )
    assert other.status_code == 201


def test_reading_is_not_limited(app_factory):
    app = limited_app(app_factory, RATELIMIT_APPLY="1 per minute")
    client = app.test_client()
    permit = client.post("/permits", json=SEED).get_json()
    for _ in range(5):
        assert client.get(f"/permits/{permit['id']}").status_code == 200


def test_limits_can_be_switched_off(app_factory):
    client = app_factory(RATELIMIT_ENABLED=False, RATELIMIT_LOGIN="1 per minute").test_client()
    for _ in range(4):
        assert client.post("/auth/token", json=BAD_LOGIN).status_code == 401


def test_forwarded_for_is_ignored_without_trusted_proxies(app_factory):
    client = limited_app(app_factory, RATELIMIT_LOGIN="2 per minute").test_client()
    for n in range(2):
        headers = {"X-Forwarded-For": f"198.51.100.{n}"}
        assert client.post("/auth/token", json=BAD_LOGIN, headers=headers).status_code == 401
    # A made-up X-Forwarded-For does not buy a fresh allowance.
    headers = {"X-Forwarded-For": "198.51.100.99"}
    assert_too_many(client.post("/auth/token", json=BAD_LOGIN, headers=headers))


def test_trusted_proxy_forwards_the_client_address(app_factory):
    client = limited_app(
        app_factory, RATELIMIT_LOGIN="1 per minute", TRUSTED_PROXIES=1
    ).test_client()
    first = {"X-Forwarded-For": "198.51.100.1"}
    assert client.post("/auth/token", json=BAD_LOGIN, headers=first).status_code == 401
    assert_too_many(client.post("/auth/token", json=BAD_LOGIN, headers=first))
    second = {"X-Forwarded-For": "198.51.100.2"}
    assert client.post("/auth/token", json=BAD_LOGIN, headers=second).status_code == 401


def test_limits_are_kept_in_redis(app_factory, redis_limits):
    app = limited_app(app_factory, redis_limits, RATELIMIT_LOGIN="2 per minute")
    client = app.test_client()
    for _ in range(2):
        assert client.post("/auth/token", json=BAD_LOGIN).status_code == 401
    assert_too_many(client.post("/auth/token", json=BAD_LOGIN))
    prefix = redis_limits["RATELIMIT_KEY_PREFIX"]
    assert list(redis_limits["redis"].scan_iter(match=f"*{prefix}*")), "no counters in Redis"

    # A second app (another worker process in production) sees the same counters.
    again = limited_app(app_factory, redis_limits, RATELIMIT_LOGIN="2 per minute")
    assert_too_many(again.test_client().post("/auth/token", json=BAD_LOGIN))


def test_unreachable_limit_storage_falls_back_to_memory(app_factory, redis_limits):
    # Redis down must not turn applications and logins into 500s, nor switch the limits off.
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    app = limited_app(app_factory, RATELIMIT_STORAGE_URI=dead, RATELIMIT_LOGIN="2 per minute")
    client = app.test_client()
    for _ in range(2):
        assert client.post("/auth/token", json=BAD_LOGIN).status_code == 401
    assert_too_many(client.post("/auth/token", json=BAD_LOGIN))

    # A later app with working storage does not inherit the outage (it counts where configured).
    healthy = limited_app(app_factory, redis_limits, RATELIMIT_LOGIN="5 per minute")
    assert healthy.test_client().post("/auth/token", json=BAD_LOGIN).status_code == 401
    prefix = redis_limits["RATELIMIT_KEY_PREFIX"]
    assert list(redis_limits["redis"].scan_iter(match=f"*{prefix}*"))

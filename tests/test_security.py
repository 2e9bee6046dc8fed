"""Hardening: security headers, Swagger UI under the CSP, cookies, CORS, the SECRET_KEY rule."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import session

from permit_service import create_app
from permit_service.config import ConfigError
from tests.conftest import STRONG_PASSWORD, apply, auth_headers

CITY_APP = "https://apps.city.example"


def assert_security_headers(response: Any) -> None:
    """The headers every response must carry."""
    csp = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    for directive in ("script-src", "style-src"):
        assert "unsafe-inline" not in directives[directive]
        assert directives[directive].startswith("'self'")
    assert not re.search(r"https?:|\*", csp), csp  # no other origin is trusted
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Strict-Transport-Security" not in response.headers  # only when FORCE_HTTPS


def test_api_responses_carry_security_headers(client, admin_headers):
    permit = apply(client)
    for response in (
        client.get(f"/permits/{permit['id']}"),
        client.get("/permits", headers=admin_headers),
        client.get("/permits"),  # 401
        client.get("/healthz"),
    ):
        assert response.is_json
        assert_security_headers(response)


def test_html_pages_carry_security_headers(client):
    response = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert_security_headers(response)


class _AssetCollector(HTMLParser):
    """Collects the URLs a page loads and its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[dict[str, str | None]] = []
        self.style_attributes = 0
        self.style_elements = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.urls += [v for k, v in attrs if k in {"src", "href"} and v is not None]
        if tag == "script" and "src" not in found:
            self.inline_scripts.append(found)
        self.style_attributes += "style" in found
        self.style_elements += tag == "style"


@pytest.mark.parametrize("path", ["/docs", "/docs/"])
def test_swagger_ui_uses_only_local_assets_and_the_csp_nonce(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert_security_headers(response)
    page = _AssetCollector()
    page.feed(response.get_data(as_text=True))
    assert page.urls and all(url.startswith("/docs/") for url in page.urls), page.urls
    for url in page.urls:
        assert client.get(url).status_code == 200, url  # served by the service itself
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    assert page.inline_scripts == [{"nonce": nonce}]
    assert page.style_attributes == page.style_elements == 0
    assert "validatorUrl = null" in response.get_data(as_text=True)


def test_each_page_gets_a_fresh_nonce(client):
    first, second = (client.get("/docs").headers["Content-Security-Policy"] for _ in range(2))
    assert first != second


def test_https_is_forced_only_when_configured(app_factory):
    plain = app_factory().test_client()
    assert plain.get("/healthz").status_code == 200

    client = app_factory(FORCE_HTTPS=True).test_client()
    redirect = client.get("/healthz")
    assert redirect.status_code in {301, 302}
    assert redirect.headers["Location"].startswith("https://")
    secure = client.get("/healthz", base_url="https://permits.city.example")
    assert secure.status_code == 200
    assert "max-age=" in secure.headers["Strict-Transport-Security"]


def _session_cookie(app: Any) -> str:
    """Set-Cookie of a response that stores something in the session."""

    @app.get("/_test/session")
    def _touch() -> str:
        session["seen"] = True
        return "ok"

    return app.test_client().get("/_test/session").headers["Set-Cookie"]


def test_session_cookie_is_httponly_and_lax(app_factory):
    cookie = _session_cookie(app_factory())
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP on 127.0.0.1 (make run, tests)


def test_session_cookie_is_secure_when_configured(app_factory):
    cookie = _session_cookie(app_factory(SESSION_COOKIE_SECURE=True))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_no_cors_unless_configured(client):
    response = client.get("/healthz", headers={"Origin": CITY_APP})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_for_configured_origins_on_api_routes_only(app_factory):
    client = app_factory(CORS_ORIGINS=[CITY_APP]).test_client()
    allowed = client.get("/healthz", headers={"Origin": CITY_APP})
    assert allowed.headers["Access-Control-Allow-Origin"] == CITY_APP
    assert "Access-Control-Allow-Credentials" not in allowed.headers

    preflight = client.options(
        "/permits",
        headers={
            "Origin": CITY_APP,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == CITY_APP
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()

    other = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    page = client.get("/docs", headers={"Origin": CITY_APP})
    assert "Access-Control-Allow-Origin" not in page.headers


@pytest.fixture
def bare_environment(tmp_path, monkeypatch, sqlite_url):
    """An environment with no SECRET_KEY and no .env, as on a fresh server."""
    monkeypatch.chdir(tmp_path)  # no .env here
    for name in ("SECRET_KEY", "FLASK_DEBUG", "TESTING"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    return monkeypatch


def test_production_refuses_to_start_without_secret_key(bare_environment):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_production_refuses_a_short_secret_key(bare_environment):
    bare_environment.setenv("SECRET_KEY", "short")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_debug_mode_starts_without_secret_key(bare_environment):
    bare_environment.setenv("FLASK_DEBUG", "1")
    app = create_app()
    assert app.config["SECRET_KEY"]
    assert app.test_client().get("/healthz").status_code == 200


def test_production_starts_with_a_real_secret_key(bare_environment):
    bare_environment.setenv("SECRET_KEY", "a" * 8 + "b" * 8 + "c" * 16)
    assert create_app().test_client().get("/healthz").status_code == 200


def test_json_api_works_with_csrf_protection_on(app_factory):
    # Tests switch CSRF off by default; production has it on, and the token API must still work.
    app = app_factory(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    headers = auth_headers(app, "admin", "csrf@city.example")
    permit = apply(client)
    approved = client.post(f"/permits/{permit['id']}/approve", headers=headers)
    assert approved.status_code == 200
    token = client.post(
        "/auth/token", json={"email": "csrf@city.example", "password": STRONG_PASSWORD}
    )
    assert token.status_code == 200

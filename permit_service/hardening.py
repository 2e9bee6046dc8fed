"""HTTP hardening: security headers (Talisman), CORS for API clients, trusted proxies."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask_cors import CORS
from flask_talisman import Talisman
from werkzeug.middleware.proxy_fix import ProxyFix

from permit_service.errors import api_prefixes
from permit_service.extensions import limiter

# Only the service's own assets. Scripts additionally need the per-request nonce, which only the
# Swagger UI page uses (its start-up script is inline); nothing may use inline styles or eval.
CONTENT_SECURITY_POLICY: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    # Swagger UI's stylesheet draws its icons as data: SVGs; images cannot run code.
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}

# Swagger UI's bundle draws its top-bar logo as an SVG with a <style> element; allow exactly that
# element by hash on the /docs page only (a changed bundle only loses the logo's colours).
SWAGGER_UI_LOGO_STYLE = "'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='"


def api_routes_regex(prefixes: tuple[str, ...]) -> str:
    """Paths API clients may call from other origins (never the web pages): the API's routes."""
    return "^(" + "|".join(re.escape(p.rstrip("/")) for p in prefixes) + ")(/.*)?$"


def init_hardening(app: Flask) -> None:
    """Trust the configured proxies and add security headers (CORS: `init_cors`)."""
    proxies = app.config.get("TRUSTED_PROXIES", 0)
    if proxies > 0:
        # Client address and scheme from X-Forwarded-* set by that many proxies, no more:
        # an untrusted hop could otherwise pick any address and dodge the rate limits.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )

    # Flask-Limiter keeps some state of the FIRST app bound to the singleton (it re-reads storage
    # and the on/off switch per app). Take this app's key prefix, so runs sharing one Redis keep
    # their counters apart, and forget an earlier app's storage outage: this app has new storage.
    limiter._key_prefix = app.config.get("RATELIMIT_KEY_PREFIX", "")
    limiter._storage_dead = False

    force_https = bool(app.config.get("FORCE_HTTPS"))
    # One Talisman per app (not a module singleton): it keeps its settings on the instance, and
    # tests build apps with different settings in one process.
    app.extensions["talisman"] = Talisman(
        app,
        force_https=force_https,
        strict_transport_security=force_https,
        session_cookie_secure=bool(app.config.get("SESSION_COOKIE_SECURE")),
        session_cookie_http_only=True,
        session_cookie_samesite="Lax",
        content_security_policy=CONTENT_SECURITY_POLICY,
        content_security_policy_nonce_in=["script-src"],
        frame_options="DENY",
        referrer_policy="strict-origin-when-cross-origin",
    )


def init_cors(app: Flask) -> None:
    """Enable CORS on the API's routes when configured; call after the API blueprints exist."""
    origins = app.config.get("CORS_ORIGINS") or []
    if origins:
        options: dict[str, Any] = {
            "origins": origins,
            "methods": ["GET", "POST", "OPTIONS"],
            "allow_headers": ["Authorization", "Content-Type", "X-Request-ID"],
            "expose_headers": [
                "Location",
                "X-Pagination",
                "X-Request-ID",
                "Retry-After",
                "WWW-Authenticate",
            ],
            # Bearer tokens, not cookies: browsers must not send credentials cross-origin.
            "supports_credentials": False,
            "max_age": 600,
        }
        CORS(app, resources={api_routes_regex(api_prefixes(app)): options})


def allow_swagger_ui(view: Any) -> None:
    """Give the Swagger UI view the CSP that lets its bundled logo style apply."""
    policy = dict(CONTENT_SECURITY_POLICY)
    policy["style-src"] = f"{policy['style-src']} {SWAGGER_UI_LOGO_STYLE}"
    view.talisman_view_options = {"content_security_policy": policy}

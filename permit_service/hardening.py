"""HTTP hardening: security headers (Talisman), CORS for API clients, trusted proxies."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import flask
from flask import Flask
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_cors import CORS
from flask_talisman import Talisman
from flask_talisman.talisman import NONCE_LENGTH, get_random_string
from werkzeug.datastructures import Headers
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


_NONCE = "\x00"  # where the request's nonce goes in a rendered policy (never in a nonce)


@dataclass(frozen=True)
class _ViewHeaders:
    """What Talisman adds for one view, worked out once: the fixed headers in Talisman's order
    before the Content-Security-Policy, the policy's header name and value (with and without
    the request's nonce), whether the view forces HTTPS and wants a nonce."""

    force_https: bool
    nonce: bool
    fixed: tuple[tuple[str, str], ...]
    csp_header: str | None
    csp_with_nonce: str
    csp_without_nonce: str


class _Talisman(Talisman):
    """Talisman with each view's headers worked out once, not per request (issue 17): Talisman
    reads the view's options three times per request and renders its policy on every response.
    Only the nonce (drawn per request for pages, see `_make_nonce`), HSTS (it depends on the
    request's scheme) and the Referrer-Policy are set per request; the headers and their order
    are Talisman's."""

    def __init__(self, app: Flask, **kwargs: Any) -> None:
        self._views: dict[Any, _ViewHeaders | None] = {}
        super().__init__(app, **kwargs)

    def _view_headers(self) -> _ViewHeaders | None:
        view = flask.current_app.view_functions.get(flask.request.endpoint)
        try:
            return self._views[view]
        except KeyError:
            found = self._views[view] = self._work_out(self._get_local_options())
            return found

    def _work_out(self, options: dict[str, Any]) -> _ViewHeaders | None:
        if options["feature_policy"]:  # rendered with the nonce: left to Talisman
            return None
        headers = Headers()
        self._set_permissions_policy_headers(headers, options)
        self._set_document_policy_headers(headers, options)
        self._set_frame_options_headers(headers, options)
        policy = options["content_security_policy"]
        options = dict(options, content_security_policy=None)
        self._set_content_security_policy_headers(headers, options)  # the X- headers only
        nonce_in = options["content_security_policy_nonce_in"]
        with_nonce = without = ""
        csp_header = None
        if policy:
            csp_header = "Content-Security-Policy"
            if self.content_security_policy_report_only:
                csp_header += "-Report-Only"
            with_nonce, without = (self._render(policy, nonce_in, n) for n in (True, False))
        return _ViewHeaders(
            force_https=bool(options["force_https"]),
            nonce=bool(policy and nonce_in),
            fixed=tuple(headers.items()),
            csp_header=csp_header,
            csp_with_nonce=with_nonce,
            csp_without_nonce=without,
        )

    def _render(self, policy: Any, nonce_in: Any, nonce: bool) -> str:
        """Talisman's _parse_policy and report-uri, with _NONCE for the request's nonce."""
        if isinstance(policy, str):
            parsed = {}
            for part in policy.split(";"):
                words = part.strip().split(" ")
                parsed[words[0]] = " ".join(words[1:])
            policy = parsed
        parts = []
        for section, content in policy.items():
            part = f"{section} {content if isinstance(content, str) else ' '.join(content)}"
            if nonce and section in nonce_in:
                part += f" 'nonce-{_NONCE}'"
            parts.append(part)
        rendered = "; ".join(parts)
        if self.content_security_policy_report_uri and "report-uri" not in rendered:
            rendered += "; report-uri " + self.content_security_policy_report_uri
        return rendered

    def _force_https(self) -> Any:
        found = self._view_headers()
        if found is not None and not found.force_https and not self.session_cookie_secure:
            return None  # Talisman would change nothing and redirect nowhere
        return super()._force_https()

    def _make_nonce(self) -> None:
        """Talisman draws the nonce before every request of a view whose policy has one; here
        it is drawn when first asked for (`_get_nonce`: the templates' `csp_nonce()`) or when
        an HTML response goes out without one (`_set_response_headers`). A JSON, CSS or image
        response runs no script, so its policy goes out without a nonce nobody could use: the
        same policy less `'nonce-...'` (issue 17: the draw was ~5% of an enforcement check)."""
        if self._view_headers() is None:
            super()._make_nonce()

    def _get_nonce(self) -> str:
        """The request's nonce, drawn on first use when the view's policy has one."""
        nonce = getattr(flask.request, "csp_nonce", None)
        if nonce is None:
            found = self._view_headers()
            if found is None or not found.nonce:
                return ""  # Talisman's answer when no nonce was drawn
            nonce = flask.request.csp_nonce = get_random_string(NONCE_LENGTH)
        return str(nonce)

    def _set_response_headers(self, response: Any) -> Any:
        found = self._view_headers()
        if found is None:
            return super()._set_response_headers(response)
        headers = response.headers
        for name, value in found.fixed:
            headers[name] = value
        if found.csp_header is not None:
            if (
                found.nonce
                and response.mimetype == "text/html"
                and not hasattr(flask.request, "csp_nonce")
            ):
                # Every page keeps a fresh nonce in its policy, used or not (as before).
                flask.request.csp_nonce = get_random_string(NONCE_LENGTH)
            nonce = getattr(flask.request, "csp_nonce", None)
            if hasattr(flask.request, "csp_nonce"):
                headers[found.csp_header] = found.csp_with_nonce.replace(_NONCE, str(nonce))
            else:
                headers[found.csp_header] = found.csp_without_nonce
        self._set_hsts_headers(headers)
        self._set_referrer_policy_headers(headers)
        return response


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with nothing worked out for a request without the cookie
    that leaves the session empty (API calls carry a bearer token, no cookie: issue 17). Flask
    would build the signing serializer to open it and read seven cookie settings to save
    nothing; the session, the Vary header and the cookies are the same."""

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        if app.secret_key and (
            # No Cookie header at all (API clients): not even the cookies are parsed.
            "HTTP_COOKIE" not in request.environ
            or not request.cookies.get(self.get_cookie_name(app))
        ):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        if not session and not session.modified:
            if session.accessed:
                if "Vary" in response.headers:
                    response.vary.add("Cookie")
                else:  # what vary.add writes then, without parsing an empty header set
                    response.headers["Vary"] = "Cookie"
            return
        super().save_session(app, session, response)


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
    app.session_interface = _SessionInterface()
    app.extensions["talisman"] = _Talisman(
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

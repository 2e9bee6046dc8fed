"""Error answers: JSON (flask-smorest's shape) on API routes, HTML pages elsewhere."""

from __future__ import annotations

import logging

from flask import Flask, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed

from permit_service import extensions as ext

log = logging.getLogger(__name__)

# app.extensions keys: names of the blueprints registered through flask-smorest (the JSON API,
# smorest's own "api-docs" included), and the first path segments of their routes.
API_BLUEPRINTS = "permit_service.api_blueprints"
API_PREFIXES = "permit_service.api_prefixes"


def record_api_blueprints(app: Flask, names: set[str]) -> None:
    """Remember which blueprints speak JSON, and the paths they own (the one source of both)."""
    names = set(names) | {"api-docs"}
    prefixes = {
        "/" + rule.rule.lstrip("/").split("/", 1)[0]
        for rule in app.url_map.iter_rules()
        if rule.endpoint.rpartition(".")[0] in names
    }
    app.extensions[API_BLUEPRINTS] = frozenset(names)
    app.extensions[API_PREFIXES] = tuple(sorted(prefixes))


def api_prefixes(app: Flask) -> tuple[str, ...]:
    """First path segments of the API's routes, e.g. ("/auth", "/healthz", "/permits", ...)."""
    return app.extensions.get(API_PREFIXES, ())


def is_api_path(path: str, app: Flask | None = None) -> bool:
    """True when `path` lies under a route of an API blueprint (matched or not)."""
    return any(
        path == prefix or path.startswith(prefix + "/")
        for prefix in api_prefixes(app or current_app)
    )


def _owning_blueprint() -> str | None:
    """The blueprint of the matched route; for a 405, of the route the path matched."""
    if request.blueprint is not None:
        return request.blueprint
    exc = request.routing_exception
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        try:
            adapter = current_app.url_map.bind_to_environ(request.environ)
            endpoint, _ = adapter.match(method=next(iter(exc.valid_methods)))
        except HTTPException:
            return None
        return str(endpoint).rpartition(".")[0] or None
    return None


def wants_json() -> bool:
    """The blueprint decides (API: JSON, web pages: HTML); unrouted URLs by path, then Accept."""
    blueprint = _owning_blueprint()
    if blueprint is not None:
        return blueprint in current_app.extensions.get(API_BLUEPRINTS, ())
    # No rule matched (404, or 405 from routing): a path under an API route still gets JSON.
    if is_api_path(request.path):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def handle_http_exception(exc: HTTPException) -> ResponseReturnValue:
    """Render an HTTP error for whoever asked: JSON for API clients, a page for people."""
    if wants_json():
        response = ext.api.handle_http_exception(exc)
        # smorest drops the exception's own headers (Allow on 405, WWW-Authenticate, ...).
        body, code, headers = response if isinstance(response, tuple) else (response, 200, {})
        extra = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        return body, code, extra | dict(headers or {})
    if isinstance(exc, CSRFError):
        template = "errors/csrf.html"
    elif exc.code in {403, 404, 500}:
        template = f"errors/{exc.code}.html"
    else:
        template = "errors/generic.html"
    return (
        render_template(template, error=exc, code=exc.code),
        exc.code or 500,
        dict(exc.get_headers()) | {"Content-Type": "text/html; charset=utf-8"},
    )


def handle_unexpected(exc: Exception) -> ResponseReturnValue:
    """Log an unhandled error with its traceback and answer 500 without details."""
    if isinstance(exc, HTTPException):
        return handle_http_exception(exc)
    log.exception("unhandled error")
    return handle_http_exception(InternalServerError())


def register_errorhandlers(app: Flask) -> None:
    """Install the handlers after flask-smorest's (which would answer JSON everywhere)."""
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)

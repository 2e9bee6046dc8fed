"""Error answers: JSON (flask-smorest's shape) on API routes, HTML pages elsewhere."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, InternalServerError

from permit_service.extensions import api

log = logging.getLogger(__name__)

API_PREFIXES = ("/permits", "/auth/", "/healthz", "/readyz", "/openapi.json")


def wants_json() -> bool:
    """API routes always get JSON; elsewhere JSON only for clients that do not accept HTML."""
    if request.path.startswith(API_PREFIXES):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def handle_http_exception(exc: HTTPException) -> ResponseReturnValue:
    """Render an HTTP error for whoever asked: JSON for API clients, a page for people."""
    if wants_json():
        response = api.handle_http_exception(exc)
        # smorest drops the exception's own headers (Allow on 405, WWW-Authenticate, ...).
        body, code, headers = response if isinstance(response, tuple) else (response, 200, {})
        extra = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        return body, code, extra | dict(headers or {})
    template = f"errors/{exc.code}.html" if exc.code in {403, 404, 500} else "errors/generic.html"
    return (
        render_template(template, error=exc, code=exc.code, title=exc.name),
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

"""503 with Retry-After when the database is unreachable, too slow or locked: no hang, no 500."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Flask, render_template
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import ServiceUnavailable

from permit_service.errors import handle_http_exception, wants_json

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
# Refused or dropped connections, timeouts (connect, statement, lock, the client's own bound),
# "database is locked" on SQLite, and a pool with no connection free in time.
DATABASE_UNAVAILABLE = (sa.exc.OperationalError, sa.exc.TimeoutError, sa.exc.DisconnectionError)


def handle_database_unavailable(exc: Exception) -> ResponseReturnValue:
    """The database did not answer in time: 503 with Retry-After, JSON or an HTML page."""
    # The class and the driver's first line say what happened; statements and values stay out.
    reason = str(getattr(exc, "orig", exc) or "").splitlines()[0:1]
    log.warning("database unavailable: %s %s", type(exc).__name__, reason[0] if reason else "")
    message = "The service cannot reach its database right now. Try again in a few seconds."
    error = ServiceUnavailable(description=message, retry_after=RETRY_AFTER_SECONDS)
    if wants_json():
        error.data = {"message": message}  # flask-smorest's error body carries `message`
        return handle_http_exception(error)
    # Not the generic error page: its navigation would ask the database who is signed in.
    return (
        render_template("errors/503.html", code=503),
        503,
        {"Retry-After": str(RETRY_AFTER_SECONDS), "Content-Type": "text/html; charset=utf-8"},
    )


def register_unavailable_handler(app: Flask) -> None:
    """Answer 503 instead of 500 for database errors that mean "not available now"."""
    for error in DATABASE_UNAVAILABLE:
        app.register_error_handler(error, handle_database_unavailable)

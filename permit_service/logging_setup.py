"""Logging: one JSON object per line in production, readable lines in development; request ids."""

from __future__ import annotations

import logging
import re
import sys
import uuid
from contextvars import ContextVar

from flask import Flask, g, request
from flask.wrappers import Response

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdFilter(logging.Filter):
    """Stamp every record with the current request (or task) id."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True


def configure_logging(fmt: str, level: str) -> None:
    """Set up the root logger once per process: JSON or text, with request ids."""
    root = logging.getLogger()
    if getattr(root, "_permit_service_configured", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s")
        )
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root._permit_service_configured = True  # type: ignore[attr-defined]


def init_request_ids(app: Flask) -> None:
    """Take X-Request-ID from the request (when sane) or make one; echo it on the response."""

    @app.before_request
    def _assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _VALID_ID.fullmatch(incoming) else uuid.uuid4().hex
        g.request_id = rid
        g.request_id_token = request_id_var.set(rid)

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        rid = g.get("request_id")
        if rid is None:  # the request failed before before_request ran (e.g. routing)
            incoming = request.headers.get("X-Request-ID", "")
            rid = incoming if _VALID_ID.fullmatch(incoming) else uuid.uuid4().hex
        response.headers["X-Request-ID"] = rid
        return response

    @app.teardown_request
    def _clear_request_id(_: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            request_id_var.reset(token)

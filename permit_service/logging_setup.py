"""Logging: one JSON object per line in production, readable lines in development; request ids."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import sys
import uuid
from contextvars import ContextVar, Token
from typing import Any

from flask import Flask, g, request
from flask.wrappers import Response

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Celery message header that carries the request id from the publisher to the worker.
TASK_REQUEST_ID_HEADER = "x_request_id"
TEXT_FORMAT = "%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s"


# A permit id opens the resident's receipt (name, address) without login: it is a capability and
# never reaches a log. Paths lose the segment after /permits/ or /applications/ (whatever its
# spelling: uuid.UUID also takes 32 hex digits or braces); a `permit_id` field becomes a short
# keyed hash, so one permit's lines still match each other but not its id. Other UUIDs (Celery
# task ids) stay as they are.
_ID_IN_PATH = re.compile(r"(/(?:permits|applications)/)[^/?#\s\"'<>]+")
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}
_log_key = os.urandom(32)  # replaced by one derived from SECRET_KEY: stable across processes


_log_hmac = hmac.new(_log_key, digestmod=hashlib.sha256)  # keyed once, copied per reference


def set_log_key(secret: str | bytes) -> None:
    """Key the hashes standing for ids in logs (from SECRET_KEY: the same in every process)."""
    global _log_key, _log_hmac
    raw = secret.encode() if isinstance(secret, str) else secret
    _log_key = hmac.new(raw, b"permit_service log references", hashlib.sha256).digest()
    _log_hmac = hmac.new(_log_key, digestmod=hashlib.sha256)


def log_reference(permit_id: str) -> str:
    """What stands for a permit id in logs: `~` and 12 hex digits of a keyed hash."""
    keyed = _log_hmac.copy()  # the same HMAC as hmac.new(_log_key, ...), without re-keying
    keyed.update(permit_id.lower().encode())
    return "~" + keyed.hexdigest()[:12]


def mask_ids(text: str) -> str:
    """`text` with permit ids in paths replaced: `/permits/<id>`, `/applications/<id>`."""
    if "/permits/" not in text and "/applications/" not in text:
        return text  # nothing the pattern could match (it starts with one of these)
    return _ID_IN_PATH.sub(r"\1<id>", text)


class PrivacyFilter(logging.Filter):
    """Mask permit ids in a record's message, arguments, extra fields and traceback (in place)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_ids(record.getMessage())
        record.args = None
        for name, value in list(vars(record).items()):
            if name in _STANDARD_ATTRS or not isinstance(value, str):
                continue
            if name == "permit_id" and not value.startswith("~"):
                setattr(record, name, log_reference(value))
            else:
                setattr(record, name, mask_ids(value))
        if record.exc_info:
            record.exc_text = mask_ids(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class RequestIdFilter(logging.Filter):
    """Stamp every record with the current request (or task) id."""

    def filter(self, record: logging.LogRecord) -> bool:
        # gunicorn's access log passes the id it read from the response; keep that one.
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get() or "-"
        return True


def json_formatter() -> logging.Formatter:
    """One JSON object per line: time, level, logger, message, request_id, plus any `extra`."""
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s %(request_id)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",  # ISO 8601 in UTC with its offset, as the API's own timestamps
    )


def configure_logging(fmt: str, level: str) -> None:
    """Set up the root logger once per process: JSON or text, with request ids, ids masked."""
    root = logging.getLogger()
    if getattr(root, "_permit_service_configured", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(PrivacyFilter())
    handler.setFormatter(json_formatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
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


_task_tokens: dict[str, Token[str | None]] = {}


def _stamp_task_headers(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """before_task_publish: send the current request id (or a fresh one: Beat's) with the task."""
    if headers is not None and not headers.get(TASK_REQUEST_ID_HEADER):
        headers[TASK_REQUEST_ID_HEADER] = request_id_var.get() or uuid.uuid4().hex


def _enter_task(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    """task_prerun: the task's log lines carry the id it was published with."""
    sent = getattr(getattr(task, "request", None), TASK_REQUEST_ID_HEADER, None)
    rid = sent if isinstance(sent, str) and _VALID_ID.fullmatch(sent) else None
    # Eager calls have no message: keep the caller's id, else start a fresh one.
    token = request_id_var.set(rid or request_id_var.get() or uuid.uuid4().hex)
    if task_id is not None:
        _task_tokens[task_id] = token


def _leave_task(task_id: str | None = None, **_: Any) -> None:
    """task_postrun: forget the task's id so the next task in this process starts clean."""
    token = _task_tokens.pop(task_id, None) if task_id is not None else None
    if token is None:
        return
    try:
        request_id_var.reset(token)
    except ValueError:  # set in another context (a thread pool moved the task): just clear it
        request_id_var.set(None)


def _keep_our_logging(**_: Any) -> None:
    """setup_logging: a receiver stops Celery replacing the root handler (JSON lines stay JSON)."""


def init_task_request_ids() -> None:
    """Connect the Celery signals that pass request ids to tasks (idempotent)."""
    from celery import signals

    signals.before_task_publish.connect(_stamp_task_headers, dispatch_uid="permit_rid_publish")
    signals.task_prerun.connect(_enter_task, dispatch_uid="permit_rid_prerun")
    signals.task_postrun.connect(_leave_task, dispatch_uid="permit_rid_postrun")
    signals.setup_logging.connect(_keep_our_logging, dispatch_uid="permit_keep_logging")

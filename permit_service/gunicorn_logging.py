"""gunicorn's loggers in the service's formats: JSON lines in production, readable text otherwise.

The access log names method, path (never the query string: it can hold a licence plate; permit
ids masked: `/permits/<id>`, see logging_setup.PrivacyFilter), status, size, duration and the
X-Request-ID the app answered with, so an access line and the app's own lines of the same
request share one id.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from gunicorn import glogging

from permit_service.logging_setup import (
    TEXT_FORMAT,
    PrivacyFilter,
    RequestIdFilter,
    json_formatter,
)


def _response_request_id(resp: Any) -> str:
    """The X-Request-ID header of the response, or "-"."""
    for name, value in getattr(resp, "headers", None) or []:
        if name.lower() == "x-request-id":
            return str(value)
    return "-"


class TextLogger(glogging.Logger):
    """gunicorn logger writing readable lines with the request id."""

    def setup(self, cfg: Any) -> None:
        """Install gunicorn's handlers, then give them the service's format."""
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if getattr(handler, "_gunicorn", False):
                    handler.addFilter(RequestIdFilter())
                    handler.addFilter(PrivacyFilter())  # error lines name paths too
                    handler.setFormatter(self.formatter())

    def formatter(self) -> logging.Formatter:
        """The format of both gunicorn logs."""
        return logging.Formatter(TEXT_FORMAT)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        """One line per request: who, what, outcome, how long, which request id."""
        if not self.access_log_enabled:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        method = environ.get("REQUEST_METHOD", "-")
        path = environ.get("PATH_INFO", "-")
        fields = {
            "method": method,
            "path": path,
            "status": int(status) if str(status).isdigit() else status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "remote_addr": environ.get("REMOTE_ADDR", "-"),
            "user_agent": environ.get("HTTP_USER_AGENT", "-"),
            # RequestIdFilter does not overwrite an id given here (see its filter()).
            "request_id": _response_request_id(resp),
        }
        try:
            self.access_log.info(
                "%s %s %s %sms", method, path, status, fields["duration_ms"], extra=fields
            )
        except Exception:  # noqa: BLE001 - a broken log line must never break a response
            self.exception("access log failed")


class JsonLogger(TextLogger):
    """gunicorn logger writing one JSON object per line (LOG_FORMAT=json)."""

    def formatter(self) -> logging.Formatter:
        """The service's JSON format."""
        return json_formatter()

"""Presentation helpers for the web pages: times in words, safe redirect targets."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from werkzeug.wrappers import Response

from permit_service.models import utcnow


def no_store(response: Response) -> Response:
    """Pages carry residents' data and CSRF tokens: no shared or back-button caches keep them."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def duration_words(seconds: float) -> str:
    """A duration as people say it: '5 minutes', '1 hour', '45 seconds'."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return _plural(seconds, "second")
    if seconds < 3600:
        return _plural(round(seconds / 60), "minute")
    if seconds < 86400:
        return _plural(round(seconds / 3600), "hour")
    return _plural(round(seconds / 86400), "day")


def relative_time(moment: datetime, now: datetime | None = None) -> str:
    """'in 4 minutes', '3 hours ago', 'in less than a minute' relative to now."""
    delta = (moment - (now or utcnow())).total_seconds()
    if abs(delta) < 60:
        return "in less than a minute" if delta >= 0 else "less than a minute ago"
    words = duration_words(abs(delta))
    return f"in {words}" if delta > 0 else f"{words} ago"


def clock_time(moment: datetime, now: datetime | None = None) -> str:
    """'14:05 UTC', with the date in front when it is not today (UTC)."""
    moment = moment.astimezone(utcnow().tzinfo)
    today = (now or utcnow()).date()
    if moment.date() == today:
        return moment.strftime("%H:%M UTC")
    return moment.strftime("%-d %b %Y, %H:%M UTC")


def full_time(moment: datetime) -> str:
    """'23 Nov 2026, 14:05:09 UTC': exact, for histories."""
    return moment.astimezone(utcnow().tzinfo).strftime("%-d %b %Y, %H:%M:%S UTC")


def safe_next(target: str | None, default: str) -> str:
    """`target` if it is a path on this site, else `default` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ch in target for ch in "\\\r\n\t") or not target.isprintable():
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target

"""Helpers of the web pages: no caching of pages, safe redirect targets (times: localtime)."""

from __future__ import annotations

from urllib.parse import urlsplit

from werkzeug.wrappers import Response


def no_store(response: Response) -> Response:
    """Pages carry residents' data and CSRF tokens: no shared or back-button caches keep them."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


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

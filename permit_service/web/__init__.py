"""HTML pages: two blueprints, residents' pages (`web`) and staff pages under /admin (`admin`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Flask, request

# werkzeug.urls._urlencode's safe characters: a query string built here reads as url_for's.
QUERY_SAFE = "!$'()*,/:;?@"


def register_web_blueprints(app: Flask) -> None:
    """Mount the residents' pages and the staff pages (their errors are HTML pages)."""
    from permit_service.web import (
        exports,  # noqa: F401 - adds the exports' pages to `admin`
        queue,  # noqa: F401 - adds the review queue to `admin`
        receipt,  # noqa: F401 - adds the receipt's routes to `web`
        reports,  # noqa: F401 - adds the monthly reports' page to `admin`
        zones,  # noqa: F401 - adds the zones' pages to `admin`
    )
    from permit_service.web.admin import bp as staff_bp
    from permit_service.web.views import bp as residents_bp

    app.register_blueprint(residents_bp)
    app.register_blueprint(staff_bp)
    kept = app.jinja_env.globals["url_for"] = kept_url_for(app)
    app.jinja_env.globals["query_url"] = query_url(kept)


def kept_url_for(app: Flask) -> Any:
    """The templates' `url_for`, with the fixed addresses kept once built.

    A page's layout links to the same places on every request (the style sheet, the icon, the
    navigation, the sign-out form): some ten `url_for` calls, each a routing map build (issue
    16). An address with no values but the endpoint (or only a static file's name) depends only
    on the routes and the request's script root (a proxy's prefix), so it is built once per
    script root; anything else, a relative endpoint or a call outside a request, is built as
    Flask builds it.
    """
    build = app.url_for
    kept: dict[tuple[str, str | None, str], str] = {}

    def url_for(endpoint: str, **values: Any) -> str:
        if endpoint.startswith(".") or (values and (endpoint != "static" or len(values) != 1)):
            return build(endpoint, **values)
        filename = values.get("filename")
        if values and not isinstance(filename, str):
            return build(endpoint, **values)
        try:
            key = (endpoint, filename, request.script_root)
        except RuntimeError:  # no request: e-mails, commands
            return build(endpoint, **values)
        url = kept.get(key)
        if url is None:
            url = build(endpoint, **values)
            if len(kept) < 1000:
                kept[key] = url
        return url

    return url_for


def query_url(url_for: Any) -> Any:
    """The templates' `query_url(endpoint, **query)`: `url_for(endpoint, **query)` for an
    endpoint whose address takes no values (every value goes to the query string), without a
    routing build per call (issue 16): the address is kept by `url_for` (kept_url_for), the
    query encoded as werkzeug encodes it (None drops a value, the order is the call's). For
    the language switch on every page and the queue's polling address."""

    def build(endpoint: str, /, **query: Any) -> str:
        path = url_for(endpoint)
        items = [(key, value) for key, value in query.items() if value is not None]
        return f"{path}?{urlencode(items, safe=QUERY_SAFE)}" if items else path

    return build

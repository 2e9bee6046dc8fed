"""Routes on first use in `flask` commands: the JSON API (flask-smorest, marshmallow, webargs,
apispec), Swagger UI and the web pages cost every command ~0.25 s to import and register, and
`flask users ...`, `flask permits ...` and `flask db ...` use no route.

Every use of routes reads `app.url_map` first: matching a request (`flask run`, a test client
in `flask shell`), `url_for`, `flask routes`. So `App` registers them the first time its
`url_map` is read; `flask openapi ...` (flask-smorest's commands) registers them when it runs.
Web and worker processes register them at once, as before. tests/test_startup_imports.py keeps
it that way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from inspect import iscoroutinefunction
from types import FunctionType
from typing import Any

import click
from flask import Flask
from werkzeug.routing import Map

from permit_service.cli_lazy import LazyCommand


class App(Flask):
    """Flask, with the routes' registration optionally put off until `url_map` is first read."""

    _pending_routes: Callable[[], None] | None = None
    _loading_routes = False
    _sync: dict[Any, bool] | None = None

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Flask's, with "is it a coroutine function?" answered once per function rather than
        for every hook and view of every request (about 20 `inspect` walks each: issue 17).
        Bound methods are looked up by their function (views are bound per request)."""
        key = getattr(func, "__func__", func)
        if type(key) is not FunctionType:
            return super().ensure_sync(func)
        if self._sync is None:
            self._sync = {}
        plain = self._sync.get(key)
        if plain is None:
            plain = self._sync[key] = not iscoroutinefunction(func)
        return func if plain else super().ensure_sync(func)

    @property  # type: ignore[override]
    def url_map(self) -> Map:
        """The URL map, with every route: registers the put-off ones on first read."""
        if self._pending_routes is not None:
            self._register_pending_routes()
        return self._url_map

    @url_map.setter
    def url_map(self, value: Map) -> None:
        self._url_map = value

    def defer_routes(self, register: Callable[[], None]) -> None:
        """Run `register` (which adds routes) when `url_map` is first read, not now."""
        self._routes_lock = threading.RLock()
        self._pending_routes = register

    def _register_pending_routes(self) -> None:
        # `flask run` serves requests on threads: the others wait until every route is there.
        # Registering reads url_map itself (same thread, RLock): that read must not recurse.
        with self._routes_lock:
            if self._pending_routes is None or self._loading_routes:
                return
            self._loading_routes = True
            try:
                self._pending_routes()
            finally:
                self._loading_routes = False
                self._pending_routes = None


def _openapi_group(app: App) -> click.Command:
    """Register the routes (and with them the API), then flask-smorest's `openapi` group."""
    app.url_map  # noqa: B018 - reading it registers the routes
    from flask_smorest.spec import openapi_cli

    return openapi_cli


def defer_routes_in_commands(app: App, register: Callable[[], None]) -> None:
    """Put off `register` until routes are used, keeping `flask openapi` in the command list."""
    app.defer_routes(register)
    app.cli.add_command(
        LazyCommand("openapi", "OpenAPI commands.", lambda: _openapi_group(app)), "openapi"
    )

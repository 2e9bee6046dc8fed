"""permit_service: residential parking permits. `create_app` builds the Flask application."""

from __future__ import annotations

import gc
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, abort, request
from flask_babel import gettext

from permit_service import db_bounds
from permit_service import extensions as ext
from permit_service.api.json_body import BodyLimitedRequest
from permit_service.cache import init_cache
from permit_service.config import (
    check_production_safety,
    derived_settings,
    embedded_broker_dirs,
    instance_path_from_env,
    load_config,
)
from permit_service.dispatch import init_dispatch
from permit_service.domain import N_
from permit_service.errors import is_api_path, record_api_blueprints, register_errorhandlers
from permit_service.hardening import allow_swagger_ui, init_cors, init_hardening
from permit_service.i18n import init_i18n
from permit_service.json_provider import OrjsonProvider
from permit_service.lazy_migrate import init_lazy_migrate
from permit_service.lazy_routes import App, defer_routes_in_commands
from permit_service.logging_setup import (
    configure_logging,
    init_request_ids,
    init_task_request_ids,
    set_log_key,
)
from permit_service.metrics import init_metrics
from permit_service.models import use_postgresql_where
from permit_service.services.sessions import resume_session
from permit_service.unavailable import register_unavailable_handler


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment, then apply `config` overrides (tests pass these)."""
    overrides = dict(config or {})
    app = App(
        __name__,
        instance_relative_config=True,
        instance_path=overrides.pop("INSTANCE_PATH", None) or instance_path_from_env(),
    )
    os.makedirs(app.instance_path, exist_ok=True)
    app.request_class = BodyLimitedRequest  # request.get_json(): the API's JSON limits
    app.json = OrjsonProvider(app)  # the same JSON, encoded by orjson (json_provider.py)
    app.config.from_mapping(load_config(app.instance_path))
    app.config.update(overrides)
    app.config.update(derived_settings(app.config))
    if not app.config.get("SECRET_KEY") and (app.config.get("DEBUG") or app.config.get("TESTING")):
        # Development without a key: a random one per process start, never one anyone can know
        # (sessions end when the process restarts).
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    check_production_safety(app.config)
    configure_logging(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    set_log_key(app.config["SECRET_KEY"])  # permit ids in logs become keyed hashes

    init_metrics(app)  # first: its timer starts before any other hook can answer
    register_extensions(app)
    init_cache(app)  # cached reads, invalidated after each commit (Redis with CACHE_URL)
    if _running_flask_cli():
        # `flask ...` commands: the API, its OpenAPI document and the pages load on first use
        # of a route (`flask run`, `flask routes`, url_for), not for `flask users list`.
        defer_routes_in_commands(app, lambda: register_routes(app))
    else:
        register_routes(app)
    register_unavailable_handler(app)  # database unreachable or too slow: 503, not 500
    register_request_hooks(app)
    register_commands(app)
    if _running_flask_cli():
        # A command's process ends within a second, and what start-up built (modules, the app)
        # lives until then: out of the garbage collector's sight, the collections during the
        # command and at exit do not walk it all again (~0.25 s of CPU, bench/README.md).
        gc.freeze()
    return app


def register_extensions(app: Flask) -> None:
    """Bind the extension singletons to this app."""
    ext.db.init_app(app)
    init_lazy_migrate(app, ext.db, os.path.join(os.path.dirname(app.root_path), "migrations"))
    ext.csrf.init_app(app)
    ext.limiter.init_app(app)
    _skip_limiter_middleware(app)
    _limiter_after_hooks_when_used(app)
    ext.login_manager.init_app(app)
    ext.login_manager.user_loader(resume_session)
    ext.login_manager.login_view = "admin.login"
    ext.login_manager.login_message = N_("Please sign in to see this page.")
    ext.login_manager.localize_callback = gettext  # the page's language
    ext.login_manager.session_protection = "strong"
    init_i18n(app)  # page languages (Flask-Babel)
    if app.config["CELERY"]["broker_url"].startswith("filesystem://"):
        for folder in set(embedded_broker_dirs(app.instance_path).values()):
            os.makedirs(folder, exist_ok=True)
    if _running_flask_cli():
        # `flask ...` commands publish no task: Celery (and kombu, ~0.3 s) is imported only if
        # such an app serves a request (`flask run`; /readyz asks the broker).
        app.before_request(_celery_on_first_request(app))
    else:
        _init_celery(app)
    init_dispatch()  # notifications go to Celery after each commit, never holding it up
    init_hardening(app)  # security headers, CORS when configured, trusted proxies
    with app.app_context():
        if ext.db.engine.dialect.name == "sqlite":
            _tune_sqlite(ext.db.engine, app.config["DATABASE_LOCK_TIMEOUT"])
        elif ext.db.engine.dialect.name == "postgresql":
            use_postgresql_where(ext.db.metadata)  # partial indexes (Alembic, create_all)
        db_bounds.install(ext.db.engine, app.config)  # timeouts: a hung database hangs no request


# Limits the service sets for the whole app (Flask-Limiter's configuration keys); it has none.
_APP_WIDE_LIMITS = ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION", "RATELIMIT_META")


def _skip_limiter_middleware(app: Flask) -> None:
    """Every limit here is a view's own (`@limiter.limit`, checked by its decorator); the
    before_request check Flask-Limiter adds looks for app-wide limits on every request and
    finds none (about 4% of a listing's CPU, twice on an application: issue 17). So it is not
    installed while no app-wide limit is configured."""
    if any(app.config.get(key) for key in _APP_WIDE_LIMITS):
        return
    hooks = app.before_request_funcs.get(None, [])
    app.before_request_funcs[None] = [
        hook
        for hook in hooks
        if getattr(hook, "__func__", None) is not type(ext.limiter)._check_request_limit
    ]


def _limiter_after_hooks_when_used(app: Flask) -> None:
    """Flask-Limiter's after_request (rate-limit headers, conditional deductions) and teardown
    (resetting its request state) read its per-request state, making it first when no limit
    was checked: three state lookups per request for nothing (issue 17). Each now runs only
    when the request made that state (a limit was checked: `Limiter.context` stores it on the
    request context as `_limiter_request_context`); otherwise it would add no header, deduct
    nothing and reset an empty state. tests/test_library_internals.py pins these names."""
    from flask.globals import request_ctx

    limiter = ext.limiter
    inject = getattr(limiter, "_Limiter__inject_headers", None)
    release = getattr(limiter, "_Limiter__release_context", None)

    def inject_if_used(response: Any) -> Any:
        if hasattr(request_ctx._get_current_object(), "_limiter_request_context"):
            return inject(response)  # type: ignore[misc]
        return response

    def release_if_used(exc: BaseException | None = None) -> None:
        if hasattr(request_ctx._get_current_object(), "_limiter_request_context"):
            release(exc)  # type: ignore[misc]

    def is_inject(hook: Any) -> bool:  # partial(Limiter.__inject_headers, limiter)
        func = getattr(hook, "func", None)
        return func is type(limiter)._Limiter__inject_headers and hook.args == (limiter,)  # type: ignore[attr-defined]

    after = app.after_request_funcs.get(None, [])
    app.after_request_funcs[None] = [inject_if_used if is_inject(h) else h for h in after]
    teardown = app.teardown_request_funcs.get(None, [])
    app.teardown_request_funcs[None] = [release_if_used if h == release else h for h in teardown]


def register_routes(app: Flask) -> None:
    """The JSON API and its OpenAPI document, Swagger UI, the web pages, and their errors."""
    ext.api.init_app(app)  # before api.register_blueprint (flask-smorest issue #224)
    register_blueprints(app)
    register_errorhandlers(app)  # after flask-smorest's own (it would answer JSON everywhere)


def register_blueprints(app: Flask) -> None:
    """Mount the JSON API, the health probes, Swagger UI and the web pages."""
    from flask_swagger_ui import get_swaggerui_blueprint

    from permit_service.api.auth import blp as auth_blp
    from permit_service.api.enforcement import blp as enforcement_blp
    from permit_service.api.exports import blp as exports_blp
    from permit_service.api.health import blp as health_blp
    from permit_service.api.permits import blp as permits_blp
    from permit_service.api.reports import blp as reports_blp
    from permit_service.api.zones import blp as zones_blp

    api_blueprints = (
        permits_blp,
        zones_blp,
        exports_blp,
        reports_blp,
        health_blp,
        auth_blp,
        enforcement_blp,
    )
    for blp in api_blueprints:
        ext.api.register_blueprint(blp)
        ext.csrf.exempt(blp)  # token-authenticated JSON API: no cookies, so no CSRF
    # JSON errors, the 415 check and CORS all follow from this registration.
    record_api_blueprints(app, {blp.name for blp in api_blueprints})
    init_cors(app)

    docs = get_swaggerui_blueprint(
        "/docs", "/openapi.json", config={"app_name": "permit_service API"}
    )
    app.register_blueprint(docs)
    # Serve Swagger UI at /docs exactly (not only /docs/), as SPEC.md names it.
    app.add_url_rule("/docs", "swagger_ui_root", app.view_functions["swagger_ui.show"])
    allow_swagger_ui(app.view_functions["swagger_ui.show"])

    from permit_service.web import register_web_blueprints

    register_web_blueprints(app)  # HTML pages: CSRF-protected by the app-wide CSRFProtect


def register_request_hooks(app: Flask) -> None:
    """Request ids, and 415 for API bodies that are not JSON."""
    init_request_ids(app)

    @app.before_request
    def _require_json_bodies() -> None:
        if (
            request.method in {"POST", "PUT", "PATCH"}
            and is_api_path(request.path)
            and (request.content_length or request.headers.get("Transfer-Encoding"))
            and not request.is_json
        ):
            abort(415, description="Send the body as JSON with Content-Type: application/json.")


def register_commands(app: Flask) -> None:
    """Attach the `flask permits|users|zones|notifications|residents|reports ...` groups."""
    from permit_service.cli import permits_cli, users_cli
    from permit_service.cli_notifications import notifications_cli
    from permit_service.cli_reports import reports_cli
    from permit_service.cli_residents import residents_cli
    from permit_service.cli_zones import zones_cli

    app.cli.add_command(permits_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(zones_cli)
    app.cli.add_command(notifications_cli)
    app.cli.add_command(residents_cli)
    app.cli.add_command(reports_cli)


def _running_flask_cli() -> bool:
    """Whether this process is a `flask ...` command: Flask's CLI marks it (not a setting)."""
    return os.environ.get("FLASK_RUN_FROM_CLI") == "true"


def _celery_on_first_request(app: Flask) -> Callable[[], None]:
    """A before_request hook binding Celery once; `flask run` serves on threads, so it locks
    (two threads importing celery at once get "cannot import name 'Celery'")."""
    lock = threading.Lock()

    def bind_celery() -> None:
        if "celery" not in app.extensions:
            with lock:
                if "celery" not in app.extensions:
                    _init_celery(app)

    return bind_celery


def _init_celery(app: Flask) -> None:
    """Bind Celery to the app; tasks carry the publishing request's id."""
    if app.config["CELERY"]["broker_url"].startswith("filesystem://"):
        from permit_service import embedded_broker  # imports kombu: only where Celery is used

        embedded_broker.register()  # survives a broken folder (kombu's own would end the worker)
    ext.celery_init_app(app)
    init_task_request_ids()


def _tune_sqlite(engine: Any, lock_timeout: int) -> None:
    """WAL lets the web, worker and beat processes read while one of them writes."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        # Web, worker and beat share one file: wait for the writer instead of failing at once,
        # but not for long (DATABASE_LOCK_TIMEOUT; the sweep waits longer, db_bounds.background).
        cur.execute(f"PRAGMA busy_timeout={lock_timeout * 1000}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        # 64 MB page cache (default 2 MB): big sweeps and deep indexes stay in memory (bench/).
        cur.execute("PRAGMA cache_size=-65536")
        cur.close()

"""Unbound extension singletons; everything imports them from here, never from the package root."""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter import _limits as flask_limiter_limits
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from limits.storage import MemoryStorage
from sqlalchemy import MetaData

if TYPE_CHECKING:
    from celery import Celery

    from permit_service.api.openapi import Api

    api: Api

# Stable constraint names, so Alembic autogenerate and SQLite batch migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()


def client_address() -> str:
    """Rate-limit key: the client's address (ProxyFix has already applied trusted proxies)."""
    return request.remote_addr or "unknown"


def apply_limit() -> str:
    """Limit for applying (RATELIMIT_APPLY), read per request so tests and operators can set it."""
    return current_app.config["RATELIMIT_APPLY"]


def login_limit() -> str:
    """Limit for password logins, API and web (RATELIMIT_LOGIN)."""
    return current_app.config["RATELIMIT_LOGIN"]


class InlineExpiryMemoryStorage(MemoryStorage):
    """limits' in-memory storage (`memory://`, the default), without a thread per hit.

    MemoryStorage starts a timer thread 10 ms after a hit whenever none is running, to drop
    expired counters and moving-window entries: under load about one thread start per counted
    request (6% of an application's CPU, issue 17). Its counting never needed it (each read
    drops its own key's expired counter); here the same sweep runs inline, at most every 10 ms.
    It takes over the `memory` scheme, so `memory://` storage URIs make this class.
    """

    STORAGE_SCHEME = ["memory"]  # noqa: RUF012 - limits' registry reads the class attribute
    SWEEP_SECONDS = 0.01
    _sweep_at = 0.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 - the base's private name
        now = time.monotonic()
        if now >= self._sweep_at:
            self._sweep_at = now + self.SWEEP_SECONDS
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


def _remember_parsed_limits() -> None:
    """Flask-Limiter parses a limit given as a callable (RATELIMIT_APPLY, RATELIMIT_LOGIN: read
    per request) from its text on every request it checks, regular expressions and all (issue
    17). The same text gives the same limits: each text is parsed once (a bad one raises, and
    is not remembered)."""
    parse_many = flask_limiter_limits.parse_many

    @functools.lru_cache(maxsize=64)
    def parsed(text: str) -> tuple[Any, ...]:
        return tuple(parse_many(text))

    def parse_many_once(text: str) -> list[Any]:
        return list(parsed(text))

    flask_limiter_limits.parse_many = parse_many_once


_remember_parsed_limits()
limiter = Limiter(key_func=client_address)


def __getattr__(name: str) -> Any:
    """`api` (flask-smorest's Api) is made on first use: importing flask-smorest, marshmallow,
    webargs and apispec costs ~0.15 s, which `flask` commands skip (permit_service.lazy_routes)."""
    if name == "api":
        from permit_service.api.openapi import Api

        globals()["api"] = instance = Api()  # from now on a plain module attribute
        return instance
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def celery_init_app(app: Flask) -> Celery:
    """Bind a Celery app to the Flask app (Flask's Celery pattern): tasks run in an app context."""
    from celery import Celery, Task  # here, not at the top: `flask` commands never need it

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            from flask import current_app, has_app_context

            # Reuse an already active context of the same app (eager calls, tests).
            if has_app_context() and current_app._get_current_object() is app:
                return self.run(*args, **kwargs)
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.conf.beat_schedule = {
        **_beat_schedule(celery_app),
        **nightly_schedule(app.config),
    }
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


def nightly_schedule(config: Any) -> dict[str, Any]:
    """Beat's entries at a local time of day (crontab, read in CELERY timezone = CITY_TIMEZONE).

    Built here, not in config.py: celery.schedules imports Celery, which `flask` commands skip.
    """
    from celery.schedules import crontab

    hour, minute = config["RETENTION_AT"]
    return {
        "anonymise-ended-permits": {
            "task": "permits.anonymise",
            "schedule": crontab(hour=hour, minute=minute),
            # A run missed by a day is pointless: the next night's does the same work.
            "options": {"expires": 6 * 3600},
        }
    }


def _beat_schedule(celery_app: Celery) -> dict[str, Any]:
    """The configured Beat schedule with each config.LocalCrontab as Celery's crontab."""
    from celery.schedules import crontab

    from permit_service.config import LocalCrontab

    schedule = {}
    for name, entry in (celery_app.conf.beat_schedule or {}).items():
        when = entry["schedule"]
        if isinstance(when, LocalCrontab):
            # No app= here: a crontab keeps its keyword arguments for pickling, and Beat's
            # schedule file pickles its entries (the app cannot be). It reads the timezone of
            # the current app (this one: Celery sets each new app as the current one).
            when = crontab(minute=when.minute, hour=when.hour, day_of_month=when.day_of_month)
        schedule[name] = {**entry, "schedule": when}
    return schedule

"""Configuration: the ONE place that reads the environment (names as in SPEC.md section 6)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import load_dotenv

# The database password .env.example and docker-compose.yml ship with: never deployable.
PLACEHOLDER_PASSWORD = "change-me"  # noqa: S105 - the placeholder that is refused


class ConfigError(RuntimeError):
    """Raised when the service is started with a configuration it must refuse."""


def _bool(value: str | None, default: bool) -> bool:
    """Parse an environment flag the way operators write them (1/true/yes/on)."""
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    """Read an integer setting, refusing junk with a message naming the variable."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _zone(env: Mapping[str, str]) -> str:
    """CITY_TIMEZONE: an IANA zone name such as Europe/Berlin (default UTC), checked at start."""
    name = (env.get("CITY_TIMEZONE") or "UTC").strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"CITY_TIMEZONE must be an IANA time zone such as Europe/Berlin, got {name!r}"
        ) from exc
    return name


def _time_of_day(env: Mapping[str, str], name: str, default: str) -> tuple[int, int]:
    """A local time of day `HH:MM` (24-hour clock), checked at start."""
    value = (env.get(name) or default).strip()
    hours, _, minutes = value.partition(":")
    if hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60:
        return int(hours), int(minutes)
    raise ConfigError(f"{name} must be a local time of day HH:MM such as 03:30, got {value!r}")


def _report_language(env: Mapping[str, str]) -> str:
    """REPORT_LANGUAGE: the monthly report's language, `en` (default) or `de`."""
    value = (env.get("REPORT_LANGUAGE") or "en").strip().lower()
    if value not in REPORT_LANGUAGES:
        raise ConfigError(
            f"REPORT_LANGUAGE must be one of {', '.join(REPORT_LANGUAGES)}, got {value!r}"
        )
    return value


REPORT_LANGUAGES = ("en", "de")  # i18n.LANGUAGES (not imported: config loads before Flask-Babel)


@dataclass(frozen=True)
class LocalCrontab:
    """A Beat entry's time of day in CITY_TIMEZONE (Celery's `timezone`), as crontab fields.

    Celery's own crontab is built from it where Celery is bound (extensions.celery_init_app):
    reading the configuration must not import Celery (`flask` commands never do).
    """

    minute: str
    hour: str
    day_of_month: str = "*"


# The monthly report of the month before: on the 1st, early in the morning, local time (after
# any daylight-saving switch of the night, and long after the last day's deadlines).
MONTHLY_REPORT_AT = LocalCrontab(minute="15", hour="3", day_of_month="1")


def log_format_from(env: Mapping[str, str]) -> str:
    """LOG_FORMAT: `json` (one object per line) in production, `text` with FLASK_DEBUG=1."""
    return env.get("LOG_FORMAT") or ("text" if _bool(env.get("FLASK_DEBUG"), False) else "json")


def _currency(env: Mapping[str, str]) -> str:
    """CURRENCY: an ISO 4217 code (three letters), default EUR."""
    value = (env.get("CURRENCY") or "EUR").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", value):
        raise RuntimeError(f"CURRENCY must be an ISO 4217 code such as EUR (got {value!r}).")
    return value


_DURATION_RE = re.compile(r"^(\d+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_reminders(value: str | None) -> list[int]:
    """REMINDERS_BEFORE (`30d,7d,1d`; units s, m, h, d; empty: none) as seconds, longest first."""
    raw = "30d,7d,1d" if value is None else value
    offsets: set[int] = set()
    for part in raw.split(","):
        part = part.strip().lower()
        if not part:
            continue
        match = _DURATION_RE.fullmatch(part)
        if match is None or int(match.group(1)) == 0:
            raise ConfigError(
                f"REMINDERS_BEFORE must list durations such as 30d,7d,1d (units s, m, h, d), "
                f"got {raw!r}"
            )
        offsets.add(int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    return sorted(offsets, reverse=True)


def _base_url(env: Mapping[str, str]) -> str:
    """PUBLIC_BASE_URL: where residents reach the service (links in e-mails), no trailing slash."""
    url = (env.get("PUBLIC_BASE_URL") or "http://127.0.0.1:8000").strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(
            "PUBLIC_BASE_URL must be an http(s) URL such as https://permits.example.org, "
            f"got {url!r}"
        )
    return url


def mail_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The MAIL_* settings (SPEC.md section 6); MAIL_SERVER unset: .eml files in instance/mail/."""
    base = _base_url(env)
    host = urlsplit(base).hostname or "localhost"
    if host.replace(".", "").isdigit() or "." not in host:
        host = "localhost"  # an address is no mail domain
    return {
        "PUBLIC_BASE_URL": base,
        "MAIL_SERVER": (env.get("MAIL_SERVER") or "").strip() or None,
        "MAIL_PORT": _int(env, "MAIL_PORT", 587),
        "MAIL_USE_TLS": _bool(env.get("MAIL_USE_TLS"), False),
        "MAIL_USE_SSL": _bool(env.get("MAIL_USE_SSL"), False),
        "MAIL_USERNAME": env.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": env.get("MAIL_PASSWORD") or None,
        "MAIL_DEFAULT_SENDER": (env.get("MAIL_DEFAULT_SENDER") or "").strip()
        or f"Parking permits <permits@{host}>",
        "MAIL_MAX_ATTEMPTS": _int(env, "MAIL_MAX_ATTEMPTS", 8),
        # Seconds an SMTP conversation may take before the attempt counts as failed.
        "MAIL_TIMEOUT": _int(env, "MAIL_TIMEOUT", 10),
        # The first retry's delay; each next one doubles it (at most MAIL_RETRY_MAX_SECONDS).
        "MAIL_RETRY_SECONDS": _int(env, "MAIL_RETRY_SECONDS", 30),
        "MAIL_RETRY_MAX_SECONDS": _int(env, "MAIL_RETRY_MAX_SECONDS", 3600),
        # Seconds a web process may spend handing a send task to the broker (in the background).
        "MAIL_PUBLISH_TIMEOUT": _int(env, "MAIL_PUBLISH_TIMEOUT", 2),
        "REMINDERS_BEFORE": parse_reminders(env.get("REMINDERS_BEFORE")),
    }


def default_web_concurrency() -> int:
    """gunicorn workers when WEB_CONCURRENCY is unset: 2 x usable CPUs + 1, at most 16."""
    # sched_getaffinity honours a container's cpuset; cpu_count would report the whole host.
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(2 * (cpus or 1) + 1, 16)


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    """`env`, or the process environment with a .env file in the cwd read in."""
    if env is None:
        load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)
        env = os.environ
    return env


def _per_process_rate_limits(env: Mapping[str, str]) -> bool:
    """True when enabled rate limits would be counted in each process's own memory."""
    storage = (env.get("RATELIMIT_STORAGE_URI") or "memory://").strip()
    return _bool(env.get("RATELIMIT_ENABLED"), True) and storage.startswith("memory://")


def rate_limit_refusal(workers: int, env: Mapping[str, str] | None = None) -> str | None:
    """Why the web server must not start with `workers` processes, or None when it may.

    memory:// counts per process: N workers would let N times the configured limits through
    (SPEC.md section 6). RATELIMIT_ALLOW_PER_PROCESS=true is the operator accepting that.
    """
    env = _env(env)
    if workers <= 1 or not _per_process_rate_limits(env):
        return None
    if _bool(env.get("RATELIMIT_ALLOW_PER_PROCESS"), False):
        return None
    storage = env.get("RATELIMIT_STORAGE_URI") or "memory:// (the default)"
    return (
        f"refusing to start {workers} worker processes with RATELIMIT_STORAGE_URI={storage}: "
        f"each process would count the rate limits on its own, letting {workers} times "
        "RATELIMIT_APPLY and RATELIMIT_LOGIN through. Use a shared storage "
        "(RATELIMIT_STORAGE_URI=redis://host:6379/1), or one worker process with threads "
        "(WEB_CONCURRENCY=1 GUNICORN_THREADS=4), or turn limits off (RATELIMIT_ENABLED=false), "
        "or accept per-process limits (RATELIMIT_ALLOW_PER_PROCESS=true)."
    )


def gunicorn_settings(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """gunicorn's settings from the environment; gunicorn.conf.py applies them.

    Without WEB_CONCURRENCY the default is exact for the rate limits: one process with
    GUNICORN_THREADS (4) threads while they are counted in memory, else 2 x CPUs + 1 processes.
    """
    env = _env(env)
    single = _per_process_rate_limits(env) and not _bool(
        env.get("RATELIMIT_ALLOW_PER_PROCESS"), False
    )
    threads = _int(env, "GUNICORN_THREADS", 4 if single else 1)
    workers = _int(env, "WEB_CONCURRENCY", 1 if single else default_web_concurrency())
    access_log = (env.get("GUNICORN_ACCESS_LOG") or "-").strip()
    return {
        # Loopback unless told otherwise: the container image sets GUNICORN_BIND=0.0.0.0:8000.
        "bind": [
            b.strip()
            for b in (
                env.get("GUNICORN_BIND") or f"127.0.0.1:{_int(env, 'PORT', 8000, minimum=0)}"
            ).split(",")
            if b.strip()
        ],
        "workers": workers,
        "threads": threads,
        "worker_class": env.get("GUNICORN_WORKER_CLASS") or ("gthread" if threads > 1 else "sync"),
        "timeout": _int(env, "GUNICORN_TIMEOUT", 30),
        "graceful_timeout": _int(env, "GUNICORN_GRACEFUL_TIMEOUT", 30),
        "keepalive": _int(env, "GUNICORN_KEEPALIVE", 5),
        "max_requests": _int(env, "GUNICORN_MAX_REQUESTS", 0, minimum=0),
        "max_requests_jitter": _int(env, "GUNICORN_MAX_REQUESTS_JITTER", 0, minimum=0),
        # "-" is stdout; "off" turns the access log off (benchmarks).
        "accesslog": None if access_log.lower() in {"off", "none"} else access_log,
        "errorlog": "-",
        "loglevel": (env.get("LOG_LEVEL") or "INFO").lower(),
        "log_format": log_format_from(env),
    }


def instance_path_from_env() -> str | None:
    """INSTANCE_PATH moves instance/ (SQLite file, embedded broker) elsewhere, e.g. per test run."""
    return os.environ.get("INSTANCE_PATH") or None


def embedded_broker_dirs(instance_path: str) -> dict[str, str]:
    """Folders of kombu's filesystem transport (the embedded broker) under instance/."""
    root = Path(instance_path) / "broker"
    return {
        "data_folder_in": str(root / "out"),
        "data_folder_out": str(root / "out"),
        "processed_folder": str(root / "processed"),
        "control_folder": str(root / "control"),
    }


def load_config(instance_path: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping from the environment (and a .env file in the cwd)."""
    if env is None:
        load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)
        env = os.environ

    debug = _bool(env.get("FLASK_DEBUG"), False)
    database_url = env.get("DATABASE_URL") or "sqlite:///" + os.path.join(
        instance_path, "permit_service.sqlite3"
    )
    # Heroku-style URLs and the plain driver name both mean psycopg 3 here.
    if database_url.startswith("postgres://"):
        database_url = "postgresql://" + database_url[len("postgres://") :]
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]

    # The embedded broker: kombu's filesystem transport (folders under instance/). Naming the
    # host spares every process kombu's "No hostname was supplied" warning.
    broker_url = env.get("CELERY_BROKER_URL") or "filesystem://localhost//"
    sweep_seconds = _int(env, "EXPIRY_SWEEP_SECONDS", 60)
    cors = [o.strip() for o in (env.get("CORS_ORIGINS") or "").split(",") if o.strip()]

    # hide_parameters: database errors must not carry residents' data into logs. A SQLite file
    # has no server to drop connections: pinging it would cost a statement per request.
    engine_options: dict[str, Any] = {
        "pool_pre_ping": not database_url.startswith("sqlite"),
        "hide_parameters": True,
    }

    celery: dict[str, Any] = {
        "broker_url": broker_url,
        "include": ["permit_service.tasks"],
        # One queue per deployment; a unique name isolates test runs sharing a Redis/RabbitMQ.
        "task_default_queue": env.get("CELERY_QUEUE") or "celery",
        "task_ignore_result": True,
        "result_backend": env.get("CELERY_RESULT_BACKEND") or None,
        "broker_connection_retry_on_startup": True,
        "task_acks_late": True,
        "worker_prefetch_multiplier": 1,
        "beat_schedule_filename": env.get("CELERY_BEAT_SCHEDULE")
        or os.path.join(instance_path, "celerybeat-schedule"),
    }
    if env.get("CELERY_WORKER_CONCURRENCY"):
        # Processes per worker (Celery's default: one per CPU).
        celery["worker_concurrency"] = _int(env, "CELERY_WORKER_CONCURRENCY", 1)
    if broker_url.startswith("filesystem://"):
        # Poll the folder 5 times a second (kombu's default is 1 s): sweeps start on time (a
        # late one can pass its `expires` and be dropped) and the worker stops sooner.
        celery["broker_transport_options"] = {
            **embedded_broker_dirs(instance_path),
            "polling_interval": 0.2,
        }
    elif broker_url.startswith("redis"):
        celery["broker_transport_options"] = {"visibility_timeout": 3600}

    return {
        "SECRET_KEY": env.get("SECRET_KEY") or None,
        "DEBUG": debug,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "MAX_CONTENT_LENGTH": 16 * 1024,
        "PENDING_TTL_SECONDS": _int(env, "PENDING_TTL_SECONDS", 300),
        # An approved permit's validity (ends at the end of a local day) and the last days of
        # it in which it may be renewed.
        "PERMIT_VALIDITY_DAYS": _int(env, "PERMIT_VALIDITY_DAYS", 365),
        "RENEWAL_WINDOW_DAYS": _int(env, "RENEWAL_WINDOW_DAYS", 30),
        # ISO 4217 code of the zones' fees (shown with every fee; no payment is taken).
        "CURRENCY": _currency(env),
        "EXPIRY_SWEEP_SECONDS": sweep_seconds,
        # CSV exports are deleted this many days after they were asked for (by the sweep).
        "EXPORT_RETENTION_DAYS": _int(env, "EXPORT_RETENTION_DAYS", 7),
        "TOKEN_TTL_DAYS": _int(env, "TOKEN_TTL_DAYS", 30),
        # Enforcement (SPEC.md section 11): a check still says permitted this many seconds after
        # `valid_until`; its log is deleted by the sweep after ENFORCEMENT_LOG_HOURS.
        "ENFORCEMENT_GRACE_SECONDS": _int(env, "ENFORCEMENT_GRACE_SECONDS", 0, minimum=0),
        "ENFORCEMENT_LOG_HOURS": _int(env, "ENFORCEMENT_LOG_HOURS", 24),
        # Seconds a web request may wait on the database (db_bounds.py), then 503.
        "DATABASE_CONNECT_TIMEOUT": _int(env, "DATABASE_CONNECT_TIMEOUT", 3, minimum=2),
        "DATABASE_STATEMENT_TIMEOUT": _int(env, "DATABASE_STATEMENT_TIMEOUT", 5),
        "DATABASE_LOCK_TIMEOUT": _int(env, "DATABASE_LOCK_TIMEOUT", 3),
        # The background sweep's own, longer statement timeout.
        "SWEEP_STATEMENT_TIMEOUT": _int(env, "SWEEP_STATEMENT_TIMEOUT", 30),
        # Residents' data of permits that ended more than this many days ago is anonymised
        # (and staff reads older than that are forgotten) every night at RETENTION_AT, local
        # time in CITY_TIMEZONE (services/retention.py).
        "RETENTION_DAYS": _int(env, "RETENTION_DAYS", 730),
        "RETENTION_AT": _time_of_day(env, "RETENTION_AT", "03:30"),
        # Pages show local times in this zone; the API and the database keep UTC.
        "CITY_TIMEZONE": _zone(env),
        # The monthly report's language (services.reports), English unless told.
        "REPORT_LANGUAGE": _report_language(env),
        # Shown on the start page as the permit office's contact (unset: no address shown).
        "CONTACT_EMAIL": (env.get("CONTACT_EMAIL") or "").strip(),
        # Flask-Babel: English unless the browser or the language switch asks for German.
        "BABEL_DEFAULT_LOCALE": "en",
        "RATELIMIT_ENABLED": _bool(env.get("RATELIMIT_ENABLED"), True),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI") or "memory://",
        "RATELIMIT_APPLY": env.get("RATELIMIT_APPLY") or "20 per minute",
        "RATELIMIT_LOGIN": env.get("RATELIMIT_LOGIN") or "10 per minute",
        "RATELIMIT_HEADERS_ENABLED": True,
        # Redis down: keep limiting per process in memory instead of answering 500.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_KEY_PREFIX": env.get("RATELIMIT_KEY_PREFIX") or "permit_service",
        # Cached reads (permit_service/cache.py): Redis when CACHE_URL is set, shared by every
        # worker and host; unset, each process caches for itself (one host only). CACHE_TIMEOUT:
        # seconds a value is kept at most (invalidation makes it exact long before).
        "CACHE_URL": (env.get("CACHE_URL") or "").strip() or None,
        "CACHE_TIMEOUT": _int(env, "CACHE_TIMEOUT", 300),
        "CACHE_KEY_PREFIX": env.get("CACHE_KEY_PREFIX") or "permit_service:cache:",
        "CORS_ORIGINS": cors,
        "SESSION_COOKIE_SECURE": _bool(env.get("SESSION_COOKIE_SECURE"), False),
        # Redirect http:// to https:// and send HSTS (only behind TLS; see TRUSTED_PROXIES).
        "FORCE_HTTPS": _bool(env.get("FORCE_HTTPS"), False),
        "SESSION_COOKIE_HTTPONLY": True,
        # Staff sessions end after this long without a request, and this long after sign-in.
        "SESSION_IDLE_SECONDS": _int(env, "SESSION_IDLE_SECONDS", 8 * 3600),
        "SESSION_MAX_SECONDS": _int(env, "SESSION_MAX_SECONDS", 24 * 3600),
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "LOG_FORMAT": log_format_from(env),
        "LOG_LEVEL": env.get("LOG_LEVEL") or "INFO",
        # `flask permits|users ...`: stdout holds the results; logs only from WARNING up, unless
        # LOG_LEVEL (or --verbose) asks for more.
        "CLI_LOG_LEVEL": env.get("LOG_LEVEL") or "WARNING",
        # How many reverse proxies set X-Forwarded-For in front of gunicorn (0: none).
        "TRUSTED_PROXIES": _int(env, "TRUSTED_PROXIES", 0, minimum=0),
        # flask-smorest / OpenAPI
        "API_TITLE": "permit_service",
        "API_VERSION": "1.0",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "API_SPEC_OPTIONS": {
            "info": {
                "description": "Residential parking permits: apply, review, approve, revoke.",
            },
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer"},
                }
            },
        },
        "CELERY": celery,
        **mail_settings(env),
    }


def derived_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """Settings computed from others; create_app applies them AFTER the overrides it was given.

    So `create_app({"EXPIRY_SWEEP_SECONDS": 1})` reaches Beat, and the session cookie's
    signature lasts no longer than a staff session may.
    """
    sweep = float(config["EXPIRY_SWEEP_SECONDS"])
    celery = dict(config["CELERY"])
    celery["beat_schedule"] = {
        "expire-pending-permits": {
            "task": "permits.expire_pending",
            "schedule": sweep,
            # A sweep that could not start before the next one is due is pointless.
            "options": {"expires": sweep},
        },
        "monthly-report": {"task": "reports.make_monthly", "schedule": MONTHLY_REPORT_AT},
    }
    # Crontab entries run at the city's local times, daylight saving included.
    celery["timezone"] = config["CITY_TIMEZONE"]
    return {
        "CELERY": celery,
        "PERMANENT_SESSION_LIFETIME": timedelta(seconds=config["SESSION_MAX_SECONDS"]),
    }


def check_production_safety(config: Mapping[str, Any]) -> None:
    """Refuse to run in production without a real SECRET_KEY or with the example's password."""
    if config.get("DEBUG") or config.get("TESTING"):
        return
    key = config.get("SECRET_KEY")
    if not key or len(str(key)) < 16:
        raise ConfigError(
            "SECRET_KEY is not set (or shorter than 16 characters). Set it in the environment or "
            "in .env, e.g. SECRET_KEY=$(python -c 'import secrets; print(secrets.token_hex(32))'); "
            "for local development only, FLASK_DEBUG=1 allows a throwaway key."
        )
    try:
        password = urlsplit(str(config.get("SQLALCHEMY_DATABASE_URI") or "")).password
    except ValueError:  # not a URL the driver would take either; the engine says so itself
        password = None
    if password == PLACEHOLDER_PASSWORD:
        raise ConfigError(
            f"DATABASE_URL still holds the example's placeholder password {PLACEHOLDER_PASSWORD!r} "
            "(from .env.example). Choose a password of your own, e.g. $(python -c 'import "
            "secrets; print(secrets.token_urlsafe(24))'), and set it in .env both as "
            "POSTGRES_PASSWORD and in DATABASE_URL."
        )

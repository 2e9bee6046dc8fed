"""docker-compose.yml and .env.example, read as Docker would read them (no Docker engine here)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.deploy.support import ROOT, env_example, load_compose

APP_SERVICES = ("migrate", "app", "worker", "beat")
SPEC_VARIABLES = {  # SPEC.md section 6
    "SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "RATELIMIT_STORAGE_URI",
    "RATELIMIT_ENABLED", "RATELIMIT_APPLY", "RATELIMIT_LOGIN", "PENDING_TTL_SECONDS",
    "EXPIRY_SWEEP_SECONDS", "CORS_ORIGINS",
}  # fmt: skip


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def test_compose_defines_the_processes_and_services(services: dict) -> None:
    assert set(services) == {"db", "redis", "mailpit", "migrate", "app", "worker", "beat"}


@pytest.mark.parametrize("name", APP_SERVICES)
def test_application_services_build_one_image_and_read_dot_env(services: dict, name: str) -> None:
    service = services[name]
    assert service["build"] == "."
    assert service["image"] == "permit_service:latest"
    assert service["env_file"] == ".env"


def test_each_process_runs_the_documented_command(services: dict) -> None:
    assert services["migrate"]["command"] == ["flask", "db", "upgrade"]
    assert services["app"]["command"] == ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
    assert services["worker"]["command"] == ["celery", "-A", "celery_app", "worker"]
    assert services["beat"]["command"] == ["celery", "-A", "celery_app", "beat"]


def test_exactly_one_beat(services: dict) -> None:
    assert services["beat"]["deploy"]["replicas"] == 1
    for name, service in services.items():
        command = service.get("command") or []
        if name != "beat":
            # `worker --beat` (or -B) elsewhere would start a second scheduler.
            assert "beat" not in command and "--beat" not in command and "-B" not in command, name


def test_migrations_run_once_before_any_process_uses_the_database(services: dict) -> None:
    assert services["migrate"]["restart"] == "no"  # a one-shot job, not a daemon
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("app", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["redis"]["condition"] == "service_healthy", name
    for name in ("app", "worker"):
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy", name


def test_healthchecks_probe_what_each_service_needs(services: dict) -> None:
    assert services["db"]["healthcheck"]["test"][0] == "CMD-SHELL"
    assert services["db"]["healthcheck"]["test"][1].startswith("pg_isready ")
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    app_probe = services["app"]["healthcheck"]["test"]
    assert app_probe[:3] == ["CMD", "python", "-c"] and "/readyz" in app_probe[3]
    worker_probe = services["worker"]["healthcheck"]["test"]
    assert worker_probe[0] == "CMD-SHELL"
    assert worker_probe[1].startswith("celery -A celery_app inspect ping")
    assert services["beat"]["healthcheck"] == {"disable": True}
    assert services["migrate"]["healthcheck"] == {"disable": True}


def test_postgres_data_lives_in_a_named_volume(compose: dict) -> None:
    assert "pgdata" in compose["volumes"]
    assert "pgdata:/var/lib/postgresql/data" in compose["services"]["db"]["volumes"]
    assert compose["services"]["db"]["image"].startswith("postgres:")
    assert compose["services"]["redis"]["image"].startswith("redis:")


def test_only_the_app_is_published_on_the_port_gunicorn_binds_in_the_image(services: dict) -> None:
    published = {name: s.get("ports") for name, s in services.items() if s.get("ports")}
    assert published == {
        "app": ["${APP_PORT:-8000}:8000"],
        # The mail catcher's page, on the host's loopback only: residents' e-mails are private.
        "mailpit": ["127.0.0.1:${MAILPIT_PORT:-8025}:8025"],
    }


def test_a_mail_catcher_receives_the_containers_mail(services: dict) -> None:
    assert services["mailpit"]["image"].startswith("axllent/mailpit:")
    assert services["mailpit"]["restart"] == "unless-stopped"
    env = env_example()
    assert (env["MAIL_SERVER"], env["MAIL_PORT"]) == ("mailpit", "1025")  # Mailpit's SMTP port


def test_long_running_services_restart_and_stop_gracefully(services: dict) -> None:
    for name in ("db", "redis", "app", "worker", "beat"):
        assert services[name]["restart"] == "unless-stopped", name
    assert services["app"]["stop_grace_period"] == "40s"  # > GUNICORN_GRACEFUL_TIMEOUT (30)
    assert services["worker"]["stop_grace_period"] == "60s"


# --- .env.example -----------------------------------------------------------------------------


def _documented() -> set[str]:
    """Variable names .env.example sets or shows commented out (`NAME=` or `# NAME=`)."""
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))


def _read_by_config() -> set[str]:
    """Every variable config.py reads (env.get("X"), _int(env, "X", ...))."""
    source = (ROOT / "permit_service" / "config.py").read_text()
    names = set(re.findall(r'env(?:\.get\(|\[)\s*"([A-Z][A-Z0-9_]+)"', source))
    names |= set(re.findall(r'_int\(\s*env,\s*["\']([A-Z][A-Z0-9_]+)["\']', source))
    names |= set(re.findall(r'os\.environ\.get\("([A-Z][A-Z0-9_]+)"', source))
    return names


def test_config_reader_is_found() -> None:
    # Guards the regexes above: if they found nothing, the next test would prove nothing.
    assert {
        "SECRET_KEY",
        "PENDING_TTL_SECONDS",
        "WEB_CONCURRENCY",
        "INSTANCE_PATH",
    } <= _read_by_config()


def test_env_example_documents_every_variable() -> None:
    compose_text = (ROOT / "docker-compose.yml").read_text()
    interpolated = set(
        re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]+)[:?}-]", compose_text)
    )  # not $${..}
    wanted = SPEC_VARIABLES | _read_by_config() | interpolated
    missing = wanted - _documented()
    assert not missing, f".env.example does not document {sorted(missing)}"


def test_env_example_points_the_containers_at_compose_services() -> None:
    env = env_example()
    db = urlsplit(env["DATABASE_URL"] or "")
    assert (db.scheme, db.hostname, db.port) == ("postgresql", "db", 5432)
    # The database URL must match the user, password and database the db service creates.
    assert db.username == env["POSTGRES_USER"]
    assert db.password == env["POSTGRES_PASSWORD"]
    assert db.path.lstrip("/") == env["POSTGRES_DB"]
    assert urlsplit(env["CELERY_BROKER_URL"] or "").hostname == "redis"
    # Several web processes: rate limits must be shared, so not memory://.
    assert urlsplit(env["RATELIMIT_STORAGE_URI"] or "").hostname == "redis"


def test_env_example_is_production_safe() -> None:
    env = env_example()
    assert env["SECRET_KEY"] == ""  # the operator must set one; the app refuses to start without
    assert "FLASK_DEBUG" not in env  # debug only as a commented hint
    assert "LOG_FORMAT" not in env  # production default: JSON lines

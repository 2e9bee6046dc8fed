"""Run every docker-compose.yml service command here, as the containers would run it.

Same programs, module paths and arguments as the compose file; the environment built the way
Docker builds it (the image's ENV, then .env.example as env_file, then the service's environment),
with the compose hosts mapped to the real local services: `db` to a PostgreSQL database of this
run, `redis` to a Redis database number of this run, /app to the repository. Then: migrate, app,
worker and beat must start and work together, and the healthcheck commands must pass.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from tests.conftest import SEED
from tests.deploy.support import (
    ROOT,
    VENV_BIN,
    Processes,
    closed_port,
    env_example,
    exec_form,
    http,
    load_compose,
    own_postgres_database,
    own_redis_db,
    parse_dockerfile,
    reported_port,
    resolve,
    wait_for_http,
    wait_until,
)

pytestmark = pytest.mark.integration

PENDING_TTL = 2
RESIDENT_DATA = (SEED["name"], SEED["address"])


@dataclass
class Stack:
    """The running compose services, as local processes."""

    procs: Processes
    env: dict[str, dict[str, str]]  # per service
    base_url: str
    port: int
    database_url: str
    redis_url: str
    workdir: Path

    def proc(self, name: str) -> Any:
        """The started process of a service."""
        return next(p for p in self.procs.procs if p.name == name)


def service_env(
    service: str, compose: Mapping[str, Any], mapping: Mapping[str, str], port: int, workdir: Path
) -> dict[str, str]:
    """The environment Docker would give `service`, mapped onto this machine."""
    env: dict[str, str] = {}
    env.update(parse_dockerfile().env("runtime"))  # image ENV
    env.update({k: v for k, v in env_example().items() if v is not None})  # env_file: .env
    declared = compose["services"][service].get("environment") or {}
    if isinstance(declared, list):
        declared = dict(item.split("=", 1) for item in declared)
    env.update({k: str(v) for k, v in declared.items()})  # the service's environment
    env.pop("PATH", None)  # the image's /opt/venv is this run's virtualenv

    local: dict[str, str] = {}
    for key, value in env.items():
        if value.startswith("/app/instance"):
            value = str(workdir / "instance") + value[len("/app/instance") :]
        elif value == "/app" or value.startswith("/app/"):
            value = str(ROOT) + value[len("/app") :]
        host = urlsplit(value).hostname if "://" in value else None
        if host in mapping:
            value = mapping[host]
        local[key] = value
    assert local["GUNICORN_BIND"] == "0.0.0.0:8000"
    local["GUNICORN_BIND"] = f"127.0.0.1:{port}"  # the container's port, on loopback here
    local.update(
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        HOME=str(workdir),
        SECRET_KEY="compose-test-secret-key-0123456789abcdef",
        PENDING_TTL_SECONDS=str(PENDING_TTL),
        EXPIRY_SWEEP_SECONDS="1",
        CELERY_WORKER_CONCURRENCY="2",  # documented in .env.example; not one process per CPU here
    )
    return local


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    compose = load_compose()
    workdir = tmp_path_factory.mktemp("compose")
    (workdir / "instance").mkdir()
    with own_postgres_database() as database_url, own_redis_db() as redis_url:
        port = 0  # gunicorn binds a free port itself and reports it (no race with other tests)
        mapping = {"db": database_url, "redis": redis_url}
        envs = {
            name: service_env(name, compose, mapping, port, workdir)
            for name in ("migrate", "app", "worker", "beat")
        }
        procs = Processes(workdir)
        try:
            migrate = procs.run(compose["services"]["migrate"]["command"], envs["migrate"])
            assert migrate.returncode == 0, migrate.stderr
            app = procs.start("app", compose["services"]["app"]["command"], envs["app"])
            port = reported_port(app.output, lambda: app.popen.poll() is None)
            base_url = f"http://127.0.0.1:{port}"
            wait_for_http(f"{base_url}/healthz", procs)
            procs.start("worker", compose["services"]["worker"]["command"], envs["worker"])
            procs.start("beat", compose["services"]["beat"]["command"], envs["beat"])
            yield Stack(procs, envs, base_url, port, database_url, redis_url, workdir)
        finally:
            procs.stop_all()
        for proc in procs.procs:
            assert proc.popen.poll() is not None, f"{proc.name} survived stop_all"


def stored_status(database_url: str, permit_id: str) -> tuple[str, list[str]]:
    """The status column as stored (not the effective status) and the event actors, oldest first."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            status = conn.execute(
                sa.text("SELECT status FROM permits WHERE id = :id"), {"id": permit_id}
            ).scalar_one()
            actors = conn.execute(
                sa.text("SELECT actor FROM permit_events WHERE permit_id = :id ORDER BY id"),
                {"id": permit_id},
            ).scalars()
            return status, list(actors)
    finally:
        engine.dispose()


def test_migrate_created_the_schema_at_head(stack: Stack) -> None:
    engine = sa.create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
            tables = set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    scripts = Config()
    scripts.set_main_option("script_location", str(ROOT / "migrations"))
    assert version == ScriptDirectory.from_config(scripts).get_current_head()
    assert {"permits", "permit_events"} <= tables


def test_app_is_ready_and_its_healthchecks_pass(stack: Stack) -> None:
    status, headers, body = http("GET", f"{stack.base_url}/readyz")
    assert status == 200, body
    assert body == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-ID"])

    compose_probe = load_compose()["services"]["app"]["healthcheck"]["test"]
    image_probe = next(
        i.args for i in parse_dockerfile().in_stage("runtime") if i.name == "HEALTHCHECK"
    )
    for argv in (compose_probe[1:], exec_form(image_probe.partition("CMD ")[2])):
        probe = [arg.replace(":8000/", f":{stack.port}/") for arg in argv]
        assert probe != argv  # the probe names the container port, mapped here
        ok = subprocess.run(resolve(probe), env=stack.env["app"], capture_output=True, timeout=30)
        assert ok.returncode == 0, ok.stderr
        # The same probe against a port nobody serves fails: it can tell.
        with closed_port() as nobody:
            dead = [arg.replace(f":{stack.port}/", f":{nobody}/") for arg in probe]
            failed = subprocess.run(
                resolve(dead), env=stack.env["app"], capture_output=True, timeout=30
            )
        assert failed.returncode != 0


def test_worker_healthcheck_pings_the_running_worker(stack: Stack) -> None:
    shell = load_compose()["services"]["worker"]["healthcheck"]["test"]
    assert shell[0] == "CMD-SHELL"
    command = shell[1].replace("$$", "$")  # compose's escape for a literal $
    env = {**stack.env["worker"], "HOSTNAME": socket.gethostname()}  # as set in a container

    def ping() -> bool:
        result = subprocess.run(
            ["sh", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        return result.returncode == 0 and "pong" in result.stdout

    wait_until(ping, 60, "celery inspect ping", stack.procs.describe)


def test_http_apply_then_beat_and_worker_expire_it_with_json_logs(stack: Stack) -> None:
    status, headers, permit = http(
        "POST",
        f"{stack.base_url}/permits",
        {**SEED, "license_plate": "CMP-101"},
        {"X-Request-ID": "compose-apply-1"},
    )
    assert status == 201, permit
    assert headers["X-Request-ID"] == "compose-apply-1"

    # Beat sends the sweep every second; the worker runs it: the stored row changes, with an
    # event by "system" (reads alone would already say expired: deadlines are exact).
    wait_until(
        lambda: (
            stored_status(stack.database_url, permit["id"]) == ("expired", ["applicant", "system"])
        ),
        PENDING_TTL + 20,
        "the sweep to expire the permit",
        stack.procs.describe,
    )
    assert http("GET", f"{stack.base_url}/permits/{permit['id']}")[2]["status"] == "expired"
    # A search by plate (200 while admin endpoints are open, 401 once tokens are required): the
    # access log names the path, never the query string.
    assert http("GET", f"{stack.base_url}/permits?license_plate=CMP-101")[0] in {200, 401}

    app = stack.proc("app")
    access = wait_until(
        lambda: [
            line
            for line in app.json_lines("stdout")
            if line.get("path") == "/permits" and line.get("method") == "POST"
        ],
        10,
        "the access log line",
    )
    assert access[0]["request_id"] == "compose-apply-1"
    assert access[0]["status"] == 201
    assert access[0]["logger"] == "gunicorn.access"
    applied = [line for line in app.json_lines() if line["message"] == "permit applied"]
    assert [line["request_id"] for line in applied] == ["compose-apply-1"]

    sweeps = wait_until(
        lambda: [
            line
            for line in stack.proc("worker").json_lines()
            if line["message"] == "expired due permits"
        ],
        10,
        "the worker's sweep log line",
    )
    # Beat's tasks get a fresh id each; the worker's lines carry it.
    assert re.fullmatch(r"[0-9a-f]{32}", sweeps[0]["request_id"])
    assert sweeps[0]["logger"] == "permit_service.services.permits"

    wait_until(
        lambda: any(line.get("path") == "/permits" and line.get("method") == "GET"
                    for line in app.json_lines("stdout")),
        10,
        "the search's access line",
    )  # fmt: skip
    for proc in stack.procs.procs:
        for text in (*RESIDENT_DATA, "CMP-101", "CMP101"):
            assert text not in proc.output(), f"{proc.name} logged residents' data"


def test_task_published_in_a_request_is_logged_by_the_worker_with_that_id(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from permit_service import create_app
    from permit_service.extensions import db
    from permit_service.tasks import expire_pending

    for key in ("CELERY_BROKER_URL", "DATABASE_URL", "SECRET_KEY", "INSTANCE_PATH"):
        monkeypatch.setenv(key, stack.env["app"][key])
    monkeypatch.setenv("LOG_FORMAT", "text")  # this test process keeps its own log format
    app = create_app()
    try:
        with app.test_request_context("/permits", headers={"X-Request-ID": "compose-task-9"}):
            app.preprocess_request()
            result = expire_pending.delay()
    finally:
        with app.app_context():
            db.engine.dispose()

    def worker_lines() -> list[dict[str, Any]]:
        return [
            line
            for line in stack.proc("worker").json_lines()
            if line["request_id"] == "compose-task-9"
        ]

    def finished() -> list[dict[str, Any]]:
        # Celery writes its success line after the task's own lines: wait for it, not the first.
        lines = worker_lines()
        done = any(result.id in ln["message"] and "succeeded" in ln["message"] for ln in lines)
        return lines if done else []

    # The task's own line and Celery's success line for it both carry the request's id.
    lines = wait_until(finished, 20, "the worker's success line for the task", stack.procs.describe)
    assert any(line["message"] == "expired due permits" for line in lines)

    def next_sweep() -> list[dict[str, Any]]:
        succeeded = [
            line
            for line in stack.proc("worker").json_lines()
            if "succeeded" in line["message"] and "expire_pending" in line["message"]
        ]
        ours = next(n for n, line in enumerate(succeeded) if result.id in line["message"])
        return succeeded[ours + 1 :]

    # The next task (Beat's) starts with its own id: the request's id does not stick.
    later = wait_until(next_sweep, 10, "the next sweep after the task", stack.procs.describe)
    assert re.fullmatch(r"[0-9a-f]{32}", later[0]["request_id"])

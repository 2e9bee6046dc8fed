"""The Dockerfile and .dockerignore, read as `docker build` reads them (no Docker engine here)."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

from tests.deploy.support import ROOT, exec_form, load_compose, parse_dockerfile

RUNTIME_FILES = ["wsgi.py", "celery_app.py", "gunicorn.conf.py", "migrations", "permit_service"]


@pytest.fixture(scope="module")
def dockerfile():
    return parse_dockerfile()


def test_two_stages_on_slim_python_311(dockerfile) -> None:
    assert dockerfile.stages == ["build", "runtime"]
    args = {
        i.args.split("=")[0]: i.args.split("=")[1]
        for i in dockerfile.instructions
        if i.name == "ARG"
    }
    assert args["PYTHON_VERSION"] == "3.11"
    froms = [i.args for i in dockerfile.instructions if i.name == "FROM"]
    assert froms == [
        "python:${PYTHON_VERSION}-slim-bookworm AS build",
        "python:${PYTHON_VERSION}-slim-bookworm AS runtime",
    ]


def test_dependencies_are_installed_before_the_source_is_copied(dockerfile) -> None:
    build = dockerfile.in_stage("build")
    copies = [i.args for i in build if i.name == "COPY"]
    assert copies == ["requirements/run.txt ./requirements.txt"]  # never the source
    names = [i.name for i in build]
    assert names.index("COPY") < max(n for n, i in enumerate(build) if "pip install" in i.args)
    runtime = dockerfile.in_stage("runtime")
    copied = " ".join(i.args for i in runtime if i.name == "COPY")
    assert "--from=build /opt/venv /opt/venv" in copied
    for name in RUNTIME_FILES:
        assert name in copied, name


def test_the_image_installs_exactly_the_run_lock(dockerfile) -> None:
    runs = [i.args for i in dockerfile.in_stage("build") if i.name == "RUN"]
    assert "pip install --no-deps -r requirements.txt" in runs
    lock = (ROOT / "requirements" / "run.txt").read_text()
    assert "gunicorn==" in lock and "flask==" in lock  # the runtime pins, not the test tools
    assert "pytest==" not in lock


def test_runs_as_a_non_root_user(dockerfile) -> None:
    runtime = dockerfile.in_stage("runtime")
    users = [i.args for i in runtime if i.name == "USER"]
    assert users == ["app"]
    user_at = next(n for n, i in enumerate(runtime) if i.name == "USER")
    # Nothing after USER runs as root again, and the user exists (created before).
    assert not [i for i in runtime[user_at:] if i.name == "RUN"]
    assert any(
        "useradd" in i.args and " app" in i.args for i in runtime[:user_at] if i.name == "RUN"
    )


def test_healthcheck_probes_liveness_without_curl(dockerfile) -> None:
    check = next(i.args for i in dockerfile.in_stage("runtime") if i.name == "HEALTHCHECK")
    options, _, command = check.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    argv = exec_form(command)
    assert argv[:2] == ["python", "-c"]
    assert "urllib.request.urlopen('http://127.0.0.1:8000/healthz'" in argv[2]


def test_gunicorn_is_the_default_command_bound_on_all_interfaces(dockerfile) -> None:
    runtime = dockerfile.in_stage("runtime")
    cmd = exec_form(next(i.args for i in runtime if i.name == "CMD"))
    assert cmd == ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
    assert cmd == load_compose()["services"]["app"]["command"]
    env = dockerfile.env("runtime")
    # Inside a container loopback is unreachable from outside; the default outside stays loopback.
    assert env["GUNICORN_BIND"] == "0.0.0.0:8000"
    assert [i.args for i in runtime if i.name == "EXPOSE"] == ["8000"]
    assert env["LOG_FORMAT"] == "json"
    assert env["INSTANCE_PATH"] == "/app/instance"
    assert env["FLASK_APP"] == "wsgi"
    assert "FLASK_DEBUG" not in env and "SECRET_KEY" not in env  # secrets come at run time


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore excludes `path` (last matching pattern wins, `!` re-includes)."""
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").removeprefix("**/")
        parts = Path(path).parts
        if any(
            fnmatch.fnmatch("/".join(parts[: n + 1]), pattern) for n in range(len(parts))
        ) or any(fnmatch.fnmatch(part, pattern) for part in parts):
            excluded = not negate
    return excluded


def test_dockerignore_keeps_secrets_out_and_the_runtime_files_in() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [p.strip() for p in lines if p.strip() and not p.startswith("#")]
    for secret in (".env", ".venv/bin/python", ".git/config", "instance/permit_service.sqlite3"):
        assert _ignored(secret, patterns), secret
    for needed in [*RUNTIME_FILES, "requirements/run.txt", "permit_service/api/health.py"]:
        assert not _ignored(needed, patterns), needed
        assert (ROOT / needed).exists(), needed

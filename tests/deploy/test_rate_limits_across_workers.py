"""Rate limits count per client across every process of a deployment (SPEC.md section 6).

Real gunicorn masters with several workers: memory:// refuses to start and says why; Redis
counts across workers; `make run`'s web process (the Procfile line) counts exactly.
"""

from __future__ import annotations

import os
import shlex
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import SEED
from tests.deploy.support import (
    ROOT,
    VENV_BIN,
    Processes,
    http,
    own_redis_db,
    reported_port,
    wait_for_http,
    wait_until,
)

pytestmark = pytest.mark.integration

LIMIT = 5


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A production-like environment on a SQLite file of this test."""
    return {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "FLASK_APP": "wsgi",
        "SECRET_KEY": "rate-limit-test-secret-key-0123456789",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "GUNICORN_BIND": "127.0.0.1:0",
        "RATELIMIT_APPLY": f"{LIMIT} per minute",
        "LOG_FORMAT": "json",
        **extra,
    }


@pytest.fixture
def procs(tmp_path: Path):
    processes = Processes(tmp_path)
    yield processes
    processes.stop_all()


def serve(procs: Processes, env: dict[str, str], argv: list[str]) -> str:
    """Migrate, start `argv` (a gunicorn on port 0), wait until it answers; its base URL."""
    migrated = procs.run(["flask", "db", "upgrade"], env)
    assert migrated.returncode == 0, migrated.stderr
    web = procs.start("web", argv, env)
    base_url = f"http://127.0.0.1:{reported_port(web.output, lambda: web.popen.poll() is None)}"
    wait_for_http(f"{base_url}/healthz", procs)
    return base_url


def apply_concurrently(base_url: str, count: int) -> list[int]:
    """`count` applications at once (so several workers take them); their statuses."""

    def one(n: int) -> int:
        body = {**SEED, "license_plate": f"RL-{n:03d}"}
        return http("POST", f"{base_url}/permits", body)[0]

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


@pytest.mark.parametrize(
    ("argv_extra", "env_extra", "workers"),
    [(["--workers", "2"], {}, 2), ([], {"WEB_CONCURRENCY": "4"}, 4)],
    ids=["--workers 2", "WEB_CONCURRENCY=4"],
)
def test_several_workers_with_memory_storage_refuse_to_start_and_say_why(
    procs, tmp_path, argv_extra, env_extra, workers
) -> None:
    env = base_env(tmp_path, **env_extra)
    web = procs.start("web", ["gunicorn", "-c", "gunicorn.conf.py", *argv_extra, "wsgi:app"], env)
    wait_until(lambda: web.popen.poll() is not None, 60, "gunicorn to refuse", procs.describe)
    assert web.popen.returncode != 0
    message = web.output()
    assert f"refusing to start {workers} worker processes" in message
    assert "RATELIMIT_STORAGE_URI=memory://" in message
    assert "RATELIMIT_ENABLED=false" in message and "RATELIMIT_ALLOW_PER_PROCESS=true" in message
    assert "Booting worker" not in message


@pytest.mark.parametrize(
    "accepted", [{"RATELIMIT_ENABLED": "false"}, {"RATELIMIT_ALLOW_PER_PROCESS": "true"}]
)
def test_several_workers_start_when_limits_are_off_or_accepted_per_process(
    procs, tmp_path, accepted
) -> None:
    env = base_env(tmp_path, **accepted)
    serve(procs, env, ["gunicorn", "-c", "gunicorn.conf.py", "--workers", "2", "wsgi:app"])


def test_redis_storage_counts_across_workers(procs, tmp_path) -> None:
    with own_redis_db() as redis_url:
        env = base_env(tmp_path, RATELIMIT_STORAGE_URI=redis_url)
        argv = ["gunicorn", "-c", "gunicorn.conf.py", "--workers", "3", "wsgi:app"]
        base_url = serve(procs, env, argv)
        statuses = apply_concurrently(base_url, LIMIT)
        assert statuses == [201] * LIMIT
        assert apply_concurrently(base_url, 1) == [429]  # request N+1, whichever worker takes it
        booted = [
            line for line in procs.procs[-1].json_lines() if "Booting worker" in line["message"]
        ]
        assert len(booted) == 3


def test_make_run_web_process_counts_the_limit_exactly(procs, tmp_path) -> None:
    web_line = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")
    )
    argv = shlex.split(web_line.partition(":")[2])
    assert argv[0] == "exec"
    argv = [arg.replace("$PORT", "0") for arg in argv[1:]]
    base_url = serve(procs, base_env(tmp_path), argv)  # the default storage: memory://
    statuses = apply_concurrently(base_url, 3 * LIMIT)
    assert sorted(statuses) == [201] * LIMIT + [429] * (2 * LIMIT)

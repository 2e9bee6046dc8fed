"""`flask` commands as a person or a script runs them: results on stdout, logs apart, fast start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLASK = str(Path(sys.executable).parent / "flask")
SECRET = "cli-output-secret-0123456789abcdef"


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """A production-like environment (JSON logs, INFO) on a migrated SQLite file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "LOG_"))}
    env.update(
        FLASK_APP="wsgi",
        SECRET_KEY=SECRET,
        INSTANCE_PATH=str(tmp_path / "instance"),
        DATABASE_URL="sqlite:///" + str(tmp_path / "cli.sqlite3"),
        LOG_FORMAT="json",
    )
    env.pop("CELERY_BROKER_URL", None)
    _flask(env, "db", "upgrade")
    return env


def _flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [FLASK, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _looks_like_a_log_line(line: str) -> bool:
    if line.startswith("{"):
        try:
            return "level" in json.loads(line)
        except ValueError:
            return False
    return any(f" {level} " in f" {line} " for level in ("INFO", "WARNING", "DEBUG", "ERROR"))


def test_create_token_prints_the_token_as_the_last_stdout_line_and_no_log_lines(
    cli_env: dict[str, str],
) -> None:
    _flask(cli_env, "users", "create-admin", "a@example.org", "--password", "correct horse 42")
    done = _flask(cli_env, "users", "create-token", "a@example.org")
    lines = done.stdout.splitlines()
    assert lines[0].startswith("token for a@example.org, valid until ")
    token = lines[-1]
    assert len(token) >= 32 and " " not in token
    assert not [line for line in lines if _looks_like_a_log_line(line)]
    # The token's issue is logged at INFO: not shown by a command unless asked for.
    assert not [line for line in done.stderr.splitlines() if '"level": "INFO"' in line]


def test_verbose_or_log_level_brings_info_logs_back_on_stderr_only(cli_env: dict[str, str]) -> None:
    _flask(cli_env, "users", "create-admin", "v@example.org", "--password", "correct horse 42")
    verbose = _flask(cli_env, "users", "--verbose", "create-token", "v@example.org")
    by_level = _flask({**cli_env, "LOG_LEVEL": "INFO"}, "users", "create-token", "v@example.org")
    for done in (verbose, by_level):
        assert '"level": "INFO"' in done.stderr
        assert not [line for line in done.stdout.splitlines() if _looks_like_a_log_line(line)]


def test_seed_refuses_a_database_that_holds_permits_unless_forced(cli_env: dict[str, str]) -> None:
    assert _flask(cli_env, "permits", "seed", "--count", "5").stdout.endswith(
        "seeded 5 permit(s)\n"
    )
    refused = subprocess.run(
        [FLASK, "permits", "seed", "--count", "5"],
        cwd=ROOT,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 1
    assert "already holds permits" in refused.stderr and "--force" in refused.stderr
    forced = _flask(cli_env, "permits", "seed", "--count", "5", "--force")
    assert forced.stdout.endswith("seeded 5 permit(s)\n")

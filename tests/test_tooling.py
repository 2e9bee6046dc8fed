"""make lint, .ci/run and the closing line of `make test` about tests skipped for a service."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import service_skip_line

ROOT = Path(__file__).resolve().parents[1]


def _recipe(target: str) -> list[str]:
    """The recipe lines of a Makefile target."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"^{target}:", line))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_make_lint_fails_on_formatting_as_on_lint_findings() -> None:
    recipe = _recipe("lint")
    assert "$(BIN)/ruff check ." in recipe
    assert "$(BIN)/ruff format --check ." in recipe
    assert not any("||" in line or line.startswith("-") for line in recipe)


def test_ci_runs_make_lint_and_returns_the_test_status() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\nmake lint\n" in ci
    assert "|| status=$?" in ci and 'exit "$status"' in ci


def test_the_skip_line_counts_each_missing_service_and_says_how_to_run_them() -> None:
    line = service_skip_line(
        ["TEST_POSTGRES_URL not set", "TEST_POSTGRES_URL not set", "TEST_AMQP_URL not set", "x"]
    )
    assert line.startswith("3 tests skipped for a missing service (PostgreSQL 2, RabbitMQ 1)")
    assert "export TEST_POSTGRES_URL=" in line and "TEST_REDIS_URL=" in line
    assert service_skip_line([]) == "0 tests skipped for a missing PostgreSQL, Redis or RabbitMQ"


def test_a_run_without_postgresql_ends_with_the_skip_line_above_the_counts() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "REQUIRE_"))}
    one = "tests/test_cli.py::test_cli_conflicts_and_unknown_ids_fail_with_a_message"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", one],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-2].startswith("1 test skipped for a missing service (PostgreSQL 1)"), lines
    assert re.match(r"^=* ?1 passed, 1 skipped", lines[-1]), lines

"""Helpers for the deployment tests: the repository's deploy files, real services, real processes.

Services come from TEST_POSTGRES_URL and TEST_REDIS_URL. Unset, the tests that need them skip,
unless REQUIRE_SERVICES=1 / REQUIRE_POSTGRES=1 (CI), where a missing service fails the run.
Every process is started in its own session (process group) and killed as a group.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# Service helpers live in tests/support.py; re-exported for the deploy tests.
from tests.support import (  # noqa: E402, F401
    REQUIRE_POSTGRES,
    REQUIRE_SERVICES,
    closed_port,
    own_postgres_database,
    own_redis_db,
    reported_port,
    service_url,
)

# --- the deploy files -------------------------------------------------------------------------


def load_compose() -> dict[str, Any]:
    """docker-compose.yml as data (YAML anchors and merge keys resolved by PyYAML)."""
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def env_example() -> dict[str, str | None]:
    """The active (uncommented) settings of .env.example, read as compose's env_file reads it."""
    from dotenv import dotenv_values

    return dict(dotenv_values(ROOT / ".env.example"))


@dataclass
class Instruction:
    """One Dockerfile instruction with its arguments (continuation lines joined)."""

    name: str
    args: str
    stage: str


@dataclass
class Dockerfile:
    """A parsed Dockerfile: instructions per stage, in order."""

    instructions: list[Instruction] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)

    def in_stage(self, stage: str) -> list[Instruction]:
        """The instructions of one stage."""
        return [i for i in self.instructions if i.stage == stage]

    def env(self, stage: str) -> dict[str, str]:
        """The ENV settings of a stage (KEY=value form)."""
        values: dict[str, str] = {}
        for inst in self.in_stage(stage):
            if inst.name == "ENV":
                for pair in shlex.split(inst.args):
                    key, _, value = pair.partition("=")
                    values[key] = value
        return values


def parse_dockerfile(path: Path = ROOT / "Dockerfile") -> Dockerfile:
    """Parse instructions and stages; enough of the format for the files we write."""
    result = Dockerfile()
    stage = ""
    logical = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        name, _, args = logical.partition(" ")
        name = name.upper()
        if name == "FROM":
            words = args.split()
            stage = (
                words[2]
                if len(words) >= 3 and words[1].upper() == "AS"
                else str(len(result.stages))
            )
            result.stages.append(stage)
        result.instructions.append(Instruction(name, args.strip(), stage))
        logical = ""
    return result


def exec_form(args: str) -> list[str]:
    """The JSON (exec) form of CMD / HEALTHCHECK CMD arguments."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


# --- services ---------------------------------------------------------------------------------


def resolve(command: Sequence[str]) -> list[str]:
    """A compose command run locally: its programs taken from this virtualenv."""
    first, *rest = command
    local = VENV_BIN / first
    return [str(local) if local.exists() else first, *rest]


@dataclass
class Proc:
    """A started process (own process group) and the files its output goes to."""

    name: str
    popen: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def output(self) -> str:
        """Everything it wrote so far, stdout then stderr."""
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def json_lines(self, which: str = "stderr") -> list[dict[str, Any]]:
        """Its JSON log lines (non-JSON lines, e.g. Celery's banner, are left out)."""
        lines = []
        for line in getattr(self, which).read_text(errors="replace").splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))  # a line that starts like JSON must be JSON
        return lines


class Processes:
    """Starts processes in their own sessions and stops every one of them, whatever happens."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[Proc] = []

    def start(self, name: str, command: Sequence[str], env: Mapping[str, str]) -> Proc:
        """Start `command` from the repository root with exactly `env`."""
        out, err = self.workdir / f"{name}.out", self.workdir / f"{name}.err"
        with out.open("wb") as o, err.open("wb") as e:
            popen = subprocess.Popen(
                resolve(command),
                cwd=ROOT,
                env=dict(env),
                stdout=o,
                stderr=e,
                start_new_session=True,
            )
        proc = Proc(name, popen, out, err)
        self.procs.append(proc)
        return proc

    def run(
        self, command: Sequence[str], env: Mapping[str, str], timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run a one-shot command from the repository root to completion."""
        return subprocess.run(
            resolve(command),
            cwd=ROOT,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def stop_all(self, grace: float = 10) -> None:
        """SIGTERM every process group, wait, then SIGKILL what is left."""
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
            # Children (gunicorn or celery workers) may outlive their parent: kill the group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(5)

    def describe(self) -> str:
        """The tail of every process's output, for assertion messages."""
        return "\n".join(
            f"--- {p.name} (rc={p.popen.poll()})\n{p.output()[-3000:]}" for p in self.procs
        )


def http(
    method: str, url: str, body: Any = None, headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """One HTTP request; returns status, headers and the decoded JSON body (or text)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - tests call loopback http:// only
        url, data=data, method=method, headers=dict(headers or {})
    )
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            status, hdrs, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        status, hdrs, raw = exc.code, dict(exc.headers), exc.read()
    try:
        return status, hdrs, json.loads(raw)
    except ValueError:
        return status, hdrs, raw.decode(errors="replace")


def wait_until(predicate: Any, timeout: float, what: str, on_fail: Any = None) -> Any:
    """Poll `predicate` until it returns something truthy; fail naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            value = predicate()
            if value:
                return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}\n{on_fail() if on_fail else ''}")


def wait_for_http(url: str, procs: Processes, timeout: float = 30) -> None:
    """Wait until `url` answers 200."""
    wait_until(lambda: http("GET", url)[0] == 200, timeout, url, procs.describe)


# --- the service's processes, started by a test -----------------------------------------------


def service_env(
    tmp_path: Path, database_url: str, secret_key: str, **settings: str
) -> dict[str, str]:
    """The environment the service's processes get in an integration test: its own instance
    folder and HOME, gunicorn on a free port it reports, JSON logs; `settings` add or override."""
    return {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "FLASK_APP": "wsgi",
        "SECRET_KEY": secret_key,
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "GUNICORN_BIND": "127.0.0.1:0",  # gunicorn picks a free port and reports it
        "LOG_FORMAT": "json",
        **settings,
    }


def admin_headers(procs: Processes, env: Mapping[str, str], password: str) -> dict[str, str]:
    """Migrate, create the admin ops@city.example and a bearer token for it, the way an
    operator does (SPEC.md section 6); the Authorization header that carries the token."""
    for command in (
        ["db", "upgrade"],
        ["users", "create-admin", "ops@city.example", "--password", password],
        ["users", "create-token", "ops@city.example"],
    ):
        done = procs.run(["flask", *command], env)
        assert done.returncode == 0, done.stderr
    return {"Authorization": f"Bearer {done.stdout.strip().splitlines()[-1]}"}


def sample_sum(text: str, name: str, *labels: str) -> float:
    """The sum of a Prometheus metric's samples whose label text contains every one of `labels`."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")) and all(label in line for label in labels):
            total += float(line.rsplit(" ", 1)[1])
    return total

"""Helpers for tests that run real processes: start them, wait for things, stop every one."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TypeVar

import psutil
import pytest

from tests.support import reported_port, service_url  # noqa: F401 - re-exported for the tests

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")

# Settings a developer's shell may carry that must not leak into the processes under test.
_SCRUB = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "CELERY_QUEUE",
    "CELERY_BEAT_SCHEDULE",
    "INSTANCE_PATH",
    "FLASK_DEBUG",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
)


def run_id() -> str:
    """A name unique to this test, for queues and other shared-service resources."""
    return f"permit_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def process_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """The test's environment without app settings from the developer's shell, plus overrides."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env.update(overrides)
    return env


def start(argv: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start `argv` from the repository root in its own session (so its group can be signalled)."""
    with open(log, "wb") as out:
        return subprocess.Popen(  # noqa: S603 - fixed argv built by the tests
            argv,
            cwd=ROOT,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


CELERY = str(Path(sys.executable).with_name("celery"))


def start_worker_with_beat(
    tmp_path: Path, database_url: str, broker: Mapping[str, str], **settings: str
) -> tuple[subprocess.Popen[bytes], Path]:
    """`celery -A celery_app worker --beat` on `database_url` and `broker`; `settings` are app
    settings. Its instance folder is `tmp_path/worker-instance`, its text log `tmp_path/worker.log`.
    """
    env = process_env(
        {
            "SECRET_KEY": "integration-secret-key-0123456789",
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path / "worker-instance"),
            "LOG_FORMAT": "text",
            **settings,
            **broker,
        }
    )
    log = tmp_path / "worker.log"
    argv = [CELERY, "-A", "celery_app", "worker", "--beat", "--loglevel", "INFO", "-c", "1"]
    return start(argv, env, log), log


def wait_for(
    check: Callable[[], T | None], timeout: float, what: str, log: Path | None = None
) -> T:
    """Poll `check` until it returns a truthy value; fail naming `what` (and the log) on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}" + tail(log))
        time.sleep(0.1)


def tail(log: Path | None, lines: int = 40) -> str:
    """The end of a process log, for failure messages."""
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return "\n--- log tail ---\n" + "\n".join(text)


def tree(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The process and every descendant (also those that started their own session)."""
    try:
        root = psutil.Process(proc.pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def running(proc: psutil.Process) -> bool:
    """True while the process runs; a zombie has ended (this machine's init may never reap it)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def stop_all(procs: Iterable[psutil.Process], timeout: float) -> list[str]:
    """Wait for `procs` to end; SIGKILL what is left after `timeout` and describe those."""
    procs = list(procs)
    deadline = time.monotonic() + timeout
    while any(map(running, procs)) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = []
    for survivor in filter(running, procs):
        with contextlib.suppress(psutil.Error):
            survivors.append(f"{survivor.pid} {' '.join(survivor.cmdline())}")
            survivor.kill()
    return survivors


def terminate(proc: subprocess.Popen[bytes], log: Path | None = None, timeout: float = 20) -> None:
    """SIGTERM the main process, as a supervisor does, and require the whole tree to be gone."""
    procs = tree(proc)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    survivors = stop_all(procs, timeout)
    proc.wait(timeout=5)
    assert not survivors, f"still running {timeout:.0f}s after SIGTERM: {survivors}" + tail(log)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Last resort in a `finally`: SIGKILL whatever is left of the process's tree and group."""
    leftovers = tree(proc)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    stop_all(leftovers, timeout=0)
    if proc.poll() is None:
        proc.wait(timeout=5)

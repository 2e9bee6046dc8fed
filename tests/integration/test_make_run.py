"""`make run` as a new user runs it: web, one worker and one beat; Ctrl-C or SIGTERM stops all.

Ctrl-C is pressed for real: make runs on a pseudo-terminal and gets the ^C byte, so the terminal
sends SIGINT to its foreground process group, as in a developer's shell; it must end with exit 0.

The embedded defaults (SQLite file and filesystem broker under INSTANCE_PATH, no server), a
2-second TTL and a 1-second sweep: an application expires in the database within seconds.
"""

from __future__ import annotations

import email
import email.policy
import fcntl
import json
import os
import pty
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import termios
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.integration.processes import (
    ROOT,
    kill_group,
    process_env,
    reported_port,
    start,
    stop_all,
    tail,
    tree,
    wait_for,
)

pytestmark = pytest.mark.integration


def _http(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - a fixed http://127.0.0.1 URL
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
    except OSError:  # nothing listening (yet, or any more)
        return 0, None


def _role(proc: psutil.Process) -> str | None:
    """Which of the three services a process is (its main process, not a pool child)."""
    try:
        cmd = " ".join(proc.cmdline())
        parent = " ".join(proc.parent().cmdline()) if proc.parent() else ""
    except psutil.Error:
        return None
    if "gunicorn" in cmd and "gunicorn" not in parent:
        return "web"
    if "celery_app" in cmd and "celery_app" not in parent:
        return "beat" if " beat" in cmd else "worker" if " worker" in cmd else None
    return None


def _roles(procs: list[psutil.Process]) -> list[str]:
    return sorted(r for r in map(_role, procs) if r)


def _stored(database: Path, permit_id: str) -> tuple[str, list[tuple[Any, ...]]]:
    """The status column and the events, straight from the SQLite file."""
    with sqlite3.connect(database, timeout=10) as conn:
        row = conn.execute("SELECT status FROM permits WHERE id = ?", (permit_id,)).fetchone()
        events = conn.execute(
            "SELECT from_status, to_status, actor FROM permit_events WHERE permit_id = ? "
            "ORDER BY id",
            (permit_id,),
        ).fetchall()
    conn.close()
    return row[0], events


def _start_on_a_terminal(
    argv: list[str], env: dict[str, str], log: Path
) -> tuple[subprocess.Popen[bytes], int]:
    """Start `argv` in a new session whose controlling terminal is a fresh pty; copy its output
    to `log`. Returns the process and the pty's master end (write b"\x03" for Ctrl-C)."""
    master, slave = pty.openpty()
    log.touch()  # read before the copying thread has opened it: empty, not missing

    def _take_the_terminal() -> None:  # in the child, after setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(  # noqa: S603 - fixed argv built by the test
        argv,
        cwd=ROOT,
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=_take_the_terminal,  # noqa: PLW1509 - no threads to deadlock here
    )
    os.close(slave)

    def _copy() -> None:
        with open(log, "ab") as out:
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: every process holding the terminal is gone
                    return
                if not chunk:
                    return
                out.write(chunk)
                out.flush()

    threading.Thread(target=_copy, daemon=True).start()
    return proc, master


def _start_make_run(
    stop: str, env: dict[str, str], tmp_path: Path
) -> tuple[subprocess.Popen[bytes], int | None, str, Path]:
    """`make run` on a port nobody else has: the URL it announces needs the port up front, so
    pick one and, if another test took it meanwhile (gunicorn gives up binding it and make
    exits), try another. gunicorn's own "Listening at" line says the port is ours."""
    for attempt in range(4):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        log = tmp_path / f"make-run-{attempt}.log"
        argv = ["make", "run", f"PORT={port}", f"VENV={sys.prefix}"]
        terminal: int | None = None
        if stop == "ctrl-c":
            make, terminal = _start_on_a_terminal(argv, env, log)
        else:
            make = start(argv, env, log)
        try:
            listening = reported_port(log.read_text, lambda m=make: m.poll() is None)
        except pytest.fail.Exception:
            kill_group(make)
            continue
        assert listening == port, tail(log)
        return make, terminal, f"http://127.0.0.1:{port}", log
    pytest.fail("make run found no free port in 4 attempts")


@pytest.mark.parametrize(
    "stop",
    ["ctrl-c", "sigterm"],
    ids=["ctrl-c pressed on the terminal", "SIGTERM to make"],
)
def test_make_run_starts_three_processes_expires_and_stops_them_all(
    stop: str, tmp_path: Path
) -> None:
    instance = tmp_path / "instance"
    env = process_env(
        {
            # Given in the environment, so `make run` writes no .env into the checkout.
            "SECRET_KEY": "make-run-smoke-secret-0123456789",
            "INSTANCE_PATH": str(instance),
            "PENDING_TTL_SECONDS": "2",
            "EXPIRY_SWEEP_SECONDS": "1",
        }
    )
    make, terminal, base, log = _start_make_run(stop, env, tmp_path)
    try:
        wait_for(lambda: _http("GET", f"{base}/healthz")[0] == 200, 90, "the web app", log)
        wait_for(
            lambda: _roles(tree(make)) == ["beat", "web", "worker"],
            30,
            "exactly one web, one worker and one beat process",
            log,
        )
        wait_for(
            lambda: "celery@" in log.read_text() and " ready." in log.read_text(), 30, "worker"
        )
        # Where to go next, once the app answers; and a log a person can read (no JSON lines).
        text = wait_for(
            lambda: "permit_service is ready at" in (t := log.read_text()) and t, 30, "next steps"
        )
        assert f"permit_service is ready at {base}/" in text
        flask = Path(os.path.relpath(sys.prefix, ROOT), "bin", "flask")  # as the README says it
        assert f"{flask} users create-admin admin@example.org" in text
        assert f"{base}/admin/login" in text and f"Data: {instance}/" in text
        plain = re.sub(r"\x1b\[[0-9;]*m", "", text)  # honcho colours its prefixes on a terminal
        logged = [line.split(" | ", 1)[1] for line in plain.splitlines() if " | " in line]
        assert logged and not [line for line in logged if line.startswith("{")]

        status, permit = _http(
            "POST", f"{base}/permits", {"name": "J Doe", "license_plate": "RUN-1", "address": "x"}
        )
        assert status == 201, permit
        database = instance / "permit_service.sqlite3"
        stored, events = wait_for(
            lambda: (s := _stored(database, permit["id"]))[0] == "expired" and s,
            20,
            "the application to expire in the database",
            log,
        )
        assert events == [(None, "pending", "applicant"), ("pending", "expired", "system")]

        # E-mails under make run's defaults: .eml files in instance/mail/, as it says.
        assert f"E-mails to residents: .eml files in {instance}/mail/" in text
        status, mailed = _http(
            "POST",
            f"{base}/permits",
            {"name": "M Ail", "license_plate": "RUN-2", "address": "x", "email": "m@example.org"},
        )
        assert status == 201, mailed
        subject = f"Application received ({mailed['reference']})"

        def receipt_mail() -> Any:
            for eml in (instance / "mail").glob("*.eml"):
                found = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
                if found["Subject"] == subject:
                    return found
            return None

        message = wait_for(receipt_mail, 20, "the receipt e-mail", log)
        assert message["To"] == "m@example.org"
        body = message.get_body(preferencelist=("plain",)).get_content()
        assert f"{base}/applications/{mailed['id']}" in body  # PUBLIC_BASE_URL: this instance
        assert _http("GET", f"{base}/permits/{permit['id']}")[1]["status"] == "expired"
        assert _roles(tree(make)) == ["beat", "web", "worker"]

        # Everything below make: honcho and its helpers, the three services, their children.
        below = tree(make)[1:]
        if stop == "ctrl-c":
            os.write(terminal, b"\x03")  # the terminal turns it into SIGINT
            assert make.wait(timeout=30) == 0, tail(log)  # stopping is not a failure
        else:
            make.send_signal(signal.SIGTERM)  # what `kill PID` does
            assert make.wait(timeout=30) != 0, tail(log)  # make reports the termination
        survivors = stop_all(below, timeout=5)
        assert not survivors, f"survived {stop}: {survivors}" + tail(log)
        assert _http("GET", f"{base}/healthz")[0] == 0  # nothing answers on the port any more
        assert "SIGKILL" not in log.read_text(), "a process had to be killed" + tail(log)
        assert "web.1 stopped" in log.read_text()
        assert "worker.1 stopped" in log.read_text()
        assert "beat.1 stopped" in log.read_text()
    finally:
        kill_group(make)

"""A private PostgreSQL cluster for fault tests: started in a temp dir, frozen, thawed, stopped.

Never the shared server: a test that freezes PostgreSQL (SIGSTOP, like a black-holed network or a
storage stall) must only freeze its own. Whatever happens to the test, the cluster is thawed and
stopped (the fixture's finalizer, and atexit as the last resort).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil


def _binary(name: str) -> str:
    """A PostgreSQL server program: on PATH, or from Debian's versioned folder."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not candidates:
        raise FileNotFoundError(f"{name} not found (install the PostgreSQL server package)")
    return str(candidates[-1])


def _unused_port() -> int:
    """A loopback port nothing listens on right now (the caller retries if it is taken)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateCluster:
    """initdb + pg_ctl in a temp dir on a free port; freeze() and thaw() signal every process."""

    def __init__(self) -> None:
        # Short path: the Unix socket's name must fit in 107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="pgfault", dir="/tmp"))
        self.data = self.root / "data"
        self.port = _unused_port()
        self.frozen: list[psutil.Process] = []
        self._as_postgres = os.geteuid() == 0  # initdb refuses to run as root
        self.started = False

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the cluster's `postgres` database over TCP."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str, timeout: float = 60) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        result = subprocess.run(  # noqa: S603 - fixed argv
            [*prefix, *argv], capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {result.stdout}\n{result.stderr}")

    def start(self) -> PrivateCluster:
        """initdb (trust, no fsync) and start the server; return self."""
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run(
            _binary("initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        # PostgreSQL cannot bind port 0 and report it: take a port that is free now and, if
        # another test binds it before the server does, start again on another one.
        for attempt in range(4):
            options = (
                f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c max_connections=60 -c shared_buffers=16MB"
            )
            try:
                self._run(
                    _binary("pg_ctl"),
                    "-D",
                    str(self.data),
                    "-o",
                    options,
                    "-w",
                    "-l",
                    str(self.root / "server.log"),
                    "start",
                )
                break
            except RuntimeError:
                log = (self.root / "server.log").read_text(errors="replace")
                if attempt == 3 or "could not bind" not in log:
                    raise
                self.port = _unused_port()
        self.started = True
        atexit.register(self.stop)
        self._start_reaper()
        return self

    def _start_reaper(self) -> None:
        """A watchdog process that thaws and stops the cluster if this test process dies.

        atexit does not run when pytest is killed (SIGTERM from a timeout, SIGKILL): without
        this, a frozen cluster would be left behind.
        """
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        script = (
            "import os, shutil, signal, subprocess, sys, time\n"
            "parent, data, root = int(sys.argv[1]), sys.argv[2], sys.argv[3]\n"
            "import psutil\n"
            "def alive(pid):  # a zombie (never reaped on some machines) has ended too\n"
            "    try:\n"
            "        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE\n"
            "    except psutil.Error:\n"
            "        return False\n"
            "while os.path.exists(data):\n"
            "    if not alive(parent):\n"
            "        break\n"
            "    time.sleep(1)\n"
            "else:\n"
            "    sys.exit(0)\n"
            "try:\n"
            "    pid = int(open(os.path.join(data, 'postmaster.pid')).read().split()[0])\n"
            "    postmaster = psutil.Process(pid)\n"
            "    for proc in [postmaster, *postmaster.children(recursive=True)]:\n"
            "        proc.send_signal(signal.SIGCONT)\n"
            "except (OSError, ValueError, IndexError, psutil.Error):\n"
            "    pass\n"
            "subprocess.run(sys.argv[4:] + ['-D', data, '-m', 'immediate', 'stop'], check=False)\n"
            "shutil.rmtree(root, ignore_errors=True)\n"
        )
        subprocess.Popen(  # noqa: S603 - fixed argv
            [
                sys.executable,
                "-c",
                script,
                str(os.getpid()),
                str(self.data),
                str(self.root),
                *prefix,
                _binary("pg_ctl"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def processes(self) -> list[psutil.Process]:
        """The postmaster and every process it started (backends, checkpointer, ...)."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            postmaster = psutil.Process(pid)
            return [postmaster, *postmaster.children(recursive=True)]
        except (FileNotFoundError, ValueError, IndexError, psutil.Error):
            return []

    def freeze(self) -> None:
        """SIGSTOP the postmaster first (so it starts nothing new), then every child."""
        for proc in self.processes():
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGSTOP)
                self.frozen.append(proc)

    def thaw(self) -> None:
        """SIGCONT everything freeze() stopped (and anything else of the cluster)."""
        for proc in [*self.frozen, *self.processes()]:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGCONT)
        self.frozen.clear()

    @contextlib.contextmanager
    def frozen_for_a_while(self) -> Iterator[None]:
        """Frozen inside the block, thawed after it whatever happens."""
        self.freeze()
        try:
            yield
        finally:
            self.thaw()

    def stop(self) -> None:
        """Thaw, stop at once (immediate mode) and delete the folder. Safe to call twice."""
        if not self.started:
            shutil.rmtree(self.root, ignore_errors=True)
            return
        self.thaw()
        with contextlib.suppress(Exception):
            self._run(
                _binary("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=30
            )
        for proc in self.processes():  # pg_ctl failed: do not leave a server behind
            with contextlib.suppress(psutil.Error):
                proc.kill()
        self.started = False
        shutil.rmtree(self.root, ignore_errors=True)
        atexit.unregister(self.stop)

    def wait_until_answering(self, timeout: float = 10) -> None:
        """Wait until a new connection succeeds (after a thaw)."""
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(
                    host="127.0.0.1",
                    port=self.port,
                    user="postgres",
                    dbname="postgres",
                    connect_timeout=2,
                ):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

"""`make run`'s supervisor: honcho runs the Procfile (web, worker, beat); Ctrl-C stops them all.

On a terminal it takes the foreground in a process group of its own, so Ctrl-C's SIGINT reaches
honcho alone (which stops the three in order and exits 0), not make, which would report
"Interrupt" and fail. SIGTERM still ends it with honcho's 143. Once the web app answers, it
prints where to go next.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Callable

import honcho.command
import honcho.manager


def _take_terminal() -> Callable[[], None]:
    """Become the terminal's foreground process group; return how to give it back."""
    try:
        tty = os.open("/dev/tty", os.O_RDWR)
    except OSError:  # no controlling terminal (CI, tests, `make run </dev/null &`)
        return lambda: None
    try:
        previous = os.tcgetpgrp(tty)
        if previous != os.getpgrp():  # started in the background: leave the terminal alone
            os.close(tty)
            return lambda: None
        signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # tcsetpgrp from a background group
        os.setpgid(0, 0)
        os.tcsetpgrp(tty, os.getpgrp())
    except OSError:
        os.close(tty)
        return lambda: None

    def give_back() -> None:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(tty, previous)
        os.close(tty)

    return give_back


def _setting(name: str) -> str | None:
    """A setting as the app will read it: the environment first, then .env."""
    from dotenv import dotenv_values

    return os.environ.get(name) or dotenv_values(".env").get(name) or None


def next_steps(port: int) -> str:
    """What `make run` prints once the web app answers: the URLs and the first commands."""
    base = f"http://127.0.0.1:{port}"
    bin_dir = os.path.join(os.path.relpath(sys.prefix), "bin")
    if bin_dir.startswith(".."):
        bin_dir = os.path.join(sys.prefix, "bin")
    instance = os.environ.get("INSTANCE_PATH") or "instance"
    server = _setting("MAIL_SERVER")
    mail = (
        f"  E-mails to residents go to the SMTP server {server}"
        if server
        else f"  E-mails to residents: .eml files in {instance}/mail/ (MAIL_SERVER unset)"
    )
    return "\n".join(
        [
            "",
            f"permit_service is ready at {base}/",
            f"  Residents apply at   {base}/",
            f"  Staff sign in at     {base}/admin/login",
            f"  API documentation    {base}/docs",
            "  Create the first admin (in another terminal, from this folder):",
            f"    {bin_dir}/flask users create-admin admin@example.org",
            f"  Data: {instance}/ (SQLite database, embedded broker); settings: .env",
            mail,
            "  Stop with Ctrl-C.",
            "",
            "",
        ]
    )


def _announce_when_ready(port: int, timeout: float = 300) -> None:
    """Print next_steps() once /healthz answers (in a thread, beside honcho's output)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            url = f"http://127.0.0.1:{port}/healthz"
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    sys.stdout.write(next_steps(port))
                    sys.stdout.flush()
                    return
        except OSError:
            pass
        time.sleep(0.2)


def main(port: int) -> int:
    """Run the Procfile under honcho; 0 after Ctrl-C, honcho's exit status otherwise."""
    # honcho SIGKILLs what still runs 5 s after the first process stopped (KILL_WAIT, not an
    # option: honcho issue #189); a Celery worker's warm shutdown can take longer on a busy
    # machine, so it gets 20 s.
    honcho.manager.KILL_WAIT = 20
    honcho.manager.SIGNALS[signal.SIGINT]["rc"] = 0  # Ctrl-C is how a developer stops it
    if not _setting("PUBLIC_BASE_URL"):  # receipt links in e-mails point at this instance
        os.environ["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    if not _setting("PROMETHEUS_MULTIPROC_DIR"):
        # GET /metrics sums the web and the Celery worker's counters from one folder, emptied
        # at each start (counters start again from 0, as Prometheus expects after a restart).
        folder = os.path.abspath(
            os.path.join(os.environ.get("INSTANCE_PATH") or "instance", "metrics")
        )
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    give_back = _take_terminal()
    threading.Thread(target=_announce_when_ready, args=(port,), daemon=True).start()
    try:
        # `--env /dev/null`: the app reads .env itself, where the environment wins; honcho's
        # own .env loading would let .env win instead.
        honcho.command.main(["start", "--env", "/dev/null", "--port", str(port)])
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        give_back()


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 8000))

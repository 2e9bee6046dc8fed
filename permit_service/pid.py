"""This process's id, kept in memory: `os.getpid()` is a system call on every call (glibc no
longer caches it), and a request asked for it about nine times (issue 17: the metrics'
per-value process check, the caches' and the check log's fork checks).

`os.register_at_fork` renews it in every child forked through Python (gunicorn's workers,
Celery's prefork pool, multiprocessing); a process started by exec imports it afresh.
"""

from __future__ import annotations

import os

_pid = os.getpid()


def _renew() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_renew)


def current() -> int:
    """`os.getpid()`, without the system call."""
    return _pid

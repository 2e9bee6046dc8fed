"""Handing notifications to Celery after the commit, without ever holding up the committer.

services.notifications records, in the session's `info`, the ids a transaction wrote (and
whether a delivery of everything due was asked for). After the commit, the SQLAlchemy hook
below puts them on an in-process queue and returns; a daemon thread per process publishes the
tasks. A web request never waits for the broker, and a broker that is down or slow costs it
nothing: the thread publishes with MAIL_PUBLISH_TIMEOUT and no retries, and after a failure
drops what it holds for a while instead of trying each one (the rows stay queued; the sweep's
delivery sends them once the broker is back). A rollback forgets the ids: nothing was written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from permit_service import metrics
from permit_service.services.notifications import DELIVER_KEY, OUTBOX_KEY

log = logging.getLogger(__name__)

SEND_TASK = "notifications.send"
DELIVER_TASK = "notifications.deliver"
# After a failed publish, tasks are dropped (not tried) this long: the broker is down.
PAUSE_AFTER_FAILURE = 5.0
QUEUE_SIZE = 10_000


class Publisher:
    """One daemon thread per process that publishes send tasks from an in-process queue."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Flask, str, list[Any]]] = queue.Queue(QUEUE_SIZE)
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._paused_until = 0.0

    def submit(self, app: Flask, task: str, args: list[Any]) -> None:
        """Queue a task to publish; never blocks (a full queue drops it: the sweep recovers)."""
        self._ensure_thread()
        try:
            self._queue.put_nowait((app, task, args))
        except queue.Full:
            log.warning("notification publish queue full; the sweep will deliver")

    def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds until everything queued was published (tests, exit)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def _ensure_thread(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            # A forked child (gunicorn, Celery) has the queue's object but not its thread.
            self._queue = queue.Queue(QUEUE_SIZE)
            thread = threading.Thread(target=self._run, name="notification-publisher", daemon=True)
            thread.start()
            self._pid = os.getpid()

    def _run(self) -> None:
        connections: dict[int, Any] = {}  # one broker connection per app, kept between tasks
        while True:
            app, task, args = self._queue.get()
            try:
                if time.monotonic() >= self._paused_until:
                    self._publish(app, task, args, connections)
            except Exception as exc:  # noqa: BLE001 - the broker's trouble is never the caller's
                self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE
                conn = connections.pop(id(app), None)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.release()
                log.warning(
                    "broker unavailable; queued notifications wait for the sweep",
                    extra={"error": type(exc).__name__},
                )
            finally:
                self._queue.task_done()

    @staticmethod
    def _publish(app: Flask, task: str, args: list[Any], connections: dict[int, Any]) -> None:
        celery = app.extensions.get("celery")
        if celery is None:  # a `flask ...` command: the worker's next sweep delivers
            return
        conn = connections.get(id(app))
        if conn is None:
            conn = celery.connection_for_write()
            timeout = app.config["MAIL_PUBLISH_TIMEOUT"]
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
            connections[id(app)] = conn
        celery.send_task(task, args=args, connection=conn, retry=False)


publisher = Publisher()


def _after_commit(session: Session) -> None:
    ids = session.info.pop(OUTBOX_KEY, None)
    deliver = session.info.pop(DELIVER_KEY, False)
    if not (ids or deliver) or not has_app_context():
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    metrics.notifications("queued", len(ids or ()))
    for nid in ids or ():
        publisher.submit(app, SEND_TASK, [nid])
    if deliver:
        publisher.submit(app, DELIVER_TASK, [])


def _after_rollback(session: Session, _previous: Any) -> None:
    if session.in_nested_transaction():  # a savepoint: the outer transaction's rows stand
        return
    session.info.pop(OUTBOX_KEY, None)
    session.info.pop(DELIVER_KEY, None)


def init_dispatch() -> None:
    """Install the after-commit hook (once per process; every session of the app)."""
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_rollback)

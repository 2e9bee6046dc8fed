"""Real worker processes deliver the outbox through outages, to a real SMTP server (aiosmtpd).

- The mail server down while permits change, then up: every message arrives, none twice.
- The worker killed (SIGKILL, its whole group) in the middle of sending, then restarted: every
  message arrives; duplicates stay within the SPEC's crash window (a message the server had
  accepted when the worker died, before it could record `sent`): at most one per worker
  process, here one.
- The broker down: applying and deciding still answer at once, and once a broker and worker are
  there, the sweep sends what was queued meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from permit_service.extensions import db
from permit_service.models import Notification
from tests.conftest import apply, auth_headers
from tests.integration.processes import (
    kill_group,
    start,
    start_worker_with_beat,
    terminate,
    wait_for,
)
from tests.integration.test_celery_expiry import broker  # noqa: F401 - a fixture
from tests.smtp import SmtpServer
from tests.support import closed_port

pytestmark = pytest.mark.integration


def _rows(app: Flask) -> list[tuple[int, str, int, str | None]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(
                Notification.id, Notification.status, Notification.attempts, Notification.last_error
            ).order_by(Notification.id)
        ).all()
        db.session.remove()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def _worker_settings(smtp: SmtpServer, **extra: str) -> dict[str, str]:
    return {
        **smtp.env(),
        "EXPIRY_SWEEP_SECONDS": "1",
        "MAIL_RETRY_SECONDS": "1",
        "MAIL_RETRY_MAX_SECONDS": "2",
        "MAIL_MAX_ATTEMPTS": "100",
        "CELERY_WORKER_CONCURRENCY": "1",
        **extra,
    }


def _ready(log: Path) -> bool:
    return "ready." in log.read_text(errors="replace")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("backend", "broker"), [("sqlite", "embedded"), ("postgres", "redis")], indirect=["broker"]
)
def test_mail_server_down_then_up_every_message_arrives_once(
    app_factory: Any,
    database_url: str,
    broker: dict[str, str],  # noqa: F811 - the fixture imported above
    smtp: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in broker.items():  # the web app publishes to the worker's broker too
        monkeypatch.setenv(name, value)
    app = app_factory()
    client = app.test_client()
    headers = auth_headers(app)
    worker, log = start_worker_with_beat(tmp_path, database_url, broker, **_worker_settings(smtp))
    try:
        wait_for(lambda: _ready(log), 30, "worker ready", log)
        ids = [
            apply(client, license_plate=f"OUT-{i}", email=f"r{i}@example.org")["id"]
            for i in range(4)
        ]
        for pid in ids[:2]:
            assert client.post(f"/permits/{pid}/approve", headers=headers).status_code == 200
        wait_for(
            lambda: all(a >= 2 for _, _, a, _ in _rows(app)) and len(_rows(app)) == 6,
            30,
            "every message to fail twice while the mail server is down",
            log,
        )
        assert all("ConnectionRefusedError" in (e or "") for _, _, _, e in _rows(app))
        smtp.start()
        smtp.wait_for(6, 30)
        wait_for(lambda: {s for _, s, _, _ in _rows(app)} == {"sent"}, 30, "all sent", log)
        time.sleep(3)  # three more sweeps: nothing is sent again
        assert sorted(smtp.message_ids().values()) == [1] * 6
        terminate(worker, log)
    finally:
        kill_group(worker)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
@pytest.mark.parametrize("broker", ["redis"], indirect=True)
def test_worker_killed_mid_send_every_message_arrives(
    app_factory: Any,
    database_url: str,
    broker: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    smtp = SmtpServer(delay=1.0).start()  # each message takes a second to be accepted
    app = app_factory()
    client = app.test_client()
    settings = _worker_settings(smtp, MAIL_TIMEOUT="3")  # a claimed send is leased 14 s
    worker, log = start_worker_with_beat(tmp_path, database_url, broker, **settings)
    second = None
    try:
        wait_for(lambda: _ready(log), 30, "worker ready", log)
        for i in range(6):
            apply(client, license_plate=f"KILL-{i}", email=f"k{i}@example.org")
        smtp.wait_for(2, 30)
        time.sleep(0.5)  # in the middle of the third
        kill_group(worker)
        at_kill = len(smtp.raw)
        assert at_kill < 6, "the worker was not killed in the middle of sending"
        (tmp_path / "again").mkdir()
        second, log2 = start_worker_with_beat(tmp_path / "again", database_url, broker, **settings)
        wait_for(lambda: _ready(log2), 30, "restarted worker ready", log2)
        wait_for(
            lambda: {s for _, s, _, _ in _rows(app)} == {"sent"}, 60, "every message sent", log2
        )
        ids = smtp.message_ids()
        assert len(ids) == 6  # every message arrived
        duplicates = sum(n - 1 for n in ids.values())
        assert duplicates <= 1, ids  # at most the one the server accepted as the worker died
        terminate(second, log2)
    finally:
        kill_group(worker)
        if second is not None:
            kill_group(second)
        smtp.stop()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_broker_down_requests_go_on_and_the_sweep_sends_later(
    app_factory: Any,
    database_url: str,
    smtp: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    smtp.start()
    with closed_port() as port:
        url = f"redis://127.0.0.1:{port}/0"
        monkeypatch.setenv("CELERY_BROKER_URL", url)
        app = app_factory()
        client = app.test_client()
        headers = auth_headers(app)
        began = time.monotonic()
        ids = [
            apply(client, license_plate=f"BRK-{i}", email=f"b{i}@example.org")["id"]
            for i in range(5)
        ]
        for pid in ids:
            assert client.post(f"/permits/{pid}/approve", headers=headers).status_code == 200
        took = time.monotonic() - began
        assert took < 3, f"10 requests took {took:.1f}s with the broker down"
        assert len(_rows(app)) == 10 and {s for _, s, _, _ in _rows(app)} == {"queued"}
    # The broker is back (a private redis-server on that very port) with a worker and beat.
    redis_log = tmp_path / "redis.log"
    redis = start(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        {"PATH": "/usr/bin:/bin"},
        redis_log,
    )
    worker = None
    try:
        broker = {"CELERY_BROKER_URL": url, "CELERY_QUEUE": "notify-broker-test"}
        worker, log = start_worker_with_beat(
            tmp_path, database_url, broker, **_worker_settings(smtp)
        )
        smtp.wait_for(10, 60)
        wait_for(lambda: {s for _, s, _, _ in _rows(app)} == {"sent"}, 30, "all sent", log)
        assert sorted(smtp.message_ids().values()) == [1] * 10
        terminate(worker, log)
    finally:
        if worker is not None:
            kill_group(worker)
        kill_group(redis)

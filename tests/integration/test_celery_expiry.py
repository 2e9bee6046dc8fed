"""A real `celery -A celery_app worker --beat` expires due permits, on every broker and database.

Each test starts the worker exactly as an operator would (repository root, settings from the
environment) with a 1-second sweep and a 2-second TTL, applies through the API, and watches the
permit's status COLUMN turn `expired` - the API alone would show `expired` at the deadline even
without any worker. The worker and its children are stopped, and checked gone, at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from kombu import Connection

from permit_service.extensions import db
from permit_service.models import Permit, PermitEvent
from tests.conftest import apply, auth_headers
from tests.integration.processes import (
    kill_group,
    run_id,
    service_url,
    start_worker_with_beat,
    terminate,
    wait_for,
)
from tests.support import own_redis_db

pytestmark = pytest.mark.integration

SWEEP_SECONDS, TTL_SECONDS = 1, 2


@pytest.fixture
def broker(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Broker settings for one test: its own queue (and Redis database); cleaned up afterwards."""
    queue = run_id()
    if request.param == "embedded":
        yield {"CELERY_QUEUE": queue}  # CELERY_BROKER_URL unset: the filesystem transport
        return
    if request.param == "redis":
        with own_redis_db() as url:  # flushed afterwards: nothing of this run stays behind
            _check_reachable(url)
            yield {"CELERY_BROKER_URL": url, "CELERY_QUEUE": queue}
        return
    url = service_url("TEST_AMQP_URL")
    _check_reachable(url)
    yield {"CELERY_BROKER_URL": url, "CELERY_QUEUE": queue}
    with Connection(url, connect_timeout=3) as conn:
        conn.default_channel.queue_delete(queue)
        conn.default_channel.exchange_delete(queue)


def _check_reachable(url: str) -> None:
    with Connection(url, connect_timeout=3) as conn:
        conn.ensure_connection(max_retries=2)  # a down service fails here, clearly


def _stored(app: Flask, permit_id: str) -> tuple[str, list[tuple[Any, ...]]]:
    """The status column and the recorded events, read fresh from the database."""
    with app.app_context():
        status = db.session.scalar(sa.select(Permit.status).where(Permit.id == permit_id))
        events = [
            tuple(row)
            for row in db.session.execute(
                sa.select(PermitEvent.from_status, PermitEvent.to_status, PermitEvent.actor)
                .where(PermitEvent.permit_id == permit_id)
                .order_by(PermitEvent.id)
            )
        ]
        db.session.remove()
    return status, events


# Every broker, and both databases; the broker does not depend on the database, so not all pairs.
@pytest.mark.parametrize(
    ("backend", "broker"),
    [("sqlite", "embedded"), ("postgres", "embedded"), ("postgres", "redis"), ("sqlite", "amqp")],
    indirect=["broker"],
)
def test_worker_with_beat_expires_due_permits_in_the_database(
    app_factory: Any, database_url: str, broker: dict[str, str], tmp_path: Path
) -> None:
    app = app_factory(PENDING_TTL_SECONDS=TTL_SECONDS)  # also migrates and empties the database
    client = app.test_client()
    instance = tmp_path / "worker-instance"
    worker, log = start_worker_with_beat(
        tmp_path,
        database_url,
        broker,
        EXPIRY_SWEEP_SECONDS=str(SWEEP_SECONDS),
        PENDING_TTL_SECONDS=str(TTL_SECONDS),
    )
    try:
        scheme = broker.get("CELERY_BROKER_URL", "filesystem://").split(":", 1)[0]
        wait_for(lambda: "ready." in log.read_text(errors="replace"), 30, "worker ready", log)
        assert f"Connected to {scheme}://" in log.read_text(errors="replace")

        waiting = apply(client, license_plate="EXP-1")
        decided = apply(client, license_plate="KEEP-1")
        approve = client.post(f"/permits/{decided['id']}/approve", headers=auth_headers(app))
        assert approve.status_code == 200, approve.get_json()
        assert _stored(app, waiting["id"])[0] == "pending"

        status, events = wait_for(
            lambda: (s := _stored(app, waiting["id"]))[0] == "expired" and s,
            TTL_SECONDS + 15,
            "the worker to mark the permit expired in the database",
            log,
        )
        assert events == [(None, "pending", "applicant"), ("pending", "expired", "system")]
        assert client.get(f"/permits/{waiting['id']}").get_json()["status"] == "expired"
        # The decided permit is past the same deadline, but approved: the sweeps left it alone.
        assert _stored(app, decided["id"])[0] == "approved"
        assert "permits.expire_pending" in log.read_text(errors="replace")

        terminate(worker, log)
    finally:
        kill_group(worker)
    # Beat keeps its schedule inside this run's instance folder, never a shared one.
    assert list(instance.glob("celerybeat-schedule*"))

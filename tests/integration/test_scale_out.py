"""Scale-out on real processes: one gunicorn with two workers, two Celery workers, one beat.

PostgreSQL (a database of this run) and Redis (a database number of this run) as in production.
Permits applied over HTTP expire on time through Beat and the workers; approved ones stay approved;
every process is stopped at the end.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import SEED
from tests.deploy.support import (
    Processes,
    admin_headers,
    http,
    own_postgres_database,
    own_redis_db,
    reported_port,
    service_env,
    wait_for_http,
    wait_until,
)

pytestmark = pytest.mark.integration

PENDING_TTL = 4
SWEEP = 1
# A sweep is sent every SWEEP seconds; the worker picks it up at once. Allow for slow CI machines.
LATENESS = SWEEP + 2.0


ADMIN_PASSWORD = "scale-out-Admin-2026!"  # noqa: S105 - a throwaway test account


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Migrate, then start gunicorn (2 workers), 2 Celery workers and 1 beat; stop all after."""
    with own_postgres_database() as database_url, own_redis_db() as redis_url:
        env = service_env(
            tmp_path,
            database_url,
            "scale-out-test-secret-key-0123456789",
            CELERY_BROKER_URL=redis_url,
            RATELIMIT_STORAGE_URI=redis_url,  # shared by both web workers, as in production
            PENDING_TTL_SECONDS=str(PENDING_TTL),
            EXPIRY_SWEEP_SECONDS=str(SWEEP),
        )
        procs = Processes(tmp_path)
        try:
            headers = admin_headers(procs, env, ADMIN_PASSWORD)
            web = procs.start(
                "web", ["gunicorn", "-c", "gunicorn.conf.py", "--workers", "2", "wsgi:app"], env
            )
            for name in ("worker1", "worker2"):
                procs.start(
                    name,
                    ["celery", "-A", "celery_app", "worker", "--concurrency", "1",
                     "--hostname", f"{name}@%h"],
                    env,
                )  # fmt: skip
            procs.start("beat", ["celery", "-A", "celery_app", "beat"], env)
            port = reported_port(web.output, lambda: web.popen.poll() is None)
            base_url = f"http://127.0.0.1:{port}"
            wait_for_http(f"{base_url}/readyz", procs)
            yield {
                "procs": procs,
                "base_url": base_url,
                "database_url": database_url,
                "env": env,
                "admin_headers": headers,
            }
        finally:
            procs.stop_all()
            for proc in procs.procs:
                assert proc.popen.poll() is not None, f"{proc.name} still running"
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, 0)
                    pytest.fail(f"a process of {proc.name}'s group survived")


def stored(database_url: str) -> dict[str, dict[str, Any]]:
    """Every permit as stored (status column, deadline) with its events, by id."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            permits = {
                row.id: {"status": row.status, "expires_at": row.expires_at, "events": []}
                for row in conn.execute(sa.text("SELECT id, status, expires_at FROM permits"))
            }
            events = conn.execute(
                sa.text(
                    "SELECT permit_id, to_status, actor, created_at FROM permit_events ORDER BY id"
                )
            )
            for event in events:
                permits[event.permit_id]["events"].append(event)
            return permits
    finally:
        engine.dispose()


def test_two_web_two_workers_one_beat_expire_on_time_and_keep_approvals(cluster) -> None:
    base_url, procs = cluster["base_url"], cluster["procs"]

    ids = []
    for n in range(6):
        status, headers, permit = http(
            "POST", f"{base_url}/permits", {**SEED, "license_plate": f"SCL-{n:03d}"},
            {"X-Request-ID": f"scale-apply-{n}"},
        )  # fmt: skip
        assert status == 201, permit
        assert headers["X-Request-ID"] == f"scale-apply-{n}"
        assert permit["status"] == "pending"
        ids.append(permit["id"])
    approved, left = ids[:3], ids[3:]
    for permit_id in approved:
        status, _, body = http(
            "POST", f"{base_url}/permits/{permit_id}/approve", None, cluster["admin_headers"]
        )
        assert status == 200, body
        assert body["status"] == "approved"

    # Before the deadline nothing has expired.
    assert {p["status"] for p in stored(cluster["database_url"]).values()} == {
        "pending",
        "approved",
    }

    def all_swept() -> dict[str, dict[str, Any]] | None:
        rows = stored(cluster["database_url"])
        return rows if all(rows[i]["status"] == "expired" for i in left) else None

    rows = wait_until(all_swept, PENDING_TTL + LATENESS + 10, "the sweep", procs.describe)
    for permit_id in left:
        row = rows[permit_id]
        expiry = row["events"][-1]
        assert (expiry.to_status, expiry.actor) == ("expired", "system")
        deadline: datetime = row["expires_at"]
        lateness = (expiry.created_at - deadline).total_seconds()
        assert 0 <= lateness <= LATENESS, f"expired {lateness:.2f}s after its deadline"
        assert http("GET", f"{base_url}/permits/{permit_id}")[2]["status"] == "expired"

    time.sleep(2 * SWEEP)  # more sweeps run: approvals must survive them
    rows = stored(cluster["database_url"])
    for permit_id in approved:
        assert rows[permit_id]["status"] == "approved"
        assert [e.to_status for e in rows[permit_id]["events"]] == ["pending", "approved"]
        body = http("GET", f"{base_url}/permits/{permit_id}")[2]
        assert (body["status"], body["expires_at"]) == ("approved", None)

    # Really two web workers, and two Celery workers answering on the shared broker. (Which
    # one takes a given sweep is up to the broker: under this light load one may take them all.)
    booted = [line for line in procs.procs[0].json_lines() if "Booting worker" in line["message"]]
    assert len(booted) == 2
    ping = procs.run(
        ["celery", "-A", "celery_app", "inspect", "ping", "--timeout", "3"], cluster["env"]
    )
    assert ping.returncode == 0, ping.stderr
    assert "worker1@" in ping.stdout and "worker2@" in ping.stdout, ping.stdout
    swept = sum(
        1
        for proc in procs.procs[1:3]
        for line in proc.json_lines()
        if "succeeded" in line["message"]
    )
    assert swept >= PENDING_TTL // SWEEP  # sweeps ran all along, not just once

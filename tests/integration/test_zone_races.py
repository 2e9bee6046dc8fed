"""Quota races on real processes: gunicorn with 4 workers, a Celery worker and beat, PostgreSQL.

Concurrent approvals over HTTP never give more places than the quota; a random workload of
approves, revokes, cancels, quota raises and sweeps (beat every second, validities of a few
seconds) never shows more valid permits than the quota, and the event history shows every place
went to the head of its line. The sweep gives places freed by time.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
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

ADMIN_PASSWORD = "zone-races-Admin-2026!"  # noqa: S105 - a throwaway test account


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Migrate, then start gunicorn (4 workers), a Celery worker and beat (sweep every second)."""
    tmp_path = tmp_path_factory.mktemp("zone_races")
    with own_postgres_database() as database_url, own_redis_db() as redis_url:
        env = service_env(
            tmp_path,
            database_url,
            "zone-races-test-secret-key-0123456789",
            CELERY_BROKER_URL=redis_url,
            RATELIMIT_ENABLED="false",
            EXPIRY_SWEEP_SECONDS="1",
        )
        procs = Processes(tmp_path)
        try:
            headers = admin_headers(procs, env, ADMIN_PASSWORD)
            web = procs.start(
                "web", ["gunicorn", "-c", "gunicorn.conf.py", "--workers", "4", "wsgi:app"], env
            )
            procs.start(
                "worker", ["celery", "-A", "celery_app", "worker", "--concurrency", "2"], env
            )
            procs.start("beat", ["celery", "-A", "celery_app", "beat"], env)
            port = reported_port(web.output, lambda: web.popen.poll() is None)
            base_url = f"http://127.0.0.1:{port}"
            wait_for_http(f"{base_url}/readyz", procs)
            yield {"base_url": base_url, "database_url": database_url, "headers": headers}
        finally:
            procs.stop_all()


def _zone(cluster: dict[str, Any], code: str, quota: int) -> None:
    status, _, body = http(
        "POST",
        f"{cluster['base_url']}/zones",
        {"code": code, "name": code.title(), "quota": quota, "monthly_fee": "5"},
        cluster["headers"],
    )
    assert status == 201, body


def _apply(cluster: dict[str, Any], code: str, n: int) -> str:
    status, _, body = http(
        "POST",
        f"{cluster['base_url']}/permits",
        {**SEED, "license_plate": f"{code}-{n}", "zone": code},
    )
    assert status == 201, body
    return body["id"]


def test_ten_concurrent_approvals_for_one_place(cluster) -> None:
    _zone(cluster, "RACE", 1)
    ids = [_apply(cluster, "RACE", n) for n in range(10)]
    start = threading.Barrier(10)

    def approve(pid: str) -> tuple[int, Any]:
        start.wait()
        status, _, body = http(
            "POST", f"{cluster['base_url']}/permits/{pid}/approve", None, cluster["headers"]
        )
        return status, body

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(approve, ids))
    assert [status for status, _ in answers] == [200] * 10
    statuses = [body["status"] for _, body in answers]
    assert statuses.count("approved") == 1 and statuses.count("waitlisted") == 9
    places = sorted(body["waitlist_position"] for _, body in answers if body["waitlist_position"])
    # Places given as each approval answered may shift as later ones join behind; read them now.
    line = http("GET", f"{cluster['base_url']}/zones/RACE/waitlist", None, cluster["headers"])[2]
    assert len(line) == 9 and len(places) == 9
    assert [p["waitlist_position"] for p in line] == list(range(1, 10))
    zone = next(z for z in http("GET", f"{cluster['base_url']}/zones")[2] if z["code"] == "RACE")
    assert (zone["valid_permits"], zone["waitlist_length"]) == (1, 9)


class QuotaChanges:
    """How many quota changes were sent and answered (a monitor tells when none was in flight)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = self.finished = 0

    def counts(self) -> tuple[int, int]:
        with self.lock:
            return self.started, self.finished


def _over_quota(
    database_url: str, stop: threading.Event, seen: list[str], changes: QuotaChanges
) -> None:
    """Sample every zone's places until `stop`, one consistent snapshot (one statement) each.

    A lowered quota revokes nothing: the zone's `surplus` is how far it stood above it then, and
    shrinks as permits leave. So at every snapshot the valid approved permits never exceed
    quota + surplus, and between two snapshots with no quota change in flight the surplus never
    grows (no place was given above the quota).
    """
    engine = sa.create_engine(database_url)
    query = sa.text(
        "SELECT z.code, z.quota, z.surplus, (SELECT count(*) FROM permits p WHERE p.zone = z.code "
        "AND p.status = 'approved' AND p.valid_until > now()) AS valid FROM zones z "
        "WHERE z.quota IS NOT NULL"
    )
    last: dict[str, tuple[int | None, int]] = {}
    try:
        with engine.connect() as conn:
            while not stop.is_set():
                started, finished = changes.counts()
                rows = conn.execute(query).all()
                quiet = started == finished and changes.counts()[0] == started
                for code, quota, surplus, valid in rows:
                    if valid > quota + surplus:
                        seen.append(f"{code}: {valid} valid permits, quota {quota} + {surplus}")
                    before = last.get(code, (None, 0))
                    if quiet and before[0] == started and surplus > before[1]:
                        seen.append(f"{code}: surplus grew to {surplus} with quota {quota}")
                    last[code] = (started, surplus) if quiet else (None, surplus)
                conn.commit()
                time.sleep(0.02)
    finally:
        engine.dispose()


def test_random_workload_never_exceeds_the_quota_nor_skips_the_line(cluster) -> None:
    base, headers = cluster["base_url"], cluster["headers"]
    codes = ["MIXA", "MIXB"]
    for code in codes:
        _zone(cluster, code, 2)
    ids = {code: [_apply(cluster, code, n) for n in range(30)] for code in codes}
    stop, seen, changes = threading.Event(), [], QuotaChanges()
    monitor = threading.Thread(
        target=_over_quota, args=(cluster["database_url"], stop, seen, changes)
    )
    monitor.start()

    def act(seed: int) -> None:
        rnd = random.Random(seed)
        for _ in range(25):
            code = rnd.choice(codes)
            pid = rnd.choice(ids[code])
            roll = rnd.random()
            if roll < 0.5:
                soon = datetime.now(UTC) + timedelta(seconds=rnd.uniform(1, 4))
                body = {"valid_until": soon.isoformat()} if rnd.random() < 0.7 else None
                status = http("POST", f"{base}/permits/{pid}/approve", body, headers)[0]
                assert status in {200, 409, 422}
            elif roll < 0.7:
                assert http("POST", f"{base}/permits/{pid}/revoke", None, headers)[0] in {200, 409}
            elif roll < 0.9:
                assert http("POST", f"{base}/permits/{pid}/cancel")[0] in {200, 409}
            else:
                quota = rnd.randint(0, 4)  # raised or lowered (below the count: nothing revoked)
                with changes.lock:
                    changes.started += 1
                try:
                    status = http("PATCH", f"{base}/zones/{code}", {"quota": quota}, headers)[0]
                finally:
                    with changes.lock:
                        changes.finished += 1
                assert status == 200
            time.sleep(rnd.uniform(0, 0.05))

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(act, range(8)))
        time.sleep(6)  # validities of a few seconds end; beat's sweeps give their places
    finally:
        stop.set()
        monitor.join()
    assert seen == []
    _check_first_come_first_served(cluster["database_url"])


def _check_first_come_first_served(database_url: str) -> None:
    """Replay the events: every place given by `system` went to the head of its zone's line."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            keys = {
                row.id: (row.zone, row.waitlisted_at, row.id)
                for row in conn.execute(sa.text("SELECT id, zone, waitlisted_at FROM permits"))
            }
            events = conn.execute(
                sa.text("SELECT permit_id, from_status, to_status, actor FROM permit_events "
                        "ORDER BY id")
            ).all()  # fmt: skip
    finally:
        engine.dispose()
    line: dict[str, set[tuple[Any, ...]]] = {}
    granted = 0
    for pid, before, after, actor in events:
        zone, at, _ = keys[pid]
        waiting = line.setdefault(zone, set())
        if after == "waitlisted":
            waiting.add((at, pid))
        elif before == "waitlisted":
            if after == "approved":
                assert actor == "system"
                assert min(waiting) == (at, pid), f"{pid} got a place ahead of {min(waiting)}"
                granted += 1
            waiting.discard((at, pid))
    assert granted > 0  # the workload did move the lines


def test_the_sweep_gives_a_place_freed_by_time(cluster) -> None:
    base, headers = cluster["base_url"], cluster["headers"]
    _zone(cluster, "TIME", 1)
    holder, waiting = _apply(cluster, "TIME", 0), _apply(cluster, "TIME", 1)
    soon = datetime.now(UTC) + timedelta(seconds=2)
    body = http("POST", f"{base}/permits/{holder}/approve", {"valid_until": soon.isoformat()},
                headers)[2]  # fmt: skip
    assert body["status"] == "approved"
    body = http("POST", f"{base}/permits/{waiting}/approve", None, headers)[2]
    assert (body["status"], body["waitlist_position"]) == ("waitlisted", 1)

    def placed() -> Any:
        got = http("GET", f"{base}/permits/{waiting}")[2]
        return got if got["status"] == "approved" else None

    got = wait_until(placed, 15, "the sweep to give the freed place")
    assert got["fee"] == "60.00" and got["waitlist_position"] is None
    events = http("GET", f"{base}/permits/{waiting}/events", None, headers)[2]
    assert (events[-1]["from_status"], events[-1]["actor"]) == ("waitlisted", "system")
    with contextlib.suppress(KeyError):
        assert datetime.fromisoformat(got["valid_from"]) >= soon

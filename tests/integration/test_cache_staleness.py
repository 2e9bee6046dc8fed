"""The caches never answer stale (issue 17), on real gunicorn workers, PostgreSQL and Redis.

200 rounds of change-then-read: each round makes one change over HTTP (apply, approve, renew,
revoke, cancel, a waiting-list place given, a zone's quota changed) or lets a validity end and
runs the sweep, then reads every permit of the run through GET /permits/{id}, GET /zones and the
cached plate read, right after the change, and compares each answer with the database read
uncached. Before each change every answer is read twice, so both workers hold cached values.
Two gunicorn workers sharing Redis (CACHE_URL), then one worker with the per-process cache
(the generations file shared with this test process, which runs the sweep). A third run kills
the private Redis in the middle: no 500, answers still right and quick, and right again (no
value from before the outage) once Redis is back with its data restored.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from permit_service import create_app
from tests.deploy.support import (
    Processes,
    admin_headers,
    http,
    own_postgres_database,
    own_redis_db,
    reported_port,
    sample_sum,
    service_env,
    wait_for_http,
    wait_until,
)
from tests.support import closed_port

pytestmark = pytest.mark.integration

ADMIN_PASSWORD = "cache-test-Admin-2026!"  # noqa: S105 - a throwaway test account
SLOTS = 5  # plates cycled through; zone Q holds 2 of them at most, the rest wait in line
ROUNDS = 200


@contextlib.contextmanager
def web(
    tmp_path: Path, database_url: str, cache_url: str | None, workers: int
) -> Iterator[dict[str, Any]]:
    """Migrate, create an admin token, start gunicorn; yield what the rounds need."""
    env = service_env(
        tmp_path,
        database_url,
        "cache-test-secret-key-0123456789abcdef",
        RATELIMIT_ENABLED="false",
        GUNICORN_ACCESS_LOG="off",
        # Every approved permit may be renewed at once (the window is longer than a validity).
        PERMIT_VALIDITY_DAYS="30",
        RENEWAL_WINDOW_DAYS="400",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    if cache_url:
        env["CACHE_URL"] = cache_url
        env["CACHE_KEY_PREFIX"] = f"cache-test-{os.getpid()}:"
    procs = Processes(tmp_path)
    try:
        headers = admin_headers(procs, env, ADMIN_PASSWORD)
        server = procs.start(
            "web",
            ["gunicorn", "-c", "gunicorn.conf.py", "--workers", str(workers), "wsgi:app"],
            env,
        )
        port = reported_port(server.output, lambda: server.popen.poll() is None)
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/healthz", procs)
        config = {
            "TESTING": True,
            "SECRET_KEY": env["SECRET_KEY"],
            "SQLALCHEMY_DATABASE_URI": database_url,
            "INSTANCE_PATH": env["INSTANCE_PATH"],
            "CACHE_URL": cache_url,
            "CACHE_KEY_PREFIX": env.get("CACHE_KEY_PREFIX"),
            "PERMIT_VALIDITY_DAYS": 30,
            "RENEWAL_WINDOW_DAYS": 400,
            "RATELIMIT_ENABLED": False,
        }
        app = create_app(config)
        yield {"base": base, "admin": headers, "app": app, "procs": procs, "env": env}
    finally:
        procs.stop_all()


class Rounds:
    """Drives the permits of SLOTS plates through their life cycle; checks every answer."""

    def __init__(self, run: dict[str, Any]) -> None:
        self.base, self.admin, self.app = run["base"], run["admin"], run["app"]
        self.permits: list[str] = []  # every permit ever applied (all are checked)
        self.current: list[str | None] = [None] * SLOTS
        self.renewed: set[str] = set()
        self.ending: dict[str, datetime] = {}  # approved with a validity ending any moment
        self.stale: list[str] = []
        self.slowest = 0.0
        self.counter = 0

    def watched(self) -> list[str]:
        """The permits read each round: the recent ones (every plate's current one among them)."""
        recent = self.permits[-3 * SLOTS :]
        return recent + [p for p in self.current if p is not None and p not in recent]

    def request(self, method: str, path: str, body: Any = None, admin: bool = False) -> Any:
        started = time.monotonic()
        status, _, answer = http(method, self.base + path, body, self.admin if admin else None)
        self.slowest = max(self.slowest, time.monotonic() - started)
        assert status < 500, (method, path, status, answer)
        return status, answer

    # -- the truth, read uncached in this process ------------------------------------------------

    def truth(self) -> tuple[dict[str, Any], list[Any], dict[str, Any]]:
        from permit_service.api.schemas import PermitSchema, ZoneSchema
        from permit_service.extensions import db
        from permit_service.models import Permit
        from permit_service.services import enforcement, zones

        with self.app.test_request_context():
            db.session.expire_all()
            permits = {
                pid: PermitSchema().dump(db.session.get(Permit, pid)) for pid in self.watched()
            }
            zone_list = ZoneSchema(many=True).dump(zones.list_zones())
            plates = {f"CCH{n}": enforcement.plate_permits(f"CCH{n}") for n in range(SLOTS)}
            db.session.remove()
        return permits, zone_list, plates

    def cached_plates(self) -> dict[str, Any]:
        from permit_service.extensions import db
        from permit_service.services import cached, enforcement

        with self.app.test_request_context():
            plates = {
                f"CCH{n}": cached.cached_plate_permits(f"CCH{n}", enforcement.plate_permits)
                for n in range(SLOTS)
            }
            db.session.remove()
        return plates

    def read_all(self) -> tuple[dict[str, Any], list[Any], dict[str, Any]]:
        permits = {}
        for pid in self.watched():
            status, body = self.request("GET", f"/permits/{pid}")
            assert status == 200, body
            permits[pid] = body
        status, zone_list = self.request("GET", "/zones")
        assert status == 200
        return permits, zone_list, self.cached_plates()

    def check(self, what: str) -> None:
        answers = self.read_all()
        truth = self.truth()
        for name, got, want in zip(("permits", "zones", "plates"), answers, truth, strict=True):
            if got != want:
                self.stale.append(f"{what}: {name}: {got!r} != {want!r}")

    # -- the changes -------------------------------------------------------------------------------

    def change(self, n: int) -> str:
        slot = n % SLOTS
        pid = self.current[slot]
        if pid is None:
            status, body = self.request(
                "POST",
                "/permits",
                {"name": "Cache Test", "license_plate": f"CCH-{slot}", "address": "1 Main St",
                 "zone": "Q"},
            )  # fmt: skip
            assert status == 201, body
            self.current[slot] = body["id"]
            self.permits.append(body["id"])
            return "apply"
        status, permit = self.request("GET", f"/permits/{pid}")
        state = permit["status"]
        if state == "pending":
            self.counter += 1
            if self.counter % 4 == 1:  # refused
                status, answer = self.request("POST", f"/permits/{pid}/revoke", {}, admin=True)
                assert status == 200, answer
                self.current[slot] = None
                return "refuse"
            body = {}
            if self.counter % 4 == 2:  # this one's validity ends in a moment
                until = datetime.now(UTC) + timedelta(seconds=1)
                body = {"valid_until": until.isoformat()}
            status, answer = self.request("POST", f"/permits/{pid}/approve", body, admin=True)
            assert status == 200, answer
            if answer["status"] == "approved" and body:
                end = datetime.fromisoformat(answer["valid_until"])
                self.ending[pid] = end
                # Let it end before the reads: no answer may change by time between the
                # read and the truth it is compared with. Nothing records the end yet.
                wait_until(lambda: datetime.now(UTC) > end, 10, "the end of validity")
                return "approve, validity ended"
            return "approve"
        if state == "expired" and pid in self.ending:
            del self.ending[pid]
            with self.app.app_context():
                from permit_service.services.permits import expire_due_permits

                expire_due_permits()
            self.current[slot] = None
            return "sweep"
        if state == "approved" and pid not in self.renewed:
            self.renewed.add(pid)
            status, answer = self.request("POST", f"/permits/{pid}/renew")
            assert status == 200, answer
            return "renew"
        if state in {"approved", "waitlisted"}:
            if n % 2:
                status, answer = self.request(
                    "POST", f"/permits/{pid}/revoke", {"reason": "test"}, admin=True
                )
            else:
                status, answer = self.request("POST", f"/permits/{pid}/cancel")
            assert status == 200, answer
            self.current[slot] = None
            return "revoke/cancel"
        self.current[slot] = None  # expired by a sweep meanwhile, or a permit given back
        return "none"

    def run(self, rounds: int, between: Any = None) -> dict[str, int]:
        status, answer = self.request(
            "POST", "/zones", {"code": "Q", "name": "Quota zone", "quota": 2}, admin=True
        )
        assert status == 201, answer
        done: dict[str, int] = {}
        for n in range(rounds):
            if between is not None:
                between(n)
            self.read_all()  # warm: both workers cache every answer
            self.read_all()
            what = self.change(n)
            if n % 40 == 39:  # now and then, the quota moves (places given to the line)
                quota = 2 if (n // 40) % 2 else 3
                status, _ = self.request("PATCH", "/zones/Q", {"quota": quota}, admin=True)
                assert status == 200
                what += "+quota"
            done[what] = done.get(what, 0) + 1
            self.check(f"round {n} ({what})")
        return done


def test_two_workers_sharing_redis_never_answer_stale(tmp_path: Path) -> None:
    with (
        own_postgres_database() as database_url,
        own_redis_db() as redis_url,
        web(tmp_path, database_url, redis_url, workers=2) as run,
    ):
        rounds = Rounds(run)
        done = rounds.run(ROUNDS)
        assert not rounds.stale, "\n".join(rounds.stale[:5])
        for kind in ("apply", "approve", "refuse", "renew", "revoke/cancel", "sweep"):
            assert done.get(kind, 0) >= 5, done
        metrics = http("GET", run["base"] + "/metrics")[2]
        hits = sample_sum(metrics, "permit_cache_requests_total", 'result="hit"')
        assert hits > ROUNDS, "the rounds' second reads should be served from the cache"


def test_one_worker_with_the_per_process_cache_never_answers_stale(tmp_path: Path) -> None:
    with (
        own_postgres_database() as database_url,
        web(tmp_path, database_url, None, workers=1) as run,
    ):
        rounds = Rounds(run)
        done = rounds.run(ROUNDS)
        assert not rounds.stale, "\n".join(rounds.stale[:5])
        assert done.get("sweep", 0) >= 5, done
        metrics = http("GET", run["base"] + "/metrics")[2]
        assert sample_sum(metrics, "permit_cache_requests_total", 'result="hit"') > ROUNDS


@contextlib.contextmanager
def private_redis(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A redis-server of this test on a free port, with an append-only file (its data comes
    back after a restart, as a persistent Redis's does)."""
    folder = tmp_path / "redis"
    folder.mkdir()
    with closed_port() as port:
        pass  # a free port number (another test could take it: unlikely in this short window)
    state: dict[str, Any] = {"port": port, "proc": None}

    def start() -> None:
        state["proc"] = subprocess.Popen(  # noqa: S603
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        import redis

        client = redis.Redis(port=port, socket_timeout=0.5)
        wait_until(lambda: client.ping(), 10, "the private redis-server")
        client.close()

    def kill() -> None:
        os.killpg(state["proc"].pid, signal.SIGKILL)
        state["proc"].wait(5)

    state["start"], state["kill"] = start, kill
    start()
    try:
        yield state
    finally:
        with contextlib.suppress(ProcessLookupError):
            kill()


def test_redis_outage_degrades_to_right_uncached_answers(tmp_path: Path) -> None:
    with (
        own_postgres_database() as database_url,
        private_redis(tmp_path) as redis_state,
        web(tmp_path, database_url, f"redis://127.0.0.1:{redis_state['port']}/0", 2) as run,
    ):
        rounds = Rounds(run)

        def between(n: int) -> None:
            if n == 25:
                redis_state["kill"]()
            if n == 50:
                redis_state["start"]()  # back with every value and generation of round 25

        done = rounds.run(75, between)
        assert not rounds.stale, "\n".join(rounds.stale[:5])
        assert rounds.slowest < 2.0, f"a request took {rounds.slowest:.2f}s while Redis was down"
        assert sum(done.values()) == 75
        metrics = http("GET", run["base"] + "/metrics")[2]
        assert sample_sum(metrics, "permit_cache_requests_total", 'result="error"') > 0
        # Served from Redis again after it came back.
        assert sample_sum(metrics, "permit_cache_requests_total", 'result="hit"') > 0

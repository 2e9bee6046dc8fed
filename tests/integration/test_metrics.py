"""GET /metrics on real processes: two gunicorn workers, a Celery worker and beat sharing one
PROMETHEUS_MULTIPROC_DIR (as `make run` and docker-compose.yml set it up).

Counters move as requests and tasks happen and are exact across the workers (the sums of every
process's files); no permit id, plate, name or e-mail ever appears in the text.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import SEED
from tests.deploy.support import (
    Processes,
    http,
    own_postgres_database,
    own_redis_db,
    reported_port,
    sample_sum,
    service_env,
    wait_for_http,
    wait_until,
)

pytestmark = pytest.mark.integration


def test_metrics_count_requests_and_tasks_across_processes(tmp_path: Path) -> None:
    with own_postgres_database() as database_url, own_redis_db() as redis_url:
        env = service_env(
            tmp_path,
            database_url,
            "metrics-test-secret-key-0123456789abcdef",
            CELERY_BROKER_URL=redis_url,
            CACHE_URL=redis_url,
            CACHE_KEY_PREFIX=f"metrics-test-{os.getpid()}:",
            RATELIMIT_ENABLED="false",
            EXPIRY_SWEEP_SECONDS="1",
            PENDING_TTL_SECONDS="2",
            GUNICORN_ACCESS_LOG="off",
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        )
        procs = Processes(tmp_path)
        try:
            assert procs.run(["flask", "db", "upgrade"], env).returncode == 0
            server = procs.start(
                "web", ["gunicorn", "-c", "gunicorn.conf.py", "--workers", "2", "wsgi:app"], env
            )
            procs.start(
                "worker",
                ["celery", "-A", "celery_app", "worker", "--pool", "threads", "--concurrency",
                 "2"],
                env,
            )  # fmt: skip
            procs.start("beat", ["celery", "-A", "celery_app", "beat"], env)
            port = reported_port(server.output, lambda: server.popen.poll() is None)
            base = f"http://127.0.0.1:{port}"
            wait_for_http(f"{base}/healthz", procs)

            status, _, permit = http(
                "POST",
                f"{base}/permits",
                {**SEED, "license_plate": "MTR-123", "email": "resident@example.org"},
            )
            assert status == 201, permit
            reads = 40
            for _ in range(reads):
                assert http("GET", f"{base}/permits/{permit['id']}")[0] == 200
            missing = "4b1c8f7e-2d3a-4c5b-9e8f-0a1b2c3d4e5f"
            assert http("GET", f"{base}/permits/{missing}")[0] == 404

            def scraped() -> str:
                return http("GET", f"{base}/metrics")[2]

            # The pending application expires by the sweep (TTL 2 s): the worker's counters too.
            def tasks_counted() -> str | None:
                text = scraped()
                moved = sample_sum(text, "permit_sweep_permits_moved_total")
                sent = sample_sum(text, "permit_notifications_total", 'event="sent"')
                return text if moved >= 1 and sent >= 1 else None

            text = wait_until(tasks_counted, 60, "the sweep and a sent e-mail", procs.describe)
            assert "/metrics" not in http("GET", f"{base}/openapi.json")[2]["paths"]
        finally:
            procs.stop_all()

    def requests(endpoint: str, status: int) -> float:
        return sample_sum(
            text,
            "permit_http_requests_total",
            f'endpoint="{endpoint}"',
            'method="GET"',
            f'status="{status}"',
        )

    # Exact across the two workers: every read counted once, by endpoint, never by path.
    assert requests("permits.Permit", 200) == reads
    assert requests("permits.Permit", 404) == 1
    assert (
        sample_sum(text, "permit_http_request_duration_seconds_count", 'endpoint="permits.Permit"')
        == reads + 1
    )
    assert sample_sum(text, "permit_cache_requests_total", 'cache="permit"') == reads + 1
    # Hits (the sweep's expiry of the permit meanwhile may cost a miss per worker).
    assert sample_sum(text, "permit_cache_requests_total", 'result="hit"') >= reads // 2
    assert sample_sum(text, "permit_sweep_runs_total") >= 1
    assert sample_sum(text, "permit_notifications_total", 'event="queued"') >= 1
    # No personal data, no ids, no paths.
    for secret in (permit["id"], missing, "MTR", "resident@", SEED["name"], "/permits/"):
        assert secret not in text

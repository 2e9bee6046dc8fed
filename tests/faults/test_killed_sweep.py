"""A sweep killed mid-statement (a Celery worker OOM-killed or SIGKILLed) does not keep its locks.

Before, the server went on running the dead worker's UPDATE to its end, holding the row locks of
every permit it had touched (14-31 s seen): decisions and applications on those permits waited or
failed. With client_connection_check_interval the server notices the dead client within seconds,
cancels the statement and rolls the sweep back.

A private PostgreSQL cluster, many due permits, and a trigger that makes each row's update take a
few milliseconds: a batch of the sweep (500 rows at first) runs for seconds, long enough to kill
it in the middle.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from permit_service import create_app
from permit_service.domain import PermitStatus
from permit_service.extensions import db
from permit_service.services.seeding import seed_permits
from tests.conftest import _prepare_schema, base_config
from tests.deploy.support import ROOT, wait_until
from tests.faults.cluster import PrivateCluster
from tests.faults.conftest import new_database

pytestmark = pytest.mark.integration

DUE = 3000
ROW_DELAY = 0.005  # seconds per updated row: the UPDATE takes DUE * ROW_DELAY = 15 s
RELEASE_BOUND = 6.0  # client_connection_check_interval (2 s) plus a loaded machine's slack

SWEEP = """
from permit_service import create_app
from permit_service.tasks import expire_pending
create_app()
expire_pending()
"""


def conninfo(url: str) -> str:
    """libpq form of a SQLAlchemy URL."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def rows_locked(monitor: psycopg.Connection) -> bool:
    """Whether some permit row is locked by another session (FOR UPDATE NOWAIT fails)."""
    try:
        with monitor.transaction():
            monitor.execute("SELECT id FROM permits FOR UPDATE NOWAIT").fetchall()
        return False
    except psycopg.errors.LockNotAvailable:
        return True


def test_sweep_killed_mid_statement_releases_its_row_locks_within_seconds(
    cluster: PrivateCluster, tmp_path: Path
) -> None:
    url = new_database(cluster)
    app = create_app(base_config(tmp_path, url))
    _prepare_schema(app)
    with app.app_context():
        seed_permits(DUE, mix={PermitStatus.PENDING: 1.0}, due=True)
        db.engine.dispose()
    with psycopg.connect(conninfo(url), autocommit=True) as admin:
        admin.execute(
            "CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS"
            f" $$ BEGIN PERFORM pg_sleep({ROW_DELAY}); RETURN NEW; END $$"
        )
        admin.execute(
            "CREATE TRIGGER slow_sweep BEFORE UPDATE ON permits"
            " FOR EACH ROW EXECUTE FUNCTION slow_row()"
        )

    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}},
        "DATABASE_URL": url,
        "SECRET_KEY": "killed-sweep-test-secret-key-0123456789",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SWEEP_STATEMENT_TIMEOUT": "120",  # the sweep's own timeout must not be what ends it
    }
    sweep = subprocess.Popen(  # noqa: S603 - fixed argv
        [sys.executable, "-c", SWEEP], cwd=ROOT, env=env, start_new_session=True
    )
    monitor = psycopg.connect(conninfo(url), autocommit=True)
    try:
        backend = wait_until(
            lambda: monitor.execute(
                "SELECT pid FROM pg_stat_activity WHERE state = 'active'"
                " AND query ILIKE '%UPDATE permits%' AND pid <> pg_backend_pid()"
            ).fetchone(),
            30,
            "the sweep's UPDATE to start",
        )[0]
        time.sleep(1.5)  # the UPDATE is under way: many rows locked
        assert rows_locked(monitor)

        os.killpg(sweep.pid, signal.SIGKILL)  # the worker dies; its socket closes
        sweep.wait(10)
        killed = time.monotonic()
        wait_until(lambda: not rows_locked(monitor), 40, "the dead sweep's row locks to go")
        held = time.monotonic() - killed
        print(f"killed sweep: row locks held {held:.1f}s after SIGKILL")  # pytest -s shows it
        assert held < RELEASE_BOUND, f"row locks held {held:.1f}s after the sweep was killed"

        gone = monitor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (backend,))
        assert gone.fetchone() is None  # the server ended the dead client's session
        # The sweep commits batch by batch: batches committed before the kill stay, the one it
        # died in was rolled back as a whole. Nothing half-expired: every expired permit has
        # exactly its one event, and the counts agree with the rows.
        statuses = dict(
            monitor.execute("SELECT status, count(*) FROM permits GROUP BY status").fetchall()
        )
        assert set(statuses) <= {"pending", "expired"} and sum(statuses.values()) == DUE
        assert statuses.get("pending", 0) > 0  # killed mid-sweep
        events = monitor.execute(
            "SELECT count(*), count(DISTINCT e.permit_id) FROM permit_events e"
            " JOIN permits p ON p.id = e.permit_id AND p.status = 'expired'"
            " WHERE e.to_status = 'expired'"
        ).fetchone()
        assert events == (statuses.get("expired", 0),) * 2
        counts = dict(
            monitor.execute("SELECT status, n FROM permit_counts WHERE n <> 0").fetchall()
        )
        assert counts == statuses
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
            sweep.wait(10)
        monitor.close()

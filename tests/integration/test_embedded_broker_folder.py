"""The embedded broker's folder breaks and comes back: a separate worker and beat live through it
and permits expire again; /readyz says what is wrong meanwhile, on both databases."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from permit_service.extensions import db
from permit_service.models import Permit
from tests.conftest import apply
from tests.integration.processes import CELERY, kill_group, process_env, start, terminate, wait_for

pytestmark = pytest.mark.integration

SWEEP_SECONDS, TTL_SECONDS = 1, 2


def _status(app: Flask, permit_id: str) -> str:
    with app.app_context():
        status = db.session.scalar(sa.select(Permit.status).where(Permit.id == permit_id))
        db.session.remove()
    return status


def _break(folder: Path) -> Path:
    """Replace the folder by a plain file (as a botched restore or a full disk leaves it)."""
    kept = folder.with_name(folder.name + ".kept")
    folder.rename(kept)
    folder.write_text("not a folder")
    return kept


def _restore(folder: Path, kept: Path) -> None:
    folder.unlink()
    kept.rename(folder)


def test_worker_and_beat_outlive_a_broken_broker_folder_and_expire_again(
    app_factory: Any, database_url: str, tmp_path: Path
) -> None:
    instance = tmp_path / "instance"
    # The test's app shares the processes' instance/ and so their embedded broker.
    app = app_factory(PENDING_TTL_SECONDS=TTL_SECONDS, INSTANCE_PATH=str(instance))
    client = app.test_client()
    env = process_env(
        {
            "SECRET_KEY": "broker-folder-secret-key-0123456789",
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(instance),
            "EXPIRY_SWEEP_SECONDS": str(SWEEP_SECONDS),
            "PENDING_TTL_SECONDS": str(TTL_SECONDS),
            "LOG_FORMAT": "text",
        }
    )
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    argv = [CELERY, "-A", "celery_app"]
    worker = start([*argv, "worker", "--pool", "threads", "-c", "1", "-l", "INFO"], env, worker_log)
    beat = start([*argv, "beat", "-l", "INFO"], env, beat_log)
    try:
        wait_for(lambda: "ready." in worker_log.read_text(), 60, "worker ready", worker_log)
        first = apply(client, license_plate="BRK-1")
        wait_for(lambda: _status(app, first["id"]) == "expired", 30, "a sweep", worker_log)
        assert client.get("/readyz").status_code == 200

        folder = instance / "broker" / "out"
        kept = _break(folder)
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.get_json()["checks"]["broker"] == "down: broker/out is not a folder"
        waiting = apply(client, license_plate="BRK-2")
        time.sleep(TTL_SECONDS + 3 * SWEEP_SECONDS)  # real processes: their sweeps must fail
        assert _status(app, waiting["id"]) == "pending"  # no sweep got through meanwhile
        assert worker.poll() is None, worker_log.read_text()[-3000:]
        assert beat.poll() is None, beat_log.read_text()[-3000:]

        _restore(folder, kept)
        wait_for(lambda: _status(app, waiting["id"]) == "expired", 30, "sweeps again", worker_log)
        assert client.get("/readyz").status_code == 200
        assert "embedded broker folder unusable" in worker_log.read_text()
        terminate(worker, worker_log)
        terminate(beat, beat_log)
    finally:
        kill_group(worker)
        kill_group(beat)


def test_readyz_names_a_missing_or_unusable_broker_folder(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/readyz").get_json()["checks"]["broker"] == "ok"
    broker = Path(app.instance_path) / "broker"
    shutil.rmtree(broker / "processed")
    kept = _break(broker / "out")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["broker"] == (
        "down: broker/out is not a folder; broker/processed is missing"
    )
    _restore(broker / "out", kept)
    (broker / "processed").mkdir()
    assert client.get("/readyz").status_code == 200

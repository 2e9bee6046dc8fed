"""Production log lines are JSON with the request id; tasks published in a request carry it.

The worker side (a real Celery worker logging with the id) is in test_compose_commands.py.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask

from permit_service import create_app
from permit_service.extensions import db
from permit_service.logging_setup import (
    TASK_REQUEST_ID_HEADER,
    RequestIdFilter,
    json_formatter,
    request_id_var,
)
from tests.conftest import SEED, base_config
from tests.deploy.support import own_redis_db

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$")


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What the production handler (JSON formatter + request-id filter) writes, during a test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_request_in_json_mode_logs_parseable_lines_with_its_request_id(app, json_log) -> None:
    client = app.test_client()
    response = client.post("/permits", json=SEED, headers={"X-Request-ID": "req-json-42"})
    assert response.status_code == 201
    assert response.headers["X-Request-ID"] == "req-json-42"

    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    applied = [line for line in lines if line["message"] == "permit applied"]
    assert len(applied) == 1
    line = applied[0]
    assert line["request_id"] == "req-json-42"
    assert line["level"] == "INFO"
    assert line["logger"] == "permit_service.services.permits"
    assert ISO_UTC.match(line["time"]), line["time"]
    assert line["permit_id"] == response.get_json()["id"]
    # Residents' data never reaches the logs.
    for secret in (SEED["name"], SEED["address"], SEED["license_plate"]):
        assert secret not in json_log.getvalue()


def test_request_without_an_id_gets_a_fresh_one_in_header_and_logs(app, json_log) -> None:
    response = app.test_client().post(
        "/permits", json=SEED, headers={"X-Request-ID": "bad id; with spaces"}
    )
    rid = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)  # the unusable one was replaced, not echoed
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert [line["request_id"] for line in lines if line["message"] == "permit applied"] == [rid]


@pytest.fixture
def redis_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> Iterator[Flask]:
    """An app whose broker is a Redis database of its own (messages stay queued: no worker)."""
    with own_redis_db() as url:
        monkeypatch.setenv("CELERY_BROKER_URL", url)
        app = create_app(base_config(tmp_path, sqlite_url))
        app.config["TEST_REDIS_URL"] = url
        try:
            yield app
        finally:
            with app.app_context():
                db.engine.dispose()


def _queued_headers(url: str) -> list[dict]:
    """Headers of the task messages waiting in Celery's default queue."""
    client = redis.Redis.from_url(url)
    try:
        return [json.loads(raw)["headers"] for raw in client.lrange("celery", 0, -1)]
    finally:
        client.close()


def test_task_published_during_a_request_carries_the_request_id(redis_app: Flask) -> None:
    from permit_service.tasks import expire_pending

    with redis_app.test_request_context("/permits", headers={"X-Request-ID": "req-to-task-7"}):
        redis_app.preprocess_request()  # the app's own before_request hooks assign the id
        expire_pending.delay()
    assert request_id_var.get() is None  # the request's id does not leak past its end
    headers = _queued_headers(redis_app.config["TEST_REDIS_URL"])
    assert [h[TASK_REQUEST_ID_HEADER] for h in headers] == ["req-to-task-7"]
    assert headers[0]["task"] == "permits.expire_pending"


def test_tasks_published_outside_a_request_get_fresh_ids(redis_app: Flask) -> None:
    from permit_service.tasks import expire_pending

    with redis_app.app_context():  # like Beat: no request
        expire_pending.delay()
        expire_pending.delay()
    ids = [h[TASK_REQUEST_ID_HEADER] for h in _queued_headers(redis_app.config["TEST_REDIS_URL"])]
    assert len(ids) == 2 and ids[0] != ids[1]
    assert all(re.fullmatch(r"[0-9a-f]{32}", rid) for rid in ids)


def test_task_run_in_process_logs_with_the_callers_request_id(app_factory, json_log) -> None:
    from permit_service.tasks import expire_pending

    app = app_factory(PENDING_TTL_SECONDS=0)  # due at once, so the sweep has something to log
    app.test_client().post("/permits", json=SEED)
    with app.test_request_context("/permits", headers={"X-Request-ID": "req-eager-3"}):
        app.preprocess_request()
        expire_pending.apply()  # runs here (eager): task_prerun/postrun still fire
        assert request_id_var.get() == "req-eager-3"  # the caller's id is back after the task
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    sweeps = [line for line in lines if line["message"] == "expired due permits"]
    assert [line["request_id"] for line in sweeps] == ["req-eager-3"]

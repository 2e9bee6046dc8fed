"""A real `celery -A celery_app worker --beat` ends an approved permit's validity, exactly.

An admin approves a permit with a `valid_until` a few seconds ahead; the API reads it expired
from that instant (no worker needed), and the worker's sweep then records it in the status
column with the `approved -> expired` event by `system`. A permit with the default validity is
left alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import apply, auth_headers
from tests.integration.processes import kill_group, start_worker_with_beat, terminate, wait_for
from tests.integration.test_celery_expiry import _stored, broker  # noqa: F401 - a fixture

pytestmark = pytest.mark.integration

SWEEP_SECONDS, AHEAD_SECONDS = 1, 4


@pytest.mark.parametrize(
    ("backend", "broker"),
    [("sqlite", "embedded"), ("postgres", "redis")],
    indirect=["broker"],
)
def test_worker_with_beat_ends_an_approved_permits_validity(
    app_factory: Any,
    database_url: str,
    broker: dict[str, str],  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    app = app_factory()
    client = app.test_client()
    headers = auth_headers(app)
    worker, log = start_worker_with_beat(
        tmp_path, database_url, broker, EXPIRY_SWEEP_SECONDS=str(SWEEP_SECONDS)
    )
    try:
        wait_for(lambda: "ready." in log.read_text(errors="replace"), 30, "worker ready", log)
        ending = apply(client, license_plate="VAL-1")["id"]
        lasting = apply(client, license_plate="VAL-2")["id"]
        until = (datetime.now(UTC) + timedelta(seconds=AHEAD_SECONDS)).replace(microsecond=0)
        answer = client.post(
            f"/permits/{ending}/approve", json={"valid_until": until.isoformat()}, headers=headers
        )
        assert answer.status_code == 200, answer.get_json()
        assert datetime.fromisoformat(answer.get_json()["valid_until"]) == until
        assert client.post(f"/permits/{lasting}/approve", headers=headers).status_code == 200
        assert _stored(app, ending)[0] == "approved"

        status, events = wait_for(
            lambda: (s := _stored(app, ending))[0] == "expired" and s,
            AHEAD_SECONDS + 20,
            "the worker to record the end of validity in the database",
            log,
        )
        recorded = datetime.now(UTC)
        assert recorded >= until  # never before its end
        assert events[-1] == ("approved", "expired", "system")
        assert [e[1] for e in events] == ["pending", "approved", "expired"]
        permit = client.get(f"/permits/{ending}").get_json()
        assert permit["status"] == "expired"
        assert datetime.fromisoformat(permit["valid_until"]) == until  # kept after it ends
        assert _stored(app, lasting)[0] == "approved"
        terminate(worker, log)
    finally:
        kill_group(worker)

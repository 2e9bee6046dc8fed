"""Approvals racing two concurrent sweeps at the deadline: exactly one winner per permit.

200 permits reach their deadlines over a window while a client approves them (in random order)
as fast as it can and two sweeps run back to back in two threads, each with its own database
connection - what two beats started by mistake, or a slow sweep overlapping the next, amount to.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from permit_service.extensions import db
from permit_service.models import Permit, PermitEvent
from permit_service.services import permits as service

pytestmark = pytest.mark.integration

PERMITS = 200
TTL_SECONDS = 2


def _sweep_until(app: Flask, start: threading.Barrier, stop: threading.Event, out: dict) -> None:
    """Sweep again and again until told to stop; record how many it expired, or what it raised."""
    try:
        with app.app_context():
            start.wait()
            while not stop.is_set():
                out["expired"] = out.get("expired", 0) + service.expire_due_permits()
            out["expired"] += service.expire_due_permits()  # one last pass past every deadline
            db.session.remove()
    except BaseException as exc:  # noqa: BLE001 - reported by the test, never swallowed
        out["error"] = exc


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_approvals_racing_two_sweeps_leave_one_decision_each(
    app: Flask, admin_headers: dict[str, str]
) -> None:
    app.config["PENDING_TTL_SECONDS"] = TTL_SECONDS
    client = app.test_client()
    began = time.monotonic()
    ids = []
    for i in range(PERMITS):
        response = client.post(
            "/permits", json={"name": "Jane Roe", "license_plate": f"RC-{i}", "address": "1 Elm"}
        )
        assert response.status_code == 201, response.get_json()
        ids.append(response.get_json()["id"])
    applying = time.monotonic() - began
    # Deadlines spread over [began + TTL, began + applying + TTL]: start in the middle, so about
    # half are already due and the other half fall due while the client is approving.
    time.sleep(max(0.0, began + TTL_SECONDS + applying / 2 - time.monotonic()))

    start, stop = threading.Barrier(3), threading.Event()
    sweeps: list[dict[str, Any]] = [{}, {}]
    threads = [
        threading.Thread(target=_sweep_until, args=(app, start, stop, out)) for out in sweeps
    ]
    for thread in threads:
        thread.start()
    order = ids[:]
    random.Random(PERMITS).shuffle(order)
    answers: dict[str, int] = {}
    try:
        start.wait(timeout=10)
        for permit_id in order:
            answers[permit_id] = client.post(
                f"/permits/{permit_id}/approve", headers=admin_headers
            ).status_code
        # Keep sweeping until every deadline has passed.
        time.sleep(max(0.0, began + applying + TTL_SECONDS + 0.2 - time.monotonic()))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    for out in sweeps:
        assert "error" not in out, repr(out.get("error"))

    counts = Counter(answers.values())
    print(f"answers {dict(counts)}, sweeps expired {[out['expired'] for out in sweeps]}")
    assert set(counts) <= {200, 409}, counts
    # The race really happened: some approvals won, some lost to the deadline, sweeps did work.
    assert counts[200] > 0 and counts[409] > 0, counts
    assert sum(out["expired"] for out in sweeps) > 0

    with app.app_context():
        status = {
            row.id: row.status for row in db.session.execute(sa.select(Permit.id, Permit.status))
        }
        decisions: dict[str, list[tuple[str, str]]] = {permit_id: [] for permit_id in ids}
        for permit_id, to_status, actor in db.session.execute(
            sa.select(PermitEvent.permit_id, PermitEvent.to_status, PermitEvent.actor).where(
                PermitEvent.from_status == "pending"
            )
        ):
            decisions[permit_id].append((to_status, actor))
        db.session.remove()

    for permit_id in ids:
        if answers[permit_id] == 200:
            assert status[permit_id] == "approved", permit_id
            assert [d[0] for d in decisions[permit_id]] == ["approved"], decisions[permit_id]
        else:
            assert status[permit_id] == "expired", permit_id
            assert decisions[permit_id] == [("expired", "system")], decisions[permit_id]

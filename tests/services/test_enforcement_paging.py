"""GET /enforcement/permits pages completely while permits change (issue 17), on PostgreSQL.

A thread approves and revokes other plates' permits the whole time a camera car pages through
the zone: every permit valid throughout the walk is listed exactly once.
"""

from __future__ import annotations

import threading
import time

import pytest

from permit_service.domain import PermitStatus
from permit_service.services import permits as service
from tests.conftest import auth_headers
from tests.factories import make_permit

STABLE = 150
PAGE = 13


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_paging_is_complete_under_concurrent_approvals_and_revocations(app, client):
    headers = auth_headers(app, "enforcer")
    with app.app_context():
        stable = {
            make_permit(PermitStatus.APPROVED, plate=f"ST-{n}").license_plate for n in range(STABLE)
        }
        # Some that will be revoked during the walk (they stop being valid meanwhile).
        doomed = [make_permit(PermitStatus.APPROVED, plate=f"DM-{n}").id for n in range(40)]

    changes = 0
    stop = threading.Event()
    failures: list[BaseException] = []

    def churn() -> None:
        nonlocal changes
        n = 0
        try:
            with app.app_context():
                while not stop.is_set():
                    permit = service.apply_for_permit("Jane", f"CH-{n}", "1 Elm St").permit
                    service.approve_permit(permit.id, actor="admin@example.test")
                    if n % 2 and doomed:
                        service.revoke_permit(doomed.pop(), actor="admin@example.test")
                    if n % 3 == 0:
                        service.revoke_permit(permit.id, actor="admin@example.test")
                    n += 1
                    changes += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)

    worker = threading.Thread(target=churn)
    worker.start()
    seen: list[str] = []
    cursor = None
    pages = 0
    try:
        while True:
            # Let the other thread change permits between every two pages.
            target = changes + 2
            deadline = time.monotonic() + 30
            while changes < target and not failures and time.monotonic() < deadline:
                time.sleep(0.005)
            query = {"zone": "CITY", "limit": PAGE} | ({"cursor": cursor} if cursor else {})
            response = client.get("/enforcement/permits", query_string=query, headers=headers)
            assert response.status_code == 200, response.get_json()
            body = response.get_json()
            seen += [item["license_plate"] for item in body["items"]]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not failures, failures
    assert changes >= 2 * (pages - 1)  # changes really happened between the pages
    assert len(seen) == len(set(seen)), "a permit was listed twice"
    missing = stable - set(seen)
    assert not missing, f"valid throughout but not listed: {sorted(missing)[:10]}"
    assert pages >= STABLE // PAGE

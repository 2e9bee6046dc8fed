"""Racing decisions: compare-and-set leaves exactly one winner per transition."""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest

from permit_service.domain import InvalidTransition, PermitStatus
from permit_service.services import permits as service
from permit_service.services import queries

THREADS = 8
PERMITS = 25


@pytest.mark.parametrize("backend", ["postgres", "sqlite"], indirect=True)
def test_racing_admins_leave_one_winner_and_a_replayable_history(app):
    with app.app_context():
        ids = [
            service.apply_for_permit("Racer", f"RC-{i}", "1 Track Rd").permit.id
            for i in range(PERMITS)
        ]

    start = threading.Barrier(THREADS)
    outcomes: list[tuple[str, str, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def admin(n: int) -> None:
        rng = random.Random(n)
        try:
            with app.app_context():
                for pid in ids:
                    start.wait(timeout=60)  # every admin hits the same permit at the same instant
                    action = rng.choice(["approve", "approve", "revoke"])
                    do = service.approve_permit if action == "approve" else service.revoke_permit
                    try:
                        result = do(pid, actor=f"admin{n}@city.test").after.value
                    except InvalidTransition:
                        result = "conflict"
                    with lock:
                        outcomes.append((pid, action, result))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=admin, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(outcomes) == THREADS * PERMITS

    with app.app_context():
        for pid in ids:
            permit = queries.get_permit(pid)
            events = queries.list_events(pid)
            # The history replays: each event starts where the previous one ended...
            state = None
            for event in events:
                assert event.from_status == state
                state = event.to_status
            # ...and ends at the permit's status.
            assert state == permit.status
            # One recorded winner per transition.
            moves = Counter(e.to_status for e in events)
            assert moves["pending"] == 1 and moves["approved"] <= 1 and moves["revoked"] <= 1
            attempted = {a for p, a, _ in outcomes if p == pid}
            if "revoke" in attempted:
                assert permit.status == PermitStatus.REVOKED
            else:
                assert permit.status == PermitStatus.APPROVED
            # Nobody was told "approved" after the permit had been revoked for good... and every
            # answer is a state the permit really passed through.
            seen = {e.to_status for e in events}
            for p, _, result in outcomes:
                if p == pid and result != "conflict":
                    assert result in seen

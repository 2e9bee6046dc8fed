"""Races of version 2: renewals at once, renewal against the end of validity, cancel vs approve.

Threads, each with its own database connection (the app's pool), meet at a barrier so the
calls really overlap. Compare-and-set leaves exactly one winner; histories replay.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from permit_service.domain import InvalidTransition, PermitStatus, RenewalNotOpen
from permit_service.localtime import city_zone
from permit_service.models import utcnow
from permit_service.services import permits as service
from permit_service.services import queries
from permit_service.validity import renewed_until
from tests import factories

BACKENDS = pytest.mark.parametrize("backend", ["postgres", "sqlite"], indirect=True)


def run_threads(targets: list[Any], timeout: float = 120) -> list[BaseException]:
    """Run each callable in its own thread (each pushes its own app context); return errors."""
    errors: list[BaseException] = []

    def guarded(target: Any) -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return errors


def replays(pid: str) -> list[tuple[str | None, str, str, str | None]]:
    """The permit's events, checked to chain from nothing to its stored status."""
    events = queries.list_events(pid)
    state = None
    for event in events:
        assert event.from_status == state, events
        state = event.to_status
    assert state == queries.get_permit(pid).status
    return [(e.from_status, e.to_status, e.actor, e.reason) for e in events]


@BACKENDS
def test_two_renewals_at_once_extend_exactly_once(app: Flask) -> None:
    threads, permits = 4, 15
    with app.app_context():
        soon = utcnow() + timedelta(days=3)
        made = [factories.make_permit("approved", valid_until=soon) for _ in range(permits)]
        ids = [p.id for p in made]
        old = {p.id: p.valid_until for p in made}
        expected = {pid: renewed_until(old[pid], city_zone(), 365) for pid in ids}
    start = threading.Barrier(threads)
    results: list[tuple[str, str]] = []
    lock = threading.Lock()

    def renewer(n: int) -> None:
        with app.app_context():
            for pid in ids:
                start.wait(timeout=60)
                try:
                    service.renew_permit(pid, actor=f"r{n}@city.example")
                    result = "renewed"
                except RenewalNotOpen:
                    result = "not open"  # the other renewal won: the window is a year away
                with lock:
                    results.append((pid, result))

    assert run_threads([lambda n=n: renewer(n) for n in range(threads)]) == []
    with app.app_context():
        for pid in ids:
            outcomes = Counter(r for p, r in results if p == pid)
            assert outcomes == {"renewed": 1, "not open": threads - 1}
            assert queries.get_permit(pid).valid_until == expected[pid]  # extended ONCE
            renewals = [e for e in replays(pid) if e[0] == e[1] == "approved"]
            assert len(renewals) == 1


@BACKENDS
def test_renewal_racing_the_end_of_validity_and_sweeps_has_one_winner(app: Flask) -> None:
    permits = 30
    with app.app_context():
        # Validity ends spread over the next ~1.5 s; renewals are aimed at those very moments.
        base = utcnow() + timedelta(seconds=2)
        made = [
            factories.make_permit("approved", valid_until=base + timedelta(milliseconds=50 * i))
            for i in range(permits)
        ]
        ends = {p.id: p.valid_until for p in made}
    stop = threading.Event()
    answers: dict[str, str] = {}
    sweeps: list[int] = []

    def renewer() -> None:
        rng = random.Random(7)
        with app.app_context():
            for pid, end in ends.items():
                aim = end + timedelta(milliseconds=rng.uniform(-15, 15))
                time.sleep(max(0.0, (aim - utcnow()).total_seconds()))
                try:
                    service.renew_permit(pid, actor="applicant")
                    answers[pid] = "renewed"
                except InvalidTransition as exc:
                    answers[pid] = f"conflict {exc.current.value}"
            stop.set()

    def sweeper() -> None:
        with app.app_context():
            while not stop.is_set():
                sweeps.append(service.expire_due_permits())

    assert run_threads([renewer, sweeper, sweeper]) == []
    with app.app_context():
        service.expire_due_permits()  # whatever is left
        for pid, end in ends.items():
            history = replays(pid)
            permit = queries.get_permit(pid)
            tail = [(f, t, a) for f, t, a, _ in history[2:]]  # after apply and approve
            if answers[pid] == "renewed":
                # Won before the end: extended, and no sweep expired it.
                assert tail == [("approved", "approved", "applicant")]
                assert permit.status == "approved" and permit.valid_until > end
            else:
                # The end came first: expired once, by the system; the renewal was refused.
                assert answers[pid] == "conflict expired"
                assert tail == [("approved", "expired", "system")]
                assert permit.valid_until == end
    outcome = Counter(answers.values())
    assert set(outcome) <= {"renewed", "conflict expired"}


@BACKENDS
def test_cancel_racing_approve_never_leaves_an_approved_permit(app: Flask) -> None:
    permits = 25
    with app.app_context():
        ids = [factories.make_permit().id for _ in range(permits)]
    start = threading.Barrier(2)
    approvals: dict[str, str] = {}
    cancels: dict[str, str] = {}

    def approver() -> None:
        with app.app_context():
            for pid in ids:
                start.wait(timeout=60)
                try:
                    approvals[pid] = service.approve_permit(pid, actor="a@city.example").after
                except InvalidTransition as exc:
                    approvals[pid] = f"conflict {exc.current.value}"

    def canceller() -> None:
        with app.app_context():
            for pid in ids:
                start.wait(timeout=60)
                cancels[pid] = service.cancel_permit(pid).before

    assert run_threads([approver, canceller]) == []
    with app.app_context():
        orders = Counter()
        for pid in ids:
            history = [(f, t, a) for f, t, a, _ in replays(pid)]
            assert queries.get_permit(pid).status == "revoked"  # the resident's cancel holds
            if approvals[pid] == PermitStatus.APPROVED:
                # Approved first, then cancelled: both recorded, in that order.
                assert cancels[pid] is PermitStatus.APPROVED
                assert history[1:] == [
                    ("pending", "approved", "a@city.example"),
                    ("approved", "revoked", "applicant"),
                ]
                orders["approve first"] += 1
            else:
                # Cancelled first: the approval was refused, nothing was overwritten.
                assert approvals[pid] == "conflict revoked"
                assert cancels[pid] is PermitStatus.PENDING
                assert history[1:] == [("pending", "revoked", "applicant")]
                orders["cancel first"] += 1
        assert sum(orders.values()) == permits

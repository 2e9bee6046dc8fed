"""Re-applying for a plate while a rival closes its due application: 201 or 409, never a 500.

Issue 11: the apply's insert hits the one-open-permit index (the old application is due but not
swept), it rolls back, and before it records that expiry itself a rival gets there first: a
sweep, another resident's application for the same plate, or an admin's approve. The rival runs
at exactly that moment, on its own connection, from a hook on the apply's rollback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from flask import Flask

from permit_service.domain import InvalidTransition, PermitStatus
from permit_service.extensions import db
from permit_service.models import utcnow
from permit_service.services import permits as service
from permit_service.services import queries
from permit_service.services.lifecycle import move_due_batch
from tests import factories

APPLICATION = {"name": "Jane Roe", "license_plate": "race 1", "address": "1 Elm St"}


@contextmanager
def on_first_rollback(app: Flask, rival: Callable[[threading.Event], None]) -> Iterator[list[str]]:
    """When this thread first rolls back, run `rival` in its own thread and app context.

    This thread goes on once the rival sets the event it is given (or ends): a rival may set it
    while it still holds its row locks, and commit later.
    """
    me = threading.current_thread()
    ran: list[str] = []
    errors: list[BaseException] = []
    threads: list[threading.Thread] = []
    session_class = db.session.session_factory.class_

    def hook(session: object, *args: object) -> None:
        if threading.current_thread() is not me or ran:
            return
        ran.append("rival")
        ready = threading.Event()

        def run() -> None:
            try:
                with app.app_context():
                    rival(ready)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                ready.set()

        threads.append(threading.Thread(target=run))
        threads[0].start()
        ready.wait(timeout=10)

    sa.event.listen(session_class, "after_rollback", hook)
    try:
        yield ran
    finally:
        sa.event.remove(session_class, "after_rollback", hook)
        for thread in threads:
            thread.join(timeout=10)
    assert not errors, errors


def _sweep(ready: threading.Event) -> None:
    assert service.expire_due_permits() == 1


def _rival_apply(ready: threading.Event) -> None:
    service.apply_for_permit("John Doe", "RACE-1", "2 Elm St")


def _approve(old: str) -> Callable[[threading.Event], None]:
    def approve(ready: threading.Event) -> None:
        with pytest.raises(InvalidTransition):
            service.approve_permit(old, actor="admin@example.test")

    return approve


def _held_sweep(ready: threading.Event) -> None:
    """A sweep's batch that has changed the old row and holds it, uncommitted, for 0.5 s."""
    assert move_due_batch(PermitStatus.PENDING, utcnow(), 1000, None).moved == 1
    ready.set()  # the apply goes on, and its own expiry of the plate waits for this row
    time.sleep(0.5)
    db.session.commit()


@pytest.mark.parametrize("backend", ["postgres", "sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("rival", "answer"),
    [("sweep", 201), ("held sweep", 201), ("apply", 409), ("approve", 201)],
)
def test_reapplying_while_a_rival_closes_the_due_application_is_201_or_409(
    app, client, rival, answer
):
    with app.app_context():
        old = factories.make_permit(plate="RACE-1", due=True).id
    rivals = {"sweep": _sweep, "held sweep": _held_sweep, "apply": _rival_apply}
    with on_first_rollback(app, rivals.get(rival) or _approve(old)) as ran:
        response = client.post("/permits", json=APPLICATION)
    assert ran == ["rival"]  # the interleaving happened
    assert response.status_code == answer, response.get_json()
    with app.app_context():
        assert queries.get_permit(old).status == "expired"
        events = [(e.from_status, e.to_status) for e in queries.list_events(old)]
        assert events == [(None, "pending"), ("pending", "expired")]  # expired exactly once
        open_now = queries.list_permits(license_plate="RACE1", status=None).items
        assert [p.status for p in open_now if p.status == "pending"] == ["pending"]

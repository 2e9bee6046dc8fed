"""Cached reads (permit_service/cache.py, services/cached.py) in one process, on SQLite and
PostgreSQL, with the per-process cache and with Redis (TEST_REDIS_URL, a database of this run).

The race every delete-on-change cache loses: a reader loads the old state, a writer commits and
invalidates, the reader then stores the old state. Here the writer commits (in its own session,
another thread) while the reader's loader runs; the next read must see the new state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from permit_service import clock, metrics
from permit_service.domain import PermitNotFound
from permit_service.extensions import db
from permit_service.models import utcnow
from permit_service.services import cached, enforcement, queries, zones
from permit_service.services import permits as service
from permit_service.services.permits import expire_due_permits
from tests.factories import ADMIN, make_permit
from tests.support import closed_port, own_redis_db


@pytest.fixture(params=["local", "redis"])
def cache_app(request: pytest.FixtureRequest, app_factory: Any) -> Iterator[Flask]:
    """An app with the per-process cache, or with Redis (a database number of this run)."""
    if request.param == "local":
        yield app_factory()
        return
    with own_redis_db() as url:
        yield app_factory(CACHE_URL=url)


def _plate(key: str) -> Any:
    return cached.cached_plate_permits(key, enforcement.plate_permits)


def _in_thread(app: Flask, work: Any) -> None:
    """Run `work` in another thread with its own app context and session; wait for it."""
    errors: list[BaseException] = []

    def run() -> None:
        with app.app_context():
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
                errors.append(exc)
            finally:
                db.session.remove()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert not errors, errors


def test_a_change_committed_while_a_reader_loads_is_never_hidden(cache_app: Flask) -> None:
    with cache_app.app_context():
        permit = make_permit(plate="RACE-1")
        pid = permit.id
        db.session.commit()
        loaded: list[Any] = []

        def slow_loader(key: str) -> Any:
            value = enforcement.plate_permits(key)  # the old state: pending, none that allows
            # A writer approves and commits now, after the read, before the value is stored.
            _in_thread(cache_app, lambda: service.approve_permit(pid, actor=ADMIN))
            loaded.append(value)
            return value

        first = cached.cached_plate_permits("RACE1", slow_loader)
        assert first == ()  # right when it was read: a pending one allows no parking
        db.session.remove()
        again = _plate("RACE1")
        assert [row[1] for row in again] == ["approved"]
        assert len(loaded) == 1

        # The same for one permit's row.
        def revoke_meanwhile() -> dict[str, Any]:
            row = cached._load(pid)
            _in_thread(cache_app, lambda: service.revoke_permit(pid, actor=ADMIN))
            return row

        from permit_service import cache

        old = cache.cached("permit", f"v:p:{pid}", [cache.permit_gen(pid)], revoke_meanwhile)
        assert old["status"] == "approved"
        db.session.remove()
        assert cached.read_permit(pid).status == "revoked"


@pytest.fixture
def renewable(cache_app: Flask) -> Flask:
    cache_app.config["RENEWAL_WINDOW_DAYS"] = 400  # every approved permit may be renewed
    return cache_app


def test_every_change_reaches_the_next_read(renewable: Flask) -> None:
    with renewable.app_context():
        zones.create_zone("Q", "Quota", quota=1)
        first = service.apply_for_permit("A B", "CHG-1", "1 Main St", zone="Q").permit
        second = service.apply_for_permit("C D", "CHG-2", "1 Main St", zone="Q").permit
        ids = [first.id, second.id]

        def reads() -> tuple[list[str], dict[str, tuple[int, int]], list[Any], list[Any]]:
            db.session.remove()
            statuses = [cached.read_permit(i).status for i in ids]
            views = {v.zone.code: (v.valid_permits, v.waitlist_length) for v in cached.list_zones()}
            names = [tuple(z) for z in cached.all_zones()]  # the queue's names and fees
            return statuses, views, [_plate("CHG1"), _plate("CHG2")], names

        def truth() -> tuple[list[str], dict[str, tuple[int, int]], list[Any], list[Any]]:
            db.session.remove()
            statuses = [queries.get_permit(i).status for i in ids]
            views = {v.zone.code: (v.valid_permits, v.waitlist_length) for v in zones.list_zones()}
            keys = ("CHG1", "CHG2")
            names = [tuple(z) for z in zones.all_zones()]
            return statuses, views, [enforcement.plate_permits(k) for k in keys], names

        steps = [
            lambda: None,
            lambda: service.approve_permit(first.id, actor=ADMIN),
            lambda: service.approve_permit(second.id, actor=ADMIN),  # the zone is full: waits
            lambda: service.renew_permit(first.id, actor=ADMIN),
            lambda: service.cancel_permit(first.id),  # the place goes to the second one
            lambda: zones.update_zone("Q", quota=0),
            lambda: zones.update_zone("Q", quota=5, name="Renamed"),
            lambda: zones.update_zone("Q", monthly_fee="12.50", open=False),
            lambda: zones.create_zone("R", "Second"),
            lambda: service.revoke_permit(second.id, actor=ADMIN),
        ]
        for n, step in enumerate(steps):
            reads()  # cached before the change
            reads()
            step()
            assert reads() == truth(), f"step {n}"
        assert reads()[1]["Q"] == (0, 0)
        assert [v.zone.name for v in cached.list_zones() if v.zone.code == "Q"] == ["Renamed"]


def test_exact_at_the_end_of_validity_and_after_the_sweep(cache_app: Flask) -> None:
    with cache_app.app_context():
        until = utcnow() + timedelta(hours=2)
        permit = make_permit("approved", plate="END-1", valid_until=until)
        pid = permit.id
        db.session.commit()
        view = {v.zone.code: v.valid_permits for v in cached.list_zones()}
        assert view["CITY"] == 1
        assert cached.read_permit(pid).valid_until == permit.valid_until
        stamp = cached.read_permit(pid).updated_at
        clock.advance(timedelta(hours=2))  # exactly at valid_until: ended
        db.session.remove()
        assert {v.zone.code: v.valid_permits for v in cached.list_zones()}["CITY"] == 0
        assert queries.status_of(cached.read_permit(pid)).value == "expired"
        assert expire_due_permits() == 1
        db.session.remove()
        row = cached.read_permit(pid)
        assert row.status == "expired"
        assert row.updated_at > stamp
        assert [r[1] for r in _plate("END1")] == ["expired"]
        assert {v.zone.code: v.valid_permits for v in cached.list_zones()}["CITY"] == 0


def test_unknown_ids_are_not_cached(cache_app: Flask) -> None:
    with cache_app.app_context():
        with pytest.raises(PermitNotFound):
            cached.read_permit("4b1c8f7e-2d3a-4c5b-9e8f-0a1b2c3d4e5f")
        with pytest.raises(PermitNotFound):
            cached.read_permit("not-an-id")


def test_an_unreachable_redis_answers_from_the_database_quickly(app_factory: Any) -> None:
    with closed_port() as port:
        app = app_factory(CACHE_URL=f"redis://127.0.0.1:{port}/0")
        errors_before = _errors("permit")
        with app.app_context():
            pid = make_permit(plate="OUT-1").id
            db.session.commit()
            started = time.monotonic()
            for _ in range(20):
                db.session.remove()
                assert cached.read_permit(pid).status == "pending"
            service.approve_permit(pid, actor=ADMIN)  # its invalidation fails: no error
            db.session.remove()
            assert cached.read_permit(pid).status == "approved"
            assert time.monotonic() - started < 2.0
        assert _errors("permit") >= errors_before + 21


def _errors(name: str) -> float:
    return metrics.get().CACHE.labels(name, "error")._value.get()


def test_the_generations_file_is_never_left_locked(tmp_path: Any) -> None:
    """Mapping the file takes its lock to size it; the mapping must not keep that lock (another
    process's bump would wait for ever)."""
    import fcntl
    import os

    from cachelib import SimpleCache

    from permit_service.cache import LocalStore

    path = str(tmp_path / "cache-generations")
    store = LocalStore(SimpleCache(), path)
    assert store.fetch(["a"], "k") == ((0,), None)
    fd = os.open(path, os.O_RDWR)  # a new open file, as another process's would be
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises BlockingIOError when held
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    store.bump(["a"], everything=False)
    assert store.fetch(["a"], "k") == ((1,), None)


def test_only_immutable_values_are_handed_out_unpickled(tmp_path: Any) -> None:
    """The per-process store keeps a tuple of immutable values as it is (no unpickling on a
    hit, issue 17); anything a caller could change is pickled, so every hit is a fresh copy."""
    from datetime import UTC, datetime

    from cachelib import SimpleCache

    from permit_service.cache import LocalStore

    store = LocalStore(SimpleCache(), str(tmp_path / "cache-generations"))
    frozen = ((0,), ((1, "a@example.org", "enforcer", datetime.now(UTC)),))
    store.store("frozen", frozen)
    assert store.fetch([], "frozen")[1] is frozen
    for inner in ([1, 2], {"zones": [1]}, (0, [1])):
        mutable = ((0,), inner)
        store.store("mutable", mutable)
        first, second = store.fetch([], "mutable")[1], store.fetch([], "mutable")[1]
        assert first == second == mutable
        assert first is not mutable and first is not second
        (first[1][1] if isinstance(inner, tuple) else first[1]).clear()
        assert store.fetch([], "mutable")[1] == mutable

"""Retention: residents' data of permits that ended over RETENTION_DAYS ago is removed, the rest
stays; twice changes nothing; racing decisions and sweeps lose nothing and scrub nothing else."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from permit_service import clock
from permit_service.domain import InvalidTransition
from permit_service.extensions import db
from permit_service.models import Notification, Permit, PermitEvent, PermitRead, User, utcnow
from permit_service.services import audit, retention, sweep
from permit_service.services import permits as service
from tests.factories import make_permit

DAYS = 730
PERSONAL = ("name", "license_plate", "plate_key", "address", "email")


def _back(days: float) -> Any:
    """A context in which the clock stands `days` in the past."""

    class _Back:
        def __enter__(self) -> None:
            clock.advance(-timedelta(days=days))

        def __exit__(self, *exc: object) -> None:
            clock.advance(timedelta(days=days))

    return _Back()


def _snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables retention touches, in a stable order."""
    out = {}
    for model in (Permit, PermitEvent, Notification, PermitRead):
        table = model.__table__
        out[table.name] = [
            tuple(row)
            for row in db.session.execute(sa.select(table).order_by(*table.primary_key.columns))
        ]
    db.session.rollback()
    return out


def _fresh(pid: str) -> Permit:
    permit = db.session.get(Permit, pid, populate_existing=True)
    assert permit is not None
    return permit


def _reasons(pid: str) -> tuple[list[Any], list[Any]]:
    events = db.session.scalars(sa.select(PermitEvent.reason).where(PermitEvent.permit_id == pid))
    notes = db.session.execute(
        sa.select(Notification.reason, Notification.last_error).where(Notification.permit_id == pid)
    )
    return list(events), [tuple(n) for n in notes]


def test_ended_beyond_the_limit_is_scrubbed_everywhere_and_statistics_stay(app, client):
    with app.app_context():
        with _back(DAYS + 1):
            revoked = make_permit(
                "approved",
                name="Anna Alt",
                plate="OLD-1",
                address="9 Old Rd",
                email="anna@example.org",
            )
            service.revoke_permit(revoked.id, actor="officer@city.test", reason="Moved to Hamburg")
            expired = make_permit("expired", name="Ben Berg", email="ben@example.org")
        # A delivery error can quote the address (as an SMTP refusal does).
        db.session.execute(
            sa.update(Notification)
            .where(Notification.permit_id == revoked.id)
            .values(last_error="550 anna@example.org: no such user")
        )
        db.session.commit()
        before = {pid: _fresh(pid) for pid in (revoked.id, expired.id)}
        kept = {
            pid: (
                p.status,
                p.zone,
                p.fee,
                p.created_at,
                p.updated_at,
                p.valid_from,
                p.valid_until,
                p.reference,
            )
            for pid, p in before.items()
        }
        events_before = {
            pid: list(
                db.session.execute(
                    sa.select(
                        PermitEvent.from_status,
                        PermitEvent.to_status,
                        PermitEvent.actor,
                        PermitEvent.created_at,
                    ).where(PermitEvent.permit_id == pid)
                )
            )
            for pid in before
        }
        assert _reasons(revoked.id)[0][-1] == "Moved to Hamburg"
        assert any(r for r, _ in _reasons(revoked.id)[1])

        done = retention.anonymise_ended()

        assert done.permits == 2
        for pid in (revoked.id, expired.id):
            permit = _fresh(pid)
            assert permit.anonymised_at is not None
            assert (
                permit.name,
                permit.license_plate,
                permit.plate_key,
                permit.address,
                permit.email,
            ) == ("", "", "", "", None)
            assert (
                permit.status,
                permit.zone,
                permit.fee,
                permit.created_at,
                permit.updated_at,
                permit.valid_from,
                permit.valid_until,
                permit.reference,
            ) == kept[pid]
            events, notes = _reasons(pid)
            assert events and set(events) == {None}
            assert all(n == (None, None) for n in notes)
            assert (
                list(
                    db.session.execute(
                        sa.select(
                            PermitEvent.from_status,
                            PermitEvent.to_status,
                            PermitEvent.actor,
                            PermitEvent.created_at,
                        ).where(PermitEvent.permit_id == pid)
                    )
                )
                == events_before[pid]
            )
        assert len(_reasons(revoked.id)[1]) >= 2  # its e-mails are still counted, without data

    for pid, words in (
        (revoked.id, ("Anna", "OLD-1", "9 Old Rd", "anna@", "Hamburg")),
        (expired.id, ("Ben Berg", "ben@")),
    ):
        answer = client.get(f"/permits/{pid}")
        assert answer.status_code == 200
        body = answer.get_json()
        assert body["anonymised"] is True
        assert all(body[k] is None for k in ("name", "license_plate", "address", "email"))
        assert body["status"] in {"revoked", "expired"}
        page = client.get(f"/applications/{pid}")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "Personal details removed" in html
        for word in words:
            assert word not in html and word not in answer.get_data(as_text=True)


def test_open_recent_and_unswept_permits_are_untouched(app):
    with app.app_context():
        pending = make_permit("pending", email="p@example.org")
        approved = make_permit("approved", email="a@example.org")
        with _back(DAYS - 1):
            recent = make_permit("revoked", reason="recent", email="r@example.org")
        with _back(DAYS + 10):
            # An approved permit whose validity ended DAYS+9 days ago, never swept: still
            # stored open (its plate in the open-plate index) and left alone until recorded.
            unswept = make_permit("approved", due=timedelta(days=1), email="u@example.org")
        assert unswept.status == "approved"
        before = _snapshot()

        assert retention.anonymise_ended().permits == 0
        assert _snapshot() == before

        # Once the sweep records it (now), it counts as ended at its valid_until, long ago.
        assert sweep.sweep_due(utcnow()) == 1
        assert retention.anonymise_ended().permits == 1
        assert _fresh(unswept.id).anonymised_at is not None
        for permit in (pending, approved, recent):
            fresh = _fresh(permit.id)
            assert fresh.anonymised_at is None and fresh.name == "Jane Roe" and fresh.email


def test_running_twice_changes_nothing(app):
    with app.app_context():
        with _back(DAYS + 2):
            for _ in range(3):
                make_permit("revoked", reason="gone", email="x@example.org")
        make_permit("revoked", reason="now")
        assert retention.anonymise_ended().permits == 3
        after_first = _snapshot()
        again = retention.anonymise_ended()
        assert (again.permits, again.reads) == (0, 0)
        assert _snapshot() == after_first


def test_batches_walk_past_recent_ones_and_take_every_due_one(app, monkeypatch):
    # Tiny batches: the keyset walk crosses many batch borders, recent ones interleaved.
    monkeypatch.setattr(sweep, "FIRST_BATCH", 2)
    monkeypatch.setattr(sweep, "MIN_BATCH", 1)
    monkeypatch.setattr(sweep, "next_size", lambda size, *_: 3 if size == 2 else 2)
    with app.app_context():
        old, recent = [], []
        for i in range(9):
            with _back(DAYS + 1 + i):
                old.append(make_permit("revoked").id)
            recent.append(make_permit("revoked").id)
        assert retention.anonymise_ended().permits == 9
        assert all(_fresh(pid).anonymised_at is not None for pid in old)
        assert all(_fresh(pid).anonymised_at is None for pid in recent)


def test_staff_reads_older_than_the_limit_are_deleted(app, admin_headers):
    with app.app_context():
        permit = make_permit("pending")
        user_id = db.session.scalar(sa.select(User.id))
        with _back(DAYS + 1):
            audit.record_read(user_id, audit.ReadKind.PAGE, permit.id)
            audit.record_read(user_id, "export", None, detail="export 1")
        audit.record_read(user_id, audit.ReadKind.API_EVENTS, permit.id)
        assert retention.count_due().reads == 2
        assert retention.anonymise_ended().reads == 2
        left = db.session.scalars(sa.select(PermitRead.what)).all()
        assert left == ["api_events"]


def test_cli_dry_run_changes_nothing_and_prints_the_count(app, runner):
    with app.app_context():
        with _back(DAYS + 1):
            make_permit("revoked", email="d@example.org")
            make_permit("expired")
        before = _snapshot()
    result = runner.invoke(args=["permits", "anonymise", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would anonymise 2 permit(s)" in result.output
    with app.app_context():
        assert _snapshot() == before
    result = runner.invoke(args=["permits", "anonymise"])
    assert result.exit_code == 0 and "anonymised 2 permit(s)" in result.output
    result = runner.invoke(args=["permits", "anonymise"])
    assert "anonymised 0 permit(s)" in result.output


def test_retention_days_is_read_from_the_config(app_factory):
    app = app_factory(RETENTION_DAYS=10)
    with app.app_context():
        with _back(11):
            make_permit("revoked")
        with _back(9):
            make_permit("revoked")
        assert retention.anonymise_ended().permits == 1


@pytest.mark.parametrize("backend", ["postgres", "sqlite"], indirect=True)
def test_racing_decisions_and_sweeps_lose_nothing_and_scrub_only_ended(app):
    """Threads decide open permits and sweep due ones while retention runs again and again
    (its cutoff set ahead, so permits revoked during the race are due too)."""
    with app.app_context():
        with _back(DAYS + 5):
            old = [
                make_permit("revoked", reason="old", email=f"o{i}@example.org").id
                for i in range(15)
            ]
        open_ = [
            make_permit("pending", email=f"n{i}@example.org", name=f"Open {i}").id
            for i in range(30)
        ]
        due = [make_permit("pending", due=True, name=f"Due {i}").id for i in range(15)]
    ahead = utcnow() + timedelta(days=DAYS + 1)
    start = threading.Barrier(4)
    errors: list[BaseException] = []
    decided: dict[str, str] = {}
    lock = threading.Lock()

    def run(work: Any) -> None:
        try:
            with app.app_context():
                start.wait(timeout=60)
                work()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def decide() -> None:
        for i, pid in enumerate(open_ + old):
            do = service.revoke_permit if i % 2 else service.approve_permit
            try:
                after = (
                    do(pid, actor="racer@city.test", reason=None).after.value
                    if do is service.revoke_permit
                    else do(pid, actor="racer@city.test").after.value
                )
            except InvalidTransition:
                after = "conflict"
            with lock:
                decided[pid] = after

    def sweeper() -> None:
        for _ in range(5):
            service.expire_due_permits()

    runs: list[int] = []

    def anonymiser() -> None:
        for _ in range(8):
            runs.append(retention.anonymise_ended(ahead).permits)

    threads = [threading.Thread(target=run, args=(w,)) for w in (decide, sweeper, anonymiser)]
    threads.append(threading.Thread(target=run, args=(anonymiser,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not errors, errors

    with app.app_context():
        final = retention.anonymise_ended(ahead).permits
        permits = {p.id: p for p in db.session.scalars(sa.select(Permit))}
        # Nothing lost: every decision a thread saw is what is stored (or what time made of it).
        for pid, after in decided.items():
            if after in {"approved", "revoked"}:
                assert permits[pid].status == after, (pid, after)
            events = db.session.scalars(
                sa.select(PermitEvent.to_status).where(PermitEvent.permit_id == pid)
            ).all()
            if after == "revoked" and pid in open_:
                assert events.count("revoked") == 1
        # Scrubbed only what had ended; everything ended (before the cutoff) is scrubbed.
        for permit in permits.values():
            if permit.status in {"pending", "approved", "waitlisted"}:
                assert permit.anonymised_at is None and permit.name and permit.plate_key
            else:
                assert permit.anonymised_at is not None and permit.name == ""
        assert all(permits[pid].status == "expired" for pid in due)
        assert sum(runs) + final == sum(
            1 for p in permits.values() if p.status in {"revoked", "expired"}
        )
        # The counts kept by the service still agree with the table.
        stored = dict(db.session.execute(sa.text("SELECT status, n FROM permit_counts")).all())
        actual = dict(
            db.session.execute(
                sa.select(Permit.status, sa.func.count()).group_by(Permit.status)
            ).all()
        )
        assert {k: v for k, v in stored.items() if v} == actual


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_batches_read_the_partial_index_in_order_on_sqlite(app):
    # Without statistics SQLite would take the status index and sort every ended permit.
    with app.app_context():
        for after in (None, (utcnow(), "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f")):
            sql = retention.next_keys(500, after).compile(
                db.engine, compile_kwargs={"literal_binds": True}
            )
            plan = " ".join(
                str(row[3]) for row in db.session.execute(sa.text(f"EXPLAIN QUERY PLAN {sql}"))
            )
            assert "ix_permits_ended_not_anonymised" in plan and "TEMP B-TREE" not in plan, plan


def test_batch_sizes_stay_under_the_cap_whatever_the_measured_rate(app, monkeypatch):
    monkeypatch.setattr(retention, "MAX_BATCH", 2)
    monkeypatch.setattr(sweep, "FIRST_BATCH", 2)
    monkeypatch.setattr(sweep, "next_size", lambda *_: 1_000_000)
    sizes: list[int] = []
    batch = retention._anonymise_batch

    def spy(now: Any, cutoff: Any, size: int, after: Any) -> Any:
        sizes.append(size)
        return batch(now, cutoff, size, after)

    monkeypatch.setattr(retention, "_anonymise_batch", spy)
    with app.app_context():
        with _back(DAYS + 1):
            for _ in range(5):
                make_permit("revoked")
        assert retention.anonymise_ended().permits == 5
    assert len(sizes) >= 3 and max(sizes) == 2


def test_exports_holding_a_permit_anonymised_now_go_with_it(app, runner):
    from permit_service.models import Export
    from permit_service.services import exports
    from permit_service.services.users import create_user
    from tests.conftest import STRONG_PASSWORD

    with app.app_context():
        clerk = create_user("clerk@city.example", STRONG_PASSWORD, "viewer")
        asker = exports.Requester(clerk.id, False)
        with _back(DAYS + 1):
            # Its validity ended back then; the sweep records it only now, much later.
            ended = make_permit("approved", due=True, plate="EXP-1", email="old@example.org").id
        assert service.expire_due_permits() >= 1
        make_permit("approved", plate="NEW-1")
        holding = exports.request_export(asker).id
        exports.run_export(holding)
        assert db.session.get(Export, holding).first_ended_at is not None
        assert retention.count_due().exports == 1
        done = retention.anonymise_ended()
        assert (done.permits, done.exports) == (1, 1)
        assert db.session.get(Export, holding) is None
        assert _fresh(ended).anonymised_at is not None
        # Made after: it holds the anonymised permit's empty cells only, so it stays.
        after = exports.request_export(asker).id
        exports.run_export(after)
        assert db.session.get(Export, after).first_ended_at is None
        assert retention.anonymise_ended().exports == 0
        assert db.session.get(Export, after) is not None
    result = runner.invoke(args=["permits", "anonymise", "--dry-run"])
    assert result.exit_code == 0 and "0 CSV export(s)" in result.output


def test_listings_show_an_anonymised_permit_without_its_data(app, client, admin_headers):
    with app.app_context():
        with _back(DAYS + 1):
            gone = make_permit("revoked", name="Old Name", plate="LST-1", email="l@example.org")
        kept = make_permit("revoked", name="New Name", plate="LST-2")
        assert retention.anonymise_ended().permits == 1
        gone_id, kept_id = gone.id, kept.id
    answer = client.get("/permits?status=revoked", headers=admin_headers)
    assert answer.status_code == 200
    rows = {row["id"]: row for row in answer.get_json()}
    assert rows[gone_id]["anonymised"] is True
    assert [rows[gone_id][k] for k in ("name", "license_plate", "address", "email")] == [None] * 4
    assert rows[kept_id]["anonymised"] is False and rows[kept_id]["name"] == "New Name"
    assert "Old Name" not in answer.get_data(as_text=True)

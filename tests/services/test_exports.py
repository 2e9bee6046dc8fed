"""services.exports: the CSV's rows and cells, the run's leases, retention, lost runs."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import sqlalchemy as sa

from permit_service import clock
from permit_service.domain import PermitStatus, ValidationFailed
from permit_service.extensions import db
from permit_service.models import Export, ExportChunk, utcnow
from permit_service.services import exports
from permit_service.services.users import create_user
from tests import factories
from tests.conftest import STRONG_PASSWORD

STATES = ["pending", "approved", "revoked", "due", "approved-due", "expired"]


def _requester(role: str = "admin") -> exports.Requester:
    user = create_user(f"{role}-{utcnow().timestamp()}@city.example", STRONG_PASSWORD, role)
    return exports.Requester(user.id, user.is_admin)


def _csv(export_id: str) -> list[dict[str, str]]:
    data = b"".join(exports.iter_csv(export_id)).decode("utf-8")
    return list(csv.DictReader(io.StringIO(data)))


@pytest.fixture
def mixed(app):
    """Permits in every status, some overdue and unswept, some with formula-like names."""
    with app.app_context():
        for n, state in enumerate(STATES * 2):
            if state == "approved-due":
                factories.make_permit("approved", due=True, plate=f"EX-{n:02d}")
            else:
                factories.make_permit(
                    "pending" if state == "due" else state,
                    due=state == "due",
                    plate=f"EX-{n:02d}",
                    name=f"Resident {n:02d}",
                    email=f"r{n}@example.org" if n % 2 else None,
                )
        factories.make_permit(name='=HYPERLINK("http://x")', plate="EX-90")
        factories.make_permit(name="+1 Plus", address="@home", plate="EX-91")
        factories.make_permit(name="-minus", plate="EX-92")
    return app


def test_csv_has_the_spec_columns_and_the_listing_rows(mixed):
    with mixed.app_context():
        export = exports.request_export(_requester())
        assert exports.run_export(export.id) == "done"
        rows = _csv(export.id)
        raw = b"".join(exports.iter_csv(export.id)).decode("utf-8")
        assert raw.splitlines()[0] == ",".join(exports.COLUMNS)
        listed = service_listing()
        assert [r["id"] for r in rows] == [p.id for p in listed]
        now = utcnow()
        for row, permit in zip(rows, listed, strict=True):
            assert row["status"] == permit_status(permit, now)
            assert row["created_at"] == permit.created_at.isoformat()
            assert row["currency"] == "EUR"
        stored = db.session.get(Export, export.id)
        assert stored.status == "done" and stored.row_count == len(rows)
        assert stored.size == len(raw.encode("utf-8"))
        assert stored.finished_at is not None


def service_listing():
    from permit_service.services import queries

    return queries.list_permits(page_size=500).items


def permit_status(permit, now):
    from permit_service.services import queries

    return queries.status_of(permit, now).value


def test_formula_cells_are_neutralised(mixed):
    with mixed.app_context():
        export = exports.request_export(_requester())
        exports.run_export(export.id)
        rows = {r["license_plate"]: r for r in _csv(export.id)}
        assert rows["EX-90"]["name"] == '\'=HYPERLINK("http://x")'
        assert rows["EX-91"]["name"] == "'+1 Plus"
        assert rows["EX-91"]["address"] == "'@home"
        assert rows["EX-92"]["name"] == "'-minus"
        assert rows["EX-00"]["name"] == "Resident 00"


@pytest.mark.parametrize(
    ("cell", "shown"),
    [("=1+2", "'=1+2"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("a=b", "a=b"), ("", "")],
)
def test_neutralise(cell, shown):
    assert exports.neutralise(cell) == shown


@pytest.mark.parametrize("status", list(PermitStatus))
def test_status_filter_uses_effective_statuses(mixed, status):
    with mixed.app_context():
        export = exports.request_export(_requester(), status=status)
        exports.run_export(export.id)
        rows = _csv(export.id)
        from permit_service.services import queries

        listed = queries.list_permits(status=status, page_size=500).items
        assert [r["id"] for r in rows] == [p.id for p in listed]
        assert {r["status"] for r in rows} <= {status.value}
        if status is PermitStatus.EXPIRED:
            assert len(rows) == 6  # recorded, pending overdue and approved overdue alike


def test_decided_at_and_first_ended_at(mixed):
    with mixed.app_context():
        export = exports.request_export(_requester())
        exports.run_export(export.id)
        rows = _csv(export.id)
        pending = [r for r in rows if r["status"] == "pending"]
        assert pending and all(r["decided_at"] == "" for r in pending)
        decided = [r for r in rows if r["status"] in ("approved", "revoked", "expired")]
        assert decided and all(r["decided_at"] for r in decided)
        stored = db.session.get(Export, export.id)
        ended = [r for r in rows if r["status"] in ("revoked", "expired")]
        assert ended
        assert stored.first_ended_at is not None
        assert stored.first_ended_at <= utcnow()


@pytest.mark.parametrize(
    ("status", "due", "ended"),
    [
        ("approved", timedelta(days=3), "valid_until"),  # validity over, no sweep yet
        ("pending", timedelta(hours=2), "expires_at"),  # never decided, no sweep yet
        ("expired", timedelta(days=2), "expires_at"),  # an application's expiry, recorded late
        ("revoked", False, "updated_at"),
    ],
)
def test_first_ended_at_is_when_the_permit_ended(app, status, due, ended):
    """Retention deletes an export by when its earliest ended permit ended: the deadline even
    when no sweep has recorded it yet, the revocation when it was made."""
    with app.app_context():
        permit = factories.make_permit(status, due=due)
        factories.make_permit("approved")  # not ended: no bearing
        export = exports.request_export(_requester())
        exports.run_export(export.id)
        db.session.expire_all()
        assert db.session.get(Export, export.id).first_ended_at == getattr(permit, ended)


def test_many_batches_write_every_row_once(mixed, monkeypatch):
    monkeypatch.setattr(exports, "BATCH", 4)
    with mixed.app_context():
        export = exports.request_export(_requester())
        exports.run_export(export.id)
        rows = _csv(export.id)
        assert [r["id"] for r in rows] == [p.id for p in service_listing()]
        chunks = db.session.scalar(
            sa.select(sa.func.count()).where(ExportChunk.export_id == export.id)
        )
        assert chunks == len(rows) // 4 + 1


def test_zone_and_date_filters(mixed):
    with mixed.app_context():
        from permit_service.services import queries

        start = utcnow() - timedelta(minutes=3)
        export = exports.request_export(_requester(), zone="city", created_from=start)
        exports.run_export(export.id)
        listed = queries.list_permits(zone="CITY", created_from=start, page_size=500).items
        assert [r["id"] for r in _csv(export.id)] == [p.id for p in listed]
        with pytest.raises(ValidationFailed):
            exports.request_export(_requester(), zone="not a zone!")


def test_empty_export_is_a_header(app):
    with app.app_context():
        export = exports.request_export(_requester(), status=PermitStatus.WAITLISTED)
        assert exports.run_export(export.id) == "done"
        header = (",".join(exports.COLUMNS) + "\r\n").encode()
        assert b"".join(exports.iter_csv(export.id)) == header
        assert db.session.get(Export, export.id).first_ended_at is None


def test_a_second_run_of_a_done_export_does_nothing(app):
    with app.app_context():
        factories.make_permit()
        export = exports.request_export(_requester())
        assert exports.run_export(export.id) == "done"
        assert exports.run_export(export.id) is None
        assert len(_csv(export.id)) == 1


def test_viewer_sees_only_their_own_exports_admin_sees_all(app):
    with app.app_context():
        viewer, other, admin = _requester("viewer"), _requester("viewer"), _requester("admin")
        export = exports.request_export(viewer)
        assert exports.get_export(export.id, viewer).id == export.id
        assert exports.get_export(export.id, admin).id == export.id
        with pytest.raises(exports.ExportNotFound):
            exports.get_export(export.id, other)
        with pytest.raises(exports.ExportNotFound):
            exports.get_export("not-an-id", admin)
        with pytest.raises(exports.ExportNotReady):
            exports.ready_export(export.id, viewer)


def test_retention_deletes_old_exports_with_their_chunks(app):
    with app.app_context():
        factories.make_permit()
        old = exports.request_export(_requester()).id
        exports.run_export(old)
        clock.advance(timedelta(days=6))
        young = exports.request_export(_requester()).id
        exports.run_export(young)
        clock.advance(timedelta(days=1, seconds=1))
        deleted, _ = exports.tidy_exports()
        assert deleted == 1
        assert db.session.get(Export, old) is None
        assert db.session.get(Export, young) is not None
        left = db.session.scalars(sa.select(ExportChunk.export_id).distinct()).all()
        assert left == [young]


def test_retention_seam_deletes_exports_holding_ended_permits(app):
    with app.app_context():
        factories.make_permit("revoked")
        holding = exports.request_export(_requester()).id
        exports.run_export(holding)
        clean = exports.request_export(_requester(), status=PermitStatus.PENDING).id
        exports.run_export(clean)
        assert exports.delete_exports_with_ended_before(utcnow() - timedelta(days=1)) == 0
        assert exports.delete_exports_with_ended_before(utcnow() + timedelta(seconds=1)) == 1
        db.session.commit()
        assert db.session.get(Export, holding) is None
        assert db.session.get(Export, clean) is not None


def test_a_queued_export_whose_task_was_lost_is_published_again(app):
    with app.app_context():
        export = exports.request_export(_requester())
        assert exports.tidy_exports() == (0, 0)  # just queued: its task may still arrive
        clock.advance(exports.RESEND_SECONDS + 1)
        assert exports.tidy_exports() == (0, 1)
        assert exports.tidy_exports() == (0, 0)  # once per RESEND_SECONDS, not every sweep
        assert exports.run_export(export.id) == "done"


def test_a_run_whose_worker_died_is_run_again_and_replaces_its_chunks(app, monkeypatch):
    monkeypatch.setattr(exports, "BATCH", 2)
    with app.app_context():
        for n in range(5):
            factories.make_permit(plate=f"LR-{n}")
        export = exports.request_export(_requester())
        # A first run that dies after its first batch: claimed, one chunk, then nothing.
        batches = iter([True])

        class Died(BaseException):
            pass

        real = exports._cells

        def cells(*args):
            if next(batches, None) is None:
                raise Died
            return real(*args)

        monkeypatch.setattr(exports, "_cells", cells)
        with pytest.raises(Died):
            exports.run_export(export.id)
        db.session.rollback()
        monkeypatch.setattr(exports, "_cells", real)
        stuck = db.session.get(Export, export.id, populate_existing=True)
        assert stuck.status == "running" and stuck.attempt == 1
        assert exports.tidy_exports() == (0, 0)  # still inside its lease
        clock.advance(exports.LEASE_SECONDS + 1)
        assert exports.tidy_exports() == (0, 1)
        assert db.session.get(Export, export.id, populate_existing=True).status == "queued"
        assert exports.run_export(export.id) == "done"
        rows = _csv(export.id)
        assert len(rows) == 5 and len({r["id"] for r in rows}) == 5
        assert db.session.get(Export, export.id, populate_existing=True).attempt == 2


def test_a_run_that_lost_its_lease_writes_nothing_more(app, monkeypatch):
    monkeypatch.setattr(exports, "BATCH", 1)
    with app.app_context():
        for n in range(3):
            factories.make_permit(plate=f"LL-{n}")
        export = exports.request_export(_requester())
        real = exports._cells
        calls = {"n": 0}

        def cells(*args):
            calls["n"] += 1
            if calls["n"] == 2:  # mid-run, the sweep hands the export to a new run
                taken = sa.update(Export).where(Export.id == export.id)
                db.session.execute(taken.values(attempt=Export.attempt + 1))
                db.session.commit()
            return real(*args)

        monkeypatch.setattr(exports, "_cells", cells)
        assert exports.run_export(export.id) is None
        stored = db.session.get(Export, export.id, populate_existing=True)
        assert stored.status == "running"  # left to the run that holds it now
        assert stored.row_count == 1


def test_an_export_that_keeps_losing_its_worker_fails(app):
    with app.app_context():
        export = exports.request_export(_requester())
        for _ in range(exports.MAX_ATTEMPTS):
            db.session.execute(
                sa.update(Export)
                .where(Export.id == export.id)
                .values(status="running", attempt=Export.attempt + 1)
            )
            db.session.commit()
            clock.advance(exports.LEASE_SECONDS + 1)
            exports.tidy_exports()
        stored = db.session.get(Export, export.id, populate_existing=True)
        assert stored.status == "failed" and stored.error == "WorkerLost"


@pytest.mark.parametrize(
    ("language", "words"), [("en", "Your CSV export is ready"), ("de", "Ihr CSV-Export ist fertig")]
)
def test_the_requester_gets_an_email_with_the_link(app_factory, language, words):
    from permit_service.models import Notification
    from permit_service.services import delivery
    from tests.smtp import smtp_server, text_of

    with smtp_server() as smtp:
        app = app_factory(**smtp.config(), PUBLIC_BASE_URL="https://permits.city.example")
        with app.app_context():
            factories.make_permit()
            factories.make_permit(plate="EM-2")
            user = create_user("clerk@city.example", STRONG_PASSWORD, "viewer")
            export = exports.request_export(exports.Requester(user.id, False), language=language)
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0
            exports.run_export(export.id)
            (note,) = db.session.scalars(sa.select(Notification)).all()
            assert (note.kind, note.recipient, note.subject_ref) == (
                "export_ready",
                "clerk@city.example",
                export.id,
            )
            assert delivery.deliver_due() == 1
            (message,) = smtp.wait_for(1, 5)
            assert message["To"] == "clerk@city.example"
            assert words in message["Subject"] and "(2 " in message["Subject"]
            assert f"https://permits.city.example/admin/exports/{export.id}" in text_of(message)


def test_a_download_is_recorded_in_the_read_audit(app):
    from permit_service.models import PermitRead

    with app.app_context():
        factories.make_permit()
        asker = _requester("viewer")
        export = exports.request_export(asker)
        with pytest.raises(exports.ExportNotReady):
            exports.ready_export(export.id, asker)
        assert db.session.scalars(sa.select(PermitRead)).all() == []  # nothing read yet
        exports.run_export(export.id)
        exports.ready_export(export.id, asker)
        (read,) = db.session.scalars(sa.select(PermitRead)).all()
        assert (read.user_id, read.what, read.permit_id, read.detail) == (
            asker.user_id,
            "export",
            None,
            export.id,
        )

"""Bulk seeding, and listing totals kept exact by the per-status counts (services.lifecycle)."""

from __future__ import annotations

import sqlalchemy as sa

from permit_service import clock
from permit_service.domain import PermitStatus
from permit_service.extensions import db
from permit_service.models import Permit, PermitEvent, utcnow
from permit_service.services import permits as service
from permit_service.services import queries, seeding
from tests import factories
from tests.conftest import apply

PENDING, APPROVED, WAITLISTED, REVOKED, EXPIRED = (
    PermitStatus.PENDING,
    PermitStatus.APPROVED,
    PermitStatus.WAITLISTED,
    PermitStatus.REVOKED,
    PermitStatus.EXPIRED,
)


def _totals() -> dict[PermitStatus | None, int]:
    """`total` of the listing per status filter, and the true count computed the slow way."""
    return {s: queries.list_permits(status=s, page_size=1).total for s in [None, *PermitStatus]}


def _truth() -> dict[PermitStatus | None, int]:
    now = utcnow()
    truth: dict[PermitStatus | None, int] = {
        s: db.session.scalar(sa.select(sa.func.count()).where(queries.status_condition(s, now)))
        for s in PermitStatus
    }
    truth[None] = db.session.scalar(sa.select(sa.func.count()).select_from(Permit))
    return truth


def test_seed_inserts_the_mix_with_unique_plates_and_events(app):
    with app.app_context():
        progress: list[int] = []
        assert seeding.seed_permits(200, batch_size=80, on_batch=progress.append) == 200
        assert progress == [80, 80, 40]
        counts = queries.count_by_status()
        assert counts == {PENDING: 20, APPROVED: 120, WAITLISTED: 0, REVOKED: 20, EXPIRED: 40}
        assert counts == {s: n for s, n in _truth().items() if s}
        plates = db.session.scalars(sa.select(Permit.plate_key)).all()
        assert len(set(plates)) == 200
        # Every permit has its application event; decided ones their decision too.
        events = db.session.scalar(sa.select(sa.func.count()).select_from(PermitEvent))
        assert events == 200 + 180
        # Seeding again numbers plates after the existing ones: no clash.
        seeding.seed_permits(10)
        assert queries.list_permits(page_size=1).total == 210
        newest = queries.list_permits(status=PENDING, page_size=5).items
        assert all(queries.status_of(p) is PENDING for p in newest)


def test_seeded_due_permits_read_as_expired_until_swept(app):
    with app.app_context():
        seeding.seed_permits(40, mix={PENDING: 1.0}, due=True)
        assert queries.list_permits(status=PENDING).total == 0
        assert queries.list_permits(status=EXPIRED).total == 40
        assert service.expire_due_permits() == 40
        assert queries.count_by_status()[EXPIRED] == 40


def test_cli_seed_reports_the_count(app, runner):
    result = runner.invoke(args=["permits", "seed", "--count", "30"])
    assert result.exit_code == 0, result.output
    assert "seeded 30 permit(s)" in result.output
    with app.app_context():
        assert queries.list_permits(page_size=1).total == 30


def test_list_totals_stay_exact_through_every_change(app_factory):
    app = app_factory(PENDING_TTL_SECONDS=60)
    with app.app_context():
        ids = [factories.make_permit(plate=f"TOT-{i}").id for i in range(4)]
        # Two pending permits past their deadline: expired at once, before any sweep.
        for i in range(2):
            factories.make_permit(plate=f"TOT-D{i}", due=True)
        assert (
            _totals()
            == _truth()
            == {None: 6, PENDING: 4, APPROVED: 0, WAITLISTED: 0, REVOKED: 0, EXPIRED: 2}
        )
        service.approve_permit(ids[0], actor="a@example.org")
        service.approve_permit(ids[1], actor="a@example.org")
        service.revoke_permit(ids[1], actor="a@example.org")
        service.revoke_permit(ids[2], actor="a@example.org")
        expected = {None: 6, PENDING: 1, APPROVED: 1, WAITLISTED: 0, REVOKED: 2, EXPIRED: 2}
        assert _totals() == _truth() == expected
        assert queries.count_by_status() == {k: v for k, v in expected.items() if k}
        assert service.expire_due_permits() == 2
        assert _totals() == _truth() == expected
        clock.advance(61)  # the last pending application's deadline passes
        assert _totals() == _truth() == {**expected, PENDING: 0, EXPIRED: 3}
        assert service.expire_due_permits() == 1
        assert _totals() == _truth() == {**expected, PENDING: 0, EXPIRED: 3}


def test_total_on_pages_past_the_end_and_in_the_middle(app):
    with app.app_context():
        seeding.seed_permits(120, mix={APPROVED: 1.0})
        middle = queries.list_permits(status=APPROVED, page=2, page_size=50)
        assert (len(middle.items), middle.total) == (50, 120)
        last = queries.list_permits(status=APPROVED, page=3, page_size=50)
        assert (len(last.items), last.total) == (20, 120)
        beyond = queries.list_permits(status=APPROVED, page=9, page_size=50)
        assert (beyond.items, beyond.total) == ([], 120)
        # Pages are disjoint and newest first across the whole listing.
        pages = [queries.list_permits(page=p, page_size=50).items for p in (1, 2, 3)]
        stamps = [(x.created_at, x.id) for page in pages for x in page]
        assert len({i for _, i in stamps}) == 120
        assert stamps == sorted(stamps, reverse=True)


def test_reapplying_after_the_deadline_expires_the_old_application(app_factory):
    app = app_factory()
    client = app.test_client()
    with app.app_context():
        first = {"id": factories.make_permit(plate="DUE-1", due=True).id}
    second = apply(client, license_plate="due 1")
    assert second["status"] == "pending" and second["id"] != first["id"]
    again = client.post(
        "/permits", json={"name": "X", "license_plate": "DUE1", "address": "1 Main St"}
    )
    assert again.status_code == 409
    with app.app_context():
        history = [e.to_status for e in queries.list_events(first["id"])]
        assert history == ["pending", "expired"]
        assert queries.get_permit(second["id"]).created_at.tzinfo is not None


def test_search_and_plate_filters_count_their_own_rows(app):
    with app.app_context():
        seeding.seed_permits(300, mix={APPROVED: 1.0})
        # "Resident 1" matches Resident 1, 10-19, 100-199: 111 permits.
        found = queries.list_permits(search="resident 1", page=2, page_size=50)
        assert (len(found.items), found.total) == (50, 111)
        assert all("Resident 1" in p.name for p in found.items)
        by_plate = queries.list_permits(license_plate="aaa 00042")
        assert [p.license_plate for p in by_plate.items] == ["AAA-00042"]
        assert by_plate.total == 1
        none = queries.list_permits(status=PENDING, license_plate="AAA-00042")
        assert (none.items, none.total) == ([], 0)
        like_chars = queries.list_permits(search="100%_")
        assert (like_chars.items, like_chars.total) == ([], 0)

"""Zones, quotas, the waiting list and fees (SPEC.md sections 3 and 8), on each database."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from permit_service import clock
from permit_service.domain import (
    InvalidTransition,
    PermitStatus,
    ValidationFailed,
    ZoneCodeTaken,
)
from permit_service.extensions import db
from permit_service.models import Permit, PermitEvent, Zone, utcnow
from permit_service.services import lifecycle, queries, zones
from permit_service.services import permits as service
from permit_service.services.lifecycle import SYSTEM_ACTOR
from tests import factories

ADMIN = factories.ADMIN
W, A, R = PermitStatus.WAITLISTED, PermitStatus.APPROVED, PermitStatus.REVOKED


def _apply(zone: str, n: int) -> str:
    return service.apply_for_permit(
        "Jane Roe", f"ZN-{zone[:3]}{n}", "1 Elm St", zone=zone
    ).permit.id


def _fresh(pid: str) -> Permit:
    permit = db.session.get(Permit, pid, populate_existing=True)
    assert permit is not None
    return permit


def _full_zone(
    quota: int = 1, waiting: int = 2, code: str = "NORTH"
) -> tuple[list[str], list[str]]:
    """A zone whose `quota` places are taken and `waiting` permits wait: (approved, waitlisted)."""
    zones.create_zone(code, "North", quota=quota, monthly_fee="10.00")
    approved = [_apply(code, n) for n in range(quota)]
    for pid in approved:
        assert service.approve_permit(pid, ADMIN).after is A
    waitlisted = []
    for n in range(quota, quota + waiting):
        pid = _apply(code, n)
        clock.advance(timedelta(seconds=1))  # distinct moments in line
        outcome = service.approve_permit(pid, ADMIN)
        assert (outcome.before, outcome.after) == (PermitStatus.PENDING, W)
        waitlisted.append(pid)
    return approved, waitlisted


def test_approving_in_a_full_zone_waitlists_with_its_place(app):
    with app.app_context():
        approved, waiting = _full_zone(quota=1, waiting=3)
        permits = [_fresh(pid) for pid in waiting]
        assert [queries.waitlist_position(p) for p in permits] == [1, 2, 3]
        first = permits[0]
        assert first.valid_from is None and first.valid_until is None and first.fee is None
        assert [p.id for p in zones.waitlist("north")] == waiting
        view = zones.get_zone_view("NORTH")
        assert (view.valid_permits, view.waitlist_length) == (1, 3)
        events = queries.list_events(waiting[0])
        assert [(e.from_status, e.to_status, e.actor) for e in events][-1] == (
            "pending",
            "waitlisted",
            ADMIN,
        )
        assert queries.waitlist_position(_fresh(approved[0])) is None


def test_approving_a_waitlisted_permit_is_a_noop(app):
    with app.app_context():
        _, (pid, _other) = _full_zone()
        before = len(queries.list_events(pid))
        outcome = service.approve_permit(pid, ADMIN)
        assert (outcome.before, outcome.after, outcome.changed) == (W, W, False)
        assert len(queries.list_events(pid)) == before


@pytest.mark.parametrize("how", ["revoke", "cancel"])
def test_revoking_or_cancelling_a_waitlisted_permit_leaves_the_line(app, how):
    with app.app_context():
        _, (first, second) = _full_zone()
        if how == "revoke":
            outcome = service.revoke_permit(first, ADMIN, reason="moved away")
        else:
            outcome = service.cancel_permit(first)
        assert (outcome.before, outcome.after) == (W, R)
        assert queries.waitlist_position(_fresh(second)) == 1
        # No place was freed: the second one still waits.
        assert _fresh(second).status == W.value
        assert zones.get_zone("NORTH").valid_permits == 1


def test_renewing_a_waitlisted_permit_conflicts(app):
    with app.app_context():
        _, (pid, _other) = _full_zone()
        with pytest.raises(InvalidTransition):
            service.renew_permit(pid, ADMIN)
        with pytest.raises(InvalidTransition):
            service.renew_permit(pid, service.APPLICANT_ACTOR)


@pytest.mark.parametrize("how", ["revoke", "cancel"])
def test_a_place_freed_by_an_action_goes_to_the_head_of_the_line_at_once(app, how):
    with app.app_context():
        (holder,), (first, second) = _full_zone()
        if how == "revoke":
            service.revoke_permit(holder, ADMIN)
        else:
            service.cancel_permit(holder)
        head = _fresh(first)
        assert head.status == A.value
        assert head.valid_from is not None and head.valid_until is not None
        assert head.fee == Decimal("120.00")  # 10.00 x 12 months of the default year
        last = queries.list_events(first)[-1]
        assert (last.from_status, last.to_status, last.actor) == (
            "waitlisted",
            "approved",
            SYSTEM_ACTOR,
        )
        assert queries.waitlist_position(_fresh(second)) == 1
        assert zones.get_zone("NORTH").valid_permits == 1


def test_raising_the_quota_gives_the_new_places_in_order(app):
    with app.app_context():
        _, waiting = _full_zone(quota=1, waiting=3)
        zones.update_zone("NORTH", quota=3)
        assert [_fresh(p).status for p in waiting] == ["approved", "approved", "waitlisted"]
        assert queries.waitlist_position(_fresh(waiting[2])) == 1
        zones.update_zone("NORTH", quota=None)  # no limit: everyone gets a place
        assert _fresh(waiting[2]).status == "approved"
        assert zones.get_zone("NORTH").valid_permits == 4


def test_lowering_the_quota_revokes_nothing_and_gives_no_place_until_under_it(app):
    with app.app_context():
        zones.create_zone("NORTH", "North", quota=3)
        holders = [_apply("NORTH", n) for n in range(3)]
        for pid in holders:
            service.approve_permit(pid, ADMIN)
        waiting = _apply("NORTH", 9)
        zones.update_zone("NORTH", quota=1)
        assert all(_fresh(p).status == "approved" for p in holders)
        assert service.approve_permit(waiting, ADMIN).after is W
        service.revoke_permit(holders[0], ADMIN)  # 2 left, quota 1: still no place
        assert _fresh(waiting).status == W.value
        service.revoke_permit(holders[1], ADMIN)  # 1 left = quota: still full
        assert _fresh(waiting).status == W.value
        service.revoke_permit(holders[2], ADMIN)  # 0 < 1: the place goes to the line
        assert _fresh(waiting).status == A.value
        zone = zones.get_zone("NORTH")
        assert (zone.valid_permits, zone.surplus) == (1, 0)


def test_the_sweep_gives_places_freed_by_time(app):
    with app.app_context():
        zones.create_zone("NORTH", "North", quota=1)
        holder = _apply("NORTH", 0)
        service.approve_permit(holder, ADMIN, valid_until=utcnow() + timedelta(hours=1))
        waiting = _apply("NORTH", 1)
        assert service.approve_permit(waiting, ADMIN).after is W
        clock.advance(timedelta(hours=1, seconds=1))
        # Ended but not recorded: the place is still held (it is free once recorded).
        assert _fresh(waiting).status == W.value
        assert zones.get_zone_view("NORTH").valid_permits == 0
        assert service.expire_due_permits() == 1
        got = _fresh(waiting)
        assert got.status == A.value and got.valid_from is not None and got.valid_until is not None
        assert queries.list_events(waiting)[-1].actor == SYSTEM_ACTOR
        assert zones.get_zone("NORTH").valid_permits == 1


def _stored_approved() -> dict[str, int]:
    return dict(
        db.session.execute(
            sa.select(Permit.zone, sa.func.count())
            .where(Permit.status == A.value)
            .group_by(Permit.zone)
        ).all()
    )


def test_each_sweep_batch_leaves_the_places_its_permits_held(app):
    """zones.valid_permits is the number stored as approved after every batch, in two zones,
    and the zones' view is exact before, between and after the batches."""
    with app.app_context():
        for code in ("NORTH", "SOUTH"):
            zones.create_zone(code, code.title(), quota=10)
        soon = utcnow() + timedelta(hours=1)
        for n in range(6):
            pid = _apply("NORTH" if n % 2 else "SOUTH", n)
            service.approve_permit(pid, ADMIN, valid_until=soon + timedelta(seconds=n))
        service.approve_permit(_apply("NORTH", 9), ADMIN)  # valid a year
        clock.advance(timedelta(hours=2))
        views = {v.zone.code: v.valid_permits for v in zones.list_zones()}
        assert (views["NORTH"], views["SOUTH"]) == (1, 0)  # ended but not recorded: not valid
        now = utcnow()
        batch = lifecycle.move_due_batch(A, now, 4, None)
        assert batch.moved == 4 and sum(batch.left.values()) == 4
        db.session.commit()
        for code, stored in _stored_approved().items():
            assert zones.get_zone(code).valid_permits == stored
        views = {v.zone.code: v.valid_permits for v in zones.list_zones()}
        assert (views["NORTH"], views["SOUTH"]) == (1, 0)  # exact between batches too
        assert lifecycle.move_due_batch(A, now, 4, batch.after).moved == 2
        db.session.commit()
        assert {z: zones.get_zone(z).valid_permits for z in ("NORTH", "SOUTH")} == {
            "NORTH": 1,
            "SOUTH": 0,
        }


def test_recording_one_ended_permit_leaves_its_place(app):
    with app.app_context():
        zones.create_zone("NORTH", "North", quota=2)
        ended = _apply("NORTH", 0)
        service.approve_permit(ended, ADMIN, valid_until=utcnow() + timedelta(hours=1))
        service.approve_permit(_apply("NORTH", 1), ADMIN)
        clock.advance(timedelta(hours=2))
        assert lifecycle.record_due(Permit.id == ended, utcnow()) == 1
        db.session.commit()
        assert zones.get_zone("NORTH").valid_permits == 1 == _stored_approved()["NORTH"]


def test_a_decision_on_an_ended_permit_records_it_and_frees_its_place(app):
    with app.app_context():
        zones.create_zone("NORTH", "North", quota=1)
        holder = _apply("NORTH", 0)
        service.approve_permit(holder, ADMIN, valid_until=utcnow() + timedelta(hours=1))
        waiting = _apply("NORTH", 1)
        service.approve_permit(waiting, ADMIN)
        clock.advance(timedelta(hours=2))
        with pytest.raises(InvalidTransition):
            service.revoke_permit(holder, ADMIN)  # expired: 409, and recorded
        assert _fresh(waiting).status == A.value


def test_the_database_refuses_a_count_over_the_quota(app):
    with app.app_context():
        zones.create_zone("NORTH", "North", quota=1)
        service.approve_permit(_apply("NORTH", 0), ADMIN)
        zone = Zone.__table__.c
        with pytest.raises(IntegrityError):
            db.session.execute(
                sa.update(Zone.__table__)
                .where(zone.code == "NORTH")
                .values(valid_permits=zone.valid_permits + 1)
            )
            db.session.flush()
        db.session.rollback()
        with pytest.raises(IntegrityError):  # a surplus that is not the real excess
            db.session.execute(
                sa.update(Zone.__table__).where(zone.code == "NORTH").values(surplus=5)
            )
        db.session.rollback()


def test_applying_names_an_open_zone(app):
    with app.app_context():
        # One open zone: it may be left out (version 1 clients).
        assert service.apply_for_permit("A B", "ONE-1", "1 St").permit.zone == "CITY"
        zones.create_zone("NORTH", "North")
        with pytest.raises(ValidationFailed) as missing:
            service.apply_for_permit("A B", "ONE-2", "1 St")
        assert missing.value.errors["zone"] == ["Choose the zone of the permit."]
        with pytest.raises(ValidationFailed) as unknown:
            service.apply_for_permit("A B", "ONE-2", "1 St", zone="SOUTH")
        assert unknown.value.errors["zone"] == ["There is no zone SOUTH."]
        zones.update_zone("NORTH", open=False)
        with pytest.raises(ValidationFailed) as closed:
            service.apply_for_permit("A B", "ONE-2", "1 St", zone="north")
        assert closed.value.errors["zone"] == ["Zone NORTH takes no applications now."]
        # Closed NORTH leaves CITY the only open zone again.
        assert service.apply_for_permit("A B", "ONE-2", "1 St").permit.zone == "CITY"


def test_zone_input_rules(app):
    with app.app_context():
        zones.create_zone("north1", "North", quota=0, monthly_fee=12.5)
        zone = zones.get_zone("NORTH1")
        assert (zone.quota, zone.monthly_fee, zone.open) == (0, Decimal("12.50"), True)
        with pytest.raises(ZoneCodeTaken):
            zones.create_zone("NORTH1", "Again")
        with pytest.raises(ValidationFailed) as bad:
            zones.create_zone("TOO-LONG-CODE", "", quota=-1, monthly_fee="1.234")
        assert set(bad.value.errors) == {"code", "name", "quota", "monthly_fee"}


def test_fees_count_started_months_and_grow_on_renewal(app_factory):
    app = app_factory(CITY_TIMEZONE="Europe/Amsterdam", PERMIT_VALIDITY_DAYS=365)
    with app.app_context():
        zones.create_zone("NORTH", "North", monthly_fee="7.50")
        short = _apply("NORTH", 0)
        until = (utcnow() + timedelta(days=31)).date()
        service.approve_permit(short, ADMIN, valid_until=until)
        assert _fresh(short).fee == Decimal("15.00")  # 31 days: 2 started months
        year = _apply("NORTH", 1)
        service.approve_permit(year, ADMIN)
        assert _fresh(year).fee == Decimal("90.00")  # 12 months
        zones.update_zone("NORTH", monthly_fee="10")  # later validities only
        assert _fresh(year).fee == Decimal("90.00")
        clock.advance(timedelta(days=340))
        service.renew_permit(year, ADMIN)
        assert _fresh(year).fee == Decimal("210.00")  # + 12 months at 10.00


def test_the_waitlist_place_is_an_index_range_bounded_by_the_permit(app):
    with app.app_context():
        statement = queries._position_statement()
        sql = str(statement.compile(db.engine))
        # One range of (waitlisted_at, id) in the partial index of migration 0016, which
        # matches only when the status is spelled out.
        assert "(permits.waitlisted_at, permits.id) <" in sql and "ORDER BY" not in sql
        assert "permits.status = 'waitlisted'" in sql
        if db.engine.dialect.name == "sqlite":
            plan = (
                db.session.connection()
                .exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", ("CITY", "x", "y"))
                .all()
            )
            assert "COVERING INDEX ix_permits_zone_waitlisted_at" in plan[0][-1], plan
        _, waiting = _full_zone(quota=0, waiting=3)
        assert [queries.waitlist_position(_fresh(p)) for p in waiting] == [1, 2, 3]


def test_events_show_the_line_moving_first_come_first_served(app):
    with app.app_context():
        (holder,), waiting = _full_zone(quota=1, waiting=4)
        service.cancel_permit(waiting[1])  # leaves the line
        service.revoke_permit(holder, ADMIN)
        service.cancel_permit(waiting[0])
        granted = db.session.scalars(
            sa.select(PermitEvent.permit_id)
            .where(PermitEvent.actor == SYSTEM_ACTOR, PermitEvent.to_status == "approved")
            .order_by(PermitEvent.id)
        ).all()
        assert granted == [waiting[0], waiting[2]]

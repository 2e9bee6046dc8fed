"""Validity, renewal, cancel and references through the services, on each database."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from permit_service import clock
from permit_service.domain import (
    PermitEnded,
    PermitNotFound,
    PermitStatus,
    RenewalNotOpen,
    ValidationFailed,
)
from permit_service.models import utcnow
from permit_service.services import permits as service
from permit_service.services import queries
from permit_service.services.lifecycle import APPLICANT_ACTOR
from tests import factories

ADMIN = "a@city.test"


def end_of_local_day(day, zone: str) -> datetime:
    return datetime.combine(day, time.max).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def test_approval_starts_the_default_validity_now(app_factory):
    app = app_factory(CITY_TIMEZONE="Europe/Helsinki", PERMIT_VALIDITY_DAYS=365)
    with app.app_context():
        pid = factories.make_permit().id
        before = utcnow()
        permit = service.approve_permit(pid, actor=ADMIN).permit
        assert before <= permit.valid_from <= utcnow()
        local = permit.valid_from.astimezone(ZoneInfo("Europe/Helsinki")).date()
        expected = end_of_local_day(local + timedelta(days=365), "Europe/Helsinki")
        assert permit.valid_until == expected


def test_approval_takes_a_shorter_validity_as_a_date_or_a_date_time(app_factory):
    app = app_factory(CITY_TIMEZONE="America/New_York")
    with app.app_context():
        day = (utcnow() + timedelta(days=40)).astimezone(ZoneInfo("America/New_York")).date()
        first = factories.make_permit().id
        permit = service.approve_permit(first, actor=ADMIN, valid_until=day.isoformat()).permit
        assert permit.valid_until == end_of_local_day(day, "America/New_York")
        moment = (utcnow() + timedelta(hours=5)).replace(microsecond=0)
        second = factories.make_permit().id
        permit = service.approve_permit(second, actor=ADMIN, valid_until=moment.isoformat()).permit
        assert permit.valid_until == moment


@pytest.mark.parametrize(
    "given",
    ["2000-01-01", "not a date", "2026-01-01T10:00:00", lambda: utcnow() + timedelta(days=400)],
)
def test_approval_refuses_an_impossible_end_and_changes_nothing(app, given):
    value = given() if callable(given) else given
    with app.app_context():
        pid = factories.make_permit().id
        with pytest.raises(ValidationFailed) as err:
            service.approve_permit(pid, actor=ADMIN, valid_until=value)
        assert set(err.value.errors) == {"valid_until"}
        assert queries.status_of(queries.get_permit(pid)) is PermitStatus.PENDING
        assert len(queries.list_events(pid)) == 1


def test_renewal_inside_the_window_continues_the_validity_seamlessly(app_factory):
    app = app_factory(CITY_TIMEZONE="Europe/Helsinki", PERMIT_VALIDITY_DAYS=365)
    zone = ZoneInfo("Europe/Helsinki")
    with app.app_context():
        soon = (utcnow() + timedelta(days=5)).astimezone(zone).date()
        permit = factories.make_permit("approved", valid_until=soon)
        old_from, old_until = permit.valid_from, permit.valid_until
        done = service.renew_permit(permit.id, actor=APPLICANT_ACTOR)
        assert done.changed and done.before is done.after is PermitStatus.APPROVED
        renewed = done.permit
        new_day = soon + timedelta(days=365)
        assert renewed.valid_until == end_of_local_day(new_day, "Europe/Helsinki")
        assert renewed.valid_from == old_from  # one continuous validity
        assert renewed.valid_until > old_until
        event = queries.list_events(permit.id)[-1]
        assert (event.from_status, event.to_status, event.actor) == (
            "approved",
            "approved",
            APPLICANT_ACTOR,
        )
        assert event.reason == f"renewed until {new_day.isoformat()}"
        # Renewed: the window is a year away again.
        with pytest.raises(RenewalNotOpen) as err:
            service.renew_permit(permit.id, actor=ADMIN)
        assert err.value.opens == new_day - timedelta(days=29)
        assert (new_day - timedelta(days=29)).isoformat() in err.value.message


def test_renewal_before_the_window_names_the_date_it_opens(app_factory):
    app = app_factory(RENEWAL_WINDOW_DAYS=30, PERMIT_VALIDITY_DAYS=365)
    with app.app_context():
        permit = factories.make_permit("approved")
        with pytest.raises(RenewalNotOpen) as err:
            service.renew_permit(permit.id, actor=ADMIN)
        opens = permit.valid_until.date() - timedelta(days=29)
        assert err.value.opens == opens
        assert err.value.message == f"This permit can be renewed from {opens.isoformat()}."
        assert len(queries.list_events(permit.id)) == 2


def test_renewal_opens_exactly_on_its_first_local_day(app_factory):
    app = app_factory(CITY_TIMEZONE="Europe/Helsinki", RENEWAL_WINDOW_DAYS=30)
    zone = ZoneInfo("Europe/Helsinki")
    with app.app_context():
        day = (utcnow() + timedelta(days=60)).astimezone(zone).date()
        permit = factories.make_permit("approved", valid_until=day)
        opens = day - timedelta(days=29)
        first_moment = datetime.combine(opens, time.min).replace(tzinfo=zone).astimezone(UTC)
        # The clock runs on between moves: a second before, then a second after.
        clock.advance(first_moment - utcnow() - timedelta(seconds=1))
        with pytest.raises(RenewalNotOpen):
            service.renew_permit(permit.id, actor=ADMIN)
        clock.advance(timedelta(seconds=1))
        assert service.renew_permit(permit.id, actor=ADMIN).changed


def test_ended_permits_cannot_be_renewed_and_say_apply_again(app):
    with app.app_context():
        ended = factories.make_permit("approved", due=True)
        revoked = factories.make_permit("revoked")
        for pid in (ended.id, revoked.id):
            with pytest.raises(PermitEnded, match="apply for a new permit"):
                service.renew_permit(pid, actor=ADMIN)
        assert queries.status_of(queries.get_permit(ended.id)) is PermitStatus.EXPIRED


@pytest.mark.parametrize("status", ["pending", "approved"])
def test_cancel_ends_it_at_once_as_the_resident(app, status):
    with app.app_context():
        permit = factories.make_permit(status)
        until = permit.valid_until
        done = service.cancel_permit(permit.id)
        assert (done.before, done.after) == (PermitStatus(status), PermitStatus.REVOKED)
        event = queries.list_events(permit.id)[-1]
        assert (event.actor, event.reason) == ("applicant", "cancelled by the resident")
        assert done.permit.valid_until == until  # kept after it ends
        again = service.cancel_permit(permit.id)  # no-op
        assert not again.changed and again.after is PermitStatus.REVOKED
        assert len(queries.list_events(permit.id)) == (2 if status == "pending" else 3)


def test_the_plate_is_free_again_once_the_validity_ends(app):
    with app.app_context():
        factories.make_permit("approved", due=True, plate="END-1")
        fresh = service.apply_for_permit("New One", "end 1", "2 Elm St")
        assert fresh.after is PermitStatus.PENDING


def test_references_are_unique_and_name_their_permit_in_any_spelling(app):
    with app.app_context():
        permits = [factories.make_permit() for _ in range(20)]
        refs = {p.reference for p in permits}
        assert len(refs) == 20
        target = permits[7]
        code = target.reference[2:].replace("-", "")
        for typed in [target.reference, target.reference.lower(), code, f" p{code.lower()} "]:
            assert queries.resolve_permit_id(typed) == target.id
        assert service.resolve_permit_id(target.id.upper()) == target.id
        for bad in ["P-2222-22", "nope", "", "P-OOOO-OO"]:
            with pytest.raises(PermitNotFound):
                queries.resolve_permit_id(bad)


def test_an_application_that_draws_a_taken_reference_draws_again(app, monkeypatch):
    with app.app_context():
        taken = factories.make_permit().reference
        draws = iter([taken, taken, "P-2345-67"])
        monkeypatch.setattr(service, "new_reference", lambda: next(draws))
        permit = service.apply_for_permit("Second", "REF-2", "3 Elm St").permit
        assert permit.reference == "P-2345-67"
        assert queries.resolve_permit_id(taken) != permit.id


def test_find_by_plate_lists_every_permit_of_the_plate_in_any_spelling(app):
    with app.app_context():
        old = factories.make_permit("revoked", plate="AB-123")
        new = factories.make_permit("approved", plate="AB 123")
        factories.make_permit(plate="AB-124")
        for spelling in ["ab123", "AB-123", " ab 123 "]:
            assert [p.id for p in queries.find_by_plate(spelling)] == [new.id, old.id]
        assert queries.find_by_plate("ZZ-999") == []
        assert queries.find_by_plate("--") == []


def test_the_review_queue_finds_a_permit_by_its_reference(app):
    with app.app_context():
        wanted = factories.make_permit(name="Wanted Person")
        factories.make_permit(name="Someone Else")
        for typed in [wanted.reference, wanted.reference.lower().replace("-", "")]:
            found = queries.review_queue(search=typed)
            assert [p.id for p in found.items] == [wanted.id] and found.total == 1

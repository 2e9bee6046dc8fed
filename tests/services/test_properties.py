"""Property-based: any sequence of decisions on a permit follows the domain's transition table."""

from __future__ import annotations

import itertools
from datetime import timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from permit_service import clock
from permit_service.domain import DEADLINES, Action, InvalidTransition, PermitStatus, next_status
from permit_service.models import utcnow
from permit_service.services import permits as service
from permit_service.services import queries
from permit_service.validity import default_valid_until, in_renewal_window, renewed_until

_plates = itertools.count()
ACTIONS = st.lists(st.sampled_from([Action.APPROVE, Action.REVOKE]), min_size=1, max_size=6)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(actions=ACTIONS)
def test_any_decision_sequence_follows_the_table(app, actions):
    with app.app_context():
        pid = service.apply_for_permit("Prop Erty", f"HY-{next(_plates)}", "9 Lane").permit.id
        model = PermitStatus.PENDING
        changes = 0
        for action in actions:
            expected = next_status(model, action)
            do = service.approve_permit if action is Action.APPROVE else service.revoke_permit
            if expected is None:
                try:
                    do(pid, actor="prop@city.test")
                except InvalidTransition as exc:
                    assert exc.current is model
                else:
                    raise AssertionError(f"{action} on {model} should conflict")
            else:
                assert do(pid, actor="prop@city.test").after is expected
                changes += expected is not model
                model = expected
        events = queries.list_events(pid)
        assert queries.status_of(queries.get_permit(pid)) is model
        assert len(events) == 1 + changes  # the application, then one per real change
        assert events[-1].to_status == model.value


# --- version 2: cancel, renew and time (deadline, end of validity) against the table -------------

STEPS = st.lists(
    st.one_of(
        st.sampled_from([Action.APPROVE, Action.REVOKE, Action.CANCEL, Action.RENEW]),
        # Time passing: a minute, the pending deadline (5 min), into the window, past the end.
        st.sampled_from([timedelta(minutes=1), timedelta(minutes=6), timedelta(days=4)]),
    ),
    min_size=1,
    max_size=10,
)
VALIDITY_DAYS, WINDOW_DAYS = 10, 3


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=STEPS)
def test_any_sequence_of_actions_and_time_follows_the_v2_table(app_factory, steps):
    app = app_factory(
        PERMIT_VALIDITY_DAYS=VALIDITY_DAYS,
        RENEWAL_WINDOW_DAYS=WINDOW_DAYS,
        CITY_TIMEZONE="Europe/Helsinki",
    )
    zone = ZoneInfo("Europe/Helsinki")
    clock.reset()
    with app.app_context():
        pid = service.apply_for_permit("Prop Erty", f"HV-{next(_plates)}", "9 Lane").permit.id
        model = PermitStatus.PENDING
        deadline = queries.get_permit(pid).expires_at
        until = None
        changes = 0
        for step in steps:
            now = utcnow()
            if isinstance(step, timedelta):
                clock.advance(step)
                now = utcnow()
                rule = {PermitStatus.PENDING: deadline, PermitStatus.APPROVED: until}.get(model)
                if rule is not None and rule <= now:  # time's event: expired, sweep or not
                    model = next_status(model, DEADLINES[model].event)
                    changes += 1
                assert queries.status_of(queries.get_permit(pid)) is model
                continue
            expected = next_status(model, step)
            renewable = expected is not None and (
                step is not Action.RENEW or in_renewal_window(until, now, zone, WINDOW_DAYS)
            )
            if not renewable:
                expected = None
            do = {
                Action.APPROVE: lambda: service.approve_permit(pid, actor="p@city.test"),
                Action.REVOKE: lambda: service.revoke_permit(pid, actor="p@city.test"),
                Action.CANCEL: lambda: service.cancel_permit(pid),
                Action.RENEW: lambda: service.renew_permit(pid, actor="applicant"),
            }[step]
            if expected is None:
                try:
                    do()
                except InvalidTransition as exc:
                    assert exc.current is model
                else:
                    raise AssertionError(f"{step} on {model} should conflict")
                continue
            done = do()
            assert done.after is expected
            if step is Action.RENEW:
                assert done.permit.valid_until == renewed_until(until, zone, VALIDITY_DAYS)
                until = done.permit.valid_until
                changes += 1
            elif expected is not model:
                if expected is PermitStatus.APPROVED:
                    until = done.permit.valid_until
                    start = done.permit.valid_from
                    assert until == default_valid_until(start, zone, VALIDITY_DAYS)
                changes += 1
            else:
                assert not done.changed
            model = expected
        # The sweep records what time decided; the history replays to the status readers see.
        service.expire_due_permits()
        events = queries.list_events(pid)
        assert queries.status_of(queries.get_permit(pid)) is model
        assert queries.get_permit(pid).status == model.value
        assert len(events) == 1 + changes
        assert events[-1].to_status == model.value

"""Property-based: any sequence of decisions on a permit follows the domain's transition table."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from permit_service.domain import Action, InvalidTransition, PermitStatus, next_status
from permit_service.services import permits as service
from permit_service.services import queries

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

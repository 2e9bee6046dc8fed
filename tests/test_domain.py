"""The life-cycle table and input rules, without an app."""

from datetime import UTC, datetime, timedelta

import pytest

from permit_service.domain import (
    Action,
    PermitStatus,
    ValidationFailed,
    allowed_actions,
    due_transitions,
    effective_status,
    is_noop,
    next_status,
    normalize_plate,
    plate_key,
    validate_application,
)

P, A, R, E = (
    PermitStatus.PENDING,
    PermitStatus.APPROVED,
    PermitStatus.REVOKED,
    PermitStatus.EXPIRED,
)

# SPEC.md section 3, cell by cell: None = 409.
TABLE = {
    (P, Action.APPROVE): A,
    (P, Action.REVOKE): R,
    (P, Action.EXPIRE): E,
    (A, Action.APPROVE): A,
    (A, Action.REVOKE): R,
    (A, Action.EXPIRE): None,
    (R, Action.APPROVE): None,
    (R, Action.REVOKE): R,
    (R, Action.EXPIRE): None,
    (E, Action.APPROVE): None,
    (E, Action.REVOKE): None,
    (E, Action.EXPIRE): None,
}


@pytest.mark.parametrize(("current", "action"), list(TABLE))
def test_transition_table_matches_spec(current, action):
    assert next_status(current, action) == TABLE[(current, action)]


@pytest.mark.parametrize(
    ("current", "action", "noop"),
    [(A, Action.APPROVE, True), (R, Action.REVOKE, True), (P, Action.APPROVE, False)],
)
def test_repeating_a_decision_is_a_noop(current, action, noop):
    assert is_noop(current, action) is noop


@pytest.mark.parametrize(
    ("status", "offered"),
    [(P, {Action.APPROVE, Action.REVOKE}), (A, {Action.REVOKE}), (R, set()), (E, set())],
)
def test_pages_offer_the_decisions_that_change_the_permit(status, offered):
    assert allowed_actions(status) == offered


def test_time_ends_only_pending_applications_and_they_become_expired():
    assert [(src, rule.event, dst) for src, rule, dst in due_transitions()] == [
        (P, Action.EXPIRE, E)
    ]


def test_deadline_is_exact():
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert effective_status("pending", now + timedelta(microseconds=1), now) is P
    assert effective_status("pending", now, now) is E
    assert effective_status("approved", None, now) is A
    assert effective_status("approved", now, now) is A  # approved has no deadline (v1)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [("abc-123", "ABC-123"), ("  ab 12 ", "AB 12"), ("A1", "A1"), ("ABCDE12345", "ABCDE12345")],
)
def test_plates_are_trimmed_and_upper_cased(raw, clean):
    assert normalize_plate(raw) == clean


@pytest.mark.parametrize(
    "raw", ["", "A", "ABC--123", "ABC  123", "-ABC", "ABC_123", "ÄBC123", "ABCDE123456", "AB\n12"]
)
def test_bad_plates_are_refused_with_help(raw):
    with pytest.raises(ValueError, match=r"licence plate|letters and digits"):
        normalize_plate(raw)


def test_plate_spellings_share_one_key():
    assert plate_key("abc-123") == plate_key("ABC 123") == plate_key("ABC123") == "ABC123"


def test_validation_reports_every_bad_field():
    with pytest.raises(ValidationFailed) as err:
        validate_application(" ", "??", "x" * 201, "not-an-email")
    assert set(err.value.errors) == {"name", "license_plate", "address", "email"}


def test_control_characters_are_refused():
    with pytest.raises(ValidationFailed) as err:
        validate_application("John\x00Doe", "AB1", "Main St\u202e", None)
    assert set(err.value.errors) == {"name", "address"}


def test_valid_application_is_cleaned():
    clean = validate_application("  John Doe ", "abc 123", " 1 Main St ", " J@Example.org ")
    assert clean == {
        "name": "John Doe",
        "license_plate": "ABC 123",
        "address": "1 Main St",
        "email": "J@example.org",
    }

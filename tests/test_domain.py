"""The life-cycle table and input rules, without an app."""

from datetime import UTC, date, datetime, timedelta

import pytest

from permit_service.domain import (
    Action,
    InvalidTransition,
    PermitStatus,
    RenewalNotOpen,
    ValidationFailed,
    allowed_actions,
    due_transitions,
    effective_status,
    is_noop,
    next_status,
    next_status_when_full,
    normalize_plate,
    plate_key,
    validate_application,
)

P, A, W, R, E = (
    PermitStatus.PENDING,
    PermitStatus.APPROVED,
    PermitStatus.WAITLISTED,
    PermitStatus.REVOKED,
    PermitStatus.EXPIRED,
)

# SPEC.md section 3 (version 2), cell by cell. None = 409 (or "—" for time events).
APPROVE, REVOKE, CANCEL, RENEW = Action.APPROVE, Action.REVOKE, Action.CANCEL, Action.RENEW
EXPIRE, END, FREES = Action.EXPIRE, Action.END_VALIDITY, Action.PLACE_FREES
TABLE = {
    (P, APPROVE): A,  # or W when the zone is full: test_a_full_zone_waitlists_an_approval
    (P, REVOKE): R,
    (P, CANCEL): R,
    (P, RENEW): None,
    (P, EXPIRE): E,
    (P, END): None,
    (P, FREES): None,
    (A, APPROVE): A,
    (A, REVOKE): R,
    (A, CANCEL): R,
    (A, RENEW): A,
    (A, EXPIRE): None,
    (A, END): E,
    (A, FREES): None,
    (W, APPROVE): W,
    (W, REVOKE): R,
    (W, CANCEL): R,
    (W, RENEW): None,
    (W, EXPIRE): None,
    (W, END): None,
    (W, FREES): A,
    (R, APPROVE): None,
    (R, REVOKE): R,
    (R, CANCEL): R,
    (R, RENEW): None,
    (R, EXPIRE): None,
    (R, END): None,
    (R, FREES): None,
    (E, APPROVE): None,
    (E, REVOKE): None,
    (E, CANCEL): None,
    (E, RENEW): None,
    (E, EXPIRE): None,
    (E, END): None,
    (E, FREES): None,
}


def test_a_full_zone_waitlists_an_approval():
    assert next_status_when_full(P, APPROVE) is W
    # Everything else is as the table says, full zone or not.
    for (current, action), target in TABLE.items():
        if (current, action) != (P, APPROVE):
            assert next_status_when_full(current, action) == target


def test_the_table_covers_every_status_and_action():
    assert set(TABLE) == {(s, a) for s in PermitStatus for a in Action}


@pytest.mark.parametrize(("current", "action"), list(TABLE))
def test_transition_table_matches_spec(current, action):
    assert next_status(current, action) == TABLE[(current, action)]


@pytest.mark.parametrize(
    ("current", "action", "noop"),
    [
        (A, APPROVE, True),
        (W, APPROVE, True),
        (W, CANCEL, False),
        (R, REVOKE, True),
        (R, CANCEL, True),
        (P, APPROVE, False),
        (A, RENEW, False),  # same status, but the validity is extended: a change with an event
    ],
)
def test_repeating_a_decision_is_a_noop(current, action, noop):
    assert is_noop(current, action) is noop


@pytest.mark.parametrize(
    ("status", "actor", "offered"),
    [
        (P, "admin", {APPROVE, REVOKE}),
        (A, "admin", {REVOKE, RENEW}),
        (R, "admin", set()),
        (E, "admin", set()),
        (P, "applicant", {CANCEL}),
        (A, "applicant", {CANCEL, RENEW}),
        (R, "applicant", set()),
        (E, "applicant", set()),
    ],
)
def test_pages_offer_the_actions_that_change_the_permit(status, actor, offered):
    assert allowed_actions(status, actor) == offered


def test_time_ends_pending_applications_and_approved_permits_and_they_become_expired():
    assert [(src, rule.field, rule.event, dst) for src, rule, dst in due_transitions()] == [
        (P, "expires_at", EXPIRE, E),
        (A, "valid_until", END, E),
    ]


def test_deadline_is_exact():
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert effective_status("pending", now + timedelta(microseconds=1), now) is P
    assert effective_status("pending", now, now) is E
    assert effective_status("approved", now + timedelta(microseconds=1), now) is A
    assert effective_status("approved", now, now) is E  # validity ended: exactly then
    assert effective_status("revoked", now - timedelta(days=1), now) is R


def test_renewal_outside_the_window_names_the_date_it_opens():
    exc = RenewalNotOpen(date(2027, 1, 2))
    assert isinstance(exc, InvalidTransition)
    assert "2027-01-02" in exc.message


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

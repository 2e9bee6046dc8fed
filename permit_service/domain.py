"""Permit life cycle as data, input rules and domain errors. No Flask, no SQLAlchemy."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol


class PermitStatus(StrEnum):
    """The states of a permit (SPEC.md section 2; `waitlisted` comes with zones, issue 14)."""

    PENDING = "pending"
    APPROVED = "approved"
    WAITLISTED = "waitlisted"  # approved when its zone was full: waits for a place (issue 14)
    REVOKED = "revoked"
    EXPIRED = "expired"


class Action(StrEnum):
    """What happens to a permit: an actor's decision, or a time event (TIME_EVENTS)."""

    APPROVE = "approve"  # admin
    REVOKE = "revoke"  # admin
    CANCEL = "cancel"  # the resident holding the id
    RENEW = "renew"  # admin, or the resident holding the id, inside the renewal window
    # Time events: nobody asks for them, the clock does (issue 14 adds "a place frees").
    EXPIRE = "expire"  # the pending application's deadline passes
    END_VALIDITY = "end_validity"  # the approved permit's validity runs out
    PLACE_FREES = "place_frees"  # a place in the zone frees: the head of its line gets it


TIME_EVENTS: frozenset[Action] = frozenset({Action.EXPIRE, Action.END_VALIDITY, Action.PLACE_FREES})

# Who takes an action (allowed_actions): staff, or the resident holding the permit's id.
ACTOR_ADMIN = "admin"
ACTOR_APPLICANT = "applicant"
ACTIONS_BY: dict[str, frozenset[Action]] = {
    ACTOR_ADMIN: frozenset({Action.APPROVE, Action.REVOKE, Action.RENEW}),
    ACTOR_APPLICANT: frozenset({Action.CANCEL, Action.RENEW}),
}

OPEN_STATUSES: frozenset[PermitStatus] = frozenset(
    {PermitStatus.PENDING, PermitStatus.APPROVED, PermitStatus.WAITLISTED}
)

# (current status, action) -> next status: the ONE table every transition goes through, the
# sweep included (SPEC.md section 3). Missing pairs are conflicts (409). A pair whose next status
# equals the current one is an idempotent no-op (200, no event), except those in CHANGES_IN_PLACE.
# Approving when the zone is full gives WAITLISTED instead of APPROVED (ZONE_FULL below).
TRANSITIONS: dict[tuple[PermitStatus, Action], PermitStatus] = {
    (PermitStatus.PENDING, Action.APPROVE): PermitStatus.APPROVED,
    (PermitStatus.PENDING, Action.REVOKE): PermitStatus.REVOKED,
    (PermitStatus.PENDING, Action.CANCEL): PermitStatus.REVOKED,
    (PermitStatus.PENDING, Action.EXPIRE): PermitStatus.EXPIRED,
    (PermitStatus.APPROVED, Action.APPROVE): PermitStatus.APPROVED,
    (PermitStatus.APPROVED, Action.REVOKE): PermitStatus.REVOKED,
    (PermitStatus.APPROVED, Action.CANCEL): PermitStatus.REVOKED,
    (PermitStatus.APPROVED, Action.RENEW): PermitStatus.APPROVED,
    (PermitStatus.APPROVED, Action.END_VALIDITY): PermitStatus.EXPIRED,
    (PermitStatus.WAITLISTED, Action.APPROVE): PermitStatus.WAITLISTED,
    (PermitStatus.WAITLISTED, Action.REVOKE): PermitStatus.REVOKED,
    (PermitStatus.WAITLISTED, Action.CANCEL): PermitStatus.REVOKED,
    (PermitStatus.WAITLISTED, Action.PLACE_FREES): PermitStatus.APPROVED,
    (PermitStatus.REVOKED, Action.REVOKE): PermitStatus.REVOKED,
    (PermitStatus.REVOKED, Action.CANCEL): PermitStatus.REVOKED,
}

# Approving a pending permit when its zone's valid approved permits have reached the quota.
ZONE_FULL: dict[tuple[PermitStatus, Action], PermitStatus] = {
    (PermitStatus.PENDING, Action.APPROVE): PermitStatus.WAITLISTED,
}


def next_status_when_full(current: PermitStatus, action: Action) -> PermitStatus | None:
    """The status after `action` when the permit's zone is full (the table otherwise)."""
    return ZONE_FULL.get((current, action), TRANSITIONS.get((current, action)))


# Same status before and after, yet a change with its event: a renewal extends the validity.
CHANGES_IN_PLACE: frozenset[tuple[PermitStatus, Action]] = frozenset(
    {(PermitStatus.APPROVED, Action.RENEW)}
)


@dataclass(frozen=True)
class Deadline:
    """A status that time ends: once the permit's `field` is past, `event` happens to it."""

    field: str
    event: Action


# The one place that says when a permit is DUE: in `status`, past its `field`. Being due IS the
# time event having happened, sweep or not (exact deadlines).
DEADLINES: dict[PermitStatus, Deadline] = {
    PermitStatus.PENDING: Deadline("expires_at", Action.EXPIRE),
    PermitStatus.APPROVED: Deadline("valid_until", Action.END_VALIDITY),
}


# The same rule keyed by the stored status's text, for reading rows (the listing's hot path):
# status -> (the deadline's field, the status text once it has passed).
DUE_BY_STATUS: dict[str, tuple[str, str]] = {
    status.value: (rule.field, TRANSITIONS[(status, rule.event)].value)
    for status, rule in DEADLINES.items()
}


def next_status(current: PermitStatus, action: Action) -> PermitStatus | None:
    """The status after `action`, or None when the life cycle forbids it."""
    return TRANSITIONS.get((current, action))


def is_noop(current: PermitStatus, action: Action) -> bool:
    """True when `action` on `current` is allowed and changes nothing."""
    if (current, action) in CHANGES_IN_PLACE:
        return False
    return TRANSITIONS.get((current, action)) == current


def allowed_actions(status: PermitStatus, actor: str = ACTOR_ADMIN) -> frozenset[Action]:
    """What `actor` ("admin" or "applicant") can do to a permit in `status` that changes it.

    What pages offer. Renewal is in the table for approved permits; pages also check that its
    window is open (validity.renewal_opens).
    """
    mine = ACTIONS_BY[actor]
    return frozenset(
        act
        for (src, act), dst in TRANSITIONS.items()
        if src is status and act in mine and not is_noop(src, act)
    )


def due_transitions() -> list[tuple[PermitStatus, Deadline, PermitStatus]]:
    """(status, its deadline, status once due) for every status time can end: what sweeps do."""
    found = []
    for status, deadline in DEADLINES.items():
        target = next_status(status, deadline.event)
        assert target is not None, f"{deadline.event} from {status} is missing from TRANSITIONS"
        found.append((status, deadline, target))
    return found


class HasStatus(Protocol):
    """A permit, or a row of one: its stored status and the deadline fields DEADLINES names."""

    status: str


def deadline_of(permit: HasStatus) -> datetime | None:
    """The moment the permit's current status ends by itself, or None."""
    deadline = DEADLINES.get(PermitStatus(permit.status))
    return getattr(permit, deadline.field) if deadline is not None else None


def effective_status(status: str, deadline: datetime | None, now: datetime) -> PermitStatus:
    """Status as users must see it: a permit past its status's deadline (deadline_of) is due."""
    current = PermitStatus(status)
    rule = DEADLINES.get(current)
    if rule is not None and deadline is not None and deadline <= now:
        return TRANSITIONS[(current, rule.event)]
    return current


def status_at(permit: HasStatus, now: datetime) -> PermitStatus:
    """The permit's effective status at `now` (exact deadlines)."""
    return effective_status(permit.status, deadline_of(permit), now)


class DomainError(Exception):
    """Base of errors that adapters translate to 4xx answers."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PermitNotFound(DomainError):
    """No permit with that id (or the id is not a UUID)."""


class InvalidTransition(DomainError):
    """The life cycle forbids this action in the permit's current status."""

    def __init__(self, current: PermitStatus, action: Action) -> None:
        super().__init__(f"Cannot {action.value} a permit that is {current.value}.")
        self.current = current
        self.action = action


class RenewalNotOpen(InvalidTransition):
    """An approved permit outside its renewal window; `opens` is the first local date it opens."""

    def __init__(self, opens: date) -> None:
        super().__init__(PermitStatus.APPROVED, Action.RENEW)
        self.message = Message(
            N_("This permit can be renewed from %(date)s."), date=opens.isoformat()
        )
        self.args = (self.message,)
        self.opens = opens


class PermitEnded(InvalidTransition):
    """Renewing a permit that has ended (expired or revoked): the resident must apply again."""

    def __init__(self, current: PermitStatus) -> None:
        super().__init__(current, Action.RENEW)
        self.message = Message(
            N_("This permit has ended and cannot be renewed; apply for a new permit.")
        )
        self.args = (self.message,)


class ChangedMeanwhile(DomainError):
    """A compare-and-set kept losing to concurrent changes: the caller may simply try again."""

    def __init__(self) -> None:
        super().__init__("This permit was changed meanwhile; try again.")


class OpenPermitExists(DomainError):
    """The plate already has a pending, approved or waitlisted permit."""

    def __init__(self, plate: str) -> None:
        super().__init__(
            f"Licence plate {plate} already has an open (pending, approved or waitlisted) permit."
        )
        self.plate = plate


class ZoneNotFound(DomainError):
    """No zone with that code."""


class ZoneCodeTaken(DomainError):
    """A zone with that code exists already."""

    def __init__(self, code: str) -> None:
        super().__init__(f"A zone with code {code} exists already.")
        self.code = code


class ValidationFailed(DomainError):
    """Input breaks a rule of SPEC.md section 2; `errors` maps field -> messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("The input is not valid.")
        self.errors = errors


# --- input rules -------------------------------------------------------------------------------
# Their messages are read on web pages (in the page's language) and in the API (in English). A
# Message IS the English text, so the API and the CLI use it as any string; it also keeps its
# template (marked with N_ for extraction into the catalogue) and values, from which the web
# adapter renders it in the page's language (permit_service.i18n.translate). No Flask here.


def N_(template: str) -> str:
    """Mark a message template for the catalogue (pybabel -k N_); it is translated where shown."""
    return template


class Message(str):
    """An English message that remembers its template and values, so pages can translate it."""

    template: str
    params: dict[str, object]

    def __new__(cls, template: str, **params: object) -> Message:
        """English text now; `template % params` again in another language later."""
        text = super().__new__(cls, template % params if params else template)
        text.template = template
        text.params = params
        return text


NAME_MAX = 120
ADDRESS_MAX = 200
EMAIL_MAX = 254
REASON_MAX = 500  # permit_events.reason column
PLATE_RE = re.compile(r"^[A-Z0-9]+(?:[ -][A-Z0-9]+)*$")
PLATE_MIN_CHARS, PLATE_MAX_CHARS = 2, 10
PLATE_MAX_LENGTH = 32  # as typed: the letters and digits, separators and surrounding blanks
_PLATE_BLANKS = " \t\n\r\f\v"  # ASCII white space: trimmed around a plate
# `normalize_plate`'s rule as one regular expression (ECMA-262 and Python alike), for the
# OpenAPI schema; a test holds the two to the same answers.
PLATE_PATTERN = (
    r"^[ \t\n\r\f\v]*"
    rf"[A-Za-z0-9](?:[ -]?[A-Za-z0-9]){{{PLATE_MIN_CHARS - 1},{PLATE_MAX_CHARS - 1}}}"
    r"[ \t\n\r\f\v]*$"
)
PLATE_HELP = (
    "Use letters A-Z and digits, optionally separated by single spaces or hyphens, "
    f"{PLATE_MIN_CHARS}-{PLATE_MAX_CHARS} letters and digits in all (e.g. ABC-123)."
)

# Free-text fields' messages, whole sentences per field (never "Enter the " + field).
_TEXT_MESSAGES: dict[str, tuple[str, str, str]] = {
    "name": (
        N_("Enter the name."),
        N_("The name must be at most %(max)d characters (got %(got)d)."),
        N_("The name must not contain control characters such as line breaks."),
    ),
    "address": (
        N_("Enter the address."),
        N_("The address must be at most %(max)d characters (got %(got)d)."),
        N_("The address must not contain control characters such as line breaks."),
    ),
}
_GENERIC_TEXT_MESSAGES = (
    N_("Fill in this field."),
    N_("This field must be at most %(max)d characters (got %(got)d)."),
    N_("This field must not contain control characters such as line breaks."),
)


def has_control_chars(value: str) -> bool:
    """True if the text holds control or format characters (newlines, NUL, bidi overrides...)."""
    return any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} for ch in value)


def clean_text(value: str, field: str, max_len: int) -> str:
    """Trim and check a free-text field; raises ValueError with a user-facing Message."""
    empty, too_long, control = _TEXT_MESSAGES.get(field, _GENERIC_TEXT_MESSAGES)
    value = value.strip()
    if not value:
        raise ValueError(Message(empty))
    if len(value) > max_len:
        raise ValueError(Message(too_long, max=max_len, got=len(value)))
    if has_control_chars(value):
        raise ValueError(Message(control))
    return value


def clean_reason(value: str | None) -> str | None:
    """The optional reason of a decision, one rule for API and pages: one line, REASON_MAX."""
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > REASON_MAX:
        raise ValueError(Message(N_("Keep the reason under %(max)d characters."), max=REASON_MAX))
    if has_control_chars(text):
        raise ValueError(
            Message(N_("Use one line of plain text, without line breaks or control codes."))
        )
    return text


def normalize_plate(value: str) -> str:
    """Trim and upper-case a licence plate and check its shape; raises ValueError."""
    plate = value.strip(_PLATE_BLANKS).upper()
    if not plate:
        raise ValueError(Message(N_("Enter the licence plate.")))
    # ASCII before upper-casing: "ß".upper() is "SS", which would pass the check below.
    if not value.isascii() or len(value) > PLATE_MAX_LENGTH or not PLATE_RE.fullmatch(plate):
        raise ValueError(
            Message(
                N_(
                    "That licence plate is not valid. Use letters A-Z and digits, optionally "
                    "separated by single spaces or hyphens, %(min)d-%(max)d letters and digits "
                    "in all (e.g. ABC-123)."
                ),
                min=PLATE_MIN_CHARS,
                max=PLATE_MAX_CHARS,
            )
        )
    count = len(plate_key(plate))
    if not PLATE_MIN_CHARS <= count <= PLATE_MAX_CHARS:
        raise ValueError(
            Message(
                N_("A licence plate has %(min)d-%(max)d letters and digits (got %(got)d)."),
                min=PLATE_MIN_CHARS,
                max=PLATE_MAX_CHARS,
                got=count,
            )
        )
    return plate


def plate_key(plate: str) -> str:
    """Canonical form: letters and digits only, so ABC-123, abc 123 and ABC123 are one plate."""
    return "".join(ch for ch in plate.upper() if ch.isascii() and ch.isalnum())


def normalize_email(value: str) -> str:
    """Check an e-mail address's syntax (no DNS lookups) and return its normalised form."""
    value = value.strip()
    if len(value) > EMAIL_MAX:
        raise ValueError(
            Message(N_("The e-mail address must be at most %(max)d characters."), max=EMAIL_MAX)
        )
    # Here, not at the top: its rule tables cost every process start ~30 ms, and only applying
    # and creating accounts check addresses (not `flask users list`).
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        # The library's detail is English; a translation may leave it out.
        raise ValueError(
            Message(N_("That e-mail address is not valid: %(detail)s"), detail=str(exc))
        ) from exc


def validate_application(
    name: str, license_plate: str, address: str, email: str | None
) -> dict[str, str | None]:
    """Apply every rule of SPEC.md section 2 at once; raise ValidationFailed listing each field."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, str | None] = {"email": None}
    checks = {
        "name": lambda: clean_text(name, "name", NAME_MAX),
        "license_plate": lambda: normalize_plate(license_plate),
        "address": lambda: clean_text(address, "address", ADDRESS_MAX),
    }
    if email is not None and email.strip():
        checks["email"] = lambda: normalize_email(email)
    for field, check in checks.items():
        try:
            clean[field] = check()
        except ValueError as exc:
            errors[field] = [exc.args[0]]  # the Message itself, translatable on pages
    if errors:
        raise ValidationFailed(errors)
    return clean

"""Permit life cycle as data, input rules and domain errors. No Flask, no SQLAlchemy."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from enum import StrEnum

from email_validator import EmailNotValidError, validate_email


class PermitStatus(StrEnum):
    """The four states of a permit (SPEC.md section 2)."""

    PENDING = "pending"
    APPROVED = "approved"
    REVOKED = "revoked"
    EXPIRED = "expired"


class Action(StrEnum):
    """What an actor can do to a permit."""

    APPROVE = "approve"
    REVOKE = "revoke"
    EXPIRE = "expire"


OPEN_STATUSES: frozenset[PermitStatus] = frozenset({PermitStatus.PENDING, PermitStatus.APPROVED})

# (current status, action) -> next status. Missing pairs are conflicts (409).
# A pair whose next status equals the current one is an idempotent no-op (200, no event).
TRANSITIONS: dict[tuple[PermitStatus, Action], PermitStatus] = {
    (PermitStatus.PENDING, Action.APPROVE): PermitStatus.APPROVED,
    (PermitStatus.PENDING, Action.REVOKE): PermitStatus.REVOKED,
    (PermitStatus.PENDING, Action.EXPIRE): PermitStatus.EXPIRED,
    (PermitStatus.APPROVED, Action.APPROVE): PermitStatus.APPROVED,
    (PermitStatus.APPROVED, Action.REVOKE): PermitStatus.REVOKED,
    (PermitStatus.REVOKED, Action.REVOKE): PermitStatus.REVOKED,
}


def next_status(current: PermitStatus, action: Action) -> PermitStatus | None:
    """The status after `action`, or None when the life cycle forbids it."""
    return TRANSITIONS.get((current, action))


def is_noop(current: PermitStatus, action: Action) -> bool:
    """True when `action` on `current` is allowed and changes nothing."""
    return TRANSITIONS.get((current, action)) == current


def sources_for(action: Action) -> tuple[PermitStatus, ...]:
    """Statuses from which `action` really changes the permit (the compare-and-set guard)."""
    return tuple(
        sorted(
            (src for (src, act), dst in TRANSITIONS.items() if act is action and dst is not src),
            key=list(PermitStatus).index,
        )
    )


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


class OpenPermitExists(DomainError):
    """The plate already has a pending or approved permit."""

    def __init__(self, plate: str) -> None:
        super().__init__(f"Licence plate {plate} already has an open (pending or approved) permit.")
        self.plate = plate


class ValidationFailed(DomainError):
    """Input breaks a rule of SPEC.md section 2; `errors` maps field -> messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("The input is not valid.")
        self.errors = errors


# --- input rules -------------------------------------------------------------------------------

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


def has_control_chars(value: str) -> bool:
    """True if the text holds control or format characters (newlines, NUL, bidi overrides...)."""
    return any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} for ch in value)


def clean_text(value: str, field: str, max_len: int) -> str:
    """Trim and check a free-text field; raises ValueError with a user-facing message."""
    value = value.strip()
    if not value:
        raise ValueError(f"Enter the {field}.")
    if len(value) > max_len:
        raise ValueError(f"The {field} must be at most {max_len} characters (got {len(value)}).")
    if has_control_chars(value):
        raise ValueError(f"The {field} must not contain control characters such as line breaks.")
    return value


def clean_reason(value: str | None) -> str | None:
    """The optional reason of a decision, one rule for API and pages: one line, REASON_MAX."""
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > REASON_MAX:
        raise ValueError(f"Keep the reason under {REASON_MAX} characters.")
    if has_control_chars(text):
        raise ValueError("Use one line of plain text, without line breaks or control codes.")
    return text


def normalize_plate(value: str) -> str:
    """Trim and upper-case a licence plate and check its shape; raises ValueError."""
    plate = value.strip(_PLATE_BLANKS).upper()
    if not plate:
        raise ValueError("Enter the licence plate.")
    # ASCII before upper-casing: "ß".upper() is "SS", which would pass the check below.
    if not value.isascii() or len(value) > PLATE_MAX_LENGTH or not PLATE_RE.fullmatch(plate):
        raise ValueError(f"That licence plate is not valid. {PLATE_HELP}")
    count = len(plate_key(plate))
    if not PLATE_MIN_CHARS <= count <= PLATE_MAX_CHARS:
        raise ValueError(
            f"A licence plate has {PLATE_MIN_CHARS}-{PLATE_MAX_CHARS} letters and digits "
            f"(got {count})."
        )
    return plate


def plate_key(plate: str) -> str:
    """Canonical form: letters and digits only, so ABC-123, abc 123 and ABC123 are one plate."""
    return "".join(ch for ch in plate.upper() if ch.isascii() and ch.isalnum())


def effective_status(status: str, expires_at: datetime | None, now: datetime) -> PermitStatus:
    """Status as users must see it: a pending permit past its deadline IS expired, sweep or not."""
    current = PermitStatus(status)
    if current is PermitStatus.PENDING and expires_at is not None and expires_at <= now:
        return PermitStatus.EXPIRED
    return current


def normalize_email(value: str) -> str:
    """Check an e-mail address's syntax (no DNS lookups) and return its normalised form."""
    value = value.strip()
    if len(value) > EMAIL_MAX:
        raise ValueError(f"The e-mail address must be at most {EMAIL_MAX} characters.")
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"That e-mail address is not valid: {exc}") from exc


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
            errors[field] = [str(exc)]
    if errors:
        raise ValidationFailed(errors)
    return clean

"""Staff accounts' rules: roles, e-mail and password rules, their error. No Flask, no SQLAlchemy.

Kept beside domain.py (the permit life cycle) so each stays a module of one subject.
"""

from __future__ import annotations

from enum import StrEnum

from permit_service.domain import DomainError, normalize_email

MIN_PASSWORD_LENGTH = 12


class Role(StrEnum):
    """What a staff account may do: admins decide permits, viewers only read, enforcers only
    check plates (the /enforcement endpoints; every other staff endpoint and page is 403).
    """

    ADMIN = "admin"
    VIEWER = "viewer"
    ENFORCER = "enforcer"


ROLES: tuple[str, ...] = tuple(role.value for role in Role)
# Who may read the back office (staff API reads, /admin pages): not enforcers.
STAFF_ROLES: frozenset[Role] = frozenset({Role.ADMIN, Role.VIEWER})
# Who may call the enforcement endpoints (SPEC.md section 4: "enforcer, admin").
ENFORCEMENT_ROLES: frozenset[Role] = frozenset({Role.ADMIN, Role.ENFORCER})

# The roles that may read residents' data (names, addresses, plates, e-mails): every staff page
# and every staff API read checks it. A viewer is a permit office's clerk: they see permits,
# their history and e-mails, and export them. Any other role (SPEC.md's `enforcer`, at merge)
# sees no personal data anywhere: its endpoints answer plates and validity only.
PERSONAL_DATA_ROLES: frozenset[str] = frozenset({Role.ADMIN.value, Role.VIEWER.value})
# Only admins see the read audit (who looked at which permit).
READ_AUDIT_ROLES: frozenset[str] = frozenset({Role.ADMIN.value})


class HasRole:
    """`is_admin` / `is_enforcer` read from the object's `role`: one definition for the stored
    user, the signed-in web user and a token's holder."""

    __slots__ = ()

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN  # type: ignore[attr-defined, no-any-return]

    @property
    def is_enforcer(self) -> bool:
        """Enforcement accounts check plates and see nothing else (no staff pages)."""
        return self.role == Role.ENFORCER  # type: ignore[attr-defined, no-any-return]


class UserError(DomainError):
    """A user cannot be created or changed as asked."""


def normalize_user_email(value: str) -> str:
    """A staff e-mail as stored: the domain's address rule, then lower-cased (unique any case)."""
    try:
        return normalize_email(value).lower()
    except ValueError as exc:
        raise UserError(str(exc)) from exc


def check_role(role: str) -> Role:
    """The role named `role`, or a UserError listing the roles there are."""
    try:
        return Role(role)
    except ValueError as exc:
        raise UserError(f"Role must be one of: {', '.join(ROLES)}.") from exc


def check_password_strength(password: str) -> None:
    """Refuse weak passwords with a message that says what a good one looks like."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"Password too short: use at least {MIN_PASSWORD_LENGTH} characters.")
    if password.isdigit() or password.isalpha() or len(set(password)) < 5:
        raise UserError("Password too weak: mix letters with digits or symbols, avoid repeats.")

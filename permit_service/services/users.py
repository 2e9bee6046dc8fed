"""Accounts: creating, finding, deactivating users and checking passwords. The only code that
changes a User. The rules (roles, e-mail, password) are the domain's: permit_service.domain_users.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from permit_service.domain import has_control_chars
from permit_service.domain_users import (
    UserError,
    check_password_strength,
    check_role,
    normalize_user_email,
)
from permit_service.extensions import db
from permit_service.models import User
from permit_service.services import sessions, tokens

log = logging.getLogger(__name__)

PASSWORD_METHOD = "scrypt"  # noqa: S105 - a hash algorithm name, not a password
# Checked against when the e-mail is unknown, so a failed login costs the same either way.
# A constant: hashing at import cost every process start (each `flask` command) ~0.15 s. Its
# cost parameters must be those generate_password_hash(..., PASSWORD_METHOD) uses today;
# tests/api/test_auth.py checks that, so a werkzeug upgrade that raises them fails loudly.
DUMMY_HASH = (
    "scrypt:32768:8:1$3cbD2uObfM4xsfuW$be75bb8fb9f9f80cd1d2c10301f6aed3e7d7260c6ca796a41fc2c7ad6b6"
    "fe7224db1a3516426911bae793a85a26973a3ecf6dd0a7388d2f5bf268479896160db"
)


@dataclass(frozen=True)
class Deactivated:
    """What deactivating a user did."""

    email: str
    tokens_revoked: int
    sessions_ended: int


def create_user(email: str, password: str, role: str = "viewer") -> User:
    """Create an active user with a hashed password; e-mails are unique regardless of case."""
    email = normalize_user_email(email)
    role = check_role(role).value
    check_password_strength(password)
    user = User(
        email=email,
        password_hash=generate_password_hash(password, method=PASSWORD_METHOD),
        role=role,
        active=True,
    )
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise UserError(f"A user with the e-mail {email} exists already.") from exc
    log.info("user created", extra={"user_id": user.id, "role": role})
    return user


def get_user_by_email(email: str) -> User | None:
    """The user with this e-mail (any case), or None."""
    wanted = email.strip().lower()
    if has_control_chars(wanted):  # never a stored address, and PostgreSQL refuses NUL bytes
        return None
    return db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == wanted))


def require_user(email: str) -> User:
    """The user with this e-mail, or a UserError naming it."""
    user = get_user_by_email(email)
    if user is None:
        raise UserError(f"No user with the e-mail {email.strip().lower()}.")
    return user


def authenticate(email: str, password: str) -> User | None:
    """The active user with these credentials, or None; costs the same whether the e-mail exists."""
    user = get_user_by_email(email)
    if user is None:
        check_password_hash(DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


def list_users() -> list[User]:
    """Every user, by e-mail."""
    return list(db.session.scalars(sa.select(User).order_by(User.email)))


def deactivate_user(email: str) -> Deactivated:
    """Disable an account for good: no login, every token revoked, every web session ended.

    One transaction: re-activating later revives neither old tokens nor old sessions.
    """
    user = require_user(email)
    user.active = False
    revoked = tokens.revoke_user_tokens(user.id)  # marks the cached token holders stale
    ended = sessions.end_user_sessions(user.id)
    db.session.commit()
    log.info("user deactivated", extra={"user_id": user.id, "count": revoked})
    return Deactivated(email=user.email, tokens_revoked=revoked, sessions_ended=ended)


def activate_user(email: str) -> User:
    """Enable an account again (it needs a new token and a new sign-in: old ones stay ended)."""
    user = require_user(email)
    user.active = True
    db.session.commit()
    log.info("user activated", extra={"user_id": user.id})
    return user

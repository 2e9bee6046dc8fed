"""Accounts: creating users and checking passwords. The only code that changes a User."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from permit_service.domain import DomainError, has_control_chars
from permit_service.extensions import db
from permit_service.models import User

log = logging.getLogger(__name__)

ROLES = ("admin", "viewer")
PASSWORD_METHOD = "scrypt"  # noqa: S105 - a hash algorithm name, not a password
MIN_PASSWORD_LENGTH = 12
# Checked against when the e-mail is unknown, so a failed login costs the same either way.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method=PASSWORD_METHOD)


class UserError(DomainError):
    """A user cannot be created or changed as asked."""


def check_password_strength(password: str) -> None:
    """Refuse weak passwords with a message that says what a good one looks like."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"Password too short: use at least {MIN_PASSWORD_LENGTH} characters.")
    if password.isdigit() or password.isalpha() or len(set(password)) < 5:
        raise UserError("Password too weak: mix letters with digits or symbols, avoid repeats.")


def create_user(email: str, password: str, role: str = "viewer") -> User:
    """Create an active user with a hashed password; e-mails are unique regardless of case."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise UserError("Give a valid e-mail address.")
    if role not in ROLES:
        raise UserError(f"Role must be one of: {', '.join(ROLES)}.")
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


def authenticate(email: str, password: str) -> User | None:
    """The active user with these credentials, or None; costs the same whether the e-mail exists."""
    user = get_user_by_email(email)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


def load_session_user(session_id: str) -> User | None:
    """Flask-Login loader: `<user id>:<session version>`; a bumped version logs sessions out."""
    try:
        user_id, version = (int(part) for part in session_id.split(":", 1))
    except (ValueError, AttributeError):
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.active or user.session_version != version:
        return None
    return user


def list_users() -> list[User]:
    """Every user, by e-mail."""
    return list(db.session.scalars(sa.select(User).order_by(User.email)))


def set_active(user: User, active: bool) -> User:
    """Enable or disable an account; disabling ends its sessions (tokens stop working at once)."""
    user.active = active
    if not active:
        user.session_version += 1
    db.session.commit()
    log.info("user %s", "activated" if active else "deactivated", extra={"user_id": user.id})
    return user

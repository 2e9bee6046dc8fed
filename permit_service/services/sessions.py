"""Staff web sessions held on the server: the cookie names a random key; ending one deletes it.

A copied cookie is worth nothing once its row is gone: after sign-out, deactivation, revoking the
user's tokens, SESSION_IDLE_SECONDS without a request, or SESSION_MAX_SECONDS after sign-in.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from permit_service.domain_users import HasRole
from permit_service.extensions import db
from permit_service.models import StaffSession, User, utcnow

log = logging.getLogger(__name__)

KEY_BYTES = 32
# last_seen_at is written at most this often per session: not one UPDATE per page view. The idle
# limit is therefore exact to within this much.
TOUCH_EVERY = timedelta(seconds=60)
_KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{32,64}")


@dataclass(frozen=True, slots=True)
class SignedInUser(HasRole):
    """The staff user of a live web session, as Flask-Login's `current_user`: plain values read
    with the session in one Core row (no ORM object per request). Pages read id, email and role;
    whatever changes a user goes through the service layer by id or e-mail."""

    id: int
    email: str
    role: str

    is_authenticated = True  # Flask-Login: only live sessions make one
    is_active = True  # an inactive user's session is ended, not resumed
    is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)


@functools.cache
def _statements() -> tuple[sa.Select[Any], sa.Delete, sa.Update]:
    """(read, end, touch) of one session by key digest: built once, run on the connection."""
    s, u = StaffSession.__table__, User.__table__
    key = s.c.key_hash == sa.bindparam("digest", type_=s.c.key_hash.type)
    read = (
        sa.select(s.c.user_id, s.c.created_at, s.c.last_seen_at, u.c.email, u.c.role, u.c.active)
        .join_from(s, u, s.c.user_id == u.c.id)
        .where(key)
    )
    touch = (
        s.update().where(key).values(last_seen_at=sa.bindparam("seen", type_=s.c.last_seen_at.type))
    )
    return read, s.delete().where(key), touch


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _limits() -> tuple[timedelta, timedelta]:
    """(idle, absolute) session limits from the config."""
    config = current_app.config
    return (
        timedelta(seconds=config["SESSION_IDLE_SECONDS"]),
        timedelta(seconds=config["SESSION_MAX_SECONDS"]),
    )


def _expired(now: datetime) -> sa.ColumnElement[bool]:
    idle, absolute = _limits()
    return sa.or_(
        StaffSession.last_seen_at <= now - idle, StaffSession.created_at <= now - absolute
    )


def start_session(user: User) -> str:
    """Open a session for `user` and return its key (for the cookie; only its digest is stored)."""
    key = secrets.token_urlsafe(KEY_BYTES)
    now = utcnow()
    # Sessions nobody came back to would pile up: sign-ins clear the expired ones.
    db.session.execute(sa.delete(StaffSession).where(_expired(now)))
    db.session.add(
        StaffSession(key_hash=_digest(key), user_id=user.id, created_at=now, last_seen_at=now)
    )
    db.session.commit()
    log.info("web session started", extra={"user_id": user.id})
    return key


def resume_session(key: str) -> SignedInUser | None:
    """The active user of the live session `key` (its last-seen time moves on), or None.

    One Core row (session and user columns) per request: the page's user is plain values."""
    if not isinstance(key, str) or not _KEY_SHAPE.fullmatch(key):
        return None  # e.g. a cookie from before sessions were kept on the server
    read, end, touch = _statements()
    key_hash = _digest(key)
    connection = db.session.connection()
    row = connection.execute(read, {"digest": key_hash}).first()
    if row is None:
        return None
    user_id, created_at, last_seen_at, email, role, active = row
    now = utcnow()
    idle, absolute = _limits()
    if last_seen_at <= now - idle or created_at <= now - absolute or not active:
        connection.execute(end, {"digest": key_hash})
        db.session.commit()
        log.info("web session expired", extra={"user_id": user_id})
        return None
    if now - last_seen_at >= TOUCH_EVERY:
        connection.execute(touch, {"digest": key_hash, "seen": now})
        db.session.commit()
    return SignedInUser(user_id, email, role)


def end_session(key: str | None) -> None:
    """Sign-out: delete the session `key` (unknown or malformed keys are ignored)."""
    if not isinstance(key, str) or not _KEY_SHAPE.fullmatch(key):
        return
    db.session.execute(sa.delete(StaffSession).where(StaffSession.key_hash == _digest(key)))
    db.session.commit()


def end_user_sessions(user_id: int) -> int:
    """Delete every session of the user, in the caller's transaction; return how many."""
    return db.session.execute(
        sa.delete(StaffSession).where(StaffSession.user_id == user_id)
    ).rowcount

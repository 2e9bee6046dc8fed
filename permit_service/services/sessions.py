"""Staff web sessions held on the server: the cookie names a random key; ending one deletes it.

A copied cookie is worth nothing once its row is gone: after sign-out, deactivation, revoking the
user's tokens, SESSION_IDLE_SECONDS without a request, or SESSION_MAX_SECONDS after sign-in.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from permit_service.extensions import db
from permit_service.models import StaffSession, User, utcnow

log = logging.getLogger(__name__)

KEY_BYTES = 32
# last_seen_at is written at most this often per session: not one UPDATE per page view. The idle
# limit is therefore exact to within this much.
TOUCH_EVERY = timedelta(seconds=60)
_KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{32,64}")


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


def resume_session(key: str) -> User | None:
    """The active user of the live session `key` (its last-seen time moves on), or None."""
    if not isinstance(key, str) or not _KEY_SHAPE.fullmatch(key):
        return None  # e.g. a cookie from before sessions were kept on the server
    row = db.session.get(StaffSession, _digest(key))
    if row is None:
        return None
    now = utcnow()
    idle, absolute = _limits()
    if row.last_seen_at <= now - idle or row.created_at <= now - absolute or not row.user.active:
        user_id = row.user_id
        db.session.delete(row)
        db.session.commit()
        log.info("web session expired", extra={"user_id": user_id})
        return None
    user = row.user
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        db.session.commit()
    return user


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

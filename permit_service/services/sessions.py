"""Staff web sessions held on the server: the cookie names a random key; ending one deletes it.

A copied cookie is worth nothing once its row is gone: after sign-out, deactivation, revoking the
user's tokens, SESSION_IDLE_SECONDS without a request, or SESSION_MAX_SECONDS after sign-in.

Every signed-in page asks `resume_session` (issue 16/17). The live session's row (with its
user's e-mail, role and active flag) is cached (permit_service/cache.py) like an API token's
holder, under two generations, both bumped after the commit that changes what they cover and
before the changing request answers, in every process sharing the generations (the instance's
file, or Redis):

- `ss`, every session: bumped when a user's sessions end (deactivation, revoke-tokens) and by
  any change to a user row made through the app's session, flushed from an object or sent as
  an ORM UPDATE/DELETE of `User` (role, password, e-mail, active; `_user_changed`,
  `_users_updated`);
- `ss:<digest prefix>`, the session's own: bumped when it ends (sign-out, a limit reached) and when
  its last-seen time moves (at most once per TOUCH_EVERY).

So an ended session is refused on the very next request anywhere, and the idle and absolute
limits are decided per request from the cached times, as from the row. Unknown keys are not
cached (a guessed key must not fill the cache).
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
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, object_session

from permit_service import cache
from permit_service.domain_users import HasRole
from permit_service.extensions import db
from permit_service.models import StaffSession, User, utcnow

log = logging.getLogger(__name__)

KEY_BYTES = 32
# last_seen_at is written at most this often per session: not one UPDATE per page view. The idle
# limit is therefore exact to within this much.
TOUCH_EVERY = timedelta(seconds=60)
# A cached session is read again from the database after this long at most: a change made to
# its row or its user's outside this service (e.g. by hand in psql, which bumps no generation)
# is honoured within it. Changes through the app are honoured at once (module docstring).
CACHED_AT_MOST = timedelta(seconds=5)
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


class _NoSession(Exception):
    """No session with that digest: not cached."""


def _own_generation(key_hash: str) -> str:
    """The session's own generation (a digest's first 64 bits: sessions sharing one would only
    miss needlessly)."""
    return f"{cache.STAFF_SESSIONS}:{key_hash[:16]}"


def _load(key_hash: str) -> tuple[int, datetime, datetime, str, str, bool, datetime]:
    """(user id, created_at, last_seen_at, e-mail, role, active, read at) of the session, or
    _NoSession: one Core row of the session and its user."""
    row = db.session.connection().execute(_statements()[0], {"digest": key_hash}).first()
    if row is None:
        raise _NoSession
    return (*row, utcnow())  # type: ignore[return-value]


def _recent(value: tuple[Any, ...]) -> bool:
    """Whether a cached session was read from the database less than CACHED_AT_MOST ago."""
    return abs(utcnow() - value[-1]) < CACHED_AT_MOST


def resume_session(key: str) -> SignedInUser | None:
    """The active user of the live session `key` (its last-seen time moves on), or None.

    Read through the cache (module docstring); the limits are decided here per request."""
    if not isinstance(key, str) or not _KEY_SHAPE.fullmatch(key):
        return None  # e.g. a cookie from before sessions were kept on the server
    key_hash = _digest(key)
    own = _own_generation(key_hash)
    try:
        user_id, created_at, last_seen_at, email, role, active, _ = cache.cached(
            "staff_session",
            f"v:ss:{key_hash}",
            [cache.STAFF_SESSIONS, own],
            lambda: _load(key_hash),
            fresh=_recent,
        )
    except _NoSession:
        return None
    now = utcnow()
    idle, absolute = _limits()
    _, end, touch = _statements()
    if last_seen_at <= now - idle or created_at <= now - absolute or not active:
        db.session.connection().execute(end, {"digest": key_hash})
        cache.touch(db.session(), others=[own])
        db.session.commit()
        log.info("web session expired", extra={"user_id": user_id})
        return None
    if now - last_seen_at >= TOUCH_EVERY:
        db.session.connection().execute(touch, {"digest": key_hash, "seen": now})
        cache.touch(db.session(), others=[own])
        db.session.commit()
    return SignedInUser(user_id, email, role)


def end_session(key: str | None) -> None:
    """Sign-out: delete the session `key` (unknown or malformed keys are ignored)."""
    if not isinstance(key, str) or not _KEY_SHAPE.fullmatch(key):
        return
    key_hash = _digest(key)
    db.session.execute(sa.delete(StaffSession).where(StaffSession.key_hash == key_hash))
    cache.touch(db.session(), others=[_own_generation(key_hash)])
    db.session.commit()


def end_user_sessions(user_id: int) -> int:
    """Delete every session of the user, in the caller's transaction; return how many.

    Marks every cached session stale after the commit (sessions are ended rarely)."""
    cache.touch(db.session(), others=[cache.STAFF_SESSIONS])
    return db.session.execute(
        sa.delete(StaffSession).where(StaffSession.user_id == user_id)
    ).rowcount


@event.listens_for(User, "after_update")
@event.listens_for(User, "after_delete")
def _user_changed(_mapper: Any, _connection: Any, user: User) -> None:
    """A user row changed (role, password, e-mail, active, or deleted): the cached sessions and
    token holders carry its values, so both are marked stale after the commit."""
    session = object_session(user)
    if session is not None:
        cache.touch(session, tokens=True, others=[cache.STAFF_SESSIONS])


@event.listens_for(Session, "do_orm_execute")
def _users_updated(state: ORMExecuteState) -> None:
    """An ORM UPDATE or DELETE of users (`session.execute(sa.update(User)...)`) marks the cached
    sessions and token holders stale after the commit, as a flushed change does."""
    if (state.is_update or state.is_delete) and any(m.class_ is User for m in state.all_mappers):
        cache.touch(state.session, tokens=True, others=[cache.STAFF_SESSIONS])

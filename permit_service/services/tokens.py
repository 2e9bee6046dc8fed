"""API bearer tokens: issue, verify, revoke. Only a token's SHA-256 digest is ever stored."""

from __future__ import annotations

import functools
import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from permit_service import cache
from permit_service.domain_users import HasRole
from permit_service.extensions import db
from permit_service.models import ApiToken, User, utcnow
from permit_service.services import sessions

log = logging.getLogger(__name__)

TOKEN_BYTES = 32  # 256 bits of randomness: a digest lookup is safe, no slow hash needed


@dataclass(frozen=True)
class IssuedToken:
    """A freshly issued token: the clear value exists only here, never in the database."""

    token: str
    expires_at: datetime
    user_id: int


def token_digest(token: str) -> str:
    """The stored form of a token (hex SHA-256)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(user: User, ttl_days: int | None = None) -> IssuedToken:
    """Create a token for `user`, valid for `ttl_days` (default TOKEN_TTL_DAYS)."""
    days = ttl_days if ttl_days is not None else current_app.config["TOKEN_TTL_DAYS"]
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    row = ApiToken(
        user_id=user.id,
        token_hash=token_digest(token),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    db.session.add(row)
    db.session.commit()
    log.info("api token issued", extra={"user_id": user.id, "token_id": row.id})
    return IssuedToken(token=token, expires_at=row.expires_at, user_id=user.id)


@dataclass(frozen=True)
class TokenHolder(HasRole):
    """Who holds a valid token: what an API request needs to know about its caller."""

    user_id: int
    email: str
    role: str


class _NoHolder(Exception):
    """No live token with that digest: not cached (a guessed token must not fill the cache)."""


def token_holder(token: str) -> TokenHolder | None:
    """The holder of this unexpired, unrevoked token if they are active, else None.

    Every API request with a token asks this (issue 17). What does not depend on the clock, the
    holder of an unrevoked token of an active user and the token's `expires_at`, is cached
    (permit_service/cache.py) under the `tokens` generation, which every commit revoking a
    token or deactivating a user bumps (`touch(tokens=True)`) before it answers, in every
    process: a revocation or deactivation refuses the very next request anywhere. The expiry
    is decided per request from the cached `expires_at`. Unknown tokens are not cached.
    """
    digest = token_digest(token)
    try:
        user_id, email, role, expires_at = cache.cached(
            "token", f"v:tk:{digest}", [cache.TOKENS], lambda: _load_holder(digest)
        )
    except _NoHolder:
        return None
    if expires_at <= utcnow():
        return None
    return TokenHolder(user_id, email, role)


def _load_holder(digest: str) -> tuple[int, str, str, datetime]:
    """(user id, e-mail, role, expires_at) of the unrevoked token of an active user, or _NoHolder:
    one statement built once, read as a row (no ORM objects)."""
    row = db.session.connection().execute(_holder_statement(), {"digest": digest}).first()
    if row is None:
        raise _NoHolder
    return (row.id, row.email, row.role, row.expires_at)


@functools.cache
def _holder_statement() -> sa.Select[Any]:
    t, u = ApiToken.__table__, User.__table__
    return (
        sa.select(u.c.id, u.c.email, u.c.role, t.c.expires_at)
        .join_from(t, u, t.c.user_id == u.c.id)
        .where(
            t.c.token_hash == sa.bindparam("digest", type_=t.c.token_hash.type),
            t.c.revoked_at.is_(None),
            u.c.active.is_(True),
        )
    )


def revoke_user_tokens(user_id: int) -> int:
    """Revoke every live token of the user in the caller's transaction; return how many.

    Marks the cached token holders stale after the commit (cache.touch)."""
    cache.touch(db.session(), tokens=True)
    return db.session.execute(
        sa.update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    ).rowcount


def revoke_tokens(user: User) -> int:
    """Revoke every live token of `user` and end their web sessions; return how many tokens."""
    count = revoke_user_tokens(user.id)
    sessions.end_user_sessions(user.id)
    db.session.commit()
    log.info("api tokens revoked", extra={"user_id": user.id, "count": count})
    return count

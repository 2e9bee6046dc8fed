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
class TokenHolder:
    """Who holds a valid token: what an API request needs to know about its caller."""

    user_id: int
    email: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_enforcer(self) -> bool:
        return self.role == "enforcer"


def token_holder(token: str) -> TokenHolder | None:
    """The holder of this unexpired, unrevoked token if they are active, else None.

    Every API request with a token asks this, so it is one statement built once, read as a
    row: no ORM objects (issue 17). Nothing is cached between requests, so a revocation, an
    expiry or a deactivation committed by any process refuses the very next request: the row
    it reads is the truth, and reading it costs less than a cache check would save.
    """
    row = (
        db.session.connection()
        .execute(_holder_statement(), {"digest": token_digest(token), "now": utcnow()})
        .first()
    )
    return None if row is None else TokenHolder(row.id, row.email, row.role)


@functools.cache
def _holder_statement() -> sa.Select[Any]:
    t, u = ApiToken.__table__, User.__table__
    return (
        sa.select(u.c.id, u.c.email, u.c.role)
        .join_from(t, u, t.c.user_id == u.c.id)
        .where(
            t.c.token_hash == sa.bindparam("digest", type_=t.c.token_hash.type),
            t.c.revoked_at.is_(None),
            t.c.expires_at > sa.bindparam("now", type_=t.c.expires_at.type),
            u.c.active.is_(True),
        )
    )


def revoke_user_tokens(user_id: int) -> int:
    """Revoke every live token of the user in the caller's transaction; return how many."""
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

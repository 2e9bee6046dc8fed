"""API bearer tokens: issue, verify, revoke. Only a token's SHA-256 digest is ever stored."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

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


def verify_token(token: str) -> User | None:
    """The active user holding this unexpired, unrevoked token, or None.

    One indexed lookup (unique token_hash, user joined). Comparing digests in the database leaks
    nothing useful through timing: an attacker cannot steer the digest of a guess.
    """
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    user = row.user
    if not user.active:
        return None
    return user


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

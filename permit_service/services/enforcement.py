"""Enforcement (SPEC.md section 11): may this plate park in this zone at this moment?

The hottest path of the service, so the check reads as little as it can: `plate_permits` is
ONE Core statement, built once, returning plain tuples that do not depend on the clock (what a
cache may hold, invalidated on every change to the plate's permits); `decide` settles the
time-bound part per request from those tuples, exact at `valid_until` with no sweep needed.

A permit allows parking in its zone from `valid_from` until `valid_until` plus
ENFORCEMENT_GRACE_SECONDS, when it is approved, or expired because its validity ran out (so
the answer inside the grace is the same before and after the sweep has recorded the end).
Pending, waitlisted and revoked permits never allow parking; neither does a permit of another
zone. A permit revoked early counts as never valid: `at` asks about a moment, but of the permits
as they stand now.
"""

from __future__ import annotations

import base64
import binascii
import functools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from permit_service.domain import (
    N_,
    Message,
    PermitStatus,
    ValidationFailed,
    normalize_plate,
    plate_key,
)
from permit_service.extensions import db
from permit_service.models import Zone, utcnow
from permit_service.services import cached, check_log
from permit_service.services.lifecycle import P, stored_in

# (zone, status, valid_from, valid_until) of one of a plate's permits that had a validity.
PlatePermit = tuple[str, str, datetime, datetime]

# Stored statuses of permits that have (had) a validity that was not cut short by a decision:
# approved, and expired by time (a pending application that expired never had one).

# Written into the SQL (not an expanding IN parameter, rendered again at every execution).
_HAD_VALIDITY = sa.text("permits.status IN ('approved', 'expired')")
_PLATE_PERMITS = sa.select(P.zone, P.status, P.valid_from, P.valid_until).where(
    P.plate_key == sa.bindparam("key"),
    _HAD_VALIDITY,
    P.valid_until.is_not(None),
)

DEFAULT_LIMIT = 500
MAX_LIMIT = 5000


def plate_permits(plate_key: str) -> tuple[PlatePermit, ...]:
    """The plate's permits that can allow parking at some moment: (zone, status, from, until).

    A pure function of the plate key and the stored permits (no clock): the check's one read.
    """
    rows = db.session.connection().execute(_PLATE_PERMITS, {"key": plate_key})
    return tuple((zone, status, start, end) for zone, status, start, end in rows)


def decide(
    permits: tuple[PlatePermit, ...], zone: str, at: datetime, grace: timedelta
) -> datetime | None:
    """The `valid_until` of the permit that allows parking in `zone` at `at`, or None."""
    found = None
    for code, _status, start, end in permits:
        if code == zone and start <= at < end + grace and (found is None or end > found):
            found = end
    return found


@dataclass(frozen=True, slots=True)
class Check:
    """A check's answer: no name, address or e-mail."""

    license_plate: str
    zone: str
    at: datetime
    permitted: bool
    valid_until: datetime | None


def check(plate: str, zone: str, at: datetime | None, user_id: int) -> Check:
    """Answer whether `plate` may park in `zone` at `at` (default now), and log the check.

    ValidationFailed (field `license_plate` or `zone`) for a plate that is not one or a zone
    that does not exist.
    """
    try:
        plate, key = _plate_and_key(plate)
    except ValueError as exc:
        raise ValidationFailed({"license_plate": [str(exc)]}) from None
    code = zone.strip().upper()
    now = utcnow()
    moment = now if at is None else at
    grace = timedelta(seconds=current_app.config["ENFORCEMENT_GRACE_SECONDS"])
    # The plate's permits as stored, cached until a change of one of them commits (services.cached).
    until = decide(cached.cached_plate_permits(key, plate_permits), code, moment, grace)
    # A permit allowing parking proves the zone exists; only a refusal looks the zone up.
    if until is None and not zone_exists(code):
        raise ValidationFailed({"zone": [no_zone(code)]})
    check_log.for_app(current_app).record(
        {
            "user_id": user_id,
            "plate_key": key,
            "zone": code,
            "checked_at": now,
            "at": moment,
            "permitted": until is not None,
        }
    )
    return Check(plate, code, moment, until is not None, until)


@functools.lru_cache(maxsize=4096)
def _plate_and_key(asked: str) -> tuple[str, str]:
    """The plate as asked, normalised, and its key; ValueError for what is not a plate (not
    remembered: only valid spellings are). Remembered per spelling: wardens ask about the same
    plates again and again, and the two walks over the characters were a tenth of the check's
    own CPU (issue 17)."""
    plate = normalize_plate(asked)
    return plate, plate_key(plate)


_ZONES_SEEN = "enforcement_zones_seen"


def no_zone(code: str) -> str:
    """The refusal of an unknown zone code."""
    return Message(N_("No zone with the code %(code)s."), code=code)


def zone_exists(code: str) -> bool:
    """Whether a zone with this code exists. Zones are never deleted and codes never change,
    so a code once found is remembered by the process; unknown codes are asked each time."""
    seen: set[str] = current_app.extensions.setdefault(_ZONES_SEEN, set())
    if code in seen:
        return True
    if db.session.connection().execute(_ZONE_EXISTS, {"code": code}).first() is None:
        return False
    seen.add(code)
    return True


_ZONE_EXISTS = sa.select(Zone.__table__.c.code).where(Zone.__table__.c.code == sa.bindparam("code"))


# --- the zone's valid permits, keyset-paged ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class ValidPermits:
    """One page: (license_plate, zone, valid_from, valid_until) rows and the next cursor."""

    items: list[tuple[str, str, datetime, datetime]]
    next_cursor: str | None


def encode_cursor(permit_id: str) -> str:
    """An opaque cursor: the last id of a page (base64url, no padding)."""
    return base64.urlsafe_b64encode(permit_id.encode("ascii")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The id a cursor stands for; ValueError for anything that is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("not a cursor") from None
    try:
        if str(uuid.UUID(raw)) != raw:
            raise ValueError("not a cursor")
    except ValueError:
        raise ValueError("not a cursor") from None
    return raw


@functools.cache
def _page_statement(with_grace: bool) -> sa.Select[Any]:
    """The zone's permits valid at :now (ending after :cutoff), ids after :after, in id order.

    Keyset on the permit id, which never changes: a permit valid throughout the paging is on
    exactly one page, whatever else changes meanwhile. Without a grace it is an index range
    of ix_permits_zone_approved_id; with one, expired permits inside it are read too.
    """
    status = _HAD_VALIDITY if with_grace else stored_in(PermitStatus.APPROVED)
    return (
        sa.select(P.id, P.license_plate, P.zone, P.valid_from, P.valid_until)
        .where(
            P.zone == sa.bindparam("zone"),
            status,
            P.id > sa.bindparam("after"),
            P.valid_from <= sa.bindparam("now", type_=P.valid_from.type),
            P.valid_until > sa.bindparam("cutoff", type_=P.valid_until.type),
        )
        .order_by(P.id)
        .limit(sa.bindparam("limit"))
    )


def valid_permits(zone: str, cursor: str | None, limit: int) -> ValidPermits:
    """The permits of `zone` that allow parking now, a page of `limit` after `cursor`.

    ValidationFailed (`cursor`, `zone`) for a cursor that is not one or a zone that is not.
    """
    code = zone.strip().upper()
    try:
        after = decode_cursor(cursor) if cursor else ""
    except ValueError:
        raise ValidationFailed({"cursor": [Message(N_("Not a cursor of this listing."))]}) from None
    if not zone_exists(code):
        raise ValidationFailed({"zone": [no_zone(code)]})
    now = utcnow()
    grace = current_app.config["ENFORCEMENT_GRACE_SECONDS"]
    rows = (
        db.session.connection()
        .execute(
            _page_statement(grace > 0),
            {
                "zone": code,
                "after": after,
                "now": now,
                "cutoff": now - timedelta(seconds=grace),
                "limit": limit,
            },
        )
        .all()
    )
    items = [(plate, z, start, end) for _id, plate, z, start, end in rows]
    next_cursor = encode_cursor(rows[-1][0]) if len(rows) == limit else None
    return ValidPermits(items, next_cursor)

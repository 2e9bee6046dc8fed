"""Zone use cases and the places of their quotas: the ONLY code that moves a zone's counters.

The quota is enforced by the database: zones.valid_permits counts the zone's permits STORED as
approved and a CHECK keeps it within the quota (models.Zone). Every change into or out of
approved moves it in the same transaction, with the zone's row locked, so approvals of one zone
queue on that row and each sees the count the previous one left. A validity that has ended but
is not yet recorded (no sweep yet) still holds its place: a place is free once the sweep or a
transition has recorded the change (then it is given at once, in that transaction).

Lock order, everywhere: the permit rows first (the compare-and-set), then zone rows in code
order, then the waiting permits a place goes to (only cancels and revokes of waiting permits
lock those, and they never take a zone's row), and the permit_counts rows last, at commit
(services.lifecycle.move_counts), so none of these can deadlock.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from permit_service import cache
from permit_service.domain import (
    N_,
    Action,
    Message,
    PermitStatus,
    ValidationFailed,
    ZoneCodeTaken,
    ZoneNotFound,
    clean_text,
    next_status,
)
from permit_service.extensions import db
from permit_service.localtime import city_zone
from permit_service.models import Permit, Zone, utcnow
from permit_service.services import notifications
from permit_service.services.lifecycle import (
    SYSTEM_ACTOR,
    P,
    due,
    leave_places,
    move_counts,
    record_event,
    stored_in,
)
from permit_service.validity import default_valid_until, fee_for

Z = Zone.__table__.c
CODE_RE = re.compile(r"^[A-Z0-9]{1,10}$")
ZONE_NAME_MAX = 120
FEE_MAX = Decimal("99999999.99")  # Numeric(10, 2)
QUOTA_MAX = 2**31 - 1
PLACE_REASON = "a place in the zone freed"
UNSET: Any = object()


@dataclass(frozen=True)
class ZoneView:
    """A zone with its places: valid approved permits now, and how many wait in line."""

    zone: Zone
    valid_permits: int
    waitlist_length: int


# --- input rules ----------------------------------------------------------------------------------


def clean_code(value: Any) -> str:
    """A zone code upper-cased: 1-10 letters A-Z and digits; ValueError otherwise."""
    code = str(value or "").strip().upper()
    if not code.isascii() or not CODE_RE.fullmatch(code):
        raise ValueError(Message(N_("A zone code has 1-10 letters A-Z and digits (e.g. NORTH1).")))
    return code


def clean_quota(value: Any) -> int | None:
    """A quota: a whole number 0 or more, or None (unlimited)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        quota = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise ValueError(
            Message(N_("The quota must be a whole number, 0 or more (or empty: no quota)."))
        ) from None
    if not 0 <= quota <= QUOTA_MAX:
        raise ValueError(
            Message(N_("The quota must be a whole number, 0 or more (or empty: no quota)."))
        )
    return quota


def clean_fee(value: Any) -> Decimal:
    """A monthly fee: a decimal 0 or more with at most 2 places."""
    message = Message(N_("The monthly fee must be an amount of 0 or more, e.g. 12.50."))
    if isinstance(value, bool) or value is None:
        raise ValueError(message)
    try:
        fee = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(message) from None
    if not fee.is_finite() or fee < 0 or fee > FEE_MAX or fee != fee.quantize(Decimal("0.01")):
        raise ValueError(message)
    return fee.quantize(Decimal("0.01"))


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    rules = {
        "code": clean_code,
        "name": lambda v: clean_text(str(v or ""), "zone_name", ZONE_NAME_MAX),
        "quota": clean_quota,
        "monthly_fee": clean_fee,
        "open": bool,
    }
    clean: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, value in fields.items():
        try:
            clean[name] = rules[name](value)
        except ValueError as exc:
            errors[name] = [exc.args[0]]
    if errors:
        raise ValidationFailed(errors)
    return clean


# --- zones ----------------------------------------------------------------------------------------


def create_zone(
    code: str,
    name: str,
    quota: int | None = None,
    monthly_fee: Decimal | str | int = Decimal("0"),
    open: bool = True,  # noqa: A002 - the zone's field
) -> Zone:
    """Create a zone; ZoneCodeTaken when the code exists, ValidationFailed on bad input."""
    clean = _clean(
        {"code": code, "name": name, "quota": quota, "monthly_fee": monthly_fee, "open": open}
    )
    try:
        db.session.execute(sa.insert(Zone.__table__).values(**clean, valid_permits=0, surplus=0))
        cache.touch(db.session, zones=True)
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise ZoneCodeTaken(clean["code"]) from exc
    return get_zone(clean["code"])


def update_zone(
    code: str,
    *,
    name: Any = UNSET,
    quota: Any = UNSET,
    monthly_fee: Any = UNSET,
    open: Any = UNSET,  # noqa: A002 - the zone's field
) -> Zone:
    """Change a zone's fields; a raised quota gives its new places to the line at once.

    A quota lowered below the count revokes nothing: no place is given until the count is under it.
    """
    given = {"name": name, "quota": quota, "monthly_fee": monthly_fee, "open": open}
    clean = _clean({k: v for k, v in given.items() if v is not UNSET})
    key = _code_or_missing(code)
    row = _lock(key)
    cache.touch(db.session, zones=True)
    if "quota" in clean:
        new = clean["quota"]
        clean["surplus"] = 0 if new is None else max(0, row.valid_permits - new)
    if clean:
        db.session.execute(sa.update(Zone.__table__).where(Z.code == key).values(**clean))
    if "quota" in clean:
        give_places(key)
    db.session.commit()
    return get_zone(key)


def get_zone(code: str) -> Zone:
    """The zone with this code (any case), or ZoneNotFound."""
    zone = db.session.get(Zone, _code_or_missing(code), populate_existing=True)
    if zone is None:
        raise ZoneNotFound("No zone with that code.")
    return zone


def all_zones() -> list[sa.Row[Any]]:
    """Every zone by code, open or closed, without counting its permits (menus, names, fees):
    rows of code, name, monthly_fee and open (read on every queue page: no ORM objects)."""
    return list(db.session.connection().execute(_all_zones_statement()))


@functools.cache
def _all_zones_statement() -> sa.Select[Any]:
    z = Zone.__table__
    return sa.select(z.c.code, z.c.name, z.c.monthly_fee, z.c.open).order_by(z.c.code)


def list_zones() -> list[ZoneView]:
    """Every zone by code, with its valid approved permits now and its waiting line's length.

    Valid now: the zone's counter of permits stored as approved, less those whose validity has
    ended but is not recorded yet (a short range of the partial deadline index), so no read
    counts the zone's permits.
    """
    zones = list(db.session.scalars(sa.select(Zone).order_by(Zone.code)))
    ended, waiting = zone_counts(utcnow())
    return [
        ZoneView(z, z.valid_permits - ended.get(z.code, 0), waiting.get(z.code, 0)) for z in zones
    ]


def zone_counts(now: datetime) -> tuple[dict[str, int], dict[str, int]]:
    """By zone: the permits stored approved whose validity ended by `now` but is not recorded
    yet (a short range of the partial deadline index), and the waiting lines' lengths."""
    ended = db.session.execute(
        sa.select(P.zone, sa.func.count()).where(due(PermitStatus.APPROVED, now)).group_by(P.zone)
    ).all()
    waiting = db.session.execute(
        sa.select(P.zone, sa.func.count())
        .where(P.status == PermitStatus.WAITLISTED.value)
        .group_by(P.zone)
    ).all()
    return {z: int(n) for z, n in ended}, {z: int(n) for z, n in waiting}


def get_zone_view(code: str) -> ZoneView:
    """One zone with its places (as list_zones)."""
    zone = get_zone(code)
    return next(v for v in list_zones() if v.zone.code == zone.code)


def open_zones() -> list[Zone]:
    """The zones that accept applications, by code."""
    return list(db.session.scalars(sa.select(Zone).where(Zone.open.is_(True)).order_by(Zone.code)))


def waitlist(code: str) -> list[Permit]:
    """The zone's waiting line in order: first waitlisted first (ties by id)."""
    zone = get_zone(code)
    return list(
        db.session.scalars(
            sa.select(Permit)
            .where(Permit.zone == zone.code, stored_in(PermitStatus.WAITLISTED))
            .order_by(Permit.waitlisted_at, Permit.id)
        )
    )


def zone_for_application(code: str | None) -> str:
    """The zone an application goes to: the one named (known and open), or the only open one.

    The zones come from the generation-checked cache the review queue reads their names from
    (services.cached.all_zones): every zone's creation and change bumps it after its commit, so
    a zone opened or closed is seen by the next application; no statement on a hit (issue 17).
    """
    from permit_service.services.cached import all_zones  # cached reads through this module

    zones = all_zones()
    if code is None or not str(code).strip():
        opened = [zone.code for zone in zones if zone.open]
        if len(opened) == 1:
            return str(opened[0])
        raise ValidationFailed({"zone": [Message(N_("Choose the zone of the permit."))]})
    try:
        key = clean_code(code)
    except ValueError as exc:
        raise ValidationFailed({"zone": [exc.args[0]]}) from None
    zone = next((zone for zone in zones if zone.code == key), None)
    if zone is None:
        raise ValidationFailed({"zone": [Message(N_("There is no zone %(code)s."), code=key)]})
    if not zone.open:
        raise ValidationFailed(
            {"zone": [Message(N_("Zone %(code)s takes no applications now."), code=key)]}
        )
    return key


# --- places ---------------------------------------------------------------------------------------


def take_place(code: str) -> bool:
    """Lock the zone's row and take one of its places if one is free (True); else False.

    Caller's transaction; the CHECK within_quota backs the test below.
    """
    row = _lock(code)
    if row.quota is not None and row.valid_permits >= row.quota:
        return False
    cache.touch(db.session, zones=True)
    db.session.execute(
        sa.update(Zone.__table__).where(Z.code == code).values(valid_permits=Z.valid_permits + 1)
    )
    return True


def release_place(code: str) -> None:
    """One of the zone's approved permits left approved: free its place and give it on."""
    leave_places({code: 1})
    give_places(code)


def fill_places(zone_codes: Iterable[str] | None = None) -> int:
    """Give the free places of these zones (`None`: every zone) to their lines; how many.

    For the sweep and the narrowed recording of due permits: time events leave their places
    as they are recorded (services.lifecycle.leave_places), and the places are given here,
    each zone under its row lock, in code order. Does not commit.
    """
    codes = (
        sorted(set(zone_codes))
        if zone_codes is not None
        else list(db.session.scalars(sa.select(Z.code).order_by(Z.code)))
    )
    given = 0
    for code in codes:
        _lock(code)
        given += give_places(code)
    return given


def give_places(code: str) -> int:
    """Give the zone's free places to the head of its line, first come first served.

    The caller holds the zone's row lock. Each permit gets the default validity from now, its
    fee, and an event by `system`. Returns how many got a place.
    """
    config = current_app.config
    tz = city_zone()
    target = next_status(PermitStatus.WAITLISTED, Action.PLACE_FREES)
    assert target is PermitStatus.APPROVED
    given = 0
    while True:
        row = db.session.execute(
            sa.select(Z.quota, Z.valid_permits, Z.monthly_fee).where(Z.code == code)
        ).one()
        free = None if row.quota is None else row.quota - row.valid_permits
        if free is not None and free <= 0:
            return given
        heads = db.session.execute(
            sa.select(P.id, P.plate_key)
            .where(P.zone == code, stored_in(PermitStatus.WAITLISTED))
            .order_by(P.waitlisted_at, P.id)
            .limit(min(free, 100) if free is not None else 100)
        ).all()
        if not heads:
            return given
        for pid, key in heads:
            now = utcnow()
            until = default_valid_until(now, tz, config["PERMIT_VALIDITY_DAYS"])
            moved = db.session.execute(
                sa.update(Permit.__table__)
                .where(P.id == pid, P.status == PermitStatus.WAITLISTED.value)
                .values(
                    status=target.value,
                    updated_at=now,
                    valid_from=now,
                    valid_until=until,
                    fee=fee_for(row.monthly_fee, now, until, tz),
                )
            ).rowcount
            if moved != 1:  # left the line meanwhile (cancelled, revoked): the next one
                continue
            cache.touch(db.session, permits=[pid], plates=[key], zones=True)
            db.session.execute(
                sa.update(Zone.__table__)
                .where(Z.code == code)
                .values(valid_permits=Z.valid_permits + 1)
            )
            record_event(pid, PermitStatus.WAITLISTED, target, SYSTEM_ACTOR, PLACE_REASON, now)
            notifications.record(pid, notifications.Kind.PLACE_GIVEN, now)
            move_counts({PermitStatus.WAITLISTED: -1, target: 1})
            given += 1


def _lock(code: str) -> Any:
    """The zone's row, locked until the transaction ends (PostgreSQL; SQLite has one writer)."""
    row = db.session.execute(
        sa.select(Z.code, Z.quota, Z.valid_permits, Z.surplus, Z.monthly_fee)
        .where(Z.code == code)
        .with_for_update()
    ).first()
    if row is None:
        raise ZoneNotFound("No zone with that code.")
    return row


def _code_or_missing(code: str) -> str:
    try:
        return clean_code(code)
    except ValueError:
        raise ZoneNotFound("No zone with that code.") from None

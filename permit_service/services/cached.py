"""Cached reads (permit_service/cache.py): one permit, the zones, a plate's permits.

What is cached never depends on the clock: a permit's STORED row (its effective status, exact
at the deadline, and its waiting-list place are decided per request), a plate's permits as
stored (the enforcement check decides validity per request), and the zones with their counts
as of the moment the load ran together with the next moment time changes them (`fresh_until`:
the earliest end of validity still ahead; from then on the value is a miss). Every writer in
the service layer marks what it changes (cache.touch), so the values are dropped after each
commit that changes them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, NamedTuple

import sqlalchemy as sa

from permit_service import cache
from permit_service.domain import PermitNotFound, PermitStatus
from permit_service.extensions import db
from permit_service.models import Permit, Zone, utcnow
from permit_service.services import zones
from permit_service.services.lifecycle import P, parse_id, stored_in
from permit_service.services.zones import ZoneView

PlatePermits = tuple[tuple[str, str, datetime | None, datetime | None], ...]


# --- one permit -----------------------------------------------------------------------------------


def read_permit(permit_id: str) -> Any:
    """The permit with this id as a read-only object with the model's attributes (cached), or
    PermitNotFound. Its `status` is the stored one: serialisers decide the effective one."""
    pid = parse_id(permit_id)
    row = cache.cached("permit", f"v:p:{pid}", [cache.permit_gen(pid)], lambda: _load(pid))
    return SimpleNamespace(**row)


def _load(pid: str) -> dict[str, Any]:
    row = db.session.execute(sa.select(Permit.__table__).where(P.id == pid)).first()
    if row is None:
        raise PermitNotFound("No permit with that id.")  # not cached: ids are never reused
    return dict(row._mapping)


# --- zones ----------------------------------------------------------------------------------------


def list_zones() -> list[ZoneView]:
    """services.zones.list_zones, cached: the same views, exact at every end of validity."""
    loaded = cache.cached(
        "zones", "v:z", [cache.ZONES], _load_zones, fresh=lambda v: _before(v["fresh_until"])
    )
    return [
        ZoneView(
            SimpleNamespace(**zone),
            zone["valid_permits"] - loaded["ended"].get(zone["code"], 0),
            loaded["waiting"].get(zone["code"], 0),
        )
        for zone in loaded["zones"]
    ]


class ZoneRow(NamedTuple):
    """A zone's code, name, monthly fee and whether it is open (services.zones.all_zones)."""

    code: str
    name: str
    monthly_fee: Decimal
    open: bool


def all_zones() -> list[ZoneRow]:
    """services.zones.all_zones, cached under the zones' generation (every zone's creation and
    change marks it): the review queue reads the names and fees on every page."""
    return cache.cached(  # type: ignore[no-any-return]
        "zone_rows", "v:zr", [cache.ZONES], lambda: [ZoneRow(*r) for r in zones.all_zones()]
    )


def _before(until: datetime | None) -> bool:
    return until is None or utcnow() < until


def _load_zones() -> dict[str, Any]:
    now = utcnow()
    table = Zone.__table__
    rows = [dict(r._mapping) for r in db.session.execute(sa.select(table).order_by(table.c.code))]
    ended, waiting = zones.zone_counts(now)
    # Until the next end of validity the counts hold (the partial deadline index's first entry).
    fresh_until = db.session.scalar(
        sa.select(sa.func.min(P.valid_until)).where(
            stored_in(PermitStatus.APPROVED), P.valid_until > now
        )
    )
    return {
        "zones": rows,
        "ended": ended,
        "waiting": waiting,
        "fresh_until": fresh_until,
    }


# --- a plate's permits ----------------------------------------------------------------------------


def cached_plate_permits(plate_key: str, loader: Callable[[str], PlatePermits]) -> PlatePermits:
    """`loader(plate_key)` (a pure function of the database: the plate's permits as
    (zone, stored status, valid_from, valid_until) tuples), cached until a change of any of the
    plate's permits commits. The caller decides per request what time makes of them."""
    return cache.cached(
        "plate", f"v:pl:{plate_key}", [cache.plate_gen(plate_key)], lambda: loader(plate_key)
    )

"""The numbers of a monthly report, read set-based from permits and their events.

A month is [local midnight of its 1st, local midnight of the next 1st) in CITY_TIMEZONE
(permit_service.months). What counts where:

- received: applications whose `created_at` falls in the month;
- decisions, from the audit trail (`permit_events`, created in the month): approved and
  waitlisted (pending -> approved / waitlisted), refused (pending -> revoked), revoked (approved
  or waitlisted -> revoked), each by an officer: the event's `actor` is the staff e-mail (the
  web pages, the API and the queue's bulk decisions record the signed-in user; `flask permits`
  records `cli`). Revocations by the resident (actor `applicant`) are counted apart as
  cancellations; places given from a waiting list (waitlisted -> approved, actor `system`) and
  renewals (approved -> approved) too;
- time events by their deadline, not by when a sweep recorded them (deadlines are exact,
  SPEC.md section 3): expired applications are those whose `expires_at` (kept once expired)
  falls in the month, ended validities those whose `valid_until` does;
- time to decision: from `created_at` to the officer's decision, for decisions in the month
  (a permit leaves pending once, so this is its first decision). Median and 90th percentile
  with linear interpolation between ranks (PostgreSQL's percentile_cont).

Each figure is one GROUP BY statement over an index range (the month's permits by
`created_at`, its events by `ix_permit_events_created_at`); applications per day join the
month's local days, given as a VALUES list of UTC bounds, to the permits.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from permit_service.domain import ACTOR_APPLICANT, PermitStatus
from permit_service.extensions import db
from permit_service.localtime import start_of_local_day
from permit_service.models import Permit, PermitEvent, UTCDateTime, Zone
from permit_service.months import Month
from permit_service.services.lifecycle import SYSTEM_ACTOR, due

P = Permit.__table__.c
E = PermitEvent.__table__.c
SYSTEM = SYSTEM_ACTOR

# The report's counts, in the order the PDF lists them.
COUNTS = (
    "received",
    "approved",
    "waitlisted",
    "places_given",
    "refused",
    "revoked",
    "cancelled",
    "renewed",
    "expired",
    "ended",
)
# What an officer does, per officer (the per-officer table's columns).
OFFICER_COUNTS = ("approved", "waitlisted", "refused", "revoked", "renewed")
# What happens per zone (the per-zone table's columns).
ZONE_COUNTS = ("received", "approved", "waitlisted", "refused", "revoked", "expired", "ended")

_PENDING, _APPROVED, _WAITLISTED, _REVOKED, _EXPIRED = (
    PermitStatus.PENDING.value,
    PermitStatus.APPROVED.value,
    PermitStatus.WAITLISTED.value,
    PermitStatus.REVOKED.value,
    PermitStatus.EXPIRED.value,
)
_DECIDED = (_APPROVED, _WAITLISTED, _REVOKED)


def is_officer(actor: str) -> bool:
    """Whether an event's actor is a member of staff (not the resident, not the clock)."""
    return actor not in {SYSTEM, ACTOR_APPLICANT}


def classify(from_status: str, to_status: str, actor: str) -> str | None:
    """Which count one recorded change adds to (None: none; time events count by deadline)."""
    officer = is_officer(actor)
    if to_status == _REVOKED:
        if actor == ACTOR_APPLICANT:
            return "cancelled"
        if not officer:
            return None
        return "refused" if from_status == _PENDING else "revoked"
    if from_status == _PENDING and officer and to_status in (_APPROVED, _WAITLISTED):
        return to_status
    if from_status == _WAITLISTED and to_status == _APPROVED:
        return "places_given"
    if from_status == _APPROVED and to_status == _APPROVED:
        return "renewed"
    return None


def percentile(ordered: list[float], q: float) -> float | None:
    """The q-quantile of ascending values, interpolated between ranks; None when empty."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _timing(seconds: Iterable[float]) -> dict[str, Any]:
    ordered = sorted(seconds)
    return {
        "decisions": len(ordered),
        "median_seconds": percentile(ordered, 0.5),
        "p90_seconds": percentile(ordered, 0.9),
    }


def month_numbers(month: Month, zone: ZoneInfo, now: datetime) -> dict[str, Any]:
    """Everything the report of `month` shows, as plain JSON-ready data (times in UTC)."""
    start, end = month.bounds(zone)
    in_month = {"start": start, "end": end}
    totals = dict.fromkeys(COUNTS, 0)
    by_zone: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(ZONE_COUNTS, 0))
    by_officer: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OFFICER_COUNTS, 0))
    session = db.session

    for code, n in session.execute(_RECEIVED, in_month):
        totals["received"] += n
        by_zone[code]["received"] += n
    for code, actor, before, after, n in session.execute(_CHANGES, in_month):
        kind = classify(before, after, actor)
        if kind is None:
            continue
        totals[kind] += n
        if kind in ZONE_COUNTS:
            by_zone[code][kind] += n
        if kind in OFFICER_COUNTS and is_officer(actor):
            by_officer[actor][kind] += n
    for code, (expired, ended) in _time_events({**in_month, "now": now}).items():
        totals["expired"] += expired
        totals["ended"] += ended
        by_zone[code]["expired"] += expired
        by_zone[code]["ended"] += ended

    waits: dict[str, list[float]] = defaultdict(list)
    for actor, seconds in session.execute(_DECISION_TIMES, in_month):
        waits[actor].append(max(float(seconds), 0.0))

    names = dict(session.execute(sa.select(Zone.code, Zone.name)).all())
    quiet = dict.fromkeys(ZONE_COUNTS, 0)
    zones = [
        {"zone": code, "name": names.get(code, code), **by_zone.get(code, quiet)}
        for code in sorted(set(names) | set(by_zone))
    ]
    officers = [
        {"officer": actor, **counts, **_timing(waits.get(actor, []))}
        for actor, counts in by_officer.items()
    ]
    officers.sort(key=lambda row: (-sum(row[k] for k in OFFICER_COUNTS), row["officer"]))
    return {
        "month": str(month),
        "timezone": zone.key,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "as_of": now.isoformat(),
        "totals": totals,
        "decision_time": _timing(s for values in waits.values() for s in values),
        "zones": zones,
        "officers": officers,
        "per_day": _per_day(month, zone),
    }


def _per_day(month: Month, zone: ZoneInfo) -> list[dict[str, Any]]:
    """Applications received on each local day of the month, days without any included.

    One pass over the month's permits (an index range), a count per local day: the days'
    bounds are local midnights in UTC, so a daylight-saving day has its 23 or 25 hours.
    """
    days = month.days()
    bounds = [start_of_local_day(day, zone) for day in days] + [month.bounds(zone)[1]]
    created = P.created_at
    per_day = [
        _count_if(sa.and_(created >= _at(bounds[i]), created < _at(bounds[i + 1])))
        for i in range(len(days))
    ]
    query = sa.select(*per_day).where(created >= _at(bounds[0]), created < _at(bounds[-1]))
    counts = db.session.execute(query).one()
    return [
        {"day": day.isoformat(), "received": int(n or 0)}
        for day, n in zip(days, counts, strict=True)
    ]


def _at(moment: datetime) -> sa.BindParameter[datetime]:
    return sa.bindparam(None, moment, type_=UTCDateTime())


_START = sa.bindparam("start", type_=UTCDateTime())
_END = sa.bindparam("end", type_=UTCDateTime())
_NOW = sa.bindparam("now", type_=UTCDateTime())

_RECEIVED = (
    sa.select(P.zone, sa.func.count())
    .where(P.created_at >= _START, P.created_at < _END)
    .group_by(P.zone)
)
_EVENTS = sa.join(PermitEvent.__table__, Permit.__table__, E.permit_id == P.id)
_CHANGES = (
    sa.select(P.zone, E.actor, E.from_status, E.to_status, sa.func.count())
    .select_from(_EVENTS)
    .where(
        E.created_at >= _START,
        E.created_at < _END,
        E.from_status.is_not(None),
        E.to_status != _EXPIRED,  # time events: counted by their deadline (_time_events)
    )
    .group_by(P.zone, E.actor, E.from_status, E.to_status)
)


def _count_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.sum(sa.case((condition, 1), else_=0))


def _in_month(column: sa.Column[Any]) -> sa.ColumnElement[bool]:
    return sa.and_(column >= _START, column < _END)


# Time events, by zone, each an index range: applications still stored pending whose deadline
# passed in the month (lifecycle.due: no sweep has recorded them yet), permits stored approved
# whose validity ended in it, and those the sweep has recorded (stored expired: `expires_at` of
# an application is kept when it expires and cleared by a decision, so only an expired
# application has one; `valid_until` of an ended validity is kept).
_PENDING_DUE = (
    sa.select(P.zone, sa.func.count())
    .where(due(PermitStatus.PENDING, _NOW), _in_month(P.expires_at))
    .group_by(P.zone)
)
_APPROVED_DUE = (
    sa.select(P.zone, sa.func.count())
    .where(due(PermitStatus.APPROVED, _NOW), _in_month(P.valid_until))
    .group_by(P.zone)
)
_RECORDED = (
    sa.select(
        P.zone,
        _count_if(sa.and_(_in_month(P.expires_at), P.expires_at <= _NOW)),
        _count_if(sa.and_(_in_month(P.valid_until), P.valid_until <= _NOW)),
    )
    .where(
        # Written out, no likely(): SQLite then reads the expired ones from the status index
        # (it holds both deadlines) instead of walking the whole table.
        P.status == sa.literal_column(f"'{_EXPIRED}'", P.status.type),
        sa.or_(_in_month(P.expires_at), _in_month(P.valid_until)),
    )
    .group_by(P.zone)
)


def _time_events(params: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """(expired applications, ended validities) of the month, by zone."""
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for code, n in db.session.execute(_PENDING_DUE, params):
        found[code][0] += n
    for code, n in db.session.execute(_APPROVED_DUE, params):
        found[code][1] += n
    for code, expired, ended in db.session.execute(_RECORDED, params):
        found[code][0] += expired or 0
        found[code][1] += ended or 0
    return {code: (expired, ended) for code, (expired, ended) in found.items()}


class _seconds_between(sa.sql.functions.FunctionElement[float]):  # noqa: N801 - an SQL function
    """Seconds from the second moment to the first, computed by the database (no row of
    timestamps to parse in Python: a month's decisions are many)."""

    type = sa.Float()
    name = "seconds_between"
    inherit_cache = True


@compiles(_seconds_between)
def _epoch(element: _seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS DOUBLE PRECISION)"


@compiles(_seconds_between, "sqlite")
def _julian(element: _seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


_DECISION_TIMES = (
    sa.select(E.actor, _seconds_between(E.created_at, P.created_at))
    .select_from(_EVENTS)
    .where(
        E.created_at >= _START,
        E.created_at < _END,
        E.from_status == _PENDING,
        E.to_status.in_(_DECIDED),
        E.actor.not_in((SYSTEM, ACTOR_APPLICANT)),
    )
)

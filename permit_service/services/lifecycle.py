"""The life cycle in SQL: one definition of "due", one event recorder, one owner of the counts.

Commands (services.permits) and queries (services.queries) build on these; nothing else writes
permit_events or permit_counts, or spells out "pending past its deadline" in SQL.

permit_counts: how many permits are in each STORED status. Its one owner is `move_counts`,
called in the same transaction as every write that adds a permit or changes a stored status
(apply, a decision, the sweep, seeding). There are no triggers (migration 0004 dropped them):
a per-row SQLite trigger made a 100,000-row sweep too slow, and two mechanisms drifted apart.
Effective counts (due permits counted under their due status) are `stored - due + due-in`.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from permit_service import cache
from permit_service.domain import (
    ACTOR_APPLICANT,
    DEADLINES,
    OPEN_STATUSES,
    PermitNotFound,
    PermitStatus,
    due_transitions,
    next_status,
)
from permit_service.extensions import db
from permit_service.models import Permit, PermitCount, PermitEvent, Zone
from permit_service.services.notifications import TIME_EVENT_KINDS, outbox_insert
from permit_service.services.upsert import dialect_insert

SYSTEM_ACTOR = "system"
APPLICANT_ACTOR = ACTOR_APPLICANT
# Reason recorded with each time event, by the status time ends.
TIME_EVENT_REASONS = {
    PermitStatus.PENDING: "not approved before the deadline",
    PermitStatus.APPROVED: "validity ended",
}
EXPIRY_REASON = TIME_EVENT_REASONS[PermitStatus.PENDING]

P = Permit.__table__.c
E = PermitEvent.__table__
Z = Zone.__table__
# The status that holds one of its zone's places (zones.valid_permits counts it).
PLACE_HOLDING = PermitStatus.APPROVED
# "Now", bound per call into statements that are built once (functools.cache in the callers).
NOW = sa.bindparam("now", type_=P.expires_at.type)


# --- "due": the one SQL definition --------------------------------------------------------------


def due(status: PermitStatus, now: Any = NOW) -> sa.ColumnElement[bool]:
    """Permits stored in `status` whose deadline for that status has passed (an index range).

    Pending past `expires_at`, approved past `valid_until` (domain.DEADLINES).
    """
    return sa.and_(stored_in(status), P[DEADLINES[status].field] <= now)


def stored_in(status: PermitStatus) -> sa.ColumnElement[bool]:
    """`status = '<status>'` as the partial deadline indexes need it (migration 0007).

    A planner matches a query to a partial index (`WHERE status = 'pending'`) only when the
    query spells out the same status: SQLite never matches a bound parameter, PostgreSQL not
    in a generic (prepared) plan, so the value is written into the SQL (the enum's own
    constant). On SQLite it is also marked `likely()`: without statistics its planner takes an
    equality on `status` for the most selective condition and would walk every pending permit
    of the listing index (then sort them) instead of the deadline range.
    """
    return _likely(P.status == sa.literal_column(f"'{PermitStatus(status).value}'", P.status.type))


class _likely(sa.sql.functions.FunctionElement[bool]):  # noqa: N801 - an SQL function's name
    """SQLite's `likely(x)`: a hint to its planner that x holds for most rows; elsewhere `x`."""

    # Not Boolean: SQLAlchemy would write `likely(x) = 1` on SQLite, which hides x from the
    # planner.
    type = sa.types.NullType()
    name = "likely"
    inherit_cache = True


@compiles(_likely)
def _plain(element: _likely, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_likely, "sqlite")
def _sqlite_likely(element: _likely, compiler: SQLCompiler, **kw: Any) -> str:
    return f"likely({compiler.process(element.clauses, **kw)})"


def before_deadline(status: PermitStatus, now: Any = NOW) -> sa.ColumnElement[bool]:
    """The complement of `due` for a permit stored in `status`: its deadline is still ahead."""
    return P[DEADLINES[status].field] > now


def status_branches(status: PermitStatus, now: Any = NOW) -> list[sa.ColumnElement[bool]]:
    """Conditions whose union is 'effective status is `status`', each one index range.

    Stored in `status` and not due, plus every status that time turns into `status` and is due.
    """
    stored = P.status == status.value
    if status in DEADLINES:
        stored = sa.and_(stored, before_deadline(status, now))
    return [stored] + [due(src, now) for src, _, dst in due_transitions() if dst is status]


def status_condition(status: PermitStatus, now: Any = NOW) -> sa.ColumnElement[bool]:
    """SQL condition for 'effective status is `status`', exact to the deadline."""
    branches = status_branches(status, now)
    return branches[0] if len(branches) == 1 else sa.or_(*branches)


def due_count(status: PermitStatus, now: Any = NOW) -> sa.ScalarSelect[int]:
    """How many permits stored in `status` are due (a short index range)."""
    return sa.select(sa.func.count()).select_from(Permit).where(due(status, now)).scalar_subquery()


# --- events ---------------------------------------------------------------------------------------


def event_values(
    before: PermitStatus | None, after: PermitStatus, actor: str, reason: str | None, at: datetime
) -> dict[str, Any]:
    """The fields of one recorded change, all but its permit id: the ONE shape of an event."""
    return {
        "from_status": before.value if before is not None else None,
        "to_status": after.value,
        "actor": actor,
        "reason": reason,
        "created_at": at,
    }


def record_event(
    permit_id: str,
    before: PermitStatus | None,
    after: PermitStatus,
    actor: str,
    reason: str | None,
    at: datetime,
) -> None:
    """Record one change of one permit (in the caller's transaction)."""
    values = {"permit_id": permit_id, **event_values(before, after, actor, reason, at)}
    # Core on the session's connection: the ORM's execute adds nothing to a Core INSERT but
    # its own bookkeeping (issue 17); the statement is built once.
    db.session.connection().execute(_INSERT_EVENT, values)


_INSERT_EVENT = sa.insert(E)


# --- counts ---------------------------------------------------------------------------------------


def move_counts(deltas: Mapping[PermitStatus, int]) -> None:
    """Add `deltas` to permit_counts in the caller's transaction: the counts' ONE writer.

    The deltas are gathered in the session and written when it commits (`_write_counts`), in
    one statement, rows in status order. So the count rows (every writer's hot spot) are the
    LAST locks any transaction takes, held only for its commit: a transaction holding them
    never waits for a permit or zone row, and none can deadlock over them. A rollback drops
    the deltas with everything else.
    """
    pending = db.session.info.setdefault(_COUNT_DELTAS, {})
    for status, n in deltas.items():
        pending[status] = pending.get(status, 0) + n


_COUNT_DELTAS = "permit_count_deltas"


@sa.event.listens_for(db.session, "before_commit")
def _write_counts(session: sa.orm.Session) -> None:
    deltas = session.info.pop(_COUNT_DELTAS, None)
    rows = [{"status": s.value, "n": n} for s, n in sorted((deltas or {}).items()) if n]
    if not rows:
        return
    statement = _counts_upsert(session.get_bind().dialect.name)
    # Core: the ORM would take the rows as objects. Several rows are one executemany in status
    # order (on PostgreSQL SQLAlchemy's insertmanyvalues sends them as one statement).
    session.connection().execute(statement, rows)


@functools.cache
def _counts_upsert(dialect: str) -> sa.Insert:
    """The counts' one-row upsert, built once per dialect. A multi-row VALUES statement is
    never in SQLAlchemy's compiled cache (it compiled at every commit); this one is (issue 17)."""
    insert = dialect_insert(dialect, PermitCount)
    return insert.values(
        status=sa.bindparam("status", type_=PermitCount.status.type),
        n=sa.bindparam("n", type_=PermitCount.n.type),
    ).on_conflict_do_update(
        index_elements=["status"], set_={"n": PermitCount.n + insert.excluded.n}
    )


@sa.event.listens_for(db.session, "after_transaction_end")
def _drop_counts(session: sa.orm.Session, transaction: sa.orm.SessionTransaction) -> None:
    if transaction.parent is None:  # the whole transaction ended (committed or rolled back)
        session.info.pop(_COUNT_DELTAS, None)


# --- time events ----------------------------------------------------------------------------------


def record_due(narrow: sa.ColumnElement[bool], now: datetime) -> int:
    """Record the time events that have happened to the permits `narrow` selects (one or a few).

    For each status with a deadline (domain.DEADLINES), its due permits move to the status the
    table gives, with one event each, the counts moved and the places they held left (their
    zones' counters; giving the places on is services.zones.fill_places). Does not commit.
    Whole-table sweeps go through `move_due_batch` instead (services.sweep), a bounded batch
    per transaction.
    """
    total = 0
    for status, _deadline, target in due_transitions():
        by_zone = _move_due(status, target, narrow, now)
        count = sum(by_zone.values())
        if count:
            move_counts({status: -count, target: count})
            if status is PLACE_HOLDING:
                leave_places(by_zone)
        total += count
    return total


def _move_due(
    status: PermitStatus, target: PermitStatus, narrow: sa.ColumnElement[bool], now: datetime
) -> dict[str, int]:
    """Move `status`'s due permits within `narrow` to `target` with their events; how many,
    by zone."""
    where = [due(status, now), narrow]
    columns, literals = _event_columns(status, target, now)
    move = sa.update(Permit.__table__).values(status=target.value, updated_at=now)
    kind = TIME_EVENT_KINDS[status]
    if _dialect() == "postgresql":
        # One statement: the UPDATE's RETURNING feeds the INSERTs, so only rows this statement
        # really changed get an event and a notification, even when a sweep or an approve runs
        # concurrently (the UPDATE waits for a row another transaction holds, then re-checks it).
        moved = (
            move.where(*where)
            .returning(P.id, P.zone, P.email, P.valid_until, P.plate_key)
            .cte("moved")
        )
        told = outbox_insert(kind, moved, now).cte("told")
        recorded = sa.insert(E).from_select(columns, sa.select(moved.c.id, *literals))
        rows = sa.select(moved.c.id, moved.c.plate_key, moved.c.zone)
        rows = db.session.execute(rows.add_cte(recorded.cte("recorded"), told)).all()
    else:
        # SQLite: the first write takes the database's single write lock, so no other writer
        # can change these rows between the statements of this transaction.
        db.session.execute(
            sa.insert(E).from_select(columns, sa.select(P.id, *literals).where(*where))
        )
        db.session.execute(outbox_insert(kind, Permit.__table__, now, *where))
        rows = db.session.execute(sa.select(P.id, P.plate_key, P.zone).where(*where)).all()
        db.session.execute(move.where(*where))
    by_zone: dict[str, int] = {}
    for row in rows:
        by_zone[row.zone] = by_zone.get(row.zone, 0) + 1
    # Cached reads of these permits, their plates and (places) the zones: stale after commit.
    cache.touch(
        db.session,
        permits=[r.id for r in rows],
        plates=[r.plate_key for r in rows],
        zones=status is PLACE_HOLDING,
    )
    return by_zone


def leave_places(by_zone: Mapping[str, int]) -> None:
    """Permits of these zones left approved (`by_zone`: how many each): their zones' counters
    move with them, in the caller's transaction, so `zones.valid_permits` is always the number
    stored as approved. A lowered quota's surplus shrinks first. Zone rows are locked in code
    order, as every zone locker takes them (services.zones), after the permit rows.
    """
    if any(by_zone.values()):
        cache.touch(db.session, zones=True)
    for code in sorted(by_zone):
        n = by_zone[code]
        if n:
            db.session.execute(
                sa.update(Z)
                .where(Z.c.code == code)
                .values(
                    valid_permits=Z.c.valid_permits - n,
                    surplus=sa.case((Z.c.surplus > n, Z.c.surplus - n), else_=0),
                )
            )


@dataclass(frozen=True)
class Batch:
    """What one sweep batch did: due permits it took, how many it moved, where the next starts."""

    seen: int  # due permits the batch took in key order (moved, or changed meanwhile)
    moved: int  # permits moved, each with its event
    # (deadline, id) of the last one taken: the next batch starts after it.
    after: tuple[datetime, str] | None
    # Places left, by zone (a batch of a place-holding status): their counters moved with them.
    left: Mapping[str, int] = field(default_factory=dict)


def anything_due(now: datetime) -> list[PermitStatus]:
    """The statuses (domain.DEADLINES) with at least one due permit: one cheap indexed query."""
    transitions = due_transitions()
    checks = [sa.exists().where(due(status, now)) for status, _, _ in transitions]
    row = db.session.execute(sa.select(*checks)).one()
    return [status for (status, _, _), found in zip(transitions, row, strict=True) if found]


def move_due_batch(
    status: PermitStatus, now: datetime, limit: int, after: tuple[datetime, str] | None
) -> Batch:
    """Move the next `limit` due permits of `status` (in (deadline, id) order, past `after`).

    Each gets its event, and the counts move, in the caller's transaction (the caller commits:
    one batch, one short transaction). A compare-and-set like every change: only permits still
    stored in `status` and due when the write lands move. The batch is an index range scan of
    the partial (deadline, id) index from where the last one stopped (migration 0007), so its
    cost does not grow with how many were moved before it.
    """
    target = next_status(status, DEADLINES[status].event)
    assert target is not None, f"{status} has a deadline but no time event in TRANSITIONS"
    params = {
        "now": now,
        "limit": limit,
        "after_at": (after or _START)[0],
        "after_id": (after or _START)[1],
    }
    # The cache is told which permits and plates moved only when a batch can be small enough
    # to name them one by one (cache.BULK_LIMIT); a larger one marks everything stale, so
    # its ids and plates are never gathered (on PostgreSQL two arrays of the whole batch).
    named = limit <= cache.BULK_LIMIT
    ids: list[str] | None = None
    plates: list[str] | None = None
    if _dialect() == "postgresql":
        seen, moved, last_at, last_id, left, ids, plates = db.session.execute(
            _pg_batch(status, target, named), params
        ).one()
        after = (last_at, last_id) if seen else after
        left = left or {}
    else:
        # SQLite: the transaction holds the single write lock (the sweep begins it IMMEDIATE;
        # otherwise the INSERT takes it), so the statements see the same rows. Moved rows
        # leave the partial index: the next batch starts at the front again, no key needed.
        if named:
            ids, plates = [], []
            for pid, key in db.session.execute(_sqlite_keys(status), params):
                ids.append(pid)
                plates.append(key)
        seen = db.session.execute(_sqlite_events(status, target), params).rowcount
        db.session.execute(_sqlite_outbox(status), params)
        left = {}
        if status is PLACE_HOLDING:
            left = dict(db.session.execute(_sqlite_zones(status), params).all())
        moved = db.session.execute(_sqlite_move(status, target), params).rowcount
        assert moved == seen, "the batch's rows changed under the write lock"
    if moved:
        move_counts({status: -moved, target: moved})
        # Set-based: the ids and plates the batch's statement returned (a big batch: all).
        if not named or moved > cache.BULK_LIMIT:
            cache.touch(db.session, everything=True)
        else:
            cache.touch(db.session, permits=ids or (), plates=plates or ())
    if status is PLACE_HOLDING:
        leave_places(left)
    return Batch(seen=seen, moved=moved, after=after, left=left)


# Before every key: the first batch's `after`.
_START = (datetime(1, 1, 2, tzinfo=UTC), "")


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _event_columns(
    status: PermitStatus, target: PermitStatus, now: Any
) -> tuple[list[str], list[sa.ColumnElement[Any]]]:
    """Columns and SELECT values of the time event `status` -> `target` (all but the permit id)."""
    values = event_values(status, target, SYSTEM_ACTOR, TIME_EVENT_REASONS[status], now)
    literals = [
        (v if isinstance(v, sa.BindParameter) else sa.literal(v, E.c[k].type)).label(k)
        for k, v in values.items()
    ]
    return ["permit_id", *values], literals


def _batch_keys(status: PermitStatus) -> tuple[sa.ColumnElement[Any], sa.ColumnElement[Any]]:
    return P[DEADLINES[status].field], P.id


def _next_due(status: PermitStatus, *columns: sa.ColumnElement[Any]) -> sa.Select[Any]:
    """The next :limit due permits of `status` past (:after_at, :after_id), in key order."""
    deadline, pid = _batch_keys(status)
    after = sa.tuple_(
        sa.bindparam("after_at", type_=deadline.type), sa.bindparam("after_id", type_=pid.type)
    )
    return (
        sa.select(*columns)
        .where(due(status), sa.tuple_(deadline, pid) > after)
        .order_by(deadline, pid)
        .limit(sa.bindparam("limit", type_=sa.Integer(), literal_execute=True))
    )


_CTID = sa.literal_column("permits.ctid")


@functools.cache
def _pg_batch(status: PermitStatus, target: PermitStatus, named: bool) -> sa.Select[Any]:
    """One statement: lock the batch (skipping rows others hold), move it, record the events.

    Rows another transaction holds (an approve deciding one) are skipped: left to it, or to
    the next sweep; two sweeps at once take disjoint batches instead of queueing on, or
    deadlocking over, each other's row locks. Returns (taken, moved, last deadline, last id,
    places left by zone: a JSON object, for a place-holding status, and when `named` the
    moved permits' ids and plate keys: arrays, else nulls).
    """
    deadline, pid = _batch_keys(status)
    batch = (
        _next_due(status, _CTID.label("tid"), pid.label("id"), deadline.label("deadline"))
        .with_for_update(skip_locked=True)
        .cte("batch")
    )
    # The locked rows by their physical address (a TID scan), not by a search of the primary
    # key per row (or, for a large batch, a hash join over the table): the row lock keeps the
    # address valid until this statement writes the row.
    tids = sa.func.array(sa.select(batch.c.tid).scalar_subquery())
    moved = (
        sa.update(Permit.__table__)
        .where(sa.any_(tids) == _CTID, due(status))
        .values(status=target.value, updated_at=NOW)
        .returning(P.id, P.zone, P.email, P.valid_until, P.plate_key)
        .cte("moved")
    )
    columns, literals = _event_columns(status, target, NOW)
    recorded = sa.insert(E).from_select(columns, sa.select(moved.c.id, *literals)).cte("recorded")
    # The residents' notifications of the batch, in its statement (the outbox).
    told = outbox_insert(TIME_EVENT_KINDS[status], moved, NOW).cte("told")
    by_zone = sa.select(moved.c.zone, sa.func.count().label("n")).group_by(moved.c.zone).subquery()
    left = (
        sa.select(sa.func.json_object_agg(by_zone.c.zone, by_zone.c.n)).scalar_subquery()
        if status is PLACE_HOLDING
        else sa.null()
    )
    # What the batch moved, for the cache's invalidation (services.cache.touch).
    ids: Any = sa.null()
    plates: Any = sa.null()
    if named:
        ids = sa.select(sa.func.array_agg(moved.c.id)).scalar_subquery()
        plates = sa.select(sa.func.array_agg(moved.c.plate_key)).scalar_subquery()
    last_at = sa.select(sa.func.max(batch.c.deadline)).scalar_subquery()
    last_id = (
        sa.select(sa.func.max(batch.c.id)).where(batch.c.deadline == last_at).scalar_subquery()
    )
    return sa.select(
        sa.select(sa.func.count()).select_from(batch).scalar_subquery(),
        sa.select(sa.func.count()).select_from(moved).scalar_subquery(),
        last_at,
        last_id,
        left,
        ids,
        plates,
    ).add_cte(recorded, told)


@functools.cache
def _sqlite_events(status: PermitStatus, target: PermitStatus) -> sa.Insert:
    columns, literals = _event_columns(status, target, NOW)
    return sa.insert(E).from_select(columns, _next_due(status, P.id, *literals))


_ROWID = sa.literal_column("permits.rowid")


@functools.cache
def _sqlite_keys(status: PermitStatus) -> sa.Select[Any]:
    """The batch's ids and plate keys (taken before they move, under the write lock)."""
    return _next_due(status, P.id, P.plate_key)


@functools.cache
def _sqlite_outbox(status: PermitStatus) -> sa.Insert:
    """The batch's notifications: the very rows _sqlite_events takes (before they move)."""
    return outbox_insert(
        TIME_EVENT_KINDS[status], Permit.__table__, NOW, _ROWID.in_(_next_due(status, _ROWID))
    )


@functools.cache
def _sqlite_zones(status: PermitStatus) -> sa.Select[Any]:
    """The batch's permits by zone (taken before they move, under the write lock)."""
    batch = _next_due(status, P.zone).subquery()
    return sa.select(batch.c.zone, sa.func.count()).group_by(batch.c.zone)


@functools.cache
def _sqlite_move(status: PermitStatus, target: PermitStatus) -> sa.Update:
    return (
        sa.update(Permit.__table__)
        # By rowid: the table's own key, no descent of the id index per row.
        .where(due(status), _ROWID.in_(_next_due(status, _ROWID)))
        .values(status=target.value, updated_at=NOW)
    )


def parse_id(permit_id: str) -> str:
    """The canonical form of a permit id, or PermitNotFound (ids that are not UUID4s)."""
    try:
        return str(uuid.UUID(str(permit_id), version=4))
    except (ValueError, TypeError, AttributeError):
        raise PermitNotFound("No permit with that id.") from None


def open_condition(now: Any = NOW) -> sa.ColumnElement[bool]:
    """SQL condition for 'the permit is open now' (domain.OPEN_STATUSES, effective)."""
    return sa.or_(*(status_condition(s, now) for s in sorted(OPEN_STATUSES)))


def ended_at() -> sa.ColumnElement[Any]:
    """When a permit that has ended (revoked, expired: stored so, or due and not yet recorded)
    ended: the ONE SQL definition (retention and exports). A revocation when it was recorded
    (`updated_at`, which nothing changes afterwards); an expiry at its deadline, even when the
    sweep recorded it later: a due permit's own deadline (domain.DEADLINES), a recorded
    expiry's `valid_until`, or `expires_at` of an application never decided. Meaningless for a
    permit that has not ended."""
    return sa.case(
        (P.status == PermitStatus.REVOKED.value, P.updated_at),
        *((P.status == status.value, P[deadline.field]) for status, deadline in DEADLINES.items()),
        else_=sa.func.coalesce(P.valid_until, P.expires_at, P.updated_at),
    )

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

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from permit_service.domain import (
    ACTOR_APPLICANT,
    DEADLINES,
    OPEN_STATUSES,
    PermitNotFound,
    PermitStatus,
    due_transitions,
)
from permit_service.extensions import db
from permit_service.models import Permit, PermitCount, PermitEvent

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
# "Now", bound per call into statements that are built once (functools.cache in the callers).
NOW = sa.bindparam("now", type_=P.expires_at.type)


# --- "due": the one SQL definition --------------------------------------------------------------


def due(status: PermitStatus, now: Any = NOW) -> sa.ColumnElement[bool]:
    """Permits stored in `status` whose deadline for that status has passed (an index range).

    Pending past `expires_at`, approved past `valid_until` (domain.DEADLINES).
    """
    return sa.and_(P.status == status.value, P[DEADLINES[status].field] <= now)


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
    db.session.execute(sa.insert(E), values)


# --- counts ---------------------------------------------------------------------------------------


def move_counts(deltas: Mapping[PermitStatus, int]) -> None:
    """Add `deltas` to permit_counts in the caller's transaction: the counts' ONE writer.

    One statement, rows in status order, so concurrent writers lock count rows in the same
    order and never deadlock over them.
    """
    rows = [{"status": s.value, "n": n} for s, n in sorted(deltas.items()) if n]
    if not rows:
        return
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(PermitCount)
    upsert = insert.values(rows).on_conflict_do_update(
        index_elements=["status"], set_={"n": PermitCount.n + insert.excluded.n}
    )
    db.session.execute(upsert)


# --- time events ----------------------------------------------------------------------------------


def record_due(narrow: sa.ColumnElement[bool] | None, now: datetime) -> int:
    """Record every time event that has happened (optionally narrowed): the sweep, from the table.

    For each status with a deadline (domain.DEADLINES), its due permits move to the status the
    table gives, with one event each and the counts moved, set-based. Does not commit.
    """
    total = 0
    for status, _deadline, target in due_transitions():
        count = _move_due(status, target, narrow, now)
        if count:
            move_counts({status: -count, target: count})
        total += count
    return total


def _move_due(
    status: PermitStatus,
    target: PermitStatus,
    narrow: sa.ColumnElement[bool] | None,
    now: datetime,
) -> int:
    """Move `status`'s due permits to `target` with their events; return how many moved."""
    where = [due(status, now)] + ([narrow] if narrow is not None else [])
    reason = TIME_EVENT_REASONS[status]
    values = event_values(status, target, SYSTEM_ACTOR, reason, now)
    literals = [sa.literal(v, E.c[k].type).label(k) for k, v in values.items()]
    columns = ["permit_id", *values]
    move = sa.update(Permit.__table__).values(status=target.value, updated_at=now)
    if db.session.get_bind().dialect.name == "postgresql":
        # One statement: the UPDATE's RETURNING feeds the INSERT, so only rows this statement
        # really changed get an event, even when another sweep or an approve runs concurrently.
        target_rows = list(where)
        if narrow is None:
            # The whole-table sweep skips rows another transaction holds (left to it, or to
            # the next sweep): two sweeps split the due rows instead of queueing on, or
            # deadlocking over, each other's row locks. The outer `where` re-checks each row at
            # its latest version. Narrowed calls touch one row and simply wait for it.
            locked = sa.select(P.id).where(*where).with_for_update(skip_locked=True)
            target_rows.append(P.id.in_(locked))
        moved = move.where(*target_rows).returning(P.id).cte("moved")
        insert = sa.insert(E).from_select(columns, sa.select(moved.c.id, *literals))
        # SQLAlchemy only keeps an UPDATE's or DELETE's rowcount unless asked: ask for the INSERT.
        return db.session.execute(insert.execution_options(preserve_rowcount=True)).rowcount
    # SQLite: the first write takes the database's single write lock, so no other writer can
    # change these rows between the two statements of this transaction.
    db.session.execute(sa.insert(E).from_select(columns, sa.select(P.id, *literals).where(*where)))
    return db.session.execute(move.where(*where)).rowcount


def parse_id(permit_id: str) -> str:
    """The canonical form of a permit id, or PermitNotFound (ids that are not UUID4s)."""
    try:
        return str(uuid.UUID(str(permit_id), version=4))
    except (ValueError, TypeError, AttributeError):
        raise PermitNotFound("No permit with that id.") from None


def open_condition(now: Any = NOW) -> sa.ColumnElement[bool]:
    """SQL condition for 'the permit is open now' (domain.OPEN_STATUSES, effective)."""
    return sa.or_(*(status_condition(s, now) for s in sorted(OPEN_STATUSES)))

"""Permit use cases: the ONLY code that changes a permit. Every change is a compare-and-set."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from permit_service.domain import (
    Action,
    InvalidTransition,
    OpenPermitExists,
    PermitNotFound,
    PermitStatus,
    effective_status,
    next_status,
    plate_key,
    validate_application,
)
from permit_service.extensions import db
from permit_service.models import Permit, PermitEvent, utcnow

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
APPLICANT_ACTOR = "applicant"
EXPIRY_REASON = "not approved before the deadline"
_CAS_ATTEMPTS = 5

P = Permit.__table__.c
E = PermitEvent.__table__


@dataclass(frozen=True)
class Page:
    """One page of a listing plus the total number of matching rows."""

    items: list[Permit]
    total: int


# --- commands ---------------------------------------------------------------------------------


def apply_for_permit(
    name: str, license_plate: str, address: str, email: str | None = None
) -> Permit:
    """Record a resident's application as a pending permit with a deadline of now + TTL."""
    clean = validate_application(name, license_plate, address, email)
    plate = str(clean["license_plate"])
    key = plate_key(plate)
    now = utcnow()
    # A pending permit past its deadline is expired already: make it so, so the plate is free.
    _expire_where(sa.and_(P.plate_key == key), now)
    permit = Permit(
        id=str(uuid.uuid4()),
        name=clean["name"],
        license_plate=plate,
        plate_key=key,
        address=clean["address"],
        email=clean["email"],
        status=PermitStatus.PENDING.value,
        created_at=now,
        updated_at=now,
        expires_at=now + timedelta(seconds=current_app.config["PENDING_TTL_SECONDS"]),
    )
    db.session.add(permit)
    db.session.add(
        PermitEvent(
            permit_id=permit.id,
            from_status=None,
            to_status=PermitStatus.PENDING.value,
            actor=APPLICANT_ACTOR,
            created_at=now,
        )
    )
    try:
        db.session.commit()  # the partial unique index is the final word on "one open permit"
    except IntegrityError as exc:
        db.session.rollback()
        if _has_open_permit(key):
            raise OpenPermitExists(plate) from exc
        raise
    log.info("permit applied", extra={"permit_id": permit.id})
    return permit


def approve_permit(permit_id: str, actor: str) -> Permit:
    """Approve a pending permit; approving an approved one is a no-op."""
    return _transition(permit_id, Action.APPROVE, actor, None)


def revoke_permit(permit_id: str, actor: str, reason: str | None = None) -> Permit:
    """Revoke a pending or approved permit; revoking a revoked one is a no-op."""
    return _transition(permit_id, Action.REVOKE, actor, reason)


def expire_due_permits(now: datetime | None = None) -> int:
    """Mark every pending permit past its deadline expired, set-based; return how many."""
    count = _expire_where(None, now or utcnow())
    db.session.commit()
    # One line per sweep, even when nothing was due: operators see the sweep is alive.
    log.info("expired due permits", extra={"count": count})
    return count


# --- queries ----------------------------------------------------------------------------------


def get_permit(permit_id: str) -> Permit:
    """The permit with this id, or PermitNotFound (also for ids that are not UUIDs)."""
    permit = db.session.get(Permit, _parse_id(permit_id))
    if permit is None:
        raise PermitNotFound("No permit with that id.")
    return permit


def list_permits(
    status: PermitStatus | None = None,
    license_plate: str | None = None,
    search: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> Page:
    """Permits newest first, filtered by effective status, plate and a name/plate search."""
    now = utcnow()
    conditions: list[sa.ColumnElement[bool]] = []
    if status is not None:
        conditions.append(status_condition(status, now))
    if license_plate:
        conditions.append(Permit.plate_key == plate_key(license_plate))
    if search and search.strip():
        term = search.strip()
        like = (
            "%" + term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        key = plate_key(term)
        either = [sa.func.lower(Permit.name).like(like, escape="\\")]
        if key:
            either.append(Permit.plate_key.startswith(key, autoescape=True))
        conditions.append(sa.or_(*either))
    where = sa.and_(sa.true(), *conditions)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Permit).where(where)) or 0
    items = db.session.scalars(
        sa.select(Permit)
        .where(where)
        .order_by(Permit.created_at.desc(), Permit.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    return Page(items=list(items), total=total)


def count_by_status() -> dict[PermitStatus, int]:
    """How many permits are in each effective status (for the review queue's tabs)."""
    now = utcnow()
    due = sa.and_(P.status == PermitStatus.PENDING.value, P.expires_at <= now)
    shown = sa.case((due, PermitStatus.EXPIRED.value), else_=P.status)
    rows = db.session.execute(sa.select(shown, sa.func.count()).group_by(shown)).all()
    counts = {s: 0 for s in PermitStatus}
    for value, count in rows:
        counts[PermitStatus(value)] = count
    return counts


def list_events(permit_id: str) -> list[PermitEvent]:
    """The permit's recorded changes, oldest first."""
    permit = get_permit(permit_id)
    return list(
        db.session.scalars(
            sa.select(PermitEvent)
            .where(PermitEvent.permit_id == permit.id)
            # Insertion order is causal: each event is written under its permit's row lock.
            .order_by(PermitEvent.id)
        )
    )


@dataclass(frozen=True)
class QueuePage:
    """One page of the review queue, its total, and how many permits each status tab holds."""

    items: list[Permit]
    total: int
    counts: dict[PermitStatus, int]


def review_queue(
    status: PermitStatus | None = None,
    search: str | None = None,
    page: int = 1,
    page_size: int = 20,
) -> QueuePage:
    """The admin review queue: a page newest first plus per-status counts, in index-sized work.

    Same results as list_permits + count_by_status, but shaped for 100,000s of rows: the tab
    counts come from one GROUP BY over the (status, expires_at) index, an unsearched tab's total
    is its count (no second COUNT), and the expired tab reads two index ranges instead of an OR.
    """
    now = utcnow()
    counts = _status_counts(now)
    term = _search_clause(search)
    branches = _status_branches(status, now)
    if term is not None:
        branches = [sa.and_(branch, term) for branch in branches]
        total = db.session.scalar(sa.select(sa.func.count()).where(sa.or_(*branches))) or 0
    else:
        total = counts[status] if status is not None else sum(counts.values())
    newest = (P.created_at.desc(), P.id.desc())
    offset = (page - 1) * page_size
    if len(branches) == 1:
        query = sa.select(Permit).where(branches[0])
        query = query.order_by(Permit.created_at.desc(), Permit.id.desc())
        items = list(db.session.scalars(query.limit(page_size).offset(offset)))
        return QueuePage(items=items, total=total, counts=counts)
    # Each branch walks its own index range newest first and stops after offset + page_size rows.
    parts = [
        sa.select(P.id, P.created_at)
        .where(branch)
        .order_by(*newest)
        .limit(offset + page_size)
        .subquery()
        for branch in branches
    ]
    merged = sa.union_all(*(sa.select(part.c.id, part.c.created_at) for part in parts)).subquery()
    ids = (
        sa.select(merged.c.id)
        .order_by(merged.c.created_at.desc(), merged.c.id.desc())
        .limit(page_size)
        .offset(offset)
    )
    query = sa.select(Permit).where(Permit.id.in_(ids))
    items = list(db.session.scalars(query.order_by(Permit.created_at.desc(), Permit.id.desc())))
    return QueuePage(items=items, total=total, counts=counts)


def status_of(permit: Permit, now: datetime | None = None) -> PermitStatus:
    """The permit's effective status now (exact deadlines)."""
    return effective_status(permit.status, permit.expires_at, now or utcnow())


def status_condition(status: PermitStatus, now: datetime) -> sa.ColumnElement[bool]:
    """SQL condition for 'effective status is `status`', exact to the deadline."""
    pending = P.status == PermitStatus.PENDING.value
    if status is PermitStatus.PENDING:
        return sa.and_(pending, P.expires_at > now)
    if status is PermitStatus.EXPIRED:
        return sa.or_(P.status == PermitStatus.EXPIRED.value, sa.and_(pending, P.expires_at <= now))
    return P.status == status.value


# --- internals --------------------------------------------------------------------------------


def _parse_id(permit_id: str) -> str:
    try:
        return str(uuid.UUID(str(permit_id), version=4))
    except (ValueError, TypeError, AttributeError):
        raise PermitNotFound("No permit with that id.") from None


def _status_counts(now: datetime) -> dict[PermitStatus, int]:
    """Effective counts per status from one index-only GROUP BY over (status, expires_at)."""
    due = sa.case((P.expires_at <= now, 1), else_=0)
    rows = db.session.execute(
        sa.select(P.status, sa.func.count(), sa.func.sum(due)).group_by(P.status)
    ).all()
    counts = {s: 0 for s in PermitStatus}
    for value, count, overdue in rows:
        counts[PermitStatus(value)] += count
        if value == PermitStatus.PENDING.value and overdue:
            # Pending past the deadline IS expired, sweep or not.
            counts[PermitStatus.PENDING] -= overdue
            counts[PermitStatus.EXPIRED] += overdue
    return counts


def _status_branches(status: PermitStatus | None, now: datetime) -> list[sa.ColumnElement[bool]]:
    """Conditions whose union is 'effective status is `status`', each one index range."""
    pending = P.status == PermitStatus.PENDING.value
    if status is None:
        return [sa.true()]
    if status is PermitStatus.EXPIRED:
        return [P.status == PermitStatus.EXPIRED.value, sa.and_(pending, P.expires_at <= now)]
    return [status_condition(status, now)]


def _search_clause(search: str | None) -> sa.ColumnElement[bool] | None:
    """Name contains the term (any case), or the plate starts with it (any spelling)."""
    if not search or not search.strip():
        return None
    term = search.strip()
    like = "%" + term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    either = [sa.func.lower(Permit.name).like(like, escape="\\")]
    key = plate_key(term)
    if key:
        either.append(Permit.plate_key.startswith(key, autoescape=True))
    return sa.or_(*either)


def _has_open_permit(key: str) -> bool:
    now = utcnow()
    open_now = sa.or_(status_condition(PermitStatus.PENDING, now), P.status == "approved")
    return db.session.scalar(sa.select(sa.exists().where(P.plate_key == key, open_now))) or False


def _transition(permit_id: str, action: Action, actor: str, reason: str | None) -> Permit:
    """Compare-and-set: UPDATE ... WHERE status = <the status we decided on>; retry if it moved."""
    pid = _parse_id(permit_id)
    for _ in range(_CAS_ATTEMPTS):
        row = db.session.execute(sa.select(P.status, P.expires_at).where(P.id == pid)).first()
        if row is None:
            raise PermitNotFound("No permit with that id.")
        # Stamp after reading, so an event is never dated before the change it builds on.
        now = utcnow()
        current = effective_status(row.status, row.expires_at, now)
        if current is PermitStatus.EXPIRED and row.status == PermitStatus.PENDING.value:
            # Deadline passed but the sweep has not run: record the expiry now, then refuse.
            _expire_where(P.id == pid, now)
            db.session.commit()
        target = next_status(current, action)
        if target is None:
            db.session.rollback()
            raise InvalidTransition(current, action)
        if target is current:  # idempotent repeat: 200, nothing recorded
            db.session.rollback()
            return get_permit(pid)
        guard = [P.id == pid, P.status == current.value]
        if current is PermitStatus.PENDING:
            guard.append(P.expires_at > now)
        changed = db.session.execute(
            sa.update(Permit.__table__)
            .where(*guard)
            .values(status=target.value, updated_at=now, expires_at=None)
        ).rowcount
        if changed == 1:
            db.session.execute(
                sa.insert(E).values(
                    permit_id=pid,
                    from_status=current.value,
                    to_status=target.value,
                    actor=actor,
                    reason=reason,
                    created_at=now,
                )
            )
            db.session.commit()
            log.info(
                "permit %s", target.value, extra={"permit_id": pid, "actor_kind": _kind(actor)}
            )
            permit = db.session.get(Permit, pid, populate_existing=True)
            assert permit is not None
            return permit
        db.session.rollback()  # someone else changed it between our read and our write: re-read
    raise InvalidTransition(current, action)


def _kind(actor: str) -> str:
    return actor if actor in {SYSTEM_ACTOR, APPLICANT_ACTOR} else "admin"


def _expire_where(extra: sa.ColumnElement[bool] | None, now: datetime) -> int:
    """Expire due pending permits (optionally narrowed), with one event each, set-based.

    Does not commit: the caller's transaction holds both statements.
    """
    due = [P.status == PermitStatus.PENDING.value, P.expires_at <= now]
    if extra is not None:
        due.append(extra)
    event_values = {
        "from_status": PermitStatus.PENDING.value,
        "to_status": PermitStatus.EXPIRED.value,
        "actor": SYSTEM_ACTOR,
        "reason": EXPIRY_REASON,
        "created_at": now,
    }
    if db.session.get_bind().dialect.name == "postgresql":
        # One statement: the UPDATE's RETURNING feeds the INSERT, so only rows this statement
        # really changed get an event, even when another sweep or an approve runs concurrently.
        target = list(due)
        if extra is None:
            # The whole-table sweep skips rows another transaction holds (left to it, or to
            # the next sweep): two sweeps split the due rows instead of queueing on, or
            # deadlocking over, each other's row locks. The outer `due` re-checks each row at
            # its latest version. Narrowed calls touch one row and simply wait for it.
            locked = sa.select(P.id).where(*due).with_for_update(skip_locked=True)
            target.append(P.id.in_(locked))
        expired = (
            sa.update(Permit.__table__)
            .where(*target)
            .values(status=PermitStatus.EXPIRED.value, updated_at=now)
            .returning(P.id)
            .cte("expired")
        )
        select = sa.select(
            expired.c.id, *(sa.literal(v, E.c[k].type).label(k) for k, v in event_values.items())
        )
        insert = sa.insert(E).from_select(["permit_id", *event_values], select)
        # SQLAlchemy only keeps an UPDATE's or DELETE's rowcount unless asked: ask for the INSERT.
        result = db.session.execute(insert.execution_options(preserve_rowcount=True))
        return result.rowcount
    # SQLite: the first write takes the database's single write lock, so no other writer can
    # change these rows between the two statements of this transaction.
    select = sa.select(
        P.id, *(sa.literal(v, E.c[k].type).label(k) for k, v in event_values.items())
    ).where(*due)
    db.session.execute(sa.insert(E).from_select(["permit_id", *event_values], select))
    result = db.session.execute(
        sa.update(Permit.__table__)
        .where(*due)
        .values(status=PermitStatus.EXPIRED.value, updated_at=now)
    )
    return result.rowcount

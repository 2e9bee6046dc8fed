"""Permit use cases: the ONLY code that changes a permit. Every change is a compare-and-set."""

from __future__ import annotations

import functools
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

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
from permit_service.models import Permit, PermitCount, PermitEvent, utcnow

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
APPLICANT_ACTOR = "applicant"
EXPIRY_REASON = "not approved before the deadline"
_CAS_ATTEMPTS = 5

P = Permit.__table__.c
E = PermitEvent.__table__
# "Now", bound per call into statements that are built once (functools.cache below).
_NOW = sa.bindparam("now", type_=P.expires_at.type)


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
    ttl = timedelta(seconds=current_app.config["PENDING_TTL_SECONDS"])
    for attempt in range(2):
        now = utcnow()
        values = {
            "id": str(uuid.uuid4()),
            "name": clean["name"],
            "license_plate": plate,
            "plate_key": key,
            "address": clean["address"],
            "email": clean["email"],
            "status": PermitStatus.PENDING.value,
            "created_at": now,
            "updated_at": now,
            "expires_at": now + ttl,
        }
        event = {
            "permit_id": values["id"],
            "from_status": None,
            "to_status": PermitStatus.PENDING.value,
            "actor": APPLICANT_ACTOR,
            "reason": None,
            "created_at": now,
        }
        try:
            # Two INSERTs and the commit back to back: SQLite's one write lock is held briefly.
            db.session.execute(sa.insert(Permit.__table__), values)
            db.session.execute(sa.insert(E), event)
            db.session.commit()  # the partial unique index is the final word on "one open permit"
            break
        except IntegrityError as exc:
            db.session.rollback()
            # The plate's open permit may be pending past its deadline, i.e. expired already:
            # record that expiry (with its event) and try once more.
            if attempt == 0 and _expire_where(P.plate_key == key, utcnow()):
                db.session.commit()
                continue
            db.session.rollback()
            if _has_open_permit(key):
                raise OpenPermitExists(plate) from exc
            raise
    # The row as inserted, made persistent without reading it back.
    permit = Permit(**values)
    make_transient_to_detached(permit)
    db.session.add(permit)
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
    offset = (page - 1) * page_size
    params: dict[str, Any] = {
        "now": now,
        "limit": page_size,
        "offset": offset,
        "window": offset + page_size,
    }
    key = plate_key(license_plate) if license_plate else None
    if key is not None:
        params["key"] = key
    term = search.strip() if search else ""
    extra = [_search_clause(term)] if term else []
    if extra:  # free-text search (the review queue): built per call, it is not a hot path
        statement = _page_of(_branches(status, key is not None, extra))
    else:
        statement = _page_statement(status, key is not None)
    # No table holds 2**62 rows: a deeper page is empty, and must not overflow a BIGINT.
    items = list(db.session.scalars(statement, params)) if params["window"] < 2**62 else []
    if len(items) < page_size and (items or page == 1):
        total = offset + len(items)  # the last page tells the total: no count needed
    elif term or key is not None:  # a plate or a search: few rows, count them
        either = [sa.and_(*branch) for branch in _branches(status, key is not None, extra)]
        count = sa.select(sa.func.count()).select_from(Permit).where(sa.or_(*either))
        total = db.session.scalar(count, params) or 0
    else:
        total = _count_in_status(status, now)
    return Page(items=items, total=total)


def _branches(
    status: PermitStatus | None, by_plate: bool, extra: list[sa.ColumnElement[bool]]
) -> list[list[sa.ColumnElement[bool]]]:
    """Filters of the listing as index ranges whose union is the result.

    Values are bound per call (:now, :key). "Expired" is two ranges, stored-expired and
    pending-past-deadline: each walks (status, created_at, ...) newest first and stops early,
    where one OR would sort every expired permit.
    """
    common = list(extra)
    if by_plate:
        common.append(P.plate_key == sa.bindparam("key", type_=P.plate_key.type))
    if status is PermitStatus.EXPIRED:
        due = sa.and_(P.status == PermitStatus.PENDING.value, P.expires_at <= _NOW)
        return [[P.status == PermitStatus.EXPIRED.value, *common], [due, *common]]
    if status is not None:
        common.append(status_condition(status, _NOW))  # type: ignore[arg-type]
    return [common]


def _search_clause(term: str) -> sa.ColumnElement[bool]:
    """Name contains the term (any case), or the plate starts with it (any spelling)."""
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    either = [sa.func.lower(Permit.name).like(f"%{escaped}%", escape="\\")]
    if plate_key(term):
        either.append(Permit.plate_key.startswith(plate_key(term), autoescape=True))
    return sa.or_(*either)


def _page_of(branches: list[list[sa.ColumnElement[bool]]]) -> sa.Select[tuple[Permit]]:
    """Newest first, :limit rows from :offset, as a deferred join.

    The page's ids come from an index alone (OFFSET skips index entries, not rows); only those
    rows are then read. Several branches each contribute their newest :window ids, merged.
    """
    newest = (P.created_at.desc(), P.id.desc())
    limit = sa.bindparam("limit", type_=sa.BigInteger())
    offset = sa.bindparam("offset", type_=sa.BigInteger())
    if len(branches) == 1:
        ids = sa.select(P.id).where(sa.true(), *branches[0]).order_by(*newest)
        ids = ids.limit(limit).offset(offset).subquery()
    else:
        window = sa.bindparam("window", type_=sa.BigInteger())
        parts = [
            sa.select(P.id, P.created_at).where(*branch).order_by(*newest).limit(window).subquery()
            for branch in branches
        ]
        merged = sa.union_all(*(sa.select(p.c.id, p.c.created_at) for p in parts)).subquery()
        ids = (
            sa.select(merged.c.id)
            .order_by(merged.c.created_at.desc(), merged.c.id.desc())
            .limit(limit)
            .offset(offset)
            .subquery()
        )
    return sa.select(Permit).join(ids, Permit.id == ids.c.id).order_by(*newest)


@functools.cache
def _page_statement(status: PermitStatus | None, by_plate: bool) -> sa.Select[tuple[Permit]]:
    """The listing statement per filter shape, built once: per request only values are bound."""
    return _page_of(_branches(status, by_plate, []))


def count_by_status() -> dict[PermitStatus, int]:
    """How many permits are in each effective status (for the review queue's tabs)."""
    stored = dict(db.session.execute(sa.select(PermitCount.status, PermitCount.n)).all())
    due = db.session.scalar(_due_count(utcnow())) or 0
    counts = {s: int(stored.get(s.value, 0)) for s in PermitStatus}
    counts[PermitStatus.PENDING] -= due
    counts[PermitStatus.EXPIRED] += due
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
    """The admin review queue: one page of list_permits plus the tabs' per-status counts."""
    found = list_permits(status=status, search=search, page=page, page_size=page_size)
    return QueuePage(items=found.items, total=found.total, counts=count_by_status())


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


def _due_count(now: datetime) -> sa.Select[tuple[int]]:
    """Pending permits past their deadline that no sweep has recorded yet (a short index range)."""
    return (
        sa.select(sa.func.count())
        .select_from(Permit)
        .where(P.status == PermitStatus.PENDING.value, P.expires_at <= now)
    )


def _count_in_status(status: PermitStatus | None, now: datetime) -> int:
    """Exact number of permits in an effective status (or all), from the trigger-kept counts.

    Reads one row per status plus the due-but-unswept pending permits, instead of counting
    the whole filtered set: constant cost at any table size.
    """
    return int(db.session.scalar(_count_statement(status), {"now": now}) or 0)


@functools.cache
def _count_statement(status: PermitStatus | None) -> sa.Select[tuple[int]]:
    stored = sa.select(sa.func.coalesce(sa.func.sum(PermitCount.n), 0))
    if status is not None:
        stored = stored.where(PermitCount.status == status.value)
    total = stored.scalar_subquery()
    if status is PermitStatus.PENDING:
        total = total - _due_count(_NOW).scalar_subquery()  # type: ignore[arg-type]
    elif status is PermitStatus.EXPIRED:
        total = total + _due_count(_NOW).scalar_subquery()  # type: ignore[arg-type]
    return sa.select(total)


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
    literals = [sa.literal(v, E.c[k].type).label(k) for k, v in event_values.items()]
    columns = ["permit_id", *event_values]
    expire = sa.update(Permit.__table__).values(status=PermitStatus.EXPIRED.value, updated_at=now)
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
        expired = expire.where(*target).returning(P.id).cte("expired")
        insert = sa.insert(E).from_select(columns, sa.select(expired.c.id, *literals))
        # SQLAlchemy only keeps an UPDATE's or DELETE's rowcount unless asked: ask for the INSERT.
        result = db.session.execute(insert.execution_options(preserve_rowcount=True))
        return result.rowcount
    # SQLite: the first write takes the database's single write lock, so no other writer can
    # change these rows between the two statements of this transaction.
    db.session.execute(sa.insert(E).from_select(columns, sa.select(P.id, *literals).where(*due)))
    count = db.session.execute(expire.where(*due)).rowcount
    if count:
        # SQLite's count trigger skips expiries (row triggers would cost more than the sweep):
        # move them here, in one statement of this same transaction.
        moved = sqlite_insert(PermitCount).values(
            [
                {"status": PermitStatus.PENDING.value, "n": -count},
                {"status": PermitStatus.EXPIRED.value, "n": count},
            ]
        )
        db.session.execute(
            moved.on_conflict_do_update(
                index_elements=["status"], set_={"n": PermitCount.n + moved.excluded.n}
            )
        )
    return count

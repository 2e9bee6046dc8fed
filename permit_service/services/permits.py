"""Permit use cases: the ONLY code that changes a permit. Every change is a compare-and-set."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Mapping
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
    if count:
        log.info("expired due permits", extra={"count": count})
    return count


# Share of each status among seeded permits: most decided long ago, a burst still pending.
SEED_MIX: dict[PermitStatus, float] = {
    PermitStatus.APPROVED: 0.60,
    PermitStatus.REVOKED: 0.10,
    PermitStatus.EXPIRED: 0.20,
    PermitStatus.PENDING: 0.10,
}
SEED_BATCH = 10_000


def seed_permits(
    count: int,
    mix: Mapping[PermitStatus, float] | None = None,
    due: bool = False,
    batch_size: int = SEED_BATCH,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Insert `count` synthetic permits with their events in bulk (benchmarks, demos); return count.

    Set-based: per batch one bulk INSERT (COPY on PostgreSQL) per table and one commit, never a
    row at a time through the ORM. Plates are unique
    (numbered after the permits already there), statuses follow `mix`. Decided permits are spread
    over the past year; pending ones are the newest, with deadlines ahead of them, or behind them
    when `due` is set (what the sweep finds after an outage). `on_batch(n)` reports progress.
    """
    shares = {PermitStatus(k): v for k, v in (mix or SEED_MIX).items() if v > 0}
    if count < 0 or not shares:
        raise ValueError("count must be >= 0 and the mix must name at least one status")
    # A fixed, interleaved pattern of 100 slots gives the exact shares without randomness.
    weight = sum(shares.values())
    pattern: list[PermitStatus] = []
    for status, share in shares.items():
        pattern += [status] * max(1, round(100 * share / weight))
    pattern = [pattern[(i * 37) % len(pattern)] for i in range(len(pattern))]
    ttl = timedelta(seconds=current_app.config["PENDING_TTL_SECONDS"])
    now = utcnow()
    year = timedelta(days=365)
    offset = db.session.scalar(sa.select(sa.func.count()).select_from(Permit)) or 0
    dialect = db.session.get_bind().dialect.name
    stamp = _seed_stamp(dialect)
    if dialect == "sqlite":
        # Index upkeep with random UUID keys thrashes SQLite's 2 MB default page cache.
        db.session.execute(sa.text("PRAGMA cache_size=-262144"))
    # Untyped tables: values are prepared here once, so no per-value type processing.
    permits_t = sa.table("permits", *(sa.column(c.name) for c in Permit.__table__.c))
    events_t = sa.table("permit_events", *(sa.column(c.name) for c in E.c if c.name != "id"))
    done = 0
    while done < count:
        permits: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for i in range(done, min(count, done + batch_size)):
            n = offset + i
            status = pattern[i % len(pattern)]
            plate = _seed_plate(n)
            # created_at grows with i: the newest rows (page 1 of the listing) come last.
            frac = (i + 1) / (count + 1)
            if status is PermitStatus.PENDING:
                created = now - (ttl / 2) * (1 - frac) if not due else now - ttl * (2 - frac)
                expires = stamp(created + ttl)
                updated = created
            else:
                created = now - year * (1 - frac) - ttl * 2
                expires = None
                updated = created + ttl / 2
            pid = str(uuid.uuid4())
            created_s = stamp(created)
            updated_s = stamp(updated)
            permits.append(
                {
                    "id": pid,
                    "name": f"Resident {n}",
                    "license_plate": plate,
                    "plate_key": plate.replace("-", ""),
                    "address": f"{n % 997 + 1} Seed Street",
                    "email": None if n % 3 else f"resident{n}@example.org",
                    "status": status.value,
                    "created_at": created_s,
                    "updated_at": updated_s,
                    "expires_at": expires,
                }
            )
            events.append(
                {
                    "permit_id": pid,
                    "from_status": None,
                    "to_status": PermitStatus.PENDING.value,
                    "actor": APPLICANT_ACTOR,
                    "reason": None,
                    "created_at": created_s,
                }
            )
            if status is not PermitStatus.PENDING:
                expired = status is PermitStatus.EXPIRED
                events.append(
                    {
                        "permit_id": pid,
                        "from_status": PermitStatus.PENDING.value,
                        "to_status": status.value,
                        "actor": SYSTEM_ACTOR if expired else "seed",
                        "reason": EXPIRY_REASON if expired else None,
                        "created_at": updated_s,
                    }
                )
        if dialect == "postgresql":
            _copy_rows("permits", permits)
            _copy_rows("permit_events", events)
        else:
            db.session.execute(sa.insert(permits_t), permits)
            db.session.execute(sa.insert(events_t), events)
        db.session.commit()
        done += len(permits)
        if on_batch is not None:
            on_batch(len(permits))
    return count


def _copy_rows(table: str, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL's COPY, the fastest bulk load there is (triggers fire as for INSERT)."""
    columns = list(rows[0])
    cursor = db.session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def _seed_stamp(dialect: str) -> Callable[[datetime], Any]:
    """How a UTC datetime is bound without type processing: SQLite stores naive ISO text."""
    if dialect == "sqlite":
        return lambda dt: dt.replace(tzinfo=None).isoformat(" ", "microseconds")
    return lambda dt: dt


def _seed_plate(n: int) -> str:
    """The n-th synthetic plate: three letters and five digits, e.g. BAA-00042 (unique per n)."""
    letters, digits = divmod(n, 100_000)
    a, rest = divmod(letters, 26 * 26)
    b, c = divmod(rest, 26)
    return f"{chr(65 + a % 26)}{chr(65 + b)}{chr(65 + c)}-{digits:05d}"


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
    params: dict[str, Any] = {"now": now, "limit": page_size, "offset": offset}
    key = plate_key(license_plate) if license_plate else None
    if key is not None:
        params["key"] = key
    term = search.strip() if search else ""
    extra: list[sa.ColumnElement[bool]] = []
    if term:
        # Free-text search (the review queue): built per call, it is not a hot path.
        escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        either = [sa.func.lower(Permit.name).like(f"%{escaped}%", escape="\\")]
        if plate_key(term):
            either.append(Permit.plate_key.startswith(plate_key(term), autoescape=True))
        extra.append(sa.or_(*either))
        statement = _page_of(_conditions(status, key is not None) + extra)
    else:
        statement = _page_statement(status, key is not None)
    items = list(db.session.scalars(statement, params).all())
    if len(items) < page_size and (items or page == 1):
        total = offset + len(items)  # the last page tells the total: no count needed
    elif term or key is not None:  # a plate or a search: few rows, count them
        conditions = _conditions(status, key is not None) + extra
        count = sa.select(sa.func.count()).select_from(Permit).where(*conditions)
        total = db.session.scalar(count, params) or 0
    else:
        total = _count_in_status(status, now)
    return Page(items=items, total=total)


def _conditions(status: PermitStatus | None, by_plate: bool) -> list[sa.ColumnElement[bool]]:
    """Filters of the listing with bound parameters :now and :key (values given per call)."""
    conditions: list[sa.ColumnElement[bool]] = []
    if status is not None:
        conditions.append(status_condition(status, _NOW))  # type: ignore[arg-type]
    if by_plate:
        conditions.append(P.plate_key == sa.bindparam("key", type_=P.plate_key.type))
    return conditions


def _page_of(conditions: list[sa.ColumnElement[bool]]) -> sa.Select[tuple[Permit]]:
    """Newest first, :limit rows from :offset, as a deferred join.

    The page's ids come from an index alone (OFFSET skips index entries, not rows); only those
    rows are then read.
    """
    ids = (
        sa.select(P.id)
        .where(sa.true(), *conditions)
        .order_by(P.created_at.desc(), P.id.desc())
        .limit(sa.bindparam("limit", type_=sa.Integer()))
        .offset(sa.bindparam("offset", type_=sa.Integer()))
        .subquery()
    )
    return (
        sa.select(Permit)
        .join(ids, Permit.id == ids.c.id)
        .order_by(Permit.created_at.desc(), Permit.id.desc())
    )


@functools.cache
def _page_statement(status: PermitStatus | None, by_plate: bool) -> sa.Select[tuple[Permit]]:
    """The listing statement per filter shape, built once: per request only values are bound."""
    return _page_of(_conditions(status, by_plate))


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
            .order_by(PermitEvent.created_at, PermitEvent.id)
        )
    )


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
        now = utcnow()
        row = db.session.execute(sa.select(P.status, P.expires_at).where(P.id == pid)).first()
        if row is None:
            raise PermitNotFound("No permit with that id.")
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
        expired = (
            sa.update(Permit.__table__)
            .where(*due)
            .values(status=PermitStatus.EXPIRED.value, updated_at=now)
            .returning(P.id)
            .cte("expired")
        )
        select = sa.select(
            expired.c.id, *(sa.literal(v, E.c[k].type).label(k) for k, v in event_values.items())
        )
        result = db.session.execute(
            sa.insert(E).from_select(["permit_id", *event_values], select),
            # The RETURNING inside the CTE makes SQLAlchemy drop the INSERT's row count.
            execution_options={"preserve_rowcount": True},
        )
        return result.rowcount
    # SQLite: the first write takes the database's single write lock, so no other writer can
    # change these rows between the two statements of this transaction.
    select = sa.select(
        P.id, *(sa.literal(v, E.c[k].type).label(k) for k, v in event_values.items())
    ).where(*due)
    db.session.execute(sa.insert(E).from_select(["permit_id", *event_values], select))
    count = db.session.execute(
        sa.update(Permit.__table__)
        .where(*due)
        .values(status=PermitStatus.EXPIRED.value, updated_at=now)
    ).rowcount
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

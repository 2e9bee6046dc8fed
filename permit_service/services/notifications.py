"""The outbox: messages to residents, written in the transaction of the change they tell of;
and to staff members (`queue_staff`: an export ready, the monthly report).

Every change a resident should hear of calls `record` (one permit) or builds its statement
with `outbox_insert` (the sweep's set-based batches): nothing else writes `notifications`. Only
permits with an e-mail address get one. After the commit, the rows a transaction wrote by id are
handed to the dispatcher (permit_service.dispatch) to be sent by a task; set-based ones, and any
whose task was lost, are sent by the delivery the sweep asks for (`outbox_due`).

Sending them is services.delivery; composing and carrying them, services.mail.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from permit_service.domain import Action, PermitStatus
from permit_service.extensions import db
from permit_service.models import Notification, Permit, UTCDateTime, ahead_in_line, utcnow
from permit_service.services.upsert import dialect_insert

log = logging.getLogger(__name__)

N = Notification.__table__.c
P = Permit.__table__.c
NOTIFICATIONS = Notification.__table__


class Kind(StrEnum):
    """What a message tells the resident (SPEC.md section 7)."""

    RECEIVED = "received"
    APPROVED = "approved"
    WAITLISTED = "waitlisted"
    PLACE_GIVEN = "place_given"
    REFUSED = "refused"  # a pending application revoked by an officer
    REVOKED = "revoked"  # an approved or waitlisted permit revoked by an officer
    CANCELLED = "cancelled"  # the resident withdrew or ended it: a confirmation
    EXPIRED = "expired"  # the application was not decided in time
    RENEWED = "renewed"
    VALIDITY_ENDING = "validity_ending"  # one per REMINDERS_BEFORE offset and validity period
    VALIDITY_ENDED = "validity_ended"


class Delivery(StrEnum):
    """A notification's delivery state (the API's `status`)."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


# The time events of the sweep, by the status time ends.
TIME_EVENT_KINDS = {PermitStatus.PENDING: Kind.EXPIRED, PermitStatus.APPROVED: Kind.VALIDITY_ENDED}

_COLUMNS = ["permit_id", "kind", "status", "attempts", "created_at", "next_attempt_at"]
_TYPE = UTCDateTime()


def _at(now: Any) -> sa.ColumnElement[Any]:
    return now if isinstance(now, sa.BindParameter) else sa.literal(now, _TYPE)


def outbox_insert(kind: Kind, source: Any, now: Any, *where: sa.ColumnElement[bool]) -> sa.Insert:
    """INSERT ... SELECT of `kind` notifications for the rows of `source` that have an e-mail.

    `source` is the permits table or a selectable with its `id`, `email` and `valid_until`
    columns (the sweep's RETURNING of the permits it moved); `now` a value or a bind parameter.
    The set-based form of `record`, for the sweep's batches.
    """
    at = _at(now)
    rows = sa.select(
        source.c.id,
        sa.literal(kind.value, N.kind.type),
        sa.literal(Delivery.QUEUED.value, N.status.type),
        sa.literal(0, N.attempts.type),
        at,
        at,
        source.c.valid_until,
    ).where(source.c.email.is_not(None), *where)
    return sa.insert(NOTIFICATIONS).from_select([*_COLUMNS, "period_end"], rows)


def record(permit_id: str, kind: Kind, at: datetime, *, reason: str | None = None) -> int | None:
    """Write one notification of the permit in the caller's transaction; its id, or None when
    the permit has no e-mail address. Sent by a task after the commit (permit_service.dispatch).
    """
    params = {"permit_id": permit_id, "at": at, "reason": reason}
    # Core on the session's connection (the ORM's execute adds only its bookkeeping).
    new_id = db.session.connection().execute(_record_statement(kind), params).scalar()
    if new_id is not None:
        db.session.info.setdefault(OUTBOX_KEY, []).append(int(new_id))
    return new_id


@functools.cache
def _record_statement(kind: Kind) -> sa.Insert:
    """`record`'s INSERT ... SELECT for `kind`, built once (values bound per call)."""
    at = sa.bindparam("at", type_=_TYPE)
    waiting = sa.literal(None, N.place.type)
    if kind is Kind.WAITLISTED:
        waiting = _place_in_line()
    rows = sa.select(
        P.id,
        sa.literal(kind.value, N.kind.type),
        sa.literal(Delivery.QUEUED.value, N.status.type),
        sa.literal(0, N.attempts.type),
        at,
        at,
        P.valid_until,
        P.expires_at if kind is Kind.RECEIVED else sa.literal(None, N.deadline.type),
        sa.bindparam("reason", type_=N.reason.type),
        waiting,
    ).where(P.id == sa.bindparam("permit_id", type_=P.id.type), P.email.is_not(None))
    insert = sa.insert(NOTIFICATIONS).from_select(
        [*_COLUMNS, "period_end", "deadline", "reason", "place"], rows
    )
    return insert.returning(N.id)


def queue_staff(kind: str, recipient: str, subject_ref: str, *, language: str | None = None) -> int:
    """Write one message to a staff member (an export ready, the monthly report) in the
    caller's transaction; its id. Sent after the commit like a resident's, by the same delivery;
    composed by the function services.mail.STAFF_COMPOSERS names for `kind`."""
    from permit_service.services.mail import STAFF_COMPOSERS

    if kind not in STAFF_COMPOSERS:
        raise ValueError(f"no composer for staff messages of kind {kind!r}")
    now = utcnow()
    new_id = db.session.execute(
        sa.insert(NOTIFICATIONS)
        .values(
            kind=kind,
            recipient=recipient,
            subject_ref=subject_ref,
            language=language,
            status=Delivery.QUEUED.value,
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
        .returning(N.id)
    ).scalar_one()
    db.session.info.setdefault(OUTBOX_KEY, []).append(int(new_id))
    return int(new_id)


# Session.info key: ids written in the current transaction (permit_service.dispatch sends them
# after the commit, and forgets them on a rollback).
OUTBOX_KEY = "outbox_ids"
DELIVER_KEY = "outbox_deliver"


def _place_in_line() -> sa.ScalarSelect[int]:
    """The permit's 1-based place in its zone's waiting line (queries.waitlist_position in SQL)."""
    ahead = Permit.__table__.alias("ahead")
    return (
        sa.select(sa.func.count() + 1)
        .select_from(ahead)
        .where(ahead_in_line(ahead, P.zone, P.waitlisted_at, P.id))
        .scalar_subquery()
    )


def kind_of_change(
    before: PermitStatus | None, after: PermitStatus, action: Action | None
) -> Kind | None:
    """What to tell the resident of a change (None: nothing)."""
    if before is None:
        return Kind.RECEIVED
    if action is Action.RENEW:
        return Kind.RENEWED
    if action is Action.CANCEL:
        return Kind.CANCELLED
    if after is PermitStatus.WAITLISTED:
        return Kind.WAITLISTED
    if after is PermitStatus.APPROVED:
        return Kind.PLACE_GIVEN if before is PermitStatus.WAITLISTED else Kind.APPROVED
    if after is PermitStatus.REVOKED:
        return Kind.REFUSED if before is PermitStatus.PENDING else Kind.REVOKED
    if after is PermitStatus.EXPIRED:
        return TIME_EVENT_KINDS.get(before)
    return None


def record_change(
    permit_id: str,
    before: PermitStatus | None,
    after: PermitStatus,
    action: Action | None,
    reason: str | None,
    at: datetime,
) -> int | None:
    """Write the notification a change calls for (see kind_of_change), in the caller's
    transaction; the reason only where the resident reads it (refused, revoked)."""
    kind = kind_of_change(before, after, action)
    if kind is None:
        return None
    told = reason if kind in {Kind.REFUSED, Kind.REVOKED} else None
    return record(permit_id, kind, at, reason=told)


# --- reminders ------------------------------------------------------------------------------------


class _seconds_between(sa.sql.functions.FunctionElement[float]):  # noqa: N801 - SQL function
    """Seconds from the first timestamp to the second (a float), per dialect."""

    type = sa.Float()
    name = "seconds_between"
    inherit_cache = True


@compiles(_seconds_between, "postgresql")
def _pg_seconds(element: _seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = list(element.clauses)
    return f"EXTRACT(EPOCH FROM ({compiler.process(end, **kw)} - {compiler.process(start, **kw)}))"


@compiles(_seconds_between, "sqlite")
def _sqlite_seconds(element: _seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = list(element.clauses)
    return (
        f"((julianday({compiler.process(end, **kw)}) - "
        f"julianday({compiler.process(start, **kw)})) * 86400.0)"
    )


REMINDER_BATCH = 5000


def outbox_due(now: datetime) -> tuple[list[int], bool]:
    """One cheap read: the REMINDERS_BEFORE offsets with a reminder to write at `now`, and
    whether a queued notification is waiting for a send (new, retry due, or task lost)."""
    offsets = list(current_app.config["REMINDERS_BEFORE"])
    checks = [sa.exists(_reminders_due(now, offset).with_only_columns(P.id)) for offset in offsets]
    waiting = sa.exists().where(N.status == Delivery.QUEUED.value, N.next_attempt_at <= now)
    row = db.session.execute(sa.select(*checks, waiting)).one()
    db.session.rollback()
    due = [offset for offset, found in zip(offsets, row[:-1], strict=True) if found]
    return due, bool(row[-1])


def queue_due_reminders(now: datetime, offsets: list[int] | None = None) -> int:
    """Write the validity-ending reminders due at `now`, set-based, in committed batches.

    For each REMINDERS_BEFORE offset: approved permits with an e-mail whose validity ends within
    the offset, and whose current validity period began before the offset (approved, given a
    place or renewed at `updated_at`, which nothing else changes while a permit is approved).
    The partial unique index (permit, offset, end of validity) lets each exist once, whatever
    runs concurrently: a second sweep's insert skips what the first wrote. Returns how many.
    """
    total = 0
    for offset in current_app.config["REMINDERS_BEFORE"] if offsets is None else offsets:
        while True:
            written = db.session.execute(_reminder_statement(now, offset)).rowcount
            db.session.commit()
            total += max(written, 0)
            if written < REMINDER_BATCH:
                break
    return total


def _reminders_due(now: datetime, offset: int) -> sa.Select[Any]:
    """The reminders of `offset` to write at `now`: (permit id, ..., period end, offset) rows."""
    sent = sa.exists().where(
        N.permit_id == P.id,
        N.kind == Kind.VALIDITY_ENDING.value,
        N.offset_seconds == offset,
        N.period_end == P.valid_until,
    )
    at = _at(now)
    return sa.select(
        P.id,
        sa.literal(Kind.VALIDITY_ENDING.value, N.kind.type),
        sa.literal(Delivery.QUEUED.value, N.status.type),
        sa.literal(0, N.attempts.type),
        at,
        at,
        P.valid_until,
        sa.literal(offset, N.offset_seconds.type),
    ).where(
        # Spelled out: the partial index of approved permits by valid_until (migration 0007).
        P.status == sa.literal_column(f"'{PermitStatus.APPROVED.value}'", P.status.type),
        P.valid_until > at,
        P.valid_until <= _at(now + timedelta(seconds=offset)),
        P.email.is_not(None),
        _seconds_between(P.updated_at, P.valid_until) > offset,
        ~sent,
    )


def _reminder_statement(now: datetime, offset: int) -> sa.Insert:
    rows = _reminders_due(now, offset).order_by(P.valid_until, P.id).limit(REMINDER_BATCH)
    return (
        dialect_insert(db.session, NOTIFICATIONS)
        .from_select([*_COLUMNS, "period_end", "offset_seconds"], rows)
        .on_conflict_do_nothing()
    )


def request_delivery() -> None:
    """Ask for a delivery of every due notification once the current transaction commits."""
    db.session.info[DELIVER_KEY] = True

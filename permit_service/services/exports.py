"""CSV exports of permits (SPEC.md section 10): requested, written by a task, served, deleted.

- `request_export` records a queued export of the listing's filters (status, zone, time of
  application) and hands its id to a worker after the commit (permit_service.dispatch).
- `run_export` (the task `exports.run`) claims it with a compare-and-set (queued -> running,
  `attempt` + 1: the run's lease), then reads the permits in keyset batches of BATCH rows, newest
  first like the listing, each batch its own short read; writes each batch's CSV as one chunk
  in `export_chunks` together with a heartbeat that checks the lease, and finishes with a
  compare-and-set (running -> done) that queues the requester's e-mail in the same transaction.
  No long transaction holds a snapshot over a million rows, and no more than a batch is in
  memory. A re-run (a lost task picked up) starts by deleting the chunks of the run before.
- `tidy_exports` (the sweep) deletes exports older than EXPORT_RETENTION_DAYS, a bounded number
  per sweep, and picks up lost runs: queued too long (the task never arrived) -> published
  again; running without a heartbeat for LEASE_SECONDS (the worker died) -> queued again, at
  most MAX_ATTEMPTS runs, then failed.
- Who sees an export: admins every one; a viewer only their own (it holds residents' personal
  data they asked for; someone else's is a 404, as if it did not exist).

Statuses are effective at export time (one clock reading for the whole export): a pending
application past its deadline and an approved permit past its validity are `expired`, as the
listing shows them. Cells starting with = + - @, a tab or a carriage return are prefixed with
an apostrophe (OWASP's CSV injection advice), so a spreadsheet shows them as text.

`first_ended_at` is the earliest end of an ended (revoked or expired) permit written into the
export. It is the seam for data retention: when the retention job anonymises permits that ended
before a cutoff, it deletes the exports whose `first_ended_at` is before that cutoff (they hold
those permits' data): `delete_exports_with_ended_before(cutoff)`.
"""

from __future__ import annotations

import csv
import functools
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, gettext, ngettext

from permit_service import metrics
from permit_service.domain import (
    DomainError,
    PermitStatus,
    ValidationFailed,
    status_at,
)
from permit_service.extensions import db
from permit_service.i18n import DEFAULT_LANGUAGE, LANGUAGES
from permit_service.localtime import city_zone, long_time
from permit_service.models import (
    Export,
    ExportChunk,
    Notification,
    Permit,
    PermitEvent,
    User,
    utcnow,
)
from permit_service.services import audit, lifecycle, mail, notifications, queries
from permit_service.services.lifecycle import parse_id
from permit_service.services.zones import clean_code

log = logging.getLogger(__name__)

X = Export.__table__.c
C = ExportChunk.__table__.c
P = Permit.__table__.c
E = PermitEvent.__table__.c

RUN_TASK = "exports.run"
# The CSV's columns, in order (SPEC.md section 10).
COLUMNS = (
    "id",
    "reference",
    "license_plate",
    "name",
    "address",
    "email",
    "zone",
    "status",
    "created_at",
    "decided_at",
    "valid_from",
    "valid_until",
    "fee",
    "currency",
)
BATCH = 5000  # rows per read and per chunk (about 1 MB of CSV)
LEASE_SECONDS = 300  # a running export without a heartbeat this long: its worker is gone
RESEND_SECONDS = 60  # a queued export not started this long: its task is published again
MAX_ATTEMPTS = 3  # runs before an export that keeps losing its worker is marked failed
TIDY_LIMIT = 100  # exports deleted per sweep at most (each may hold a million rows)
# OWASP, CSV injection: what a spreadsheet may read as the start of a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ENDED = (PermitStatus.REVOKED, PermitStatus.EXPIRED)


class ExportNotFound(DomainError):
    """No export with that id that the caller may see."""


class ExportNotReady(DomainError):
    """The export is not done (yet, or it failed): nothing to download."""


@dataclass(frozen=True)
class Requester:
    """Who asks: their user id and whether they are an admin (admins see every export)."""

    user_id: int
    is_admin: bool


def request_export(
    requester: Requester,
    *,
    status: PermitStatus | None = None,
    zone: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    language: str = DEFAULT_LANGUAGE,
) -> Export:
    """Record a queued export of the permits these filters select and hand it to a worker.

    The filters are the listing's (GET /permits), checked as it checks them.
    """
    code = None
    if zone:
        try:
            code = clean_code(zone)
        except ValueError as exc:
            raise ValidationFailed({"zone": [str(exc)]}) from exc
    export = Export(
        requested_by=requester.user_id,
        status_filter=status.value if status is not None else None,
        zone_filter=code,
        created_from=created_from,
        created_to=created_to,
        status="queued",
        row_count=0,
        size=0,
        attempt=0,
        language=language if language in LANGUAGES else DEFAULT_LANGUAGE,
    )
    db.session.add(export)
    db.session.commit()
    _publish([export.id])
    log.info("export requested", extra={"export_id": export.id})
    return export


def get_export(export_id: str, requester: Requester) -> Export:
    """The export, if the requester may see it (admins: all; viewers: their own); else not found."""
    export = db.session.get(Export, _parse_id(export_id))
    if export is None or not (requester.is_admin or export.requested_by == requester.user_id):
        raise ExportNotFound("No export with that id.")
    return export


def ready_export(export_id: str, requester: Requester) -> Export:
    """The export if it is done and the requester may see it, to be downloaded: the read is
    recorded in the read audit (services.audit; committed). ExportNotReady before."""
    export = get_export(export_id, requester)
    if export.status != "done":
        raise ExportNotReady(
            "The export is not ready yet." if export.status != "failed" else "The export failed."
        )
    audit.record_read(requester.user_id, audit.ReadKind.EXPORT, None, detail=export.id)
    return export


def iter_csv(export_id: str) -> Iterator[bytes]:
    """The export's CSV, a chunk at a time, each read by its own statement (a download)."""
    seq = -1
    while True:
        row = db.session.execute(_next_chunk(), {"id": export_id, "seq": seq}).first()
        db.session.rollback()  # nothing held between chunks while the client reads
        if row is None:
            return
        seq = row.seq
        yield bytes(row.data)


def retention_days() -> int:
    """How many days an export is kept (EXPORT_RETENTION_DAYS)."""
    return int(current_app.config["EXPORT_RETENTION_DAYS"])


def filename(export: Export) -> str:
    """The download's file name: permits-<local date and time>-<status>.csv."""
    stamp = export.created_at.astimezone(city_zone()).strftime("%Y%m%d-%H%M")
    return f"permits-{stamp}-{export.status_filter or 'all'}.csv"


# --- the run -------------------------------------------------------------------------------------


def run_export(export_id: str) -> str | None:
    """Write the export's CSV (the task): claim, write every batch, finish; its new status.

    None when there was nothing to do (unknown, or not queued: another run has it or it is
    done). A run that loses its lease meanwhile (the sweep gave the export to a new run) stops
    without writing more.
    """
    now = utcnow()
    claimed = db.session.execute(
        sa.update(Export.__table__)
        .where(X.id == export_id, X.status == "queued")
        .values(
            status="running",
            attempt=X.attempt + 1,
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
            row_count=0,
            size=0,
            error=None,
            first_ended_at=None,
        )
        .returning(X.attempt)
    ).first()
    if claimed is None:
        db.session.rollback()
        return None
    attempt = int(claimed.attempt)
    # A re-run replaces what an earlier, lost run wrote.
    db.session.execute(sa.delete(ExportChunk.__table__).where(C.export_id == export_id))
    db.session.commit()
    export = db.session.get(Export, export_id)
    assert export is not None  # claimed just now; only retention deletes, and not running ones
    filters = queries.Filters(
        status=PermitStatus(export.status_filter) if export.status_filter else None,
        zone=export.zone_filter,
        created_from=export.created_from,
        created_to=export.created_to,
    )
    db.session.rollback()
    try:
        return _write(export_id, attempt, filters, now)
    except Exception as exc:
        db.session.rollback()
        # The error's kind only: a message could carry residents' data into logs and pages.
        _finish(export_id, attempt, "failed", error=type(exc).__name__)
        db.session.commit()
        log.exception("export failed", extra={"export_id": export_id})
        return "failed"


def _write(export_id: str, attempt: int, filters: queries.Filters, now: datetime) -> str | None:
    currency = current_app.config["CURRENCY"]
    params = filters.params(now)
    params["limit"] = BATCH
    keyed = False
    seq, rows, size = 0, 0, 0
    first_ended: datetime | None = None
    while True:
        batch = db.session.execute(_batch_statement(filters.shape(), keyed), params).all()
        db.session.rollback()  # end the read before writing (SQLite cannot upgrade a stale read)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        if seq == 0:
            writer.writerow(COLUMNS)
        for row in batch:
            status = status_at(row, now)
            writer.writerow(_cells(row, status, currency))
            if status in ENDED and row.anonymised_at is None:  # anonymised: no data held
                ended = row.ended_at
                if ended is not None and (first_ended is None or ended < first_ended):
                    first_ended = ended
        data = out.getvalue().encode("utf-8")
        rows += len(batch)
        size += len(data)
        # The heartbeat checks the lease first (PostgreSQL: it locks the export's row), so a
        # chunk is only ever written by the run that holds the export.
        alive = db.session.execute(
            sa.update(Export.__table__)
            .where(X.id == export_id, X.attempt == attempt, X.status == "running")
            .values(heartbeat_at=utcnow(), row_count=rows, size=size)
        ).rowcount
        if not alive:
            db.session.rollback()
            log.warning("export run lost its lease", extra={"export_id": export_id})
            return None
        if data:
            db.session.execute(
                sa.insert(ExportChunk.__table__).values(export_id=export_id, seq=seq, data=data)
            )
        db.session.commit()
        seq += 1
        if len(batch) < BATCH:
            break
        params.update(after_at=batch[-1].created_at, after_id=batch[-1].id)
        keyed = True
    done = _finish(export_id, attempt, "done", first_ended_at=first_ended)
    if done:
        _tell_requester(export_id)
    db.session.commit()
    log.info("export done", extra={"export_id": export_id, "rows": rows, "bytes": size})
    return "done" if done else None


def _finish(export_id: str, attempt: int, status: str, **values: Any) -> bool:
    """running -> done|failed, if this run still holds the export (compare-and-set)."""
    finished = bool(
        db.session.execute(
            sa.update(Export.__table__)
            .where(X.id == export_id, X.attempt == attempt, X.status == "running")
            .values(status=status, finished_at=utcnow(), **values)
        ).rowcount
    )
    if finished:
        metrics.export_finished(status)
    return finished


def _tell_requester(export_id: str) -> None:
    """Queue the requester's e-mail "your export is ready" in the finishing transaction
    (sent after the commit by the outbox's delivery, with its retries)."""
    row = db.session.execute(
        sa.select(User.email, X.language)
        .join(User, User.id == X.requested_by)
        .where(X.id == export_id)
    ).first()
    if row is not None:
        notifications.queue_staff("export_ready", row.email, export_id, language=row.language)


def neutralise(value: str) -> str:
    """A cell a spreadsheet would read as a formula, made plain text (OWASP: a leading ')."""
    return "'" + value if value.startswith(FORMULA_START) else value


def _iso(value: datetime | None) -> str:
    return "" if value is None else value.isoformat()


def _cells(row: Any, status: PermitStatus, currency: str) -> list[str]:
    decided = row.decided_at
    if decided is None and status is PermitStatus.EXPIRED and row.status == "pending":
        decided = row.expires_at  # due, not yet recorded by a sweep: time decided at the deadline
    return [
        row.id,
        row.reference,
        neutralise(row.license_plate),
        neutralise(row.name),
        neutralise(row.address),
        neutralise(row.email or ""),
        neutralise(row.zone),
        status.value,
        _iso(row.created_at),
        _iso(decided),
        _iso(row.valid_from),
        _iso(row.valid_until),
        "" if row.fee is None else f"{row.fee:.2f}",
        currency,
    ]


@functools.cache
def _batch_statement(shape: tuple[Any, ...], keyed: bool) -> sa.Select[Any]:
    """One batch: the first :limit permits of the filter (`keyed`: after (:after_at,
    :after_id)), newest first (the listing's default order), with when each was decided and
    when it ended."""
    decided = (
        sa.select(sa.func.min(E.created_at))
        .where(E.permit_id == P.id, E.from_status == PermitStatus.PENDING.value)
        .scalar_subquery()
    )
    after_at = sa.bindparam("after_at", type_=P.created_at.type)
    after_id = sa.bindparam("after_id", type_=P.id.type)
    after = sa.tuple_(P.created_at, P.id) < sa.tuple_(after_at, after_id) if keyed else sa.true()
    return (
        sa.select(
            P.id,
            P.reference,
            P.license_plate,
            P.name,
            P.address,
            P.email,
            P.zone,
            P.status,
            P.created_at,
            P.expires_at,
            P.valid_from,
            P.valid_until,
            P.fee,
            decided.label("decided_at"),
            # When it ended, if it has (now, or stored so), as retention counts it.
            lifecycle.ended_at().label("ended_at"),
            P.anonymised_at,
        )
        .where(queries.filter_condition(shape), after)
        .order_by(P.created_at.desc(), P.id.desc())
        .limit(sa.bindparam("limit", type_=sa.Integer()))
    )


@functools.cache
def _next_chunk() -> sa.Select[Any]:
    return (
        sa.select(C.seq, C.data)
        .where(C.export_id == sa.bindparam("id"), C.seq > sa.bindparam("seq"))
        .order_by(C.seq)
        .limit(1)
    )


# --- the sweep: retention and lost runs ----------------------------------------------------------


def tidy_exports(now: datetime | None = None) -> tuple[int, int]:
    """Delete exports past EXPORT_RETENTION_DAYS (at most TIDY_LIMIT) and pick up lost runs;
    (deleted, picked up). One indexed read each when there is nothing to do."""
    now = now or utcnow()
    cutoff = now - timedelta(days=retention_days())
    old = list(
        db.session.scalars(
            sa.select(X.id).where(X.created_at < cutoff).order_by(X.created_at).limit(TIDY_LIMIT)
        )
    )
    deleted = _delete(old)
    lost = _pick_up_lost(now)
    picked = lost or []
    if deleted or lost is not None:
        db.session.commit()
    else:
        db.session.rollback()  # nothing written: end the read
    _publish(picked)
    if deleted or picked:
        log.info("exports tidied", extra={"deleted": deleted, "picked_up": len(picked)})
    return deleted, len(picked)


def holding_ended_by(cutoff: datetime) -> sa.ColumnElement[bool]:
    """Exports holding a permit that ended at or before `cutoff` (retention's condition)."""
    return X.first_ended_at <= cutoff


def delete_exports_with_ended_before(cutoff: datetime) -> int:
    """For retention: delete the exports holding a permit that ended at or before `cutoff`, in
    the caller's transaction; how many."""
    ids = list(db.session.scalars(sa.select(X.id).where(holding_ended_by(cutoff))))
    return _delete(ids)


def _delete(ids: list[str]) -> int:
    if not ids:
        return 0
    db.session.execute(sa.delete(ExportChunk.__table__).where(C.export_id.in_(ids)))
    return int(db.session.execute(sa.delete(Export.__table__).where(X.id.in_(ids))).rowcount or 0)


def _pick_up_lost(now: datetime) -> list[str] | None:
    """Lost runs: running without a heartbeat for LEASE_SECONDS -> queued again (or failed
    after MAX_ATTEMPTS); queued and not started for RESEND_SECONDS -> published again. The
    ids to publish; None when nothing was stale (nothing written)."""
    quiet_since = now - timedelta(seconds=min(RESEND_SECONDS, LEASE_SECONDS))
    stale = db.session.scalar(
        sa.select(X.id)
        .where(X.status.in_(("queued", "running")), X.heartbeat_at < quiet_since)
        .limit(1)
    )
    if stale is None:  # the usual case: one read of the partial index, no write (SQLite's lock)
        return None
    silent = sa.and_(X.status == "running", X.heartbeat_at < now - timedelta(seconds=LEASE_SECONDS))
    lost = db.session.execute(
        sa.update(Export.__table__)
        .where(silent, X.attempt >= MAX_ATTEMPTS)
        .values(status="failed", finished_at=now, error="WorkerLost")
    ).rowcount
    for _ in range(max(lost, 0)):
        metrics.export_finished("failed")
    requeued = db.session.scalars(
        sa.update(Export.__table__)
        .where(silent, X.attempt < MAX_ATTEMPTS)
        .values(status="queued", heartbeat_at=now)
        .returning(X.id)
    ).all()
    waiting = db.session.scalars(
        sa.update(Export.__table__)
        .where(X.status == "queued", X.heartbeat_at < now - timedelta(seconds=RESEND_SECONDS))
        .values(heartbeat_at=now)
        .returning(X.id)
    ).all()
    return list(dict.fromkeys([*requeued, *waiting]))


def _publish(ids: list[str]) -> None:
    """Hand the exports to a worker after the commit, never waiting for the broker (a lost
    publish is picked up by the sweep)."""
    if not ids:
        return
    from permit_service.dispatch import publisher

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for export_id in ids:
        publisher.submit(app, RUN_TASK, [export_id])


def _parse_id(export_id: str) -> str:
    try:
        return parse_id(export_id)
    except DomainError:
        raise ExportNotFound("No export with that id.") from None


# --- the requester's e-mail ----------------------------------------------------------------------


def compose_ready(note: Notification) -> mail.StaffMail:
    """The staff e-mail "your export is ready" (services.mail.STAFF_COMPOSERS["export_ready"])."""
    export = db.session.get(Export, note.subject_ref)
    language = note.language if note.language in LANGUAGES else DEFAULT_LANGUAGE
    base = current_app.config["PUBLIC_BASE_URL"]
    with force_locale(language):  # services.mail sets it too; this keeps the function whole
        if export is None:  # deleted (retention) before the message went out
            return mail.StaffMail(
                subject=gettext("Your CSV export was deleted"),
                paragraphs=[gettext("The export was deleted before it could be downloaded.")],
                link=None,
            )
        days = retention_days()
        return mail.StaffMail(
            subject=ngettext(
                "Your CSV export is ready (%(num)d permit)",
                "Your CSV export is ready (%(num)d permits)",
                export.row_count,
            ),
            paragraphs=[
                ngettext(
                    "The export you asked for on %(when)s is ready: %(num)d permit.",
                    "The export you asked for on %(when)s is ready: %(num)d permits.",
                    export.row_count,
                    when=long_time(export.created_at, language=language, zone=city_zone()),
                ),
                gettext(
                    "It holds residents' personal data: keep the file safe. It is deleted "
                    "%(days)d days after it was asked for.",
                    days=days,
                ),
            ],
            link=f"{base}/admin/exports/{export.id}",
        )

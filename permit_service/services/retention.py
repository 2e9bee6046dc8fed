"""Retention: residents' data of permits that ended long ago is removed; statistics stay.

A permit that ended (stored `revoked` or `expired`) more than RETENTION_DAYS ago loses its
resident's name, address, plate and e-mail, the free-text reasons of its events and
notifications and its notifications' delivery errors (which can quote an address); status,
zone, fee, reference, language and every time stay, and `anonymised_at` records when. Its
notifications' bodies and recipients go with it: they are composed at sending from the permit.
Staff reads (the read audit) older than RETENTION_DAYS are deleted.

When a permit ended: a revocation when it was recorded (`updated_at`, which nothing changes
afterwards); an expiry at its deadline (`valid_until`, or `expires_at` of an application never
decided), even when the sweep recorded it later. A permit whose deadline has passed but that
the sweep has not yet recorded expired is still stored open: it is left alone (its plate holds
the one-open-permit-per-plate index, and the sweep still has to write its event and e-mail),
and the first run after the sweep (every EXPIRY_SWEEP_SECONDS) takes it.

Scrubbed values: '' for the NOT NULL name, address, plate and plate key, null for the rest.
'' never matches a lookup (a plate has 2-10 letters and digits, an address 1-200 characters)
and never meets the unique index of open plates, which holds open permits only; an ended
permit never reopens (domain.TRANSITIONS has no way out of revoked or expired).

Safe next to sweeps and decisions: each batch is one UPDATE whose WHERE repeats the whole
condition (stored ended, not anonymised, ended before the cutoff), a compare-and-set. Set-based
and bounded like the sweep (services.sweep): batches of keys from the partial index
ix_permits_ended_not_anonymised, each its own short transaction sized by time; SQLite's write
lock is left free between batches. Idempotent: an anonymised permit leaves the index.

What other tables hold about a permit is scrubbed by the steps in SCRUB_STEPS, one set-based
statement each over the batch's anonymised ids; CSV exports that hold such a permit are deleted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from permit_service import cache
from permit_service.domain import PermitStatus
from permit_service.extensions import db
from permit_service.models import (
    Export,
    Notification,
    Permit,
    PermitEvent,
    PermitRead,
    utcnow,
)
from permit_service.services import exports, sweep
from permit_service.services.lifecycle import _likely, ended_at

log = logging.getLogger(__name__)

P = Permit.__table__.c
E = PermitEvent.__table__
N = Notification.__table__
R = PermitRead.__table__
ENDED = (PermitStatus.EXPIRED.value, PermitStatus.REVOKED.value)  # as models.ENDED_NOT_ANONYMISED
ANONYMISED = ""  # the scrubbed value of the NOT NULL text columns
# A batch's ids are bound one by one (IN lists): far below SQLite's 32,766 and psycopg's 65,535
# parameters, whatever rate the batch sizing measures.
MAX_BATCH = 5_000


def _in_index() -> list[sa.ColumnElement[bool]]:
    """The rows of ix_permits_ended_not_anonymised, spelled as its WHERE (literal values: a
    planner matches a partial index only so). On SQLite the status term is marked likely():
    without statistics its planner would take it for the most selective term and walk
    ix_permits_status_created_at, then sort (EXPLAIN QUERY PLAN; lifecycle.stored_in)."""
    ended = ", ".join(f"'{s}'" for s in ENDED)
    return [_likely(sa.text(f"status IN ({ended})")), sa.text("anonymised_at IS NULL")]


def _candidates(cutoff: datetime) -> list[sa.ColumnElement[bool]]:
    """Stored ended, still holding personal data, ended at or before `cutoff`."""
    return [*_in_index(), ended_at() <= sa.literal(cutoff, P.updated_at.type)]


# --- what other tables hold: one set-based statement per table ---------------------------------

ScrubStep = Callable[[sa.Select[Any]], sa.Executable]


def _scrub_events(ids: sa.Select[Any]) -> sa.Executable:
    # Reasons are free text (a revocation's reason); who and when stay.
    return sa.update(E).where(E.c.permit_id.in_(ids), E.c.reason.is_not(None)).values(reason=None)


def _scrub_notifications(ids: sa.Select[Any]) -> sa.Executable:
    # Bodies and recipients are composed from the permit when sent; what is kept here is the
    # reason quoted in them and delivery errors, which can quote the address.
    return (
        sa.update(N)
        .where(N.c.permit_id.in_(ids), sa.or_(N.c.reason.is_not(None), N.c.last_error.is_not(None)))
        .values(reason=None, last_error=None)
    )


# Not here: exports hold files, not rows per permit (anonymise_ended deletes those holding a
# permit it anonymises); enforcement checks are keyed by plate, hold no name or address and are
# deleted after ENFORCEMENT_LOG_HOURS.
SCRUB_STEPS: list[ScrubStep] = [_scrub_events, _scrub_notifications]


@dataclass(frozen=True)
class Retention:
    """What a retention run did (or, dry, would do)."""

    permits: int
    reads: int
    cutoff: datetime
    exports: int = 0  # CSV exports deleted: they held data of permits anonymised now


def cutoff_at(now: datetime) -> datetime:
    """Data of permits that ended at or before this moment is due for removal."""
    return now - timedelta(days=current_app.config["RETENTION_DAYS"])


def count_due(now: datetime | None = None) -> Retention:
    """How many permits and staff reads a run at `now` would remove (changes nothing)."""
    cutoff = cutoff_at(now or utcnow())
    permits = db.session.scalar(
        sa.select(sa.func.count()).select_from(Permit).where(*_candidates(cutoff))
    )
    reads = db.session.scalar(
        sa.select(sa.func.count()).select_from(PermitRead).where(R.c.created_at <= cutoff)
    )
    old_exports = db.session.scalar(
        sa.select(sa.func.count()).select_from(Export).where(exports.holding_ended_by(cutoff))
    )
    db.session.rollback()
    return Retention(int(permits or 0), int(reads or 0), cutoff, int(old_exports or 0))


def anonymise_ended(now: datetime | None = None) -> Retention:
    """Anonymise every permit that ended before the cutoff and delete old staff reads."""
    now = now or utcnow()
    cutoff = cutoff_at(now)
    permits = _in_batches(lambda size, after: _anonymise_batch(now, cutoff, size, after))
    reads = _in_batches(lambda size, after: _forget_reads_batch(cutoff, size, after))
    # An export holds a copy of the permits it was made of: one holding a permit anonymised
    # now (it ended by the cutoff: exports.first_ended_at, by ended_at() above) goes too.
    old_exports = exports.delete_exports_with_ended_before(cutoff)
    db.session.commit()
    # Counts only: never a name, plate or id in the log.
    log.info(
        "anonymised ended permits",
        extra={"count": permits, "reads_deleted": reads, "exports_deleted": old_exports},
    )
    return Retention(permits, reads, cutoff, old_exports)


def _anonymise_batch(
    now: datetime, cutoff: datetime, size: int, after: tuple[Any, Any] | None
) -> tuple[int, int, tuple[Any, Any] | None]:
    """One batch: the next `size` keys of the partial index; anonymise those due. (seen,
    changed, last key)."""
    rows = db.session.execute(next_keys(size, after)).all()
    if not rows:
        return 0, 0, None
    changed = list(
        db.session.scalars(
            sa.update(Permit.__table__)
            .where(P.id.in_([r.id for r in rows]), *_candidates(cutoff))
            .values(
                name=ANONYMISED,
                address=ANONYMISED,
                license_plate=ANONYMISED,
                plate_key=ANONYMISED,
                email=None,
                anonymised_at=now,
            )
            .returning(P.id)
        )
    )
    if changed:
        ids = sa.select(P.id).where(P.id.in_(changed))
        for step in SCRUB_STEPS:
            db.session.execute(step(ids))
        # Cached reads (a permit's row, its plate's permits) go after the commit: the plates
        # are gone from the rows now, so every cached value is retired (a nightly batch).
        cache.touch(db.session, permits=changed, everything=True)
    last = rows[-1]
    return len(rows), len(changed), (last.updated_at, last.id)


def next_keys(size: int, after: tuple[Any, Any] | None) -> sa.Select[Any]:
    """The next `size` entries of ix_permits_ended_not_anonymised after the key `after`."""
    keys = sa.select(P.updated_at, P.id).where(*_in_index())
    if after is not None:
        at, pid = after
        keys = keys.where(
            sa.tuple_(P.updated_at, P.id)
            > sa.tuple_(sa.literal(at, P.updated_at.type), sa.literal(pid, P.id.type))
        )
    return keys.order_by(P.updated_at, P.id).limit(size)


def _forget_reads_batch(
    cutoff: datetime, size: int, after: tuple[Any, Any] | None
) -> tuple[int, int, tuple[Any, Any] | None]:
    """One batch of staff reads older than the cutoff, deleted (oldest first)."""
    ids = list(
        db.session.scalars(
            sa.select(R.c.id).where(R.c.created_at <= cutoff).order_by(R.c.created_at).limit(size)
        )
    )
    if not ids:
        return 0, 0, None
    db.session.execute(sa.delete(R).where(R.c.id.in_(ids)))
    return len(ids), len(ids), None


def _in_batches(
    batch: Callable[[int, tuple[Any, Any] | None], tuple[int, int, tuple[Any, Any] | None]],
) -> int:
    """Run `batch` until it finds nothing, each in its own transaction sized by time (as the
    sweep); how many rows it changed."""
    dialect = db.session.get_bind().dialect.name
    sqlite = dialect == "sqlite"
    seconds = sweep.BATCH_SECONDS.get(dialect, 0.1)
    size, after, total = sweep.FIRST_BATCH, None, 0
    db.session.rollback()
    while True:
        if sqlite:
            sweep._take_write_lock()
        started = time.perf_counter()
        seen, changed, last = batch(size, after)
        elapsed = time.perf_counter() - started
        db.session.commit()
        total += changed
        if seen < size:
            break
        after = last
        size = min(MAX_BATCH, sweep.next_size(size, seen, elapsed, seconds))
        if sqlite:
            sweep._let_writers_in(started)
    if sqlite:
        sweep._checkpoint()
    return total

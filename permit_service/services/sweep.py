"""The sweep: every due permit recorded, in short batches that never stall the service.

Each batch is its own short transaction (services.lifecycle.move_due_batch), sized by time to
take about BATCH_SECONDS, so a write waits at most about one batch behind a sweep:

- PostgreSQL locks rows: only a write to a permit in the running batch waits (an approve of a
  due permit, to answer 409), and only until that batch commits; everything else goes on.
- SQLite has one write lock for the whole database. A writer that finds it taken sleeps in
  SQLite's busy handler and retries at 1, 3, 8, 18, 33, 53, 78, 103, 128 ms... after its first
  try, never more than 25 ms apart in its first 128 ms (50 ms up to 228 ms). So between batches
  the sweep leaves the lock free at least that long (SQLITE_GAP_SECONDS, 25 ms, or more after a
  long batch): every writer that began waiting during the batch retries inside that gap and
  gets in, at most a batch, its commit and checkpoint, and a gap after it began waiting.
  Committing without a gap is not enough: the sweep would take the lock back within
  microseconds, long before any sleeping writer looks again.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import sqlalchemy as sa

from permit_service.db_bounds import defer_sqlite_checkpoints
from permit_service.extensions import db
from permit_service.services.lifecycle import anything_due, move_due_batch

# How long one batch should hold its locks (its statements; the commit adds a few ms). SQLite's
# lock stops every writer, so shorter; PostgreSQL's row locks only stop writes to those rows.
BATCH_SECONDS = {"sqlite": 0.08, "postgresql": 0.12}
# Rows in the first batch of a sweep; later ones are sized from the rate measured so far.
FIRST_BATCH = 500
MIN_BATCH = 100
MAX_BATCH = 50_000
# SQLite only: the write lock is left free this long between batches (see above).
SQLITE_GAP_SECONDS = 0.025


def sweep_due(now: datetime) -> int:
    """Record every time event due at `now`, batch by batch, each batch committed; how many.

    When nothing is due this is one indexed query and no write.
    """
    statuses = anything_due(now)
    db.session.rollback()  # end the read: nothing is held between batches
    if not statuses:
        return 0
    dialect = db.session.get_bind().dialect.name
    sqlite = dialect == "sqlite"
    seconds = BATCH_SECONDS.get(dialect, 0.1)
    total = 0
    for status in statuses:
        size, after = FIRST_BATCH, None
        while True:
            if sqlite:
                _take_write_lock()
            else:
                # A batch lost in a crash is simply redone by the next sweep (being due is a
                # matter of time, and reads are exact without it): no need to wait for the
                # WAL to reach the disk at each commit.
                db.session.execute(sa.text("SET LOCAL synchronous_commit = off"))
            started = time.perf_counter()  # after any wait for the lock: batches sized by work
            batch = move_due_batch(status, now, size, after)
            elapsed = time.perf_counter() - started
            db.session.commit()
            total += batch.moved
            # SQLite moved every due row it took, so a short batch was the last. On PostgreSQL
            # rows changed or held meanwhile are left out, so only an empty batch ends it.
            if batch.seen == 0 or (sqlite and batch.seen < size):
                break
            after = batch.after
            size = next_size(size, batch.seen, elapsed, seconds)
            if sqlite:
                _let_writers_in(started)
    if sqlite:
        _checkpoint()  # the last batch's pages too
    return total


# The enforcement check log: rows deleted per statement once older than ENFORCEMENT_LOG_HOURS.
CHECK_LOG_BATCH = 5000


def delete_old_checks(now: datetime, hours: int) -> int:
    """Delete enforcement check rows logged more than `hours` before `now`; return how many.

    Oldest first, CHECK_LOG_BATCH rows per statement (an index range of
    ix_enforcement_checks_checked_at_id), each committed; on SQLite with the gap between
    batches that lets waiting writers in. Nothing to delete: one indexed read.
    """
    from permit_service.models import EnforcementCheck

    table = EnforcementCheck.__table__
    cutoff = now - timedelta(hours=hours)
    sqlite = db.session.get_bind().dialect.name == "sqlite"
    oldest = (
        sa.select(table.c.id)
        .where(table.c.checked_at < cutoff)
        .order_by(table.c.checked_at, table.c.id)
        .limit(CHECK_LOG_BATCH)
    )
    if not db.session.scalar(sa.select(sa.exists(oldest))):
        db.session.rollback()  # nothing old: one indexed read, no write, no lock
        return 0
    db.session.rollback()
    total = 0
    while True:
        started = time.perf_counter()
        if sqlite:
            _take_write_lock()
        deleted = db.session.execute(
            sa.delete(table).where(table.c.id.in_(oldest.scalar_subquery()))
        ).rowcount
        db.session.commit()
        total += deleted
        if deleted < CHECK_LOG_BATCH:
            return total
        if sqlite:
            _let_writers_in(started)


def _take_write_lock() -> None:
    """SQLite: begin the batch's transaction holding the write lock (waiting for it if need be)."""
    connection = db.session.connection()
    defer_sqlite_checkpoints(connection)
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _let_writers_in(locked_at: float) -> None:
    """SQLite: checkpoint the WAL, then leave the write lock free long enough for any waiter.

    The sweep checkpoints itself (it deferred SQLite's automatic checkpoint), so that web
    commits never find a WAL the sweep filled and copy it back themselves. Writers were seen
    to fail their retries while a checkpoint runs, so the gap comes after it, as long as the
    retry spacing of a writer that has waited since the batch took the lock (`locked_at`):
    25 ms up to 128 ms of waiting, 50 ms up to 228 ms, 100 ms after that.
    """
    _checkpoint()
    waited = time.perf_counter() - locked_at
    gap = next(g for limit, g in _BUSY_SPACING if waited + g <= limit)
    time.sleep(max(gap, SQLITE_GAP_SECONDS))


# (waited at most, then a retry at least every) in SQLite's busy handler, in seconds.
_BUSY_SPACING = [(0.128, 0.025), (0.228, 0.05), (float("inf"), 0.1)]


def _checkpoint() -> None:
    db.session.execute(sa.text("PRAGMA wal_checkpoint(PASSIVE)"))
    db.session.commit()


def next_size(size: int, seen: int, elapsed: float, seconds: float) -> int:
    """Rows for the next batch: what the last one's rate gives in `seconds`, within 2x."""
    wanted = seen / max(elapsed, 1e-3) * seconds
    return int(min(MAX_BATCH, size * 2, max(MIN_BATCH, size // 2, wanted)))

"""Bulk seeding of synthetic permits, for benchmarks and demos (`flask permits seed`).

It writes rows directly, set-based (COPY on PostgreSQL), for speed: never use it on live data.
Each batch moves permit_counts in its own transaction (services.lifecycle.move_counts).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from permit_service import cache
from permit_service.domain import PermitStatus
from permit_service.extensions import db
from permit_service.models import DEFAULT_ZONE, Permit, PermitEvent, Zone, utcnow
from permit_service.references import SPACE, format_reference
from permit_service.services.lifecycle import (
    APPLICANT_ACTOR,
    EXPIRY_REASON,
    SYSTEM_ACTOR,
    event_values,
    move_counts,
)

E = PermitEvent.__table__


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
    row at a time through the ORM. Plates and references are unique
    (numbered after the permits already there), statuses follow `mix`. Decided permits are spread
    over the past year; pending ones are the newest, with deadlines ahead of them, or behind them
    when `due` is set (what the sweep finds after an outage). Approved ones are valid for
    PERMIT_VALIDITY_DAYS from their approval, or, when `due` is set, their validity has just
    ended (unswept). `on_batch(n)` reports progress.
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
    validity = timedelta(days=current_app.config["PERMIT_VALIDITY_DAYS"])
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
        moved = dict.fromkeys(PermitStatus, 0)
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
            valid_from = valid_until = None
            if status is PermitStatus.APPROVED:
                valid_from = stamp(updated)
                # Due: ended a moment ago, spread over the last TTL, like due applications.
                end = now - ttl * (1 - frac) if due else updated + validity
                valid_until = stamp(end)
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
                    "reference": _seed_reference(n),
                    "valid_from": valid_from,
                    "valid_until": valid_until,
                    "zone": DEFAULT_ZONE,  # no quota: every seeded approval has its place
                    "waitlisted_at": None,
                    "fee": "0.00" if valid_from is not None else None,
                }
            )
            applied = event_values(None, PermitStatus.PENDING, APPLICANT_ACTOR, None, created_s)
            events.append({"permit_id": pid, **applied})
            moved[status] += 1
            if status is not PermitStatus.PENDING:
                expired = status is PermitStatus.EXPIRED
                actor = SYSTEM_ACTOR if expired else "seed"
                reason = EXPIRY_REASON if expired else None
                decided = event_values(PermitStatus.PENDING, status, actor, reason, updated_s)
                events.append({"permit_id": pid, **decided})
        if dialect == "postgresql":
            _copy_rows("permits", permits)
            _copy_rows("permit_events", events)
        else:
            db.session.execute(sa.insert(permits_t), permits)
            db.session.execute(sa.insert(events_t), events)
        move_counts(moved)
        cache.touch(db.session, everything=True)  # new plates' permits, the zones' counts
        if moved[PermitStatus.APPROVED]:
            zones = Zone.__table__.c
            db.session.execute(
                sa.update(Zone.__table__)
                .where(zones.code == DEFAULT_ZONE)
                .values(valid_permits=zones.valid_permits + moved[PermitStatus.APPROVED])
            )
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


def _seed_reference(n: int) -> str:
    """The n-th synthetic reference: a fixed permutation of the 2**30 references (unique per n).

    Multiplying by an odd number modulo 2**30 is a bijection, so consecutive permits get
    unrelated-looking, distinct references. One that a real application drew at random may
    already exist: seeding is for empty development and benchmark databases.
    """
    return format_reference((n * _SEED_MULTIPLIER + _SEED_OFFSET) % SPACE)


_SEED_MULTIPLIER = 0x2545F491  # odd
_SEED_OFFSET = 0x1B873593


def holds_permits() -> bool:
    """Whether the database already holds a permit: seeding refuses to mix with real data."""
    return db.session.execute(sa.select(Permit.id).limit(1)).first() is not None

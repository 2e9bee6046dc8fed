"""permits that last: validity periods and short references

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Adds `reference` (unique, P-XXXX-XX, back-filled at random for every permit), `valid_from` and
`valid_until` (the validity of an approved permit), an index on (status, valid_until) for the
sweep and the exact end-of-validity reads, and `valid_until` in the covering listing index.

Permits approved before this upgrade had no validity. They get one as if approved under the new
rules: `valid_from` is the moment they were approved (their latest `approved` event, else
`updated_at`), `valid_until` the end of the local day (CITY_TIMEZONE) PERMIT_VALIDITY_DAYS after
that, but never earlier than the end of the local day RENEWAL_WINDOW_DAYS after the upgrade. So no
permit ends silently at the upgrade, and every resident whose permit is older than its new
validity gets a full renewal window, starting now, to renew it. Revoked and expired permits keep
no validity (they never had one). The settings are the app's (config.py) at upgrade time.

The day arithmetic is written out here rather than imported from permit_service.validity, so
that this migration does what it did on the day it was written, whatever the code does later.

SQLite cannot make an existing column NOT NULL without copying the table (which, with foreign
keys on, would cascade-delete the events), so there `reference` is added as NOT NULL with an
empty-string default that the back-fill replaces; the unique index refuses a second empty one.
"""

import secrets
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # as permit_service.references (no O/0, I/1)
CHUNK = 5_000

permits = sa.table(
    "permits",
    sa.column("id", sa.String()),
    sa.column("status", sa.String()),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    sa.column("reference", sa.String()),
    sa.column("valid_from", sa.DateTime(timezone=True)),
    sa.column("valid_until", sa.DateTime(timezone=True)),
)
events = sa.table(
    "permit_events",
    sa.column("permit_id", sa.String()),
    sa.column("to_status", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def _settings() -> tuple[ZoneInfo, int, int]:
    """CITY_TIMEZONE, PERMIT_VALIDITY_DAYS and RENEWAL_WINDOW_DAYS of the app upgrading."""
    from flask import current_app

    config = current_app.config
    return (
        ZoneInfo(config.get("CITY_TIMEZONE") or "UTC"),
        int(config.get("PERMIT_VALIDITY_DAYS") or 365),
        int(config.get("RENEWAL_WINDOW_DAYS") or 30),
    )


def _end_of_local_day(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.max).replace(tzinfo=zone).astimezone(UTC)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _references(count: int) -> list[str]:
    """`count` distinct random references."""
    found: set[str] = set()
    while len(found) < count:
        code = "".join(secrets.choice(ALPHABET) for _ in range(6))
        found.add(f"P-{code[:4]}-{code[4:]}")
    return list(found)


def upgrade():
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    # Stored as the models store them: SQLite naive UTC, PostgreSQL timestamptz.
    stamp = (lambda dt: dt.replace(tzinfo=None)) if sqlite else (lambda dt: dt)

    op.add_column(
        "permits",
        sa.Column(
            "reference",
            sa.String(length=9),
            nullable=not sqlite,
            server_default=sa.text("''") if sqlite else None,
        ),
    )
    op.add_column("permits", sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True))
    op.add_column("permits", sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True))

    ids = list(bind.scalars(sa.select(permits.c.id)))
    update_reference = (
        sa.update(permits)
        .where(permits.c.id == sa.bindparam("pid"))
        .values(reference=sa.bindparam("ref"))
    )
    all_refs = _references(len(ids))
    for start in range(0, len(ids), CHUNK):
        rows = [
            {"pid": pid, "ref": ref}
            for pid, ref in zip(ids[start : start + CHUNK], all_refs[start : start + CHUNK])
        ]
        bind.execute(update_reference, rows)

    zone, validity_days, window_days = _settings()
    now = datetime.now(UTC)
    floor = _end_of_local_day(now.astimezone(zone).date() + timedelta(days=window_days), zone)
    approved_at = (
        sa.select(sa.func.max(events.c.created_at))
        .where(events.c.permit_id == permits.c.id, events.c.to_status == "approved")
        .scalar_subquery()
    )
    rows = bind.execute(
        sa.select(permits.c.id, permits.c.updated_at, approved_at).where(
            permits.c.status == "approved"
        )
    ).all()
    set_validity = (
        sa.update(permits)
        .where(permits.c.id == sa.bindparam("pid"))
        .values(valid_from=sa.bindparam("start"), valid_until=sa.bindparam("until"))
    )
    values = []
    for pid, updated_at, approved in rows:
        approved = approved if approved is not None else updated_at
        if isinstance(approved, str):  # SQLite hands a scalar subquery back untyped
            approved = datetime.fromisoformat(approved)
        start = _aware(approved)
        local_day = start.astimezone(zone).date() + timedelta(days=validity_days)
        until = max(_end_of_local_day(local_day, zone), floor)
        values.append({"pid": pid, "start": stamp(start), "until": stamp(until)})
    for start in range(0, len(values), CHUNK):
        bind.execute(set_validity, values[start : start + CHUNK])

    if not sqlite:
        op.alter_column("permits", "reference", existing_type=sa.String(length=9), nullable=False)
    op.create_index("uq_permits_reference", "permits", ["reference"], unique=True)
    op.create_index("ix_permits_status_valid_until", "permits", ["status", "valid_until"])
    op.drop_index("ix_permits_status_created_at", table_name="permits")
    op.create_index(
        "ix_permits_status_created_at",
        "permits",
        ["status", "created_at", "id", "expires_at", "valid_until"],
    )


def downgrade():
    op.drop_index("ix_permits_status_created_at", table_name="permits")
    op.create_index(
        "ix_permits_status_created_at", "permits", ["status", "created_at", "id", "expires_at"]
    )
    op.drop_index("ix_permits_status_valid_until", table_name="permits")
    op.drop_index("uq_permits_reference", table_name="permits")
    # SQLite 3.35+ and PostgreSQL both drop a column in place (no table copy, indexes kept).
    op.drop_column("permits", "valid_until")
    op.drop_column("permits", "valid_from")
    op.drop_column("permits", "reference")

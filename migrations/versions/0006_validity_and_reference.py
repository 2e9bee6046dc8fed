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

Speed: the new values are computed in Python, bulk-loaded (COPY on PostgreSQL) into a temporary
table and applied by one UPDATE, with the secondary indexes dropped meanwhile and re-created
from their own definitions. 200,000 permits took 8 s on SQLite and 16 s on PostgreSQL on a busy
2-core machine (row-by-row updates: 17 s and 50 s).
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
CHUNK = 10_000
NEW_VALUES = "permit_upgrade_0006"

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


def _reference(number: int) -> str:
    chars = []
    for _ in range(6):
        number, digit = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[digit])
    return f"P-{chars[0]}{chars[1]}{chars[2]}{chars[3]}-{chars[4]}{chars[5]}"


def _references(count: int) -> list[str]:
    """`count` distinct random references."""
    numbers: set[int] = set()
    while len(numbers) < count:
        numbers.add(secrets.randbelow(len(ALPHABET) ** 6))
    return [_reference(n) for n in numbers]


def _secondary_indexes(bind: sa.Connection, sqlite: bool) -> dict[str, str]:
    """Name -> CREATE statement of every index on permits that no constraint owns."""
    if sqlite:
        query = (
            "SELECT name, sql FROM sqlite_master "
            "WHERE type = 'index' AND tbl_name = 'permits' AND sql IS NOT NULL"
        )
    else:
        query = (
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "WHERE t.relname = 'permits' AND t.relnamespace = current_schema()::regnamespace "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)"
        )
    return dict(bind.execute(sa.text(query)).all())


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

    # Every permit's new values, computed here, bulk-loaded into a temporary table and applied
    # by ONE statement (row-by-row updates took 50 s for 200,000 permits on PostgreSQL).
    zone, validity_days, window_days = _settings()
    now = datetime.now(UTC)
    floor = _end_of_local_day(now.astimezone(zone).date() + timedelta(days=window_days), zone)
    approvals = (
        sa.select(events.c.permit_id, sa.func.max(events.c.created_at).label("at"))
        .where(events.c.to_status == "approved")
        .group_by(events.c.permit_id)
        .subquery()
    )
    rows = bind.execute(
        sa.select(permits.c.id, permits.c.status, permits.c.updated_at, approvals.c.at).outerjoin(
            approvals, approvals.c.permit_id == permits.c.id
        )
    ).all()
    values = []
    for (pid, status, updated_at, approved), reference in zip(
        rows, _references(len(rows)), strict=True
    ):
        start = until = None
        if status == "approved":
            approved = approved if approved is not None else updated_at
            if isinstance(approved, str):  # SQLite hands an aggregate back untyped
                approved = datetime.fromisoformat(approved)
            start = _aware(approved)
            local_day = start.astimezone(zone).date() + timedelta(days=validity_days)
            until = stamp(max(_end_of_local_day(local_day, zone), floor))
            start = stamp(start)
        values.append({"id": pid, "reference": reference, "start": start, "until": until})

    stamp_type = "DATETIME" if sqlite else "TIMESTAMP WITH TIME ZONE"
    op.execute(
        f"CREATE TEMPORARY TABLE {NEW_VALUES} (id VARCHAR(36) PRIMARY KEY, "
        f"reference VARCHAR(9) NOT NULL, start {stamp_type}, until {stamp_type})"
    )
    if sqlite:
        new_values = sa.table(
            NEW_VALUES,
            sa.column("id", sa.String()),
            sa.column("reference", sa.String()),
            sa.column("start", sa.DateTime()),
            sa.column("until", sa.DateTime()),
        )
        for first in range(0, len(values), CHUNK):
            bind.execute(sa.insert(new_values), values[first : first + CHUNK])
    elif values:
        cursor = bind.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {NEW_VALUES} (id, reference, start, until) FROM STDIN") as copy:
            for row in values:
                copy.write_row((row["id"], row["reference"], row["start"], row["until"]))
    # Every row gets a new version: maintaining each index row by row costs more than building
    # it again afterwards, sorted. So the secondary indexes go, exactly as they are, and return.
    op.drop_index("ix_permits_status_created_at", table_name="permits")  # replaced below
    indexes = _secondary_indexes(bind, sqlite)
    for name in indexes:
        op.drop_index(name, table_name="permits")
    if not sqlite:
        op.execute(f"ANALYZE {NEW_VALUES}")
    op.execute(
        f"UPDATE permits SET reference = v.reference, valid_from = v.start, valid_until = v.until "
        f"FROM {NEW_VALUES} AS v WHERE permits.id = v.id"
    )
    op.execute(f"DROP TABLE {NEW_VALUES}")
    for definition in indexes.values():
        op.execute(definition)

    if not sqlite:
        op.alter_column("permits", "reference", existing_type=sa.String(length=9), nullable=False)
    op.create_index("uq_permits_reference", "permits", ["reference"], unique=True)
    op.create_index("ix_permits_status_valid_until", "permits", ["status", "valid_until"])
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

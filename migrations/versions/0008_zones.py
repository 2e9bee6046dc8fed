"""zones, quotas, a waiting list and fees

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

Creates `zones` (code, name, quota, monthly_fee, open, and the counters the database checks the
quota with: `valid_permits`, `surplus`) with the open zone CITY ("Whole city", no quota, fee 0),
whose `valid_permits` is the number of permits stored as approved. Every permit gets
`zone` = CITY (not null, a foreign key), `waitlisted_at` and `fee` (approved and expired permits
with a validity: 0.00, CITY's fee). `waitlisted` joins the allowed statuses and the open ones
(the one-open-permit-per-plate index is rebuilt with it), and an index on
(zone, status, waitlisted_at, id) serves the waiting lines and their places.

SQLite cannot add a NOT NULL foreign-key column nor change a CHECK constraint without copying
the table (which, with foreign keys on, would cascade-delete the events). Neither change touches
the stored rows, so there the table's definition is edited in place, as SQLite documents for
such changes (https://sqlite.org/lang_altertable.html, "making other kinds of table schema
changes"): the column is added NOT NULL DEFAULT 'CITY', then its REFERENCES clause and the new
status list are written into the schema and the schema version is bumped.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OLD_STATUSES = "status IN ('pending', 'approved', 'revoked', 'expired')"
NEW_STATUSES = "status IN ('pending', 'approved', 'waitlisted', 'revoked', 'expired')"
OLD_OPEN = "status IN ('approved', 'pending')"
NEW_OPEN = "status IN ('approved', 'pending', 'waitlisted')"
ZONE_COLUMN = "zone VARCHAR(10) DEFAULT 'CITY' NOT NULL"
ZONE_REFERENCE = (
    "zone VARCHAR(10) DEFAULT 'CITY' NOT NULL "
    "CONSTRAINT fk_permits_zone_zones REFERENCES zones (code)"
)


def _edit_sqlite_schema(replacements: list[tuple[str, str]]) -> None:
    """Rewrite the stored CREATE TABLE of permits (changes that leave the rows as they are)."""
    bind = op.get_bind()
    sql = bind.scalar(sa.text("SELECT sql FROM sqlite_master WHERE type='table' AND name='permits'"))
    for old, new in replacements:
        if old not in sql:
            raise RuntimeError(f"permits' schema does not contain {old!r}")
        sql = sql.replace(old, new)
    version = bind.scalar(sa.text("PRAGMA schema_version"))
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    bind.execute(
        sa.text("UPDATE sqlite_master SET sql = :sql WHERE type='table' AND name='permits'"),
        {"sql": sql},
    )
    bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema=OFF")


def upgrade():
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    op.create_table(
        "zones",
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("quota", sa.Integer(), nullable=True),
        sa.Column("monthly_fee", sa.Numeric(10, 2), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("valid_permits", sa.Integer(), nullable=False),
        sa.Column("surplus", sa.Integer(), nullable=False),
        sa.CheckConstraint("quota IS NULL OR quota >= 0", name=op.f("ck_zones_quota_not_negative")),
        sa.CheckConstraint("monthly_fee >= 0", name=op.f("ck_zones_fee_not_negative")),
        sa.CheckConstraint(
            "valid_permits >= 0 AND surplus >= 0", name=op.f("ck_zones_counts_not_negative")
        ),
        sa.CheckConstraint(
            "quota IS NULL OR valid_permits <= quota + surplus", name=op.f("ck_zones_within_quota")
        ),
        sa.CheckConstraint(
            "surplus = 0 OR (quota IS NOT NULL AND valid_permits = quota + surplus)",
            name=op.f("ck_zones_surplus_exact"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_zones")),
    )
    op.execute(
        "INSERT INTO zones (code, name, quota, monthly_fee, open, valid_permits, surplus) "
        "SELECT 'CITY', 'Whole city', NULL, 0, TRUE, COUNT(*), 0 FROM permits "
        "WHERE status = 'approved'"
    )
    op.add_column("permits", sa.Column("waitlisted_at", sa.DateTime(timezone=True)))
    op.add_column("permits", sa.Column("fee", sa.Numeric(10, 2)))
    op.drop_index("uq_permits_open_plate", table_name="permits")
    if sqlite:
        op.execute(f"ALTER TABLE permits ADD COLUMN {ZONE_COLUMN}")
        _edit_sqlite_schema([(ZONE_COLUMN, ZONE_REFERENCE), (OLD_STATUSES, NEW_STATUSES)])
    else:
        op.add_column("permits", sa.Column("zone", sa.String(length=10), nullable=True))
        op.execute("UPDATE permits SET zone = 'CITY'")
        op.alter_column("permits", "zone", existing_type=sa.String(length=10), nullable=False)
        op.create_foreign_key(
            op.f("fk_permits_zone_zones"), "permits", "zones", ["zone"], ["code"]
        )
        op.drop_constraint(op.f("ck_permits_status_valid"), "permits", type_="check")
        op.create_check_constraint(op.f("ck_permits_status_valid"), "permits", NEW_STATUSES)
    op.execute("UPDATE permits SET fee = 0 WHERE valid_from IS NOT NULL")
    op.create_index(
        "uq_permits_open_plate",
        "permits",
        ["plate_key"],
        unique=True,
        sqlite_where=sa.text(NEW_OPEN),
        postgresql_where=sa.text(NEW_OPEN),
    )
    op.create_index(
        "ix_permits_zone_status_waitlisted_at",
        "permits",
        ["zone", "status", "waitlisted_at", "id"],
    )


def downgrade():
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    # Waitlisted permits have no status to go back to: they end as revoked.
    op.execute("UPDATE permits SET status = 'revoked' WHERE status = 'waitlisted'")
    op.drop_index("ix_permits_zone_status_waitlisted_at", table_name="permits")
    op.drop_index("uq_permits_open_plate", table_name="permits")
    if sqlite:
        _edit_sqlite_schema([(ZONE_REFERENCE, ZONE_COLUMN), (NEW_STATUSES, OLD_STATUSES)])
    else:
        op.drop_constraint(op.f("ck_permits_status_valid"), "permits", type_="check")
        op.create_check_constraint(op.f("ck_permits_status_valid"), "permits", OLD_STATUSES)
        op.drop_constraint(op.f("fk_permits_zone_zones"), "permits", type_="foreignkey")
    op.drop_column("permits", "zone")
    op.drop_column("permits", "fee")
    op.drop_column("permits", "waitlisted_at")
    op.create_index(
        "uq_permits_open_plate",
        "permits",
        ["plate_key"],
        unique=True,
        sqlite_where=sa.text(OLD_OPEN),
        postgresql_where=sa.text(OLD_OPEN),
    )
    op.drop_table("zones")

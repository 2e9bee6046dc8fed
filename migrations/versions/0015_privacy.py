"""residents' data: anonymised permits and the read audit

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03

Retention (services.retention) anonymises permits that ended more than RETENTION_DAYS ago:
`permits.anonymised_at` marks them, and a partial index on the ended permits not yet anonymised
(by when they ended) lets the nightly run find them without reading the table. `permit_reads`
records staff reads of residents' data (services.audit).
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

ENDED_NOT_ANONYMISED = "status IN ('expired', 'revoked') AND anonymised_at IS NULL"


def upgrade():
    op.add_column("permits", sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_permits_ended_not_anonymised",
        "permits",
        ["updated_at", "id"],
        sqlite_where=sa.text(ENDED_NOT_ANONYMISED),
        postgresql_where=sa.text(ENDED_NOT_ANONYMISED),
    )
    op.create_table(
        "permit_reads",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("permit_id", sa.String(length=36), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("what", sa.String(length=24), nullable=False),
        sa.Column("detail", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["permit_id"],
            ["permits.id"],
            name=op.f("fk_permit_reads_permit_id_permits"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_permit_reads_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permit_reads")),
    )
    op.create_index("ix_permit_reads_permit_id_id", "permit_reads", ["permit_id", "id"])
    op.create_index("ix_permit_reads_created_at", "permit_reads", ["created_at"])


def downgrade():
    op.drop_index("ix_permit_reads_created_at", table_name="permit_reads")
    op.drop_index("ix_permit_reads_permit_id_id", table_name="permit_reads")
    op.drop_table("permit_reads")
    op.drop_index("ix_permits_ended_not_anonymised", table_name="permits")
    # In place (SQLite 3.35+ drops an unindexed column itself): batch mode would copy
    # `permits` without its lower(address) index, which it cannot reflect (see 0011).
    op.drop_column("permits", "anonymised_at")

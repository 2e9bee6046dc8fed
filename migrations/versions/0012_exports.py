"""CSV exports, stored in the database: exports and their chunks

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

An export's CSV is kept in `export_chunks` (one row per piece, in order of `seq`) so any web
process can serve it and neither writing nor serving holds the whole file in memory.
`first_ended_at` is the earliest end of an ended permit written into the export: the data
retention job deletes exports holding permits it anonymises.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UNFINISHED = "status IN ('queued', 'running')"


def upgrade():
    op.create_table(
        "exports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("status_filter", sa.String(length=16), nullable=True),
        sa.Column("zone_filter", sa.String(length=10), nullable=True),
        sa.Column("created_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("first_ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')",
            name=op.f("ck_exports_status_valid"),
        ),
        sa.CheckConstraint(
            "row_count >= 0 AND size >= 0 AND attempt >= 0", name=op.f("ck_exports_counts_valid")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
            name=op.f("fk_exports_requested_by_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exports")),
    )
    op.create_index("ix_exports_created_at", "exports", ["created_at"])
    op.create_index("ix_exports_requested_by", "exports", ["requested_by"])
    op.create_index(
        "ix_exports_unfinished",
        "exports",
        ["heartbeat_at"],
        sqlite_where=sa.text(UNFINISHED),
        postgresql_where=sa.text(UNFINISHED),
    )
    op.create_table(
        "export_chunks",
        sa.Column("export_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["export_id"],
            ["exports.id"],
            name=op.f("fk_export_chunks_export_id_exports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("export_id", "seq", name=op.f("pk_export_chunks")),
    )


def downgrade():
    op.drop_table("export_chunks")
    op.drop_table("exports")

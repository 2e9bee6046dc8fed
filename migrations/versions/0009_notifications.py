"""notifications: the outbox of messages to residents, and the language they applied in

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

Creates `notifications` (one row per message, written in the transaction of the change it tells
of; its delivery state: queued, sent, failed, attempts, last error), with an index per permit,
a partial index of what is queued, and a partial unique index that lets a validity-ending
reminder exist once per permit, offset and validity period. Permits get `language` ('en' for
the existing ones: English was the only language residents could apply in before).
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

QUEUED = "status = 'queued'"
REMINDER = "kind = 'validity_ending'"


def upgrade():
    op.add_column(
        "permits",
        sa.Column("language", sa.String(length=8), nullable=False, server_default="en"),
    )
    op.create_table(
        "notifications",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("permit_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("place", sa.Integer(), nullable=True),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("offset_seconds", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'sent', 'failed')", name=op.f("ck_notifications_status_valid")
        ),
        sa.ForeignKeyConstraint(
            ["permit_id"],
            ["permits.id"],
            name=op.f("fk_notifications_permit_id_permits"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index("ix_notifications_permit_id_id", "notifications", ["permit_id", "id"])
    op.create_index(
        "ix_notifications_queued",
        "notifications",
        ["next_attempt_at", "id"],
        sqlite_where=sa.text(QUEUED),
        postgresql_where=sa.text(QUEUED),
    )
    op.create_index(
        "uq_notifications_reminder",
        "notifications",
        ["permit_id", "offset_seconds", "period_end"],
        unique=True,
        sqlite_where=sa.text(REMINDER),
        postgresql_where=sa.text(REMINDER),
    )


def downgrade():
    op.drop_table("notifications")
    op.drop_column("permits", "language")

"""permits and their events

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

OPEN = sa.text("status IN ('approved', 'pending')")


def upgrade():
    op.create_table(
        "permits",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("license_plate", sa.String(length=20), nullable=False),
        sa.Column("plate_key", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'revoked', 'expired')",
            name=op.f("ck_permits_status_valid"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permits")),
    )
    op.create_index("ix_permits_created_at_id", "permits", ["created_at", "id"])
    op.create_index("ix_permits_status_created_at", "permits", ["status", "created_at", "id"])
    op.create_index("ix_permits_status_expires_at", "permits", ["status", "expires_at"])
    op.create_index("ix_permits_plate_key_created_at", "permits", ["plate_key", "created_at"])
    # One open (pending or approved) permit per plate, enforced by the database itself.
    op.create_index(
        "uq_permits_open_plate", "permits", ["plate_key"], unique=True,
        sqlite_where=OPEN, postgresql_where=OPEN,
    )

    op.create_table(
        "permit_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True, nullable=False,
        ),
        sa.Column("permit_id", sa.String(length=36), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=254), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["permit_id"], ["permits.id"],
            name=op.f("fk_permit_events_permit_id_permits"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permit_events")),
    )
    op.create_index("ix_permit_events_permit_id", "permit_events", ["permit_id"])


def downgrade():
    op.drop_index("ix_permit_events_permit_id", table_name="permit_events")
    op.drop_table("permit_events")
    for name in (
        "uq_permits_open_plate",
        "ix_permits_plate_key_created_at",
        "ix_permits_status_expires_at",
        "ix_permits_status_created_at",
        "ix_permits_created_at_id",
    ):
        op.drop_index(name, table_name="permits")
    op.drop_table("permits")

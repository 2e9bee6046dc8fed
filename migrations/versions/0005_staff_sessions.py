"""staff sessions held on the server (sign-out ends every copy of the cookie)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

users.session_version goes: a staff_sessions row per signed-in browser replaces it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "staff_sessions",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_staff_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_staff_sessions")),
    )
    op.create_index("ix_staff_sessions_user_id", "staff_sessions", ["user_id"])
    # SQLite 3.35+ and PostgreSQL both drop a column in place (no table copy, indexes kept).
    op.drop_column("users", "session_version")


def downgrade():
    op.add_column(
        "users",
        sa.Column("session_version", sa.Integer(), nullable=False, server_default="1"),
    )
    op.drop_index("ix_staff_sessions_user_id", table_name="staff_sessions")
    op.drop_table("staff_sessions")

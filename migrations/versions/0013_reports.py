"""reports: the monthly reports (their PDF and numbers), and an index of events by time

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

Creates `reports` (one row per month `YYYY-MM` in CITY_TIMEZONE: when it was made, its
language, the numbers as JSON and the PDF's bytes, kept in the database so any web process can
serve it). Making a month's report again replaces its row (an upsert on the month).
`ix_permit_events_created_at` lets the report read one month's events as an index range
instead of the whole audit trail.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "reports",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("numbers", sa.JSON(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "length(month) = 7 AND substr(month, 5, 1) = '-'",
            name=op.f("ck_reports_month_shape"),
        ),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_reports")),
    )
    op.create_index("ix_permit_events_created_at", "permit_events", ["created_at"])


def downgrade():
    op.drop_index("ix_permit_events_created_at", table_name="permit_events")
    op.drop_table("reports")

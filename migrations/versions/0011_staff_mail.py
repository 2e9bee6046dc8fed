"""notifications to staff: an export ready, the monthly report

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

The outbox carries messages to staff members as well as to residents, so both share one
delivery (retries, backoff, `failed`, `flask notifications retry-failed`, a stable Message-ID).
A staff member's message has no permit: it names its `recipient`, what it is about
(`subject_ref`: an export's id, a report's month) and its `language`. A row names a permit or a
recipient (CHECK `addressed`).
"""

import warnings

import sqlalchemy as sa
from alembic import op

# Batch mode reflects the tables it copies, and with them `permits`, whose lower(address)
# index SQLAlchemy cannot reflect on SQLite (it is not copied: only `notifications` is).
EXPRESSION_INDEX = "Skipped unsupported reflection of expression-based index"

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", EXPRESSION_INDEX)
        _upgrade()


def _upgrade():
    # SQLite cannot drop NOT NULL in place: batch mode copies the table (its constraints kept).
    with op.batch_alter_table("notifications") as batch:
        batch.alter_column("permit_id", existing_type=sa.String(length=36), nullable=True)
        batch.add_column(sa.Column("recipient", sa.String(length=254), nullable=True))
        batch.add_column(sa.Column("subject_ref", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("language", sa.String(length=8), nullable=True))
        batch.create_check_constraint(
            op.f("ck_notifications_addressed"), "permit_id IS NOT NULL OR recipient IS NOT NULL")


def downgrade():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", EXPRESSION_INDEX)
        _downgrade()


def _downgrade():
    op.execute("DELETE FROM notifications WHERE permit_id IS NULL")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_constraint(op.f("ck_notifications_addressed"), type_="check")
        batch.drop_column("language")
        batch.drop_column("subject_ref")
        batch.drop_column("recipient")
        batch.alter_column("permit_id", existing_type=sa.String(length=36), nullable=False)

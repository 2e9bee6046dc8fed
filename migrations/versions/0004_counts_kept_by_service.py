"""permit_counts kept by the service layer alone: drop the count triggers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Keeping `permit_counts` exact was one job split three ways: a SQLite row trigger (expiries left
out), PostgreSQL statement triggers, and counts moved by hand in the SQLite sweep. It now has one
owner, services.lifecycle.move_counts, called in the same transaction as every write to
`permits`. The counts are recomputed here from the rows, so they start exact.
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TRIGGERS = ("permit_counts_insert", "permit_counts_update", "permit_counts_delete")


def _recount():
    op.execute("DELETE FROM permit_counts")
    op.execute(
        "INSERT INTO permit_counts (status, n) SELECT status, count(*) FROM permits GROUP BY status"
    )


def upgrade():
    dialect = op.get_bind().dialect.name
    for name in TRIGGERS:
        op.execute(
            f"DROP TRIGGER IF EXISTS {name}" + (" ON permits" if dialect != "sqlite" else "")
        )
    if dialect != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS permit_counts_apply()")
    _recount()


def downgrade():
    path = Path(__file__).with_name("0003_list_indexes_and_status_counts.py")
    spec = importlib.util.spec_from_file_location("migration_0003", path)
    previous = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(previous)  # the triggers exactly as 0003 made them
    dialect = op.get_bind().dialect.name
    for statement in (
        previous.SQLITE_TRIGGERS if dialect == "sqlite" else previous.POSTGRES_TRIGGERS
    ):
        op.execute(statement)
    _recount()

"""zone indexes the expiry sweep need not scatter over

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03

`ix_permits_zone_status_waitlisted_at` (zone, status, waitlisted_at, id) held every permit. Only
waitlisted permits have a `waitlisted_at`, so every other permit sat in it by its random UUID:
each permit the sweep moved from pending (or approved) to expired left a random leaf and entered
another one. On SQLite that was two of every five pages a sweep batch wrote to the WAL (and the
checkpoint copied back), and a third of its UPDATE's time (issue 13). It becomes:

- `ix_permits_zone_status_created_at` (zone, status, created_at, id): a zone's permits by status
  (counts, and listings newest first, now in index order). A permit moved by the sweep leaves
  and enters it near the permits that expire with it (deadlines follow creation);
- `ix_permits_zone_waitlisted_at` (zone, waitlisted_at, id, status) WHERE status = 'waitlisted':
  a zone's waiting line in order and a place in it, a range of (waitlisted_at, id) (queries
  spell the status out to match it).
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

WAITLISTED = "status = 'waitlisted'"


def upgrade():
    op.create_index(
        "ix_permits_zone_status_created_at", "permits", ["zone", "status", "created_at", "id"]
    )
    op.create_index(
        "ix_permits_zone_waitlisted_at",
        "permits",
        # `status` rides along: SQLite then answers a place in line from the index alone.
        ["zone", "waitlisted_at", "id", "status"],
        sqlite_where=sa.text(WAITLISTED),
        postgresql_where=sa.text(WAITLISTED),
    )
    op.drop_index("ix_permits_zone_status_waitlisted_at", table_name="permits")


def downgrade():
    op.create_index(
        "ix_permits_zone_status_waitlisted_at",
        "permits",
        ["zone", "status", "waitlisted_at", "id"],
    )
    op.drop_index("ix_permits_zone_waitlisted_at", table_name="permits")
    op.drop_index("ix_permits_zone_status_created_at", table_name="permits")

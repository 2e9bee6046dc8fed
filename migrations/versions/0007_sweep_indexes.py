"""partial deadline index for the batched sweep

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

The sweep moves due permits in short batches, each an index range scan from where the last
stopped, keyed by (deadline, id). `ix_permits_status_expires_at` (status, expires_at) becomes
`ix_permits_pending_expires_at` (expires_at, id, status) WHERE status = 'pending':

- the key is the index order, so a batch reads just its rows (no sort of the due set);
- a permit that leaves `pending` gets no new entry in it. The old index took one for every
  status change (a non-HOT update writes every index), about a quarter of the sweep's index
  writes and WAL on PostgreSQL.

The same for approved permits by `valid_until` once migration 0006 has made that column and
its `(status, valid_until)` index. Queries match a partial index by spelling out the status
(services.lifecycle.stored_in).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


# (status, its deadline column, the full index 0001/0006 made, the partial one replacing it)
DEADLINE_INDEXES = [
    ("pending", "expires_at", "ix_permits_status_expires_at", "ix_permits_pending_expires_at"),
    # Issue 13's end of validity (migration 0006). Approved permits share their valid_until
    # (the end of a local day), so without id in the index every batch would sort them all.
    ("approved", "valid_until", "ix_permits_status_valid_until", "ix_permits_approved_valid_until"),
]


def _deadline_indexes():
    """The pairs whose column exists (valid_until comes with 0006)."""
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("permits")}
    return [d for d in DEADLINE_INDEXES if d[1] in columns]


def upgrade():
    for status, column, full, partial in _deadline_indexes():
        where = sa.text(f"status = '{status}'")
        # `status` rides along: SQLite then reads a due range from the index alone.
        columns = [column, "id", "status"]
        op.create_index(partial, "permits", columns, sqlite_where=where, postgresql_where=where)
        op.drop_index(full, table_name="permits")


def downgrade():
    for _status, column, full, partial in _deadline_indexes():
        op.create_index(full, "permits", ["status", column])
        op.drop_index(partial, table_name="permits")

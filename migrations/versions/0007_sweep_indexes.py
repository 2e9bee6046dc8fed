"""partial deadline index for the batched sweep

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

The sweep moves due permits in short batches, each an index range scan from where the last
stopped, keyed by (deadline, id). `ix_permits_status_expires_at` (status, expires_at) becomes
`ix_permits_pending_expires_at` (expires_at, id) WHERE status = 'pending':

- the key is the index order, so a batch reads just its rows (no sort of the due set);
- a permit that leaves `pending` gets no new entry in it. The old index took one for every
  status change (a non-HOT update writes every index), about a quarter of the sweep's index
  writes and WAL on PostgreSQL.

Queries match the partial index by spelling out the status (services.lifecycle.stored_in).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"  # TODO(lead): "0006" once i13-core's 0006_validity_and_reference is in
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_permits_pending_expires_at",
        "permits",
        ["expires_at", "id", "status"],
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index("ix_permits_status_expires_at", table_name="permits")


def downgrade():
    op.create_index("ix_permits_status_expires_at", "permits", ["status", "expires_at"])
    op.drop_index("ix_permits_pending_expires_at", table_name="permits")

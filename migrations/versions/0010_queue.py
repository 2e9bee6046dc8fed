"""earlier permits of an address: an index on lower(address), created_at

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

The review queue marks each row whose address had earlier permits (how many), for a page of
rows in one statement: per row a count of permits with the same address in any letter case
applied before it. Without this index each count reads the whole table; with it, a short range.
(The plate's count uses ix_permits_plate_key_created_at.)
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_permits_address_created_at", "permits", [sa.text("lower(address)"), "created_at"]
    )


def downgrade():
    op.drop_index("ix_permits_address_created_at", table_name="permits")

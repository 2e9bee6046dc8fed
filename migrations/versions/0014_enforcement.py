"""enforcement: the `enforcer` role, the check log, a zone's approved permits in id order

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

`enforcer` joins the allowed roles (users' CHECK constraint). `enforcement_checks` logs every
answered enforcement check (enforcer, plate key, zone, when, the moment asked about, the
answer), indexed by time for the sweep's deletion. ix_permits_zone_approved_id, partial on
approved permits, serves the keyset pages of GET /enforcement/permits (zone, then id).

SQLite cannot change a CHECK constraint without copying the table (which, with foreign keys
on, would cascade-delete tokens and sessions); as migration 0008 does for permits, the stored
CREATE TABLE is edited in place (https://sqlite.org/lang_altertable.html, "making other kinds
of table schema changes"): the change leaves every row as it is.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

OLD_ROLES = "role IN ('admin', 'viewer')"
NEW_ROLES = "role IN ('admin', 'viewer', 'enforcer')"
APPROVED = "status = 'approved'"


def _edit_sqlite_users(old: str, new: str) -> None:
    """Rewrite the stored CREATE TABLE of users (a change that leaves the rows as they are)."""
    bind = op.get_bind()
    sql = bind.scalar(sa.text("SELECT sql FROM sqlite_master WHERE type='table' AND name='users'"))
    if old not in sql:
        raise RuntimeError(f"users' schema does not contain {old!r}")
    version = bind.scalar(sa.text("PRAGMA schema_version"))
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    bind.execute(
        sa.text("UPDATE sqlite_master SET sql = :sql WHERE type='table' AND name='users'"),
        {"sql": sql.replace(old, new)},
    )
    bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema=OFF")


def _set_roles(old: str, new: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        _edit_sqlite_users(old, new)
    else:
        op.drop_constraint(op.f("ck_users_role_valid"), "users", type_="check")
        op.create_check_constraint(op.f("ck_users_role_valid"), "users", new)


def upgrade():
    _set_roles(OLD_ROLES, NEW_ROLES)
    op.create_table(
        "enforcement_checks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("plate_key", sa.String(length=10), nullable=False),
        sa.Column("zone", sa.String(length=10), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("permitted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enforcement_checks")),
    )
    op.create_index(
        "ix_enforcement_checks_checked_at_id", "enforcement_checks", ["checked_at", "id"]
    )
    op.create_index(
        "ix_permits_zone_approved_id",
        "permits",
        ["zone", "id"],
        sqlite_where=sa.text(APPROVED),
        postgresql_where=sa.text(APPROVED),
    )


def downgrade():
    op.drop_index("ix_permits_zone_approved_id", table_name="permits")
    op.drop_index("ix_enforcement_checks_checked_at_id", table_name="enforcement_checks")
    op.drop_table("enforcement_checks")
    # Enforcement accounts have no role to go back to: they are deleted with their tokens.
    op.execute("DELETE FROM users WHERE role = 'enforcer'")
    _set_roles(NEW_ROLES, OLD_ROLES)

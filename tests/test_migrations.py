"""The migrations create exactly what the models describe, on each database."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.schema import CreateIndex

from permit_service.extensions import db
from permit_service.models import PARTIAL_WHERE


# SQLite cannot reflect expression indexes (lower(email)); it is checked by name below.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_migrations_and_models_agree(app):
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
        indexes = {ix["name"] for ix in sa.inspect(conn).get_indexes("users")}
        if conn.dialect.name == "sqlite":
            indexes |= set(
                conn.scalars(
                    sa.text(
                        "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='users'"
                    )
                )
            )
    assert diff == []
    assert "uq_users_email_lower" in indexes


def test_flask_db_upgrade_is_idempotent(app, runner):
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output


def test_partial_indexes_keep_their_where_on_each_database(app):
    # What autogenerate and create_all would emit: PostgreSQL's WHERE is set when an app on
    # PostgreSQL starts (models.use_postgresql_where), not named in the models.
    with app.app_context():
        partial = [
            index
            for table in db.metadata.tables.values()
            for index in table.indexes
            if PARTIAL_WHERE in index.info
        ]
        ddl = {ix.name: str(CreateIndex(ix).compile(dialect=db.engine.dialect)) for ix in partial}
    assert {ix.name for ix in partial} == {
        "ix_permits_zone_approved_id",
        "uq_permits_open_plate",
        "ix_permits_pending_expires_at",
        "ix_permits_approved_valid_until",
        "ix_notifications_queued",
        "ix_exports_unfinished",
        "uq_notifications_reminder",
        "ix_permits_ended_not_anonymised",
        "ix_permits_zone_waitlisted_at",
    }
    for index in partial:
        assert ddl[index.name].endswith(f" WHERE {index.info[PARTIAL_WHERE]}"), ddl[index.name]

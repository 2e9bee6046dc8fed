"""Migration 0006 gives permits approved before it a validity and every permit a reference."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from permit_service import create_app
from permit_service.extensions import db
from permit_service.references import REFERENCE_RE
from tests.conftest import base_config

ZONE = ZoneInfo("Europe/Helsinki")


def end_of_local_day(day) -> datetime:
    return datetime.combine(day, time.max).replace(tzinfo=ZONE).astimezone(UTC)


# SQLite cannot reflect expression indexes (lower(email)); tests/test_migrations.py checks it.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_upgrade_gives_old_approvals_a_validity_and_everyone_a_reference(fresh_url, tmp_path):
    app = create_app(
        base_config(
            tmp_path,
            fresh_url,
            CITY_TIMEZONE="Europe/Helsinki",
            PERMIT_VALIDITY_DAYS=365,
            RENEWAL_WINDOW_DAYS=30,
        )
    )
    now = datetime.now(UTC)
    recent, ancient = now - timedelta(days=10), now - timedelta(days=400)
    with app.app_context():
        upgrade(revision="0005")
        sqlite = db.engine.dialect.name == "sqlite"

        def stamp(dt: datetime) -> Any:
            return dt.replace(tzinfo=None) if sqlite else dt

        permits = sa.table(
            "permits",
            *(sa.column(c) for c in ["id", "name", "license_plate", "plate_key", "address"]),
            *(sa.column(c) for c in ["email", "status", "created_at", "updated_at", "expires_at"]),
        )
        events = sa.table(
            "permit_events",
            *(sa.column(c) for c in ["permit_id", "from_status", "to_status", "actor"]),
            sa.column("reason"),
            sa.column("created_at"),
        )
        ids: dict[str, str] = {}
        rows, history = [], []
        # name -> (status, approved event time or None, updated_at)
        cases = {
            "recent": ("approved", recent, recent + timedelta(hours=1)),
            "ancient": ("approved", ancient, ancient),
            "no_event": ("approved", None, recent - timedelta(days=1)),
            "pending": ("pending", None, now),
            "revoked": ("revoked", recent, recent + timedelta(days=1)),
        }
        for n, (name, (status, approved, updated)) in enumerate(cases.items()):
            ids[name] = str(uuid.uuid4())
            created = (approved or updated) - timedelta(minutes=3)
            rows.append(
                {
                    "id": ids[name],
                    "name": name,
                    "license_plate": f"UP-{n}",
                    "plate_key": f"UP{n}",
                    "address": "1 Old St",
                    "email": None,
                    "status": status,
                    "created_at": stamp(created),
                    "updated_at": stamp(updated),
                    "expires_at": stamp(created + timedelta(minutes=5))
                    if status == "pending"
                    else None,
                }
            )
            if approved is not None:
                history.append(
                    {
                        "permit_id": ids[name],
                        "from_status": "pending",
                        "to_status": "approved",
                        "actor": "old@city.test",
                        "reason": None,
                        "created_at": stamp(approved),
                    }
                )
        db.session.execute(sa.insert(permits), rows)
        db.session.execute(sa.insert(events), history)
        db.session.commit()

        upgrade()

        got = {
            row.id: row
            for row in db.session.execute(
                sa.text("SELECT id, reference, valid_from, valid_until FROM permits")
            )
        }

    def aware(value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    refs = [row.reference for row in got.values()]
    assert len(set(refs)) == len(refs) == 5
    assert all(REFERENCE_RE.fullmatch(ref) for ref in refs)

    floor = end_of_local_day(now.astimezone(ZONE).date() + timedelta(days=30))
    recent_row = got[ids["recent"]]
    assert aware(recent_row.valid_from) == recent  # the approval, not the later update
    assert aware(recent_row.valid_until) == end_of_local_day(
        recent.astimezone(ZONE).date() + timedelta(days=365)
    )
    # Approved 400 days ago: its year is over, but it gets the renewal window from the upgrade.
    ancient_row = got[ids["ancient"]]
    assert aware(ancient_row.valid_from) == ancient
    assert aware(ancient_row.valid_until) == floor
    no_event = got[ids["no_event"]]
    assert aware(no_event.valid_from) == cases["no_event"][2]  # updated_at stands in
    for name in ("pending", "revoked"):
        assert got[ids[name]].valid_from is None and got[ids[name]].valid_until is None

    with app.app_context():
        # Round trip: the downgrade removes what the upgrade added, the upgrade runs again.
        downgrade(revision="0005")
        columns = {c["name"] for c in sa.inspect(db.engine).get_columns("permits")}
        assert not {"reference", "valid_from", "valid_until"} & columns
        upgrade()
        # The indexes dropped for the bulk update came back exactly: schema == models.
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, db.metadata) == []
            if conn.dialect.name == "sqlite":
                partial = conn.scalar(
                    sa.text("SELECT sql FROM sqlite_master WHERE name = 'uq_permits_open_plate'")
                )
            else:
                partial = conn.scalar(
                    sa.text(
                        "SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_permits_open_plate'"
                    )
                )
            assert "WHERE" in partial and "UNIQUE" in partial
        db.session.remove()
        db.engine.dispose()

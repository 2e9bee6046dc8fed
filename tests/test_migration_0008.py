"""Migration 0008 puts every permit in the zone CITY and counts its approved permits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy.exc import IntegrityError

from permit_service import create_app
from permit_service.extensions import db
from tests.conftest import base_config


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_upgrade_gives_every_permit_the_city_zone(fresh_url, tmp_path):
    app = create_app(base_config(tmp_path, fresh_url))
    now = datetime.now(UTC)
    with app.app_context():
        upgrade(revision="0006")
        sqlite = db.engine.dialect.name == "sqlite"

        def stamp(dt: datetime) -> Any:
            return dt.replace(tzinfo=None) if sqlite else dt

        columns = ["id", "name", "license_plate", "plate_key", "address", "email", "status"]
        columns += ["created_at", "updated_at", "expires_at", "reference", "valid_from"]
        permits = sa.table("permits", *(sa.column(c) for c in [*columns, "valid_until"]))
        rows = []
        for n, status in enumerate(["approved", "approved", "pending", "revoked", "expired"]):
            valid = status in {"approved", "expired"}
            rows.append(
                {
                    "id": str(uuid.uuid4()),
                    "name": "Old",
                    "license_plate": f"OLD-{n}",
                    "plate_key": f"OLD{n}",
                    "address": "1 Old St",
                    "email": None,
                    "status": status,
                    "created_at": stamp(now),
                    "updated_at": stamp(now),
                    "expires_at": stamp(now + timedelta(minutes=5))
                    if status == "pending"
                    else None,
                    "reference": f"P-AAAA-A{n + 2}",
                    "valid_from": stamp(now) if valid else None,
                    "valid_until": stamp(now + timedelta(days=9)) if valid else None,
                }
            )
        db.session.execute(sa.insert(permits), rows)
        db.session.commit()

        upgrade()

        zones = db.session.execute(sa.text("SELECT * FROM zones")).mappings().all()
        assert [dict(z) for z in zones] == [
            {
                "code": "CITY",
                "name": "Whole city",
                "quota": None,
                "monthly_fee": zones[0]["monthly_fee"],
                "open": True if not sqlite else 1,
                "valid_permits": 2,
                "surplus": 0,
            }
        ]
        assert float(zones[0]["monthly_fee"]) == 0
        got = db.session.execute(sa.text("SELECT status, zone, fee FROM permits")).all()
        assert {row.zone for row in got} == {"CITY"}
        fees = {row.status: row.fee for row in got}
        assert float(fees["approved"]) == 0 and fees["pending"] is None
        db.session.commit()

        # The new status is allowed, and waitlisted permits count as open for their plate.
        waiting = {**rows[2], "id": str(uuid.uuid4()), "reference": "P-BBBB-B2"}
        waiting.update(status="waitlisted", plate_key="NEW1", license_plate="NEW-1", zone="CITY")
        permits = sa.table("permits", *(sa.column(c) for c in [*columns, "valid_until", "zone"]))
        db.session.execute(sa.insert(permits), [waiting])
        db.session.commit()
        with pytest.raises(IntegrityError):
            clash = {**waiting, "id": str(uuid.uuid4()), "reference": "P-CCCC-C2"}
            db.session.execute(sa.insert(permits), [clash])
        db.session.rollback()
        with pytest.raises(IntegrityError):  # the foreign key to zones
            db.session.execute(sa.text("UPDATE permits SET zone = 'NOWHERE'"))
        db.session.rollback()

        # Round trip: the downgrade removes what the upgrade added, the upgrade runs again.
        downgrade(revision="0006")
        columns_now = {c["name"] for c in sa.inspect(db.engine).get_columns("permits")}
        assert not {"zone", "waitlisted_at", "fee"} & columns_now
        assert "zones" not in sa.inspect(db.engine).get_table_names()
        assert (
            db.session.scalar(sa.text("SELECT status FROM permits WHERE plate_key = 'NEW1'"))
            == "revoked"
        )
        db.session.commit()
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, db.metadata) == []
        db.session.remove()
        db.engine.dispose()

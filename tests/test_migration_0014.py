"""Migration 0014 lets users be enforcers without touching existing accounts, tokens or sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from sqlalchemy.exc import IntegrityError

from permit_service import create_app
from permit_service.extensions import db
from tests.conftest import base_config

USERS = sa.table(
    "users",
    *(sa.column(c) for c in ["id", "email", "password_hash", "role", "active", "created_at"]),
    sa.column("session_version"),
)
TOKENS = sa.table(
    "api_tokens",
    *(sa.column(c) for c in ["id", "user_id", "token_hash", "created_at", "expires_at"]),
)


def _user(n: int, role: str, now: datetime) -> dict[str, object]:
    return {
        "id": n,
        "email": f"u{n}@city.example",
        "password_hash": "x",
        "role": role,
        "active": True,
        "created_at": now,
        "session_version": 0,
    }


def test_upgrade_keeps_accounts_and_tokens_and_admits_enforcers(fresh_url, tmp_path):
    app = create_app(base_config(tmp_path, fresh_url))
    now = datetime.now(UTC)
    with app.app_context():
        upgrade(revision="0013")
        sqlite = db.engine.dialect.name == "sqlite"
        stamp = now.replace(tzinfo=None) if sqlite else now
        columns = {c["name"] for c in sa.inspect(db.engine).get_columns("users")}
        row = {k: v for k, v in _user(1, "admin", stamp).items() if k in columns}
        db.session.execute(sa.insert(USERS), [row])
        db.session.execute(
            sa.insert(TOKENS),
            [
                {
                    "id": 1,
                    "user_id": 1,
                    "token_hash": "a" * 64,
                    "created_at": stamp,
                    "expires_at": stamp + timedelta(days=1),
                }
            ],
        )
        db.session.commit()
        with pytest.raises(IntegrityError):  # before: no enforcers
            db.session.execute(
                sa.insert(USERS), [row | {"id": 2, "email": "e@x.example", "role": "enforcer"}]
            )
            db.session.commit()
        db.session.rollback()

        db.session.remove()  # no transaction of ours may hold a lock the migration waits for
        upgrade(revision="0014")
        enforcer = row | {"id": 3, "email": "cam@city.example", "role": "enforcer"}
        db.session.execute(sa.insert(USERS), [enforcer])
        db.session.commit()
        assert db.session.execute(sa.text("SELECT count(*) FROM api_tokens")).scalar() == 1
        with pytest.raises(IntegrityError):
            db.session.execute(
                sa.insert(USERS), [row | {"id": 4, "email": "w@x.example", "role": "warden"}]
            )
            db.session.commit()
        db.session.rollback()
        assert "enforcement_checks" in sa.inspect(db.engine).get_table_names()

        db.session.remove()
        downgrade(revision="0013")
        roles = db.session.execute(sa.text("SELECT role FROM users ORDER BY id")).scalars().all()
        assert roles == ["admin"]  # the enforcer went with its role; the admin and token stay
        assert db.session.execute(sa.text("SELECT count(*) FROM api_tokens")).scalar() == 1
        assert "enforcement_checks" not in sa.inspect(db.engine).get_table_names()
        db.session.remove()
        upgrade()
        db.session.remove()
        db.engine.dispose()

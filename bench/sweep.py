"""Time one expiry sweep over N due permits on a fresh database; print the figures as JSON.

Run by bench/run.py in its own process per size: `python bench/sweep.py DATABASE_URL N`.
The database must be empty; it is migrated here, seeded with N pending permits whose deadline
has passed (each with its application event), then swept once by the real service function.
Statements are counted with SQLAlchemy's before_cursor_execute hook to show the sweep's
statement count does not grow with N.
"""

from __future__ import annotations

import json
import secrets
import sys
import tempfile
import time
from typing import Any

import sqlalchemy as sa
from flask_migrate import upgrade

from permit_service import create_app
from permit_service.domain import PermitStatus
from permit_service.extensions import db
from permit_service.models import Permit, PermitEvent
from permit_service.services.permits import expire_due_permits
from permit_service.services.seeding import seed_permits


def main(database_url: str, count: int) -> dict[str, Any]:
    """Seed `count` due permits, sweep once, check the outcome and return the figures."""
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as instance:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": database_url,
                "SECRET_KEY": secrets.token_hex(32),
                "INSTANCE_PATH": instance,
                "LOG_LEVEL": "WARNING",
            }
        )
        with app.app_context():
            upgrade()
            started = time.perf_counter()
            seed_permits(count, mix={PermitStatus.PENDING: 1.0}, due=True)
            seeded = time.perf_counter() - started
            if db.engine.dialect.name == "postgresql":
                # What autovacuum does to a freshly loaded table; plans then match production.
                db.session.commit()
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                    c.execute(sa.text("VACUUM ANALYZE permits, permit_events"))
            db.session.remove()

            statements: list[str] = []

            def count_statement(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
                statements.append(statement.split(None, 1)[0].upper())

            sa.event.listen(db.engine, "before_cursor_execute", count_statement)
            started = time.perf_counter()
            expired = expire_due_permits()
            seconds = time.perf_counter() - started
            sa.event.remove(db.engine, "before_cursor_execute", count_statement)

            left = db.session.scalar(
                sa.select(sa.func.count()).where(Permit.status == PermitStatus.PENDING.value)
            )
            events = db.session.scalar(
                sa.select(sa.func.count()).where(
                    PermitEvent.to_status == PermitStatus.EXPIRED.value
                )
            )
            backend = db.engine.dialect.name
            db.session.remove()
            db.engine.dispose()
    if expired != count or left != 0 or events != count:
        raise SystemExit(f"sweep check failed: expired={expired} left={left} events={events}")
    return {
        "backend": backend,
        "due_permits": count,
        "seconds": round(seconds, 4),
        "statements": len(statements),
        "statement_kinds": statements,
        "expired_events": events,
        "seed_seconds": round(seeded, 2),
    }


if __name__ == "__main__":
    print("SWEEP_JSON " + json.dumps(main(sys.argv[1], int(sys.argv[2]))), flush=True)

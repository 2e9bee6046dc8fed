"""Time one retention run (services.retention) over N ended permits on a fresh database.

`python bench/retention.py DATABASE_URL N`: the database must be empty; it is migrated, seeded
with N permits (seeding's mix: 30% of them revoked or expired, their events with them), and
anonymised once with the cutoff set ten years ahead, so every ended permit is due. Prints JSON:
how many were anonymised, the run's seconds, the batches and the longest batch's statements
(what a concurrent write to one of those rows could wait behind), and a second, idle run.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask_migrate import upgrade

from permit_service import create_app
from permit_service.extensions import db
from permit_service.models import utcnow
from permit_service.services import retention, seeding


def main(url: str, count: int) -> dict[str, Any]:
    app = create_app(
        {
            "SECRET_KEY": "bench-retention-0123456789abcdef",
            "SQLALCHEMY_DATABASE_URI": url,
            "INSTANCE_PATH": tempfile.mkdtemp(),
            "LOG_LEVEL": "WARNING",
            "TESTING": True,
        }
    )
    batches: list[float] = []
    batch = retention._anonymise_batch

    def timed(*args: Any) -> Any:
        started = time.perf_counter()
        try:
            return batch(*args)
        finally:
            batches.append(time.perf_counter() - started)

    retention._anonymise_batch = timed  # type: ignore[assignment]
    with app.app_context():
        upgrade()
        seeding.seed_permits(count)
        if db.engine.dialect.name == "postgresql":
            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
        ahead = utcnow() + timedelta(days=3650)
        started = time.perf_counter()
        done = retention.anonymise_ended(ahead)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        again = retention.anonymise_ended(ahead)
        idle = time.perf_counter() - started
        dialect = db.engine.dialect.name
        db.session.remove()
        db.engine.dispose()
    return {
        "database": dialect,
        "permits": count,
        "anonymised": done.permits,
        "seconds": round(seconds, 2),
        "per_1000": round(seconds / max(done.permits, 1) * 1000, 3),
        "batches": len(batches),
        "longest_batch_ms": round(max(batches) * 1000, 1),
        "median_batch_ms": round(sorted(batches)[len(batches) // 2] * 1000, 1),
        "second_run": {"anonymised": again.permits, "seconds": round(idle, 3)},
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]))))

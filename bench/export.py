"""CSV export of many permits: time and the worker's peak memory (issue 16).

Run by bench/run.py (`--export-sizes`), or alone:
`python bench/export.py DATABASE_URL [--sizes 100000,1000000]`.
The database must be empty: it is migrated and seeded step by step (`seed_permits`, the bench mix)
to each size; at each size an export of every permit is requested and then run by the task's
code (`services.exports.run_export`, as the Celery task `exports.run` runs it) in a fresh
process of its own, so its peak resident memory (VmHWM) is the export's alone, next to the
same process's memory before the run. Bounded memory shows as the same peak at every size.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from permit_service import create_app
from permit_service.extensions import db
from permit_service.models import Export, Permit

PASSWORD = "correct-horse-battery-9"


def _app(database_url: str, instance: str) -> Flask:
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": secrets.token_hex(32),
            "INSTANCE_PATH": instance,
            "LOG_LEVEL": "WARNING",
            "PENDING_TTL_SECONDS": 86400,
        }
    )


def _memory_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def run_one(database_url: str, export_id: str) -> dict[str, Any]:
    """In this fresh process: run the export as the task does; time and memory."""
    from permit_service.db_bounds import background
    from permit_service.services import exports

    with tempfile.TemporaryDirectory(prefix="bench-export-run-") as instance:
        app = _app(database_url, instance)
        with app.app_context():
            db.session.execute(sa.select(1))  # connect: the pool's memory counts as baseline
            db.session.rollback()
            before = _memory_kb("VmRSS")
            started = time.perf_counter()
            with background(app.config["SWEEP_STATEMENT_TIMEOUT"]):
                status = exports.run_export(export_id)
            seconds = time.perf_counter() - started
            export = db.session.get(Export, export_id)
            assert export is not None
            return {
                "status": status,
                "rows": export.row_count,
                "megabytes": round(export.size / 1e6, 1),
                "seconds": round(seconds, 1),
                "rows_per_second": round(export.row_count / seconds) if seconds else None,
                "rss_before_mb": round(before / 1024, 1),
                "peak_rss_mb": round(_memory_kb("VmHWM") / 1024, 1),
            }


def main(database_url: str, sizes: list[int]) -> dict[str, Any]:
    """Seed to each size, export every permit in a fresh process; the figures per size."""
    from permit_service.db_bounds import background
    from permit_service.services import exports
    from permit_service.services.seeding import seed_permits
    from permit_service.services.users import create_user

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as instance:
        app = _app(database_url, instance)
        with app.app_context():
            upgrade()
            user = create_user(f"bench-{uuid.uuid4().hex[:8]}@city.example", PASSWORD, "viewer")
            requester = exports.Requester(user.id, False)
            for size in sorted(sizes):
                have = db.session.scalar(sa.select(sa.func.count()).select_from(Permit)) or 0
                if size > have:
                    started = time.perf_counter()
                    seed_permits(size - have)
                    print(
                        f"seeded {size - have:,} in {time.perf_counter() - started:.0f} s",
                        file=sys.stderr,
                        flush=True,
                    )
                if db.session.get_bind().dialect.name == "postgresql":
                    db.session.commit()
                    # What autovacuum would do soon anyway, without the web's statement timeout.
                    with (
                        background(0),
                        db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
                    ):
                        conn.execute(sa.text("VACUUM ANALYZE"))
                export_id = exports.request_export(requester).id
                out = subprocess.run(
                    [sys.executable, __file__, database_url, "--run", export_id],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if out.returncode != 0:
                    raise RuntimeError(f"export run failed: {out.stdout}\n{out.stderr}")
                figures = json.loads(out.stdout.strip().splitlines()[-1])
                assert figures["rows"] == size, figures
                figures["permits"] = size
                print(f"export of {size:,}: {figures}", file=sys.stderr, flush=True)
                results.append(figures)
    return {"sizes": results}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("database_url")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--run", default=None, help="(internal) run this export and report")
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_one(args.database_url, args.run)))
    else:
        sizes = [int(s) for s in args.sizes.split(",") if s]
        print(json.dumps(main(args.database_url, sizes)))

"""CPU per request of the review queue page against the API's 50-permit page (issue 16).

Run by bench/run.py (`--queue-sizes`), or alone:
`python bench/queue_page.py DATABASE_URL N [--requests 300] [--profile DIR]`.
The database must be empty: it is migrated and seeded with N permits (`seed_permits`, the bench
mix: 10% pending), an admin signs in through the login form (CSRF on, as in production) and
gets an API token. Each scenario is requested through the Flask test client (no network, no
gunicorn): warm-up first, then `--requests` requests, and the figure is the median of the
process CPU time each took (`time.process_time`: the Python side of the request, and SQLite's
work, which runs in the process; PostgreSQL's server work is not counted, the client's is).
With `--profile DIR`, pyinstrument records each scenario's requests there (a text call tree).
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from flask_migrate import upgrade

from permit_service import create_app
from permit_service.services.seeding import seed_permits
from permit_service.services.tokens import issue_token
from permit_service.services.users import create_user

PASSWORD = "correct-horse-battery-9"
SCENARIOS = {
    "api_pending_50": ("/permits?status=pending&page_size=50", "api"),
    "queue_pending_20": ("/admin/permits", "web"),
    "queue_all_20": ("/admin/permits?status=all", "web"),
    "queue_approved_20": ("/admin/permits?status=approved", "web"),
    "queue_pending_by_plate_20": ("/admin/permits?sort=license_plate", "web"),
}


def main(
    database_url: str,
    count: int,
    requests: int,
    profile: Path | None,
    only: list[str] | None = None,
    reuse: bool = False,
) -> dict[str, Any]:
    """Seed, sign in, time every scenario; the medians (ms of CPU per request)."""
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as instance:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": database_url,
                "SECRET_KEY": secrets.token_hex(32),
                "INSTANCE_PATH": instance,
                "LOG_LEVEL": "WARNING",
                "RATELIMIT_ENABLED": False,
                "PENDING_TTL_SECONDS": 86400,  # seeded pending applications stay pending
            }
        )
        with app.app_context():
            upgrade()
            if not reuse:
                seed_permits(count)
            email = f"bench-{uuid.uuid4().hex[:8]}@city.example"
            admin = create_user(email, PASSWORD, "admin")
            token = issue_token(admin).token
        api = {"Authorization": f"Bearer {token}"}
        web = app.test_client()
        form = web.get("/admin/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form) or re.search(
            r'name="csrf_token" value="([^"]+)"', form
        )
        assert csrf, "no CSRF token on the login form"
        signed_in = web.post(
            "/admin/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf[1]}
        )
        assert signed_in.status_code == 303, signed_in.status_code
        client = app.test_client()
        results: dict[str, Any] = {"permits": count, "requests": requests, "scenarios": {}}
        for name, (path, kind) in SCENARIOS.items():
            if only and name not in only:
                continue
            get = (
                (lambda p=path: client.get(p, headers=api))
                if kind == "api"
                else (lambda p=path: web.get(p))
            )
            for _ in range(max(20, requests // 10)):  # warm-up: imports, caches, pools
                response = get()
                assert response.status_code == 200, (name, response.status_code)
            times = []
            for _ in range(requests):
                started = time.process_time()
                get()
                times.append((time.process_time() - started) * 1000)
            results["scenarios"][name] = {
                "cpu_ms_median": round(statistics.median(times), 2),
                "cpu_ms_p90": round(statistics.quantiles(times, n=10)[-1], 2),
                "rows": 50 if kind == "api" else 20,
            }
            if profile is not None:
                _profile(get, name, profile, requests)
        return results


def _profile(get: Any, name: str, folder: Path, requests: int) -> None:
    from pyinstrument import Profiler

    folder.mkdir(parents=True, exist_ok=True)
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(requests):
        get()
    profiler.stop()
    (folder / f"{name}.txt").write_text(profiler.output_text(unicode=True, show_all=False))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("database_url")
    parser.add_argument("count", type=int)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument("--only", default="", help="scenario names, comma-separated")
    parser.add_argument("--reuse", action="store_true", help="the database is seeded already")
    args = parser.parse_args()
    only = [n for n in args.only.split(",") if n]
    result = main(args.database_url, args.count, args.requests, args.profile, only, args.reuse)
    print(json.dumps(result))
    sys.exit(0)

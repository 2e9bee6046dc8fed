"""What starting a process costs: `flask` commands and web workers import only what they use.

Bounded structurally (which heavy packages get imported), not by wall-clock time: Flask-Migrate
and alembic (~0.4 s) load only for `flask db ...`; Celery and kombu (~0.3 s) not for `flask`
commands; psycopg (~0.1 s) not on SQLite. Measure with `python -X importtime -c 'import wsgi'`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ("alembic", "flask_migrate", "mako")
CELERY = ("celery", "kombu", "amqp", "billiard")
POSTGRES_DRIVER = ("psycopg", "psycopg_binary")  # ~0.1 s: only when DATABASE_URL is PostgreSQL


def _imported_by_wsgi(tmp_path: Path, **env: str) -> set[str]:
    """Top-level packages imported by `import wsgi` in a fresh interpreter."""
    code = "import sys, wsgi; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "CELERY_"))}
    clean.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **clean,
            "SECRET_KEY": "startup-imports-secret-0123456789",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_a_flask_command_imports_neither_migrations_nor_celery(tmp_path: Path) -> None:
    imported = _imported_by_wsgi(tmp_path, FLASK_RUN_FROM_CLI="true")  # as `flask ...` sets it
    assert "sqlalchemy" in imported  # the probe works: the app was built
    assert not imported & {*MIGRATIONS, *CELERY, *POSTGRES_DRIVER}


def test_a_web_or_celery_process_does_not_import_migrations(tmp_path: Path) -> None:
    imported = _imported_by_wsgi(tmp_path)
    assert "celery" in imported  # the broker check in /readyz and the worker use it
    assert not imported & set(MIGRATIONS)


def test_flask_db_still_lists_and_runs_the_migrations(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FLASK_")},
        "FLASK_APP": "wsgi",
        "SECRET_KEY": "startup-imports-secret-0123456789",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": "sqlite:///" + str(tmp_path / "db.sqlite3"),
    }
    flask = str(Path(sys.executable).parent / "flask")
    listed = subprocess.run([flask, "--help"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert re.search(r"^  db +Perform database migrations", listed.stdout, re.MULTILINE)
    run = {"cwd": ROOT, "env": env, "capture_output": True, "text": True, "timeout": 120}
    assert subprocess.run([flask, "db", "upgrade"], **run).returncode == 0  # type: ignore[call-overload]
    current = subprocess.run([flask, "db", "current"], **run)  # type: ignore[call-overload]
    assert "(head)" in current.stdout, current.stderr

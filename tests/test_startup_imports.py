"""What starting a process costs: `flask` commands and web workers import only what they use.

Bounded structurally (which heavy packages a real `flask` process imports), not by wall-clock
time, which a busy machine would make flaky: Flask-Migrate and alembic (~0.4 s) load only for
`flask db ...`; Celery and kombu (~0.3 s) not for `flask` commands; the JSON API with its
OpenAPI document (flask-smorest, marshmallow, webargs, apispec, ~0.25 s with the web pages)
only when a command uses a route; psycopg (~0.1 s) not on SQLite; email_validator (~30 ms)
only where an address is checked. bench/README.md has the timings; measure with
`python -X importtime -m flask users list`.
"""

from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLASK = str(Path(sys.executable).parent / "flask")
SECRET = "startup-imports-secret-0123456789"
MIGRATIONS = ("alembic", "flask_migrate", "mako")
CELERY = ("celery", "kombu", "amqp", "billiard")
POSTGRES_DRIVER = ("psycopg", "psycopg_binary")  # ~0.1 s: only when DATABASE_URL is PostgreSQL
API = ("flask_smorest", "marshmallow", "webargs", "apispec", "yaml", "flask_swagger_ui")
ADDRESS_RULES = ("email_validator",)  # ~30 ms: only where an address is checked
ROUTES = ("permit_service.api.permits", "permit_service.api.auth", "permit_service.web.views")

# Runs the installed `flask` script as the shell would, then writes every imported module's name.
RUN_AND_LIST_MODULES = """
import atexit, runpy, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write("\\n".join(sorted(sys.modules))))
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    """A clean environment on a SQLite database in `tmp` (no FLASK_*/CELERY_* of the caller)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "CELERY_"))}
    clean.pop("DATABASE_URL", None)
    return {
        **clean,
        "FLASK_APP": "wsgi",
        "SECRET_KEY": SECRET,
        "INSTANCE_PATH": str(tmp / "instance"),
        "DATABASE_URL": "sqlite:///" + str(tmp / "db.sqlite3"),
        **extra,
    }


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose SQLite database `flask db upgrade` has created."""
    tmp = tmp_path_factory.mktemp("startup")
    done = _run([FLASK, "db", "upgrade"], _env(tmp))
    assert done.returncode == 0, done.stderr
    return tmp


def _modules_of_flask_command(tmp: Path, *args: str) -> tuple[set[str], str]:
    """(every module a real `flask ARGS...` process imported, its stdout)."""
    listing = tmp / "modules.txt"
    listing.unlink(missing_ok=True)
    done = _run([sys.executable, "-c", RUN_AND_LIST_MODULES, str(listing), FLASK, *args], _env(tmp))
    modules = set(listing.read_text().split())
    return modules, done.stdout + done.stderr


def _top_level(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


@pytest.mark.parametrize(
    ("args", "answer"),
    [
        (["users", "list"], "no users yet"),
        (["permits", "find", "AB-123"], "No permits for the plate"),
        (["--help"], "Manage back-office accounts"),
    ],
)
def test_a_flask_command_imports_no_migrations_celery_or_api(migrated, args, answer):
    modules, output = _modules_of_flask_command(migrated, *args)
    assert answer in output  # the probe works: the command ran to its answer
    assert "sqlalchemy" in _top_level(modules) and "wsgi" in modules  # and the app was built
    assert not _top_level(modules) & {*MIGRATIONS, *CELERY, *POSTGRES_DRIVER, *API, *ADDRESS_RULES}
    assert not modules & {*ROUTES, "sqlalchemy.dialects.postgresql"}  # the latter: ~35 ms


def test_a_web_or_celery_process_does_not_import_migrations(tmp_path: Path) -> None:
    code = "import sys, wsgi; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    done = _run([sys.executable, "-c", code], _env(tmp_path))
    assert done.returncode == 0, done.stderr
    imported = set(done.stdout.split())
    assert {"celery", "flask_smorest"} <= imported  # /readyz, the worker and the API use them
    assert not imported & set(MIGRATIONS)


def test_flask_commands_see_every_route_and_the_whole_openapi_document(migrated):
    # What a web process serves (routes registered at once) ...
    code = (
        "import json, wsgi; print(json.dumps({'rules': sorted([r.endpoint, r.rule]"
        " for r in wsgi.app.url_map.iter_rules()), 'doc': wsgi.app.test_client()"
        ".get('/openapi.json').get_json()}))"
    )
    web = _run([sys.executable, "-c", code], _env(migrated))
    assert web.returncode == 0, web.stderr
    served = json.loads(web.stdout)
    assert len(served["doc"]["paths"]) >= 8 and "/permits" in served["doc"]["paths"]
    # ... `flask routes` and `flask openapi print` show too (routes registered on first use).
    routes = _run([FLASK, "routes"], _env(migrated))
    listed = sorted([line.split()[0], line.split()[-1]] for line in routes.stdout.splitlines()[2:])
    assert listed == served["rules"]
    printed = _run([FLASK, "openapi", "print"], _env(migrated))
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == served["doc"]


def test_flask_db_still_lists_and_runs_the_migrations(tmp_path: Path) -> None:
    env = _env(tmp_path)
    listed = _run([FLASK, "--help"], env)
    assert re.search(r"^  db +Perform database migrations", listed.stdout, re.MULTILINE)
    assert _run([FLASK, "db", "upgrade"], env).returncode == 0
    current = _run([FLASK, "db", "current"], env)
    assert "(head)" in current.stdout, current.stderr


def test_routes_put_off_by_a_command_are_all_there_for_concurrent_first_requests(
    app_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `flask run` builds the app as commands do, then serves on threads: whichever request comes
    # first registers the routes, and the others wait for all of them (no 404 meanwhile).
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    app = app_factory()
    # As in a command, start-up's objects were taken out of the collector's sight; this test
    # process lives on, so they go back.
    assert gc.get_freeze_count() > 0
    gc.unfreeze()
    assert "flask-smorest" not in app.extensions  # put off until a route is used
    paths = ["/openapi.json", "/healthz", "/", "/docs", "/admin/login", "/permits/no-such-id"]
    start = threading.Barrier(len(paths))
    answers: dict[str, int] = {}

    def get(path: str) -> None:
        client = app.test_client()
        start.wait()
        answers[path] = client.get(path).status_code

    threads = [threading.Thread(target=get, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert answers == {path: 404 if "no-such" in path else 200 for path in paths}
    assert app.test_client().get("/permits/no-such-id").is_json  # the API's JSON error answers

"""End-to-end fixtures: Debian's Chromium via pytest-playwright, and a live server per scenario.

The server is the real WSGI app on a free 127.0.0.1 port (werkzeug's threaded server in a thread),
on a SQLite file in tmp, with CSRF on and the Content-Security-Policy the service ships
(`default-src 'self'`), so the browser proves the pages need nothing inline or from elsewhere.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from flask_migrate import upgrade
from playwright.sync_api import Page
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from permit_service import create_app
from permit_service.extensions import db
from permit_service.services.users import create_user

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"
ADMIN = ("admin@example.org", "admin-password-42")
VIEWER = ("viewer@example.org", "viewer-password-42")
CSP = "default-src 'self'"
AXE = Axe()  # bundles axe-core: nothing is downloaded


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything in tests/e2e drives a browser."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def base_url() -> None:
    """No fixed base URL: each live server picks a free port (also replaces pytest-base-url's
    fixture, whose class-based definition warns under pytest 9)."""
    return None


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Launch Debian's Chromium (`playwright install` cannot download browsers here)."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        message = f"Chromium not found at {CHROMIUM}: apt-get install -y chromium"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@dataclass
class LiveServer:
    """A running app: its base URL and the Flask app (for seeding data in an app context)."""

    url: str
    app: Flask

    def __call__(self, path: str) -> str:
        return self.url + path


def _start(tmp_path: Path, **config: Any) -> Iterator[LiveServer]:
    settings = {
        "SECRET_KEY": "e2e-secret-key-0123456789abcdef",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'e2e.sqlite3'}",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "WTF_CSRF_ENABLED": True,
        "RATELIMIT_LOGIN": "100 per minute",
        "LOG_FORMAT": "text",
        "LOG_LEVEL": "WARNING",
        **config,
    }
    app = create_app(settings)

    @app.after_request
    def _csp(response: Response) -> Response:
        # The production policy; setdefault keeps the one the security headers set, if any.
        response.headers.setdefault("Content-Security-Policy", CSP)
        return response

    with app.app_context():
        upgrade()
        create_user(*ADMIN, role="admin")
        create_user(*VIEWER, role="viewer")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", app=app)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server with the normal 5-minute deadline, shared by a module's scenarios."""
    yield from _start(tmp_path_factory.mktemp("live"))


@pytest.fixture
def live_short_ttl(tmp_path: Path) -> Iterator[LiveServer]:
    """A live server whose applications expire after 3 seconds."""
    yield from _start(tmp_path, PENDING_TTL_SECONDS=3)


@pytest.fixture
def console_errors(page: Page) -> list[str]:
    """Console errors of the page, such as a CSP violation ('Refused to ...').

    Chromium also logs every 4xx answer as an error; those are expected (form errors are 422).
    """
    errors: list[str] = []

    def collect(msg: Any) -> None:
        if msg.type == "error" and "the server responded with a status of 4" not in msg.text:
            errors.append(msg.text)

    page.on("console", collect)
    return errors


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """test-results/screenshots (pytest-playwright empties test-results/ at the start of a run)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def check_accessibility(page: Page) -> None:
    """Run axe-core in the page; fail on any serious or critical violation."""
    results = AXE.run(page)
    bad = [v for v in results.response["violations"] if v["impact"] in {"serious", "critical"}]
    details = [
        f"{v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes']]}"
        for v in bad
    ]
    assert not bad, f"axe-core on {page.url}:\n" + "\n".join(details)


@pytest.fixture
def shoot(screenshot_dir: Path) -> Callable[[Page, str], None]:
    """Save a full-page screenshot of the page under test-results/screenshots/<name>.png."""

    def save(page: Page, name: str) -> None:
        page.screenshot(path=str(screenshot_dir / f"{name}.png"), full_page=True)

    return save

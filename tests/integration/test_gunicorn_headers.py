"""A real gunicorn with gunicorn.conf.py: its responses do not name the server software."""

from __future__ import annotations

import http.client
import sys
from pathlib import Path

import pytest

from tests.integration.processes import (
    kill_group,
    process_env,
    reported_port,
    start,
    tail,
    wait_for,
)

pytestmark = pytest.mark.integration


def _headers(port: int) -> dict[str, str] | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        response.read()
        return {k.lower(): v for k, v in response.getheaders()}
    except OSError:
        return None
    finally:
        conn.close()


def test_gunicorn_sends_no_server_header(tmp_path: Path) -> None:
    env = process_env(
        {
            "SECRET_KEY": "gunicorn-headers-secret-0123456789",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "PORT": "0",  # gunicorn binds a free port and reports it
            "WEB_CONCURRENCY": "1",
        }
    )
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    log = tmp_path / "gunicorn.log"
    proc = start([gunicorn, "-c", "gunicorn.conf.py", "wsgi:app"], env, log)
    try:
        port = reported_port(log.read_text, lambda: proc.poll() is None)
        headers = wait_for(lambda: _headers(port), 60, "gunicorn to answer", log)
        assert "server" not in headers, f"Server: {headers.get('server')}" + tail(log)
        assert headers["x-request-id"]  # the app's own headers are all still there
        assert "date" in headers and "content-length" in headers
    finally:
        kill_group(proc)

"""A real gunicorn's access and error logs never hold a permit id (a receipt's capability)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import SEED
from tests.deploy.support import VENV_BIN, Processes, http, reported_port, wait_for_http

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_gunicorn_logs_mask_permit_ids_in_paths(tmp_path: Path, log_format: str) -> None:
    env = {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "FLASK_APP": "wsgi",
        "SECRET_KEY": "access-log-test-secret-key-0123456789",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "GUNICORN_BIND": "127.0.0.1:0",
        "LOG_FORMAT": log_format,
    }
    procs = Processes(tmp_path)
    try:
        assert procs.run(["flask", "db", "upgrade"], env).returncode == 0
        web = procs.start("web", ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], env)
        base = f"http://127.0.0.1:{reported_port(web.output, lambda: web.popen.poll() is None)}"
        wait_for_http(f"{base}/healthz", procs)
        status, _, permit = http("POST", f"{base}/permits", SEED)
        assert status == 201, permit
        permit_id = permit["id"]
        for path in (
            f"/permits/{permit_id}",
            f"/permits/{permit_id.replace('-', '')}",  # another spelling of the same id
            f"/applications/{permit_id}",
            f"/admin/permits/{permit_id}",
        ):
            assert http("GET", base + path)[0] in {200, 302}, path
    finally:
        procs.stop_all()
    logged = web.output()
    assert "/permits/<id>" in logged and "/applications/<id>" in logged  # the lines exist
    assert "/admin/permits/<id>" in logged
    assert permit_id not in logged
    assert permit_id.replace("-", "") not in logged

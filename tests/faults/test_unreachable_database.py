"""A database that refuses connections (down, restarting, wrong port) answers 503, not 500."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from permit_service import create_app
from tests.conftest import SEED, base_config
from tests.support import closed_port


def test_requests_answer_503_with_retry_after_when_the_database_refuses(tmp_path: Path) -> None:
    with closed_port() as port:
        _refused_database_answers_503(tmp_path, port)


def _refused_database_answers_503(tmp_path: Path, port: int) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/nothing_listens_here"
    client = create_app(base_config(tmp_path, url)).test_client()
    started = time.monotonic()

    api = client.get(f"/permits/{uuid.uuid4()}")
    assert api.status_code == 503
    assert api.headers["Retry-After"] == "5"
    assert api.get_json()["code"] == 503
    assert "127.0.0.1" not in api.get_data(as_text=True)  # no connection details leak

    assert client.post("/permits", json=SEED).status_code == 503

    page = client.get(f"/applications/{uuid.uuid4()}", headers={"Accept": "text/html"})
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "5"
    assert page.mimetype == "text/html"

    form = client.post("/", data=SEED)
    assert form.status_code == 503 and form.mimetype == "text/html"
    assert time.monotonic() - started < 5  # refused at once: nothing waits for a timeout

"""What every request pays and bare Flask does not, trimmed without changing answers (issue 17):
the CSP nonce drawn only for pages, Flask-Limiter's after-request work only where a limit was
checked, the process id read without a system call."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from flask_limiter import Limiter

from permit_service import pid
from permit_service.extensions import limiter
from tests.conftest import SEED, auth_headers

_NONCE = re.compile(r"'nonce-([^']+)'")


def _script_src(response: Any) -> str:
    csp = response.headers["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in csp.split(";"))["script-src"]


def test_json_answers_carry_the_policy_without_a_nonce(client):
    """No script runs in a JSON answer: its policy is the pages' policy less the nonce."""
    answer = client.get("/healthz")
    assert answer.mimetype == "application/json"
    assert _script_src(answer) == "'self'"
    page = client.get("/docs")
    assert _script_src(page) == f"'self' 'nonce-{_NONCE.search(_script_src(page)).group(1)}'"
    assert _NONCE.sub("", _script_src(page)).strip() == _script_src(answer)


@pytest.mark.parametrize("path", ["/admin/login", "/no/such/page", "/docs"])
def test_every_page_carries_a_fresh_nonce(client, path):
    """Pages keep a nonce in their policy whether or not they use it, a new one each time, and
    a page's scripts carry the one in its policy."""
    first, second = (client.get(path) for _ in range(2))
    assert first.mimetype == "text/html"
    nonces = [_NONCE.search(_script_src(r)).group(1) for r in (first, second)]
    assert nonces[0] != nonces[1] and all(len(n) >= 16 for n in nonces)
    body = second.get_data(as_text=True)
    for used in re.findall(r'<script nonce="([^"]*)"', body):
        assert used == nonces[1]


def test_limit_headers_still_sent_where_a_limit_is_checked(app_factory):
    """Flask-Limiter's after_request runs where its state exists: a limited view still gets
    its X-RateLimit-* headers, an unlimited one gets none (as before), and its per-request
    state is reset at teardown as Flask-Limiter does."""
    app = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_APPLY="50 per minute")
    client = app.test_client()
    limited = client.post("/permits", json={**SEED, "license_plate": "LIM-1"})
    assert limited.status_code == 201
    assert limited.headers["X-RateLimit-Limit"] == "50"
    assert limited.headers["X-RateLimit-Remaining"] == "49"
    assert "X-RateLimit-Reset" in limited.headers
    again = client.post("/permits", json={**SEED, "license_plate": "LIM-2"})
    assert again.headers["X-RateLimit-Remaining"] == "48"
    plain = client.get("/healthz")
    assert not [name for name, _ in plain.headers if name.startswith("X-RateLimit")]
    headers = auth_headers(app)
    assert "X-RateLimit-Limit" not in client.get("/permits", headers=headers).headers


def test_limiter_hooks_replaced_by_identity(app_factory):
    """The replaced hooks are found by identity: if Flask-Limiter renames them, the stock
    hooks would silently stay (and this fails)."""
    app = app_factory(RATELIMIT_ENABLED=True)
    inject = Limiter._Limiter__inject_headers  # type: ignore[attr-defined]
    release = limiter._Limiter__release_context  # type: ignore[attr-defined]
    assert callable(inject) and callable(release)
    after = app.after_request_funcs[None]
    teardown = app.teardown_request_funcs[None]
    assert not [h for h in after if getattr(h, "func", None) is inject]
    assert release not in teardown
    names = [getattr(h, "__name__", "") for h in after + teardown]
    assert "inject_if_used" in names and "release_if_used" in names


def test_the_kept_process_id_follows_forks():
    assert pid.current() == os.getpid()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(write, b"1" if pid.current() == os.getpid() != child else b"0")
        os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.close(read)
    os.waitpid(child, 0)
    assert answer == b"1"
    assert pid.current() == os.getpid()


def test_a_warm_check_checks_out_no_database_connection(app, client):
    """On both databases a check whose token and plate are cached touches no connection: no
    checkout, no rollback at teardown (its log row goes to the writer thread, whose batches
    are not counted here)."""
    import threading

    import sqlalchemy as sa

    from permit_service.domain import PermitStatus
    from permit_service.extensions import db
    from tests.factories import make_permit

    headers = auth_headers(app, "enforcer", "camera-car-9@city.example")
    with app.app_context():
        make_permit(PermitStatus.APPROVED, plate="WARM-9")
        engine = db.engine
    url = "/enforcement/check?license_plate=WARM-9&zone=CITY"
    assert client.get(url, headers=headers).get_json()["permitted"] is True  # fills the caches
    me = threading.get_ident()
    checkouts: list[int] = []

    def count(*_: Any) -> None:
        if threading.get_ident() == me:
            checkouts.append(1)

    sa.event.listen(engine, "checkout", count)
    try:
        for _ in range(3):
            assert client.get(url, headers=headers).get_json()["permitted"] is True
    finally:
        sa.event.remove(engine, "checkout", count)
    assert checkouts == []

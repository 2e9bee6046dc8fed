"""Secrets at start-up: no deployable placeholder, no key anyone can know, a private .env."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values
from flask import Flask, session

from permit_service import create_app
from permit_service.config import ConfigError, check_production_safety, load_config

ROOT = Path(__file__).resolve().parents[1]
OLD_FIXED_DEBUG_KEY = "dev-insecure-secret-key"  # what FLASK_DEBUG=1 used without a key
REAL_KEY = "0123456789abcdef" * 4


def _example_env(**changes: str) -> dict[str, str]:
    """.env.example as `cp .env.example .env` gives it, with `changes` made by the operator."""
    env = {k: v or "" for k, v in dotenv_values(ROOT / ".env.example").items()}
    env.update(changes)
    return env


def test_the_example_env_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    config = load_config(str(tmp_path), env=_example_env())
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        check_production_safety(config)


def test_the_example_placeholder_password_refuses_to_start_and_says_what_to_change(
    tmp_path: Path,
) -> None:
    config = load_config(str(tmp_path), env=_example_env(SECRET_KEY=REAL_KEY))
    with pytest.raises(ConfigError, match="placeholder password 'change-me'") as refused:
        check_production_safety(config)
    assert "POSTGRES_PASSWORD" in str(refused.value) and "DATABASE_URL" in str(refused.value)


def test_an_own_password_passes_the_check(tmp_path: Path) -> None:
    env = _example_env(
        SECRET_KEY=REAL_KEY, DATABASE_URL="postgresql://permit:Xq9-own-pass@db:5432/permit"
    )
    check_production_safety(load_config(str(tmp_path), env=env))


def test_a_command_with_the_example_env_exits_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        (ROOT / ".env.example").read_text().replace("SECRET_KEY=\n", f"SECRET_KEY={REAL_KEY}\n")
    )
    flask = Path(sys.executable).parent / "flask"
    done = subprocess.run(
        [flask, "--app", str(ROOT / "wsgi.py"), "users", "list"],
        cwd=tmp_path,  # where it finds .env
        env={"PATH": "/usr/bin:/bin", "INSTANCE_PATH": str(tmp_path / "instance")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "placeholder password 'change-me'" in done.stderr
    assert done.stdout == ""


def _cookie_signed_with(key: str, data: dict[str, object]) -> str:
    signer = Flask("forger")
    signer.secret_key = key
    serializer = signer.session_interface.get_signing_serializer(signer)  # type: ignore[attr-defined]
    return serializer.dumps(data)


def test_debug_without_a_key_rejects_a_session_signed_with_the_old_fixed_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env
    app = create_app(
        {"DEBUG": True, "INSTANCE_PATH": str(tmp_path / "i"), "SQLALCHEMY_DATABASE_URI": sqlite_url}
    )
    assert app.config["SECRET_KEY"] != OLD_FIXED_DEBUG_KEY
    forged = _cookie_signed_with(OLD_FIXED_DEBUG_KEY, {"_user_id": "1", "_fresh": True})
    with app.test_request_context("/admin/permits", headers={"Cookie": f"session={forged}"}):
        assert dict(session) == {}
    # Its own sessions still work within this process.
    own = _cookie_signed_with(app.config["SECRET_KEY"], {"probe": 1})
    with app.test_request_context("/", headers={"Cookie": f"session={own}"}):
        assert session.get("probe") == 1


def test_debug_without_a_key_gets_a_different_random_key_each_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    config = {"DEBUG": True, "SQLALCHEMY_DATABASE_URI": sqlite_url}
    first = create_app({**config, "INSTANCE_PATH": str(tmp_path / "a")}).config["SECRET_KEY"]
    second = create_app({**config, "INSTANCE_PATH": str(tmp_path / "b")}).config["SECRET_KEY"]
    assert first != second and len(first) >= 32


def test_make_env_writes_the_secret_key_readable_by_its_owner_only(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    done = subprocess.run(
        ["make", ".env"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    dotenv = tmp_path / ".env"
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600
    assert len(dotenv_values(dotenv)["SECRET_KEY"] or "") == 64


def test_a_command_without_a_key_says_what_to_change_in_one_line(tmp_path: Path) -> None:
    flask = Path(sys.executable).parent / "flask"
    done = subprocess.run(
        [flask, "--app", str(ROOT / "wsgi.py"), "users", "list"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "INSTANCE_PATH": str(tmp_path / "instance")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3  # gunicorn's "worker failed to boot": its master stops too
    assert done.stderr.startswith("permit_service cannot start: SECRET_KEY is not set")
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert done.stdout == ""

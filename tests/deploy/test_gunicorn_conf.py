"""gunicorn.conf.py: tuning from the environment and safe defaults, as gunicorn resolves them."""

from __future__ import annotations

import os
import subprocess

import pytest

from permit_service.config import ConfigError, default_web_concurrency, gunicorn_settings
from tests.deploy.support import ROOT, VENV_BIN


def resolved(**env: str) -> dict[str, str]:
    """Run `gunicorn --print-config` with gunicorn.conf.py and `env`; its settings as text."""
    base = {"PATH": os.environ["PATH"], "SECRET_KEY": "x" * 32, "HOME": os.environ.get("HOME", "/")}
    result = subprocess.run(
        [str(VENV_BIN / "gunicorn"), "--config", "gunicorn.conf.py", "--print-config", "wsgi:app"],
        cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    settings = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            settings[key.strip()] = value.strip()
    return settings


def test_defaults_listen_on_loopback_with_workers_from_the_cpu_count() -> None:
    settings = resolved()
    assert settings["bind"] == "['127.0.0.1:8000']"
    assert settings["workers"] == str(default_web_concurrency())
    assert settings["worker_class"] == "sync"
    assert settings["accesslog"] == "-"  # stdout
    assert settings["graceful_timeout"] == "30"
    assert settings["logger_class"] == "permit_service.gunicorn_logging.JsonLogger"
    assert settings["control_socket_disable"] == "True"


def test_environment_tunes_bind_workers_threads_and_logs() -> None:
    settings = resolved(
        GUNICORN_BIND="0.0.0.0:9000", WEB_CONCURRENCY="3", GUNICORN_THREADS="4",
        GUNICORN_TIMEOUT="45", GUNICORN_GRACEFUL_TIMEOUT="20", GUNICORN_ACCESS_LOG="off",
        LOG_FORMAT="text", GUNICORN_MAX_REQUESTS="1000", GUNICORN_MAX_REQUESTS_JITTER="50",
    )  # fmt: skip
    assert settings["bind"] == "['0.0.0.0:9000']"
    assert settings["workers"] == "3"
    assert settings["threads"] == "4"
    assert settings["worker_class"] == "gthread"
    assert settings["timeout"] == "45"
    assert settings["graceful_timeout"] == "20"
    assert settings["accesslog"] == "None"
    assert settings["max_requests"] == "1000"
    assert settings["max_requests_jitter"] == "50"
    assert settings["logger_class"] == "permit_service.gunicorn_logging.TextLogger"


def test_port_moves_the_default_bind_and_command_line_flags_still_win() -> None:
    assert gunicorn_settings({"PORT": "9100"})["bind"] == ["127.0.0.1:9100"]
    result = subprocess.run(
        [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--workers", "5", "--print-config",
         "wsgi:app"],
        cwd=ROOT, env={"PATH": os.environ["PATH"], "SECRET_KEY": "x" * 32, "WEB_CONCURRENCY": "2"},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "workers                            = 5" in result.stdout


def test_default_workers_follow_cpus_within_bounds() -> None:
    cpus = len(os.sched_getaffinity(0))
    assert default_web_concurrency() == min(2 * cpus + 1, 16)
    assert gunicorn_settings({})["workers"] == default_web_concurrency()


@pytest.mark.parametrize(
    ("name", "value"),
    [("WEB_CONCURRENCY", "many"), ("WEB_CONCURRENCY", "0"), ("GUNICORN_THREADS", "-1")],
)
def test_junk_tuning_is_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        gunicorn_settings({name: value})

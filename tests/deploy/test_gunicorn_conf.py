"""gunicorn.conf.py: tuning from the environment and safe defaults, as gunicorn resolves them."""

from __future__ import annotations

import os
import subprocess

import pytest

from permit_service.config import (
    ConfigError,
    default_web_concurrency,
    gunicorn_settings,
    rate_limit_refusal,
)
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


def test_defaults_listen_on_loopback_with_one_threaded_worker_for_exact_limits() -> None:
    settings = resolved()  # rate limits in memory:// (the default): one process counts them all
    assert settings["bind"] == "['127.0.0.1:8000']"
    assert settings["workers"] == "1"
    assert settings["threads"] == "4"
    assert settings["worker_class"] == "gthread"
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


def test_default_workers_follow_cpus_within_bounds_when_limits_are_shared() -> None:
    cpus = len(os.sched_getaffinity(0))
    assert default_web_concurrency() == min(2 * cpus + 1, 16)
    shared = gunicorn_settings({"RATELIMIT_STORAGE_URI": "redis://redis:6379/1"})
    assert (shared["workers"], shared["threads"]) == (default_web_concurrency(), 1)
    off = gunicorn_settings({"RATELIMIT_ENABLED": "false"})
    assert off["workers"] == default_web_concurrency()
    assert gunicorn_settings({})["workers"] == 1


def test_rate_limit_refusal_names_the_storage_and_the_worker_count() -> None:
    refusal = rate_limit_refusal(3, {})
    assert refusal is not None
    assert "3 worker processes" in refusal and "RATELIMIT_STORAGE_URI=memory://" in refusal
    assert rate_limit_refusal(1, {}) is None
    assert rate_limit_refusal(3, {"RATELIMIT_STORAGE_URI": "redis://r:6379/1"}) is None
    assert rate_limit_refusal(3, {"RATELIMIT_ENABLED": "false"}) is None
    assert rate_limit_refusal(3, {"RATELIMIT_ALLOW_PER_PROCESS": "true"}) is None


@pytest.mark.parametrize(
    ("name", "value"),
    [("WEB_CONCURRENCY", "many"), ("WEB_CONCURRENCY", "0"), ("GUNICORN_THREADS", "-1")],
)
def test_junk_tuning_is_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        gunicorn_settings({name: value})


def test_each_worker_freezes_what_start_up_made() -> None:
    """post_worker_init: the objects the worker built before serving are frozen out of the
    garbage collector's walks (issue 17); what requests make later is collected as ever."""
    code = (
        "import gc, runpy; hooks = runpy.run_path('gunicorn.conf.py');"
        " assert gc.get_freeze_count() == 0; hooks['post_worker_init'](None);"
        " print(gc.get_freeze_count() > 1000, gc.isenabled())"
    )
    base = {"PATH": os.environ["PATH"], "SECRET_KEY": "x" * 32, "HOME": os.environ.get("HOME", "/")}
    result = subprocess.run(
        [str(VENV_BIN / "python"), "-c", code],
        cwd=ROOT, env=base, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]
    assert "PostWorkerInit" not in resolved()["post_worker_init"]  # ours, not the default

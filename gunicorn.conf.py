"""gunicorn settings: `gunicorn -c gunicorn.conf.py wsgi:app` (gunicorn also finds it on its own).

Every value comes from the environment through permit_service.config.gunicorn_settings, the one
place that reads it; command-line flags still win (`--workers 4`). Variables (README, .env.example):
GUNICORN_BIND (default 127.0.0.1:$PORT, PORT 8000; the container sets 0.0.0.0:8000),
WEB_CONCURRENCY (workers; default 2 x CPUs + 1, at most 16), GUNICORN_THREADS (1),
GUNICORN_WORKER_CLASS (sync, or gthread with threads > 1), GUNICORN_TIMEOUT (30),
GUNICORN_GRACEFUL_TIMEOUT (30), GUNICORN_KEEPALIVE (5), GUNICORN_MAX_REQUESTS (0: never recycle)
and GUNICORN_MAX_REQUESTS_JITTER (0), GUNICORN_ACCESS_LOG ("-" stdout, or "off"), LOG_FORMAT and
LOG_LEVEL (as for the app).

Rate limits (SPEC.md section 6): with RATELIMIT_STORAGE_URI=memory:// (the default) each worker
process would count on its own, so the default is one worker with threads, and more than one
worker refuses to start unless RATELIMIT_ENABLED=false or RATELIMIT_ALLOW_PER_PROCESS=true.
"""

import gc
import os
import shutil
import tempfile

from gunicorn.http import wsgi as _gunicorn_wsgi

# GET /metrics sums every worker's counters (prometheus_client's multiprocess mode): the folder
# must be known before permit_service.metrics is imported (here, in the master, so every worker
# inherits it). Unset, each gunicorn gets a fresh folder of its own; `make run` and
# docker-compose.yml set one that the Celery worker shares (README, Metrics).
_own_metrics_dir = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _own_metrics_dir = tempfile.mkdtemp(prefix="permit_service-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _own_metrics_dir

from permit_service import metrics as _metrics  # noqa: E402 - after the folder is set
from permit_service.config import (  # noqa: E402
    ConfigError,
    gunicorn_settings,
    rate_limit_refusal,
)

_settings = gunicorn_settings()

bind = _settings["bind"]
workers = _settings["workers"]
threads = _settings["threads"]
worker_class = _settings["worker_class"]
timeout = _settings["timeout"]
graceful_timeout = _settings["graceful_timeout"]
keepalive = _settings["keepalive"]
max_requests = _settings["max_requests"]
max_requests_jitter = _settings["max_requests_jitter"]
accesslog = _settings["accesslog"]
errorlog = _settings["errorlog"]
loglevel = _settings["loglevel"]
logger_class = (
    "permit_service.gunicorn_logging.JsonLogger"
    if _settings["log_format"] == "json"
    else "permit_service.gunicorn_logging.TextLogger"
)
# Worker heartbeats on a RAM disk: a container's /tmp may be an overlay that stalls them.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
# The app is built in each worker (no preload): no database connection crosses a fork.
preload_app = False
proc_name = "permit_service"
# gunicorn >= 25 opens a control socket at one fixed per-user path: several gunicorns on one
# machine (tests, benchmarks, blue/green) would fight over it. Nothing here uses gunicornc.
control_socket_disable = True


# No `Server: gunicorn` header: it tells an attacker what to try. gunicorn has no setting for it,
# so its response drops the line (workers inherit this from the master that reads this file).
_gunicorn_default_headers = _gunicorn_wsgi.Response.default_headers


def _headers_without_server(self: _gunicorn_wsgi.Response) -> list[str]:
    """gunicorn's own response headers, less Server."""
    return [h for h in _gunicorn_default_headers(self) if not h.lower().startswith("server:")]


_gunicorn_wsgi.Response.default_headers = _headers_without_server


def on_starting(server):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    """Refuse to start where the workers would count rate limits apart (the final worker count:
    command-line flags included). gunicorn prints a RuntimeError as `Error: ...` and exits 1."""
    refusal = rate_limit_refusal(server.cfg.workers)
    if refusal:
        raise ConfigError(refusal)


def nworkers_changed(server, new_value, old_value):  # noqa: ANN001, ANN201
    """SIGTTIN must not add workers that would count rate limits apart: keep the old count."""
    refusal = rate_limit_refusal(new_value)
    if refusal and old_value is not None and new_value > old_value:
        server.log.error(refusal)
        server.num_workers = old_value


def post_worker_init(worker):  # noqa: ANN001, ANN201
    """The app is built: what start-up made (modules, the app, its extensions: ~140,000 objects)
    lives as long as the worker, so the garbage collector stops walking it again in every
    older-generation collection during requests (issue 17: ~10% of a listing's CPU)."""
    gc.freeze()


def child_exit(server, worker):  # noqa: ANN001, ANN201
    """A worker ended: its live gauges leave /metrics (its counters stay in the sums)."""
    _metrics.mark_process_dead(worker.pid)


def on_exit(server):  # noqa: ANN001, ANN201
    """The folder this gunicorn made for its metrics goes with it."""
    if _own_metrics_dir:
        shutil.rmtree(_own_metrics_dir, ignore_errors=True)

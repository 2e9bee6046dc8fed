"""Prometheus metrics (SPEC.md section 12): `GET /metrics`, correct with several processes.

With PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py sets it for every gunicorn it starts; `make
run` and docker-compose.yml share one folder between web and Celery), every process writes its
counters to its own memory-mapped files there and /metrics sums the files of all processes,
those that ended included (counters never go back). Files are named by host name and process
id, so processes of several containers can share one volume without clashing. Without the
variable (tests in one process, `flask run`), the process's own registry answers.

Labels never carry personal data: the endpoint is Flask's endpoint name (never the path, so no
permit id or plate), the method and the status code; caches, sweeps, notifications and exports
carry only fixed words.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

from permit_service.pid import current as current_pid

# prometheus_client's own variable (it reads it too): set before any process counts anything.
_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
_HOST = socket.gethostname()


_identities: dict[int, str] = {}


def process_identity(pid: int | None = None) -> str:
    """How this process's files are named: host name and process id (asked at every update,
    so each process's name is made once, and its id read without a system call)."""
    pid = pid or current_pid()
    found = _identities.get(pid)
    if found is None:
        found = _identities[pid] = f"{_HOST}-{pid}"
    return found


class _Metrics:
    """The metric objects; built on first use, so a `flask` command that counts nothing never
    imports prometheus_client (a quarter of a second on a busy machine)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram, values

        if _DIR:
            os.makedirs(_DIR, exist_ok=True)
            values.ValueClass = values.MultiProcessValue(process_identifier=process_identity)
        self.REQUESTS = Counter(
            "permit_http_requests_total",
            "HTTP requests answered, by endpoint (Flask's endpoint name), method and status.",
            ["endpoint", "method", "status"],
        )
        self.LATENCY = Histogram(
            "permit_http_request_duration_seconds",
            "Time from the request's arrival in the app to its response, by endpoint.",
            ["endpoint"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.CACHE = Counter(
            "permit_cache_requests_total",
            "Cached reads by cache and result: hit, miss, error (cache unavailable: uncached).",
            ["cache", "result"],
        )
        self.SWEEP_RUNS = Counter("permit_sweep_runs_total", "Sweeps run (Beat's task, the CLI).")
        self.SWEEP_MOVED = Counter(
            "permit_sweep_permits_moved_total",
            "Permits the sweeps moved (pending past the deadline or approved past validity).",
        )
        self.NOTIFICATIONS = Counter(
            "permit_notifications_total",
            "Notifications by event: queued (recorded to send), sent, failed (for good), retried.",
            ["event"],
        )
        self.EXPORTS = Counter(
            "permit_export_jobs_total", "Export jobs finished, by outcome.", ["status"]
        )
        self.children: dict[Any, Any] = {}


_built: _Metrics | None = None
_lock = threading.Lock()


def get() -> _Metrics:
    """The metric objects of this process (built once)."""
    global _built
    if _built is None:
        with _lock:
            if _built is None:
                _built = _Metrics()
    return _built


def _child(metric: str, *labels: str) -> Any:
    m = get()
    key = (metric, *labels)
    child = m.children.get(key)
    if child is None:
        child = m.children[key] = getattr(m, metric).labels(*labels)
    return child


def observe_request(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    """Count one answered request (children cached: a few dict lookups and three mmap writes)."""
    m = _built or get()
    name = endpoint or "unmatched"
    children = m.children
    counter = children.get(("REQUESTS", name, method, status))
    if counter is None:
        counter = children[("REQUESTS", name, method, status)] = m.REQUESTS.labels(
            name, method, str(status)
        )
    counter.inc()
    hist = children.get(("LATENCY", name))
    if hist is None:
        hist = children[("LATENCY", name)] = m.LATENCY.labels(name)
    hist.observe(seconds)


def cache_event(cache: str, result: str) -> None:
    """A cached read: `hit`, `miss` or `error`."""
    _child("CACHE", cache, result).inc()


def sweep_finished(moved: int) -> None:
    m = get()
    m.SWEEP_RUNS.inc()
    if moved:
        m.SWEEP_MOVED.inc(moved)


def notifications(event: str, n: int = 1) -> None:
    """`queued`, `sent`, `failed` or `retried`."""
    if n:
        _child("NOTIFICATIONS", event).inc(n)


def export_finished(status: str) -> None:
    """An export job ended: `done` or `failed` (the exports code calls this)."""
    _child("EXPORTS", status).inc()


def exposition() -> tuple[bytes, str]:
    """The metrics text of every process (multiprocess mode) or of this one."""
    get()
    import prometheus_client

    if _DIR:
        from prometheus_client import multiprocess

        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=_DIR)
    else:
        registry = prometheus_client.REGISTRY
    return prometheus_client.generate_latest(registry), prometheus_client.CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """gunicorn's child_exit: drop an ended worker's live gauges (counters stay summed)."""
    if _DIR:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(process_identity(pid), _DIR)


def init_metrics(app: Any) -> None:
    """Time and count every request; serve GET /metrics (outside the OpenAPI document)."""
    from flask import Response, g, request

    perf = time.perf_counter

    @app.before_request
    def _start_timer() -> None:
        g._metrics_start = perf()

    @app.after_request
    def _count(response: Any) -> Any:
        start = g.get("_metrics_start")
        if start is not None:
            rule = request.url_rule
            observe_request(
                rule.endpoint if rule is not None else None,
                request.method,
                response.status_code,
                perf() - start,
            )
        return response

    def metrics_view() -> Any:
        body, content_type = exposition()
        return Response(body, content_type=content_type)

    app.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])

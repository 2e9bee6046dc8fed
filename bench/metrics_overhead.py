"""CPU per request of the metrics middleware (issue 17): GET /healthz with and without it.

    .venv/bin/python bench/metrics_overhead.py [--requests 20000] [--runs 5]

One app in multiprocess mode (PROMETHEUS_MULTIPROC_DIR, as under gunicorn), called through its
WSGI interface in this process (no sockets: the figure is the app's own CPU). Alternating runs
with the timing hooks in place and taken out; the median of each, and the difference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="bench-metrics-"))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from werkzeug.test import EnvironBuilder  # noqa: E402

from permit_service import create_app  # noqa: E402


def cpu_per_request(app, environ: dict, n: int) -> float:  # noqa: ANN001
    def start_response(*_: object) -> None:
        return None

    started = time.process_time()
    for _ in range(n):
        for _chunk in app(dict(environ), start_response):
            pass
    return (time.process_time() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--same", action="store_true", help="A/A: both sides with the hooks")
    args = parser.parse_args()
    instance = tempfile.mkdtemp(prefix="bench-metrics-instance-")
    app = create_app(
        {
            "TESTING": False,
            "DEBUG": False,
            "SECRET_KEY": "bench-metrics-secret-key-0123456789",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance}/db.sqlite3",
            "INSTANCE_PATH": instance,
            "RATELIMIT_ENABLED": False,
            "LOG_LEVEL": "WARNING",
        }
    )
    environ = EnvironBuilder(path="/healthz", method="GET").get_environ()
    hooks = app.before_request_funcs[None][:1], app.after_request_funcs[None]
    timer = hooks[0][0]
    assert timer.__name__ == "_start_timer", timer
    counter = next(f for f in hooks[1] if f.__name__ == "_count")
    cpu_per_request(app, environ, 2000)  # warm
    with_hooks, without = [], []
    for _ in range(args.runs):
        with_hooks.append(cpu_per_request(app, environ, args.requests))
        if args.same:  # the noise of the measurement itself
            without.append(cpu_per_request(app, environ, args.requests))
            continue
        app.before_request_funcs[None].remove(timer)
        app.after_request_funcs[None].remove(counter)
        without.append(cpu_per_request(app, environ, args.requests))
        app.before_request_funcs[None].insert(0, timer)
        app.after_request_funcs[None].append(counter)
    a, b = statistics.median(with_hooks), statistics.median(without)
    # The hooks alone, called inside one request context: steadier than the difference of two
    # noisy whole-request figures on a busy machine.
    from flask import Response

    response = Response("ok")
    direct = []
    with app.test_request_context("/healthz"):
        for _ in range(args.runs):
            started = time.process_time()
            for _ in range(args.requests):
                timer()
                counter(response)
            direct.append((time.process_time() - started) / args.requests)
    print(f"the two hooks alone: {statistics.median(direct) * 1e6:.1f} us per request")
    print(f"GET /healthz CPU per request: with metrics {a * 1e6:.1f} us, without {b * 1e6:.1f} us")
    print(f"metrics middleware: {(a - b) * 1e6:.1f} us per request ({(a - b) / b:.1%})")


if __name__ == "__main__":
    main()

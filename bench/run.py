"""`make bench`: seed, serve with gunicorn, load with wrk, side by side with a bare-Flask ceiling.

For each backend (SQLite always; PostgreSQL when BENCH_POSTGRES_URL or TEST_POSTGRES_URL is set):
a fresh database is migrated and seeded in steps (1,000 -> 10,000 -> 100,000 -> 1,000,000 permits
by default) with `flask permits seed`; the service runs under gunicorn in production
configuration next to the ceiling app (bench/ceiling.py) with the same gunicorn settings, and a
Celery worker with beat sweeps every few seconds. At every step scenario 2 (the pending list) is
measured against the ceiling; at the main step all scenarios are. Each figure is the median of
`--runs` wrk runs, and ceiling and scenarios alternate within each round, so a machine shared
with other work slows both alike. Then one expiry sweep is timed over fresh databases of due
permits (bench/sweep.py). Results go to bench/results/ as JSON, Markdown and a PNG chart.

Everything listens on 127.0.0.1 only, each wrk run is bounded by --duration, and every process
started here is stopped (by process group) before the script exits.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WRK_DIR = BENCH / "wrk"
RESULTS = BENCH / "results"
BIN = Path(sys.executable).parent
ADMIN_EMAIL = "bench-admin@example.org"

TARGETS = {  # issue 17: the ceiling's CPU per request over the scenario's (higher is better)
    "list_pending": 0.40,
    "apply": 0.40,
    "queue": 0.25,
}
BENCH_USER_AGENT = "permit-bench"  # the sign-in and wrk send the same (session protection)
SCENARIOS = {
    "apply": "1. POST /permits (unique plates)",
    "list_pending": "2. GET /permits?status=pending&page_size=50 (admin)",
    "by_plate": "3. GET /permits?license_plate=... (admin)",
    "by_id": "4. GET /permits/{id}",
    "queue": "6. GET /admin/permits (review queue, signed in, 20 rows)",
    "ceiling": "5. ceiling: bare Flask, constant 50-item list",
}


def log(message: str) -> None:
    """Progress on stderr, timestamped, so a long run shows where it is."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- machine and tools ------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.M)
    wrk = subprocess.CompletedProcess([], 0, "", "")
    if shutil.which("wrk"):
        wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model.group(1).strip() if model else platform.processor(),
        "ram_gb": round(int(mem.group(1)) / 1024 / 1024, 1) if mem else None,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": (wrk.stdout + wrk.stderr).split("\n")[0].strip(),
        "loadavg_at_start": os.getloadavg(),
    }


def ensure_wrk() -> None:
    """wrk is a Debian package: install it when missing (the harness runs as root on CI boxes)."""
    if shutil.which("wrk"):
        return
    log("wrk not found: apt-get install -y wrk")
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=300"]
    if subprocess.run([*apt, "install", "-y", "wrk"]).returncode != 0:
        subprocess.run([*apt, "update"], check=True)
        subprocess.run([*apt, "install", "-y", "wrk"], check=True)


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- databases --------------------------------------------------------------------------------


@contextmanager
def fresh_database(backend: str, workdir: Path, admin_url: str | None) -> Iterator[str]:
    """A new, empty database of `backend`, removed afterwards; yields its URL."""
    if backend == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.sqlite3"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    assert admin_url
    url = sa.make_url(admin_url).set(drivername="postgresql+psycopg")
    name = f"permit_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def vacuum_if_postgres(database_url: str) -> None:
    """After a bulk load, do what autovacuum would do soon anyway: fresh statistics, visibility."""
    if not database_url.startswith("postgresql"):
        return
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("VACUUM ANALYZE permits, permit_events"))
    engine.dispose()


def sample_ids(database_url: str, count: int = 2000) -> list[str]:
    """Random permit ids for scenario 4."""
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        ids = conn.execute(
            sa.text("SELECT id FROM permits ORDER BY random() LIMIT :n"), {"n": count}
        )
        result = [row[0] for row in ids]
    engine.dispose()
    return result


# --- processes --------------------------------------------------------------------------------


def service_env(database_url: str, instance: Path) -> dict[str, str]:
    """Production configuration: no FLASK_DEBUG, JSON logs, a generated key, explicit limits."""
    env = {k: v for k, v in os.environ.items() if k not in {"FLASK_DEBUG", "FLASK_ENV"}}
    env.update(
        {
            "FLASK_APP": "wsgi",
            "DATABASE_URL": database_url,
            "SECRET_KEY": secrets.token_hex(32),
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            "INSTANCE_PATH": str(instance),
            # Rate limits stay ON (their cost is part of the figures) but are raised far above
            # what one loopback client can send, so no request is refused with 429.
            "RATELIMIT_ENABLED": "true",
            "RATELIMIT_APPLY": "10000000 per minute",
            "RATELIMIT_LOGIN": "10000000 per minute",
            # Several workers with memory:// counters: gunicorn.conf.py refuses that unless
            # accepted (raised this far, per-process counting changes no figure).
            "RATELIMIT_ALLOW_PER_PROCESS": "true",
            # Seeded pending permits must stay pending for the whole run (default 300 s).
            "PENDING_TTL_SECONDS": "86400",
            # The worker's beat sweeps often, so its memory is measured while it works.
            "EXPIRY_SWEEP_SECONDS": "5",
        }
    )
    env.pop("CELERY_BROKER_URL", None)  # the embedded broker under INSTANCE_PATH: no server
    return env


def flask(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run `flask ARGS` from the repository root with the service's environment."""
    return subprocess.run(
        [str(BIN / "flask"), *args],
        cwd=ROOT,
        env=env,
        check=check,
        text=True,
        stdout=subprocess.PIPE if not check else None,
        stderr=subprocess.PIPE if not check else None,
    )


ADMIN_PASSWORD = secrets.token_urlsafe(16)


def admin_token(env: dict[str, str]) -> str | None:
    """An admin bearer token via `flask users create-admin/create-token`, if those exist yet."""
    password = ADMIN_PASSWORD
    made = flask(env, "users", "create-admin", ADMIN_EMAIL, "--password", password, check=False)
    if made.returncode != 0:
        log("no `flask users create-admin` here: admin requests go without a token")
        return None
    token = flask(env, "users", "create-token", ADMIN_EMAIL, check=False)
    lines = (token.stdout or "").strip().splitlines()
    if token.returncode != 0 or not lines:
        log("`flask users create-token` failed: admin requests go without a token")
        return None
    return lines[-1].strip()


class Proc:
    """A process group we started; `stop()` ends the whole group."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], logfile: Path) -> None:
        self.name = name
        self.logfile = logfile
        self.out = open(logfile, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=self.out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        """SIGTERM the group, SIGKILL it if it lingers."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
            except ProcessLookupError:
                pass
        self.out.close()

    def tree(self) -> list[int]:
        """Pids of the process and its descendants."""
        import psutil

        try:
            root = psutil.Process(self.popen.pid)
            return [root.pid] + [p.pid for p in root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def peak_rss_mb(self) -> dict[str, float]:
        """Peak resident memory (VmHWM) of the master and of the largest child, in MB."""
        peaks: dict[int, float] = {}
        for pid in self.tree():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            m = re.search(r"^VmHWM:\s*(\d+) kB", status, re.M)
            if m:
                peaks[pid] = int(m.group(1)) / 1024
        main = peaks.pop(self.popen.pid, 0.0)
        return {"main_mb": round(main, 1), "worker_mb": round(max(peaks.values(), default=0), 1)}


def gunicorn_cmd(app: str, port: int, settings: dict[str, Any], logdir: Path) -> list[str]:
    """gunicorn with the deployment's config file when there is one, plus explicit settings."""
    cmd = [str(BIN / "gunicorn")]
    if (ROOT / "gunicorn.conf.py").exists():
        cmd += ["-c", str(ROOT / "gunicorn.conf.py")]
    cmd += [
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(settings["workers"]),
        "--threads",
        str(settings["threads"]),
        "--worker-class",
        settings["worker_class"],
        "--pythonpath",
        str(BENCH),
        "--error-logfile",
        str(logdir / "gunicorn-error.log"),
        app,
    ]
    return cmd


def wait_http(url: str, seconds: float = 60, headers: dict[str, str] | None = None) -> None:
    """Poll until `url` answers 200, or fail."""
    deadline = time.monotonic() + seconds
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(url, headers=headers or {})  # noqa: S310
            with urllib.request.urlopen(request) as r:  # noqa: S310 - our own loopback URL
                if r.status == 200:
                    return
        except Exception as exc:  # noqa: BLE001 - still starting
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up: {last}")


def get_json(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
    """One GET, for checking a scenario answers what it should before loading it."""
    with urllib.request.urlopen(  # noqa: S310 - our own loopback URL
        urllib.request.Request(url, headers=headers)  # noqa: S310
    ) as r:
        return r.status, dict(r.headers), json.loads(r.read())


def web_session(base: str) -> str | None:
    """The Cookie header of the bench admin signed in through the login form (CSRF on)."""
    import http.cookiejar

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", BENCH_USER_AGENT)]
    form = opener.open(base + "/admin/login").read().decode()
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form) or re.search(
        r'name="csrf_token" value="([^"]+)"', form
    )
    if csrf is None:
        return None
    data = urllib.parse.urlencode(
        {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf_token": csrf[1]}
    ).encode()
    opener.open(base + "/admin/login", data=data).read()
    cookies = "; ".join(f"{c.name}={c.value}" for c in jar)
    request = urllib.request.Request(  # noqa: S310 - our own loopback URL
        base + "/admin/permits", headers={"Cookie": cookies, "User-Agent": BENCH_USER_AGENT}
    )
    with urllib.request.urlopen(request) as r:  # noqa: S310
        page = r.read().decode()
        if r.status != 200 or "/admin/login" in r.url or "<table" not in page:
            return None
    return cookies


def cpu_seconds(proc: Proc) -> float:
    """User + system CPU time of a gunicorn master and its workers so far."""
    import psutil

    total = 0.0
    for pid in proc.tree():
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


# --- wrk --------------------------------------------------------------------------------------


def wrk(
    url: str,
    script: str | None,
    args: list[str],
    headers: dict[str, str],
    opts: argparse.Namespace,
    duration: float,
    workdir: Path,
) -> dict[str, Any]:
    """One bounded wrk run; requests/s and latency percentiles (ms) from the report script."""
    lua = workdir / f"wrk-{uuid.uuid4().hex[:8]}.lua"
    body = (WRK_DIR / script).read_text() if script else ""
    lua.write_text(body + "\n" + (WRK_DIR / "report.lua").read_text())
    cmd = [
        "wrk",
        "-t",
        str(opts.wrk_threads),
        "-c",
        str(opts.connections),
        "-d",
        f"{max(1, round(duration))}s",
        "--timeout",
        "5s",
        "-s",
        str(lua),
    ]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    cmd.append(url)
    if args:
        cmd += ["--", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    lua.unlink(missing_ok=True)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
    raw = json.loads(line[len("BENCH_JSON ") :])
    seconds = raw["duration_us"] / 1e6
    errors = {k[7:]: v for k, v in raw.items() if k.startswith("errors_") and v}
    return {
        "rps": round(raw["requests"] / seconds, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p90_ms": round(raw["p90_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "requests": raw["requests"],
        "errors": errors,
    }


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median requests/s and latencies over runs, the runs kept alongside."""
    return {
        "rps": round(statistics.median(r["rps"] for r in runs), 1),
        "p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 2),
        "p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 2),
        "errors": sum(sum(r["errors"].values()) for r in runs),
        "cpu_ms_per_request": (
            round(statistics.median(c), 3)
            if (c := [r["cpu_ms_per_request"] for r in runs if r.get("cpu_ms_per_request")])
            else None
        ),
        "runs": runs,
    }


# --- one backend ------------------------------------------------------------------------------


class Bench:
    """All measurements on one backend."""

    def __init__(self, backend: str, opts: argparse.Namespace, workdir: Path) -> None:
        self.backend = backend
        self.opts = opts
        self.workdir = workdir / backend
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.salt = 0
        self.cookie = ""  # the signed-in admin's Cookie header (scenario 6)
        self.procs: dict[str, Proc] = {}

    def run(self, admin_url: str | None) -> dict[str, Any]:
        """Serve and load at every scale, then time the sweeps."""
        out: dict[str, Any] = {"backend": self.backend}
        only = self.opts.sweep_only or self.opts.queue_only
        if self.opts.enforcement_count and not only and not self.opts.export_only:
            import enforcement  # bench/enforcement.py (issue 17)

            with fresh_database(self.backend, self.workdir, admin_url) as url:
                out["enforcement"] = enforcement.measure(self.backend, url, self.opts, self.workdir)
            if self.opts.enforcement_only:
                return out
        if self.opts.export_sizes and not only:
            out["export"] = self.export(admin_url)
        if self.opts.export_only:
            return out
        if not self.opts.sweep_only and not self.opts.queue_only:
            with fresh_database(self.backend, self.workdir, admin_url) as url:
                out.update(self.serve_and_load(url))
        if not self.opts.sweep_only and self.opts.queue_count:
            out["queue"] = self.queue_page(self.opts.queue_count, admin_url)
        if not self.opts.queue_only:
            out["sweep"] = [self.sweeps(n, admin_url) for n in self.opts.sweep_sizes]
        return out

    def export(self, admin_url: str | None) -> dict[str, Any]:
        """A CSV export of every permit at each --export-sizes: time and the peak memory of the
        process that runs it (bench/export.py), on one fresh database seeded step by step."""
        sizes = ",".join(str(n) for n in self.opts.export_sizes)
        log(f"{self.backend}: CSV exports of {sizes} permits")
        with fresh_database(self.backend, self.workdir, admin_url) as url:
            command = [sys.executable, str(BENCH / "export.py"), url, "--sizes", sizes]
            out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"export bench failed: {out.stdout}\n{out.stderr}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["loadavg"] = Path("/proc/loadavg").read_text().split()[0]
        log(f"{self.backend}: exports {result['sizes']}")
        return result

    def queue_page(self, count: int, admin_url: str | None) -> dict[str, Any]:
        """CPU per request of the review queue and the API's 50-permit page (bench/queue_page.py)
        on a fresh database of `count` permits; pyinstrument profiles next to the results."""
        log(f"{self.backend}: queue page against the API page, {count:,} permits")
        profiles = RESULTS / f"{self.opts.label}-queue-profile-{self.backend}"
        with fresh_database(self.backend, self.workdir, admin_url) as url:
            command = [sys.executable, str(BENCH / "queue_page.py"), url, str(count)]
            if self.opts.profile:
                command += ["--profile", str(profiles)]
            out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"queue page bench failed: {out.stdout}\n{out.stderr}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["loadavg"] = Path("/proc/loadavg").read_text().split()[0]
        log(f"{self.backend}: queue page {result['scenarios']}")
        return result

    def sweeps(self, count: int, admin_url: str | None) -> dict[str, Any]:
        """Sweeps over `count` due permits: this code, and --sweep-before's side by side.

        Up to 100,000 due permits, --runs runs of each, alternating (before, after, before, ...)
        so load from elsewhere on the machine falls on both; the medians are reported.
        """
        runs = self.opts.runs if count <= 100_000 else 1
        codes = {
            "after": None,
            **({"before": self.opts.before_dir} if self.opts.before_dir else {}),
        }
        found: dict[str, list[dict[str, Any]]] = {name: [] for name in codes}
        for _ in range(runs):
            for name, code in reversed(codes.items()):
                found[name].append(self.sweep(count, admin_url, code))
        out = median_sweep(found["after"])
        if "before" in found:
            out["before"] = median_sweep(found["before"])
        return out

    def serve_and_load(self, database_url: str) -> dict[str, Any]:
        """Seed step by step; at each step measure the list (and at the main step everything)."""
        opts = self.opts
        env = service_env(database_url, self.workdir / "instance")
        flask(env, "db", "upgrade")
        token = admin_token(env)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        settings = {
            "workers": opts.workers,
            "threads": opts.threads,
            "worker_class": opts.worker_class,
        }
        port, ceiling_port = free_port(), free_port()
        procs: list[Proc] = []
        result: dict[str, Any] = {"gunicorn": settings, "admin_token": bool(token), "steps": []}
        try:
            app = Proc(
                "app",
                gunicorn_cmd("wsgi:app", port, settings, self.workdir),
                env,
                self.workdir / "app.log",
            )
            procs.append(app)
            ceiling = Proc(
                "ceiling",
                gunicorn_cmd("ceiling:app", ceiling_port, settings, self.workdir),
                env,
                self.workdir / "ceiling.log",
            )
            procs.append(ceiling)
            worker = Proc(
                "celery",
                [
                    str(BIN / "celery"),
                    "-A",
                    "celery_app",
                    "worker",
                    "--beat",
                    "--loglevel",
                    "WARNING",
                    "--schedule",
                    str(self.workdir / "instance" / "celerybeat-schedule"),
                ],
                env,
                self.workdir / "celery.log",
            )
            procs.append(worker)
            base, ceiling_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{ceiling_port}"
            self.procs = {"app": app, "ceiling": ceiling}
            wait_http(base + "/healthz")
            wait_http(ceiling_base + "/ceiling")
            seeded = 0
            for scale in opts.scales:
                log(f"{self.backend}: seeding to {scale:,} permits")
                started = time.perf_counter()
                flask(env, "permits", "seed", "--force", "--count", str(scale - seeded))
                seed_seconds = time.perf_counter() - started
                seeded = scale
                vacuum_if_postgres(database_url)
                names = ["list_pending"]
                if scale == opts.count:
                    names = ["list_pending", "by_plate", "by_id", "apply"]
                if scale == opts.count:
                    cookie = web_session(base)
                    if cookie:
                        names.append("queue")
                        self.cookie = cookie
                    else:
                        log("could not sign in to the review queue: its scenario is skipped")
                step = self.measure(base, ceiling_base, headers, names, database_url, scale)
                step["seed_seconds"] = round(seed_seconds, 1)
                if scale == opts.count and opts.profile:
                    step["profiles"] = {
                        name: self.profile(app, name, self.target)
                        for name in ["list_pending", "apply", "by_id", "queue"]
                        if name in names
                    }
                result["steps"].append(step)
            result["rss"] = {
                "gunicorn": app.peak_rss_mb(),
                "celery": worker.peak_rss_mb(),
                "ceiling": ceiling.peak_rss_mb(),
            }
        finally:
            for proc in reversed(procs):
                proc.stop()
        return result

    def measure(
        self,
        base: str,
        ceiling_base: str,
        headers: dict[str, str],
        names: list[str],
        database_url: str,
        seeded: int,
    ) -> dict[str, Any]:
        """Rounds of (ceiling, scenarios...); medians and ratios to the ceiling."""
        opts = self.opts
        ids_file = self.workdir / "ids.txt"
        if "by_id" in names:
            ids_file.write_text("\n".join(f"/permits/{i}" for i in sample_ids(database_url)))
        # Check each scenario answers what it should before timing it.
        status, hdrs, body = get_json(base + "/permits?status=pending&page_size=50", headers)
        pagination = json.loads(hdrs.get("X-Pagination", "{}"))
        if status != 200 or len(body) != 50 or not pagination.get("total"):
            raise RuntimeError(f"scenario 2 check failed: {status} {len(body)} {pagination}")

        def target(name: str) -> tuple[str, str | None, list[str], dict[str, str]]:
            """URL, wrk script, script arguments and headers of a scenario."""
            if name == "ceiling":
                return ceiling_base + "/ceiling", None, [], {}
            if name == "list_pending":
                return base + "/permits?status=pending&page_size=50", None, [], headers
            if name == "by_plate":
                return base + "/permits", "plate.lua", [str(seeded)], headers
            if name == "by_id":
                return base + "/permits", "paths.lua", [str(ids_file)], {}
            if name == "queue":
                return (
                    base + "/admin/permits",
                    None,
                    [],
                    {"Cookie": self.cookie, "User-Agent": BENCH_USER_AGENT},
                )
            self.salt += 1
            salt = f"{chr(65 + self.salt % 26)}{self.salt // 26 % 10}{self.backend[0].upper()}"
            return base + "/permits", "apply.lua", [salt], {}

        self.target = target
        runs: dict[str, list[dict[str, Any]]] = {n: [] for n in ["ceiling", *names]}
        ratios: dict[str, list[float]] = {n: [] for n in names}
        cpu_ratios: dict[str, list[float]] = {n: [] for n in names}

        def timed(name: str, url: str, script: Any, args: Any, hdrs: Any) -> dict[str, Any]:
            """One wrk run, with the CPU time its server's processes spent per request."""
            proc = self.procs["ceiling" if name == "ceiling" else "app"]
            before = cpu_seconds(proc)
            run = wrk(url, script, args, hdrs, opts, opts.duration, self.workdir)
            spent = cpu_seconds(proc) - before
            run["cpu_ms_per_request"] = (
                round(spent * 1000 / run["requests"], 3) if run["requests"] else None
            )
            return run

        for name in runs:  # warm-up: imports, connection pools, caches
            url, script, args, hdrs = target(name)
            wrk(url, script, args, hdrs, opts, 1, self.workdir)
        for round_no in range(opts.runs):
            for name in names:
                # Each scenario run right after its own ceiling run: the machine is shared, and
                # the pair sees the same load, so their ratio is the figure to trust.
                ceiling_run = timed("ceiling", *target("ceiling"))
                run = timed(name, *target(name))
                runs["ceiling"].append(ceiling_run)
                runs[name].append(run)
                ratios[name].append(run["rps"] / ceiling_run["rps"] if ceiling_run["rps"] else 0)
                mine, bare = run["cpu_ms_per_request"], ceiling_run["cpu_ms_per_request"]
                cpu_ratios[name].append(bare / mine if mine and bare else 0)
            log(
                f"{self.backend} {seeded:,} round {round_no + 1}: "
                + ", ".join(
                    f"{n} {runs[n][-1]['rps']:.0f}/s ({ratios[n][-1]:.0%} of ceiling), "
                    f"{runs[n][-1]['cpu_ms_per_request']} ms CPU ({cpu_ratios[n][-1]:.0%})"
                    for n in names
                )
            )
        medians = {name: median_of(r) for name, r in runs.items()}
        medians["ceiling"]["ratio_to_ceiling"] = 1.0
        medians["ceiling"]["cpu_ratio_to_ceiling"] = 1.0
        for name in names:
            medians[name]["ratio_to_ceiling"] = round(statistics.median(ratios[name]), 3)
            medians[name]["ratios"] = [round(r, 3) for r in ratios[name]]
            medians[name]["cpu_ratio_to_ceiling"] = round(statistics.median(cpu_ratios[name]), 3)
            medians[name]["cpu_ratios"] = [round(r, 3) for r in cpu_ratios[name]]
        return {"permits": seeded, "scenarios": medians}

    def profile(self, app: Proc, name: str, target: Any) -> dict[str, Any]:
        """Sample one gunicorn worker with py-spy during an extra run; self time by package."""
        import psutil

        workers = app.tree()[1:]
        spy_bin = BIN / "py-spy"
        if not workers or not spy_bin.exists():
            return {}
        # The worker that has done the most work so far is the one that gets traffic.
        busiest = max(workers, key=lambda pid: sum(psutil.Process(pid).cpu_times()[:2]))
        raw = RESULTS / f"{self.opts.label}-profile-{self.backend}-{name}.txt"
        RESULTS.mkdir(parents=True, exist_ok=True)
        spy = subprocess.Popen(
            # --gil: only samples holding the GIL, i.e. where the CPU goes, not socket waits.
            [
                str(spy_bin),
                "record",
                "--pid",
                str(busiest),
                "--duration",
                str(self.opts.duration),
                "--rate",
                "250",
                "--format",
                "raw",
                "--output",
                str(raw),
                "--nonblocking",
                "--gil",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url, script, args, hdrs = target(name)
            wrk(url, script, args, hdrs, self.opts, self.opts.duration, self.workdir)
            spy.wait(timeout=self.opts.duration + 60)
        finally:
            if spy.poll() is None:
                spy.kill()
        if not raw.exists():
            return {}
        summary = summarise_profile(raw.read_text())
        # Kept, compressed, next to the results: the evidence behind the summary.
        subprocess.run(["gzip", "-9f", str(raw)], check=False)
        log(
            f"{self.backend} profile {name}: "
            + ", ".join(f"{k} {v:.0%}" for k, v in list(summary.items())[:6])
        )
        return summary

    def sweep(self, count: int, admin_url: str | None, code: Path | None) -> dict[str, Any]:
        """One sweep over `count` due permits on a fresh database (bench/sweep.py).

        `code`: a checkout of another version to measure instead of this one.
        """
        log(f"{self.backend}: sweep over {count:,} due permits ({code or 'this code'})")
        env = {k: v for k, v in os.environ.items() if k != "FLASK_DEBUG"}
        if code is not None:
            env["PYTHONPATH"] = str(code)  # before the installed (editable) permit_service
        with fresh_database(self.backend, self.workdir, admin_url) as url:
            out = subprocess.run(
                [sys.executable, str(BENCH / "sweep.py"), url, str(count)],
                cwd=code or ROOT,
                capture_output=True,
                text=True,
                check=False,
                env=env,
            )
        line = next((x for x in out.stdout.splitlines() if x.startswith("SWEEP_JSON ")), None)
        if out.returncode != 0 or line is None:
            raise RuntimeError(f"sweep failed: {out.stdout}\n{out.stderr}")
        result = json.loads(line[len("SWEEP_JSON ") :])
        result["loadavg"] = Path("/proc/loadavg").read_text().split()[0]
        log(
            f"{self.backend}: swept {count:,} in {result['seconds']} s, "
            f"{result['statements']} statements, writes waited at most "
            f"{result['writes_during_sweep'].get('worst_ms')} ms (load {result['loadavg']})"
        )
        return result


QUEUE_SCENARIOS = {
    "api_pending_50": "GET /permits?status=pending&page_size=50 (API, 50 rows)",
    "queue_pending_20": "GET /admin/permits (queue, pending, 20 rows)",
    "queue_all_20": "GET /admin/permits?status=all (20 rows)",
    "queue_approved_20": "GET /admin/permits?status=approved (20 rows)",
    "queue_pending_by_plate_20": "GET /admin/permits?sort=license_plate (20 rows)",
}


def export_markdown(report: dict[str, Any]) -> list[str]:
    """The CSV export table: time and peak memory of the process that runs it, per size."""
    lines = [
        "",
        "### CSV export of every permit (bench/export.py)",
        "",
        "| backend | permits | seconds | rows/s | CSV MB | RSS before MB | peak RSS MB | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b in report["backends"]:
        found = b.get("export")
        for r in (found or {}).get("sizes", []):
            lines.append(
                f"| {b['backend']} | {r['permits']:,} | {r['seconds']} | {r['rows_per_second']:,} "
                f"| {r['megabytes']} | {r['rss_before_mb']} | {r['peak_rss_mb']} "
                f"| {found.get('loadavg', '-')} |"
            )
    return lines


def queue_markdown(report: dict[str, Any]) -> list[str]:
    """The queue page's CPU per request against the API's page (issue 16)."""
    rows = [b for b in report["backends"] if b.get("queue")]
    if not rows:
        return []
    lines = [
        "",
        "Review queue page against the API's 50-permit page: process CPU per request "
        "(bench/queue_page.py, Flask test client, signed in, CSRF on; median and 90th "
        "percentile of the requests after a warm-up; SQLite's work is in the process, "
        "PostgreSQL's server is not):",
        "",
        "| backend | permits | page | CPU ms median | p90 | of the API page |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for b in rows:
        q = b["queue"]
        api = q["scenarios"].get("api_pending_50", {}).get("cpu_ms_median") or 0
        for name, s in q["scenarios"].items():
            ratio = f"{s['cpu_ms_median'] / api:.2f}x" if api else ""
            lines.append(
                f"| {b['backend']} | {q['permits']:,} | {QUEUE_SCENARIOS.get(name, name)} | "
                f"{s['cpu_ms_median']} | {s['cpu_ms_p90']} | {ratio} |"
            )
    return lines


def median_sweep(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median sweep time, plus the median of each wait figure and every run."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    out = dict(ordered[len(ordered) // 2])
    for key in ("writes_during_sweep", "writes_before_sweep"):
        for figure in ("worst_ms", "median_ms"):
            values = [r[key][figure] for r in runs if figure in r[key]]
            if values:
                out[key] = {**out[key], figure: statistics.median(values)}
    for key in ("cpu_seconds", "server_cpu_seconds"):  # older results have neither
        values = [r[key] for r in runs if r.get(key) is not None]
        out[key] = round(statistics.median(values), 3) if values else None
    out["runs"] = runs
    return out


# --- reports ----------------------------------------------------------------------------------

PROFILE_BUCKETS = [  # first match wins, checked against the sampled (innermost) frame's file
    ("database driver", ("sqlite3", "psycopg")),
    ("SQLAlchemy", ("sqlalchemy",)),
    ("marshmallow / webargs / smorest", ("marshmallow", "webargs", "flask_smorest", "apispec")),
    ("Flask-Limiter / limits", ("flask_limiter", "limits")),
    ("Flask / Werkzeug / Jinja", ("flask/", "flask_", "werkzeug", "jinja2", "itsdangerous")),
    ("gunicorn (HTTP, sockets)", ("gunicorn", "socket", "selectors")),
    ("logging", ("logging", "pythonjsonlogger")),
    ("json", ("json",)),
    ("permit_service code", ("permit_service",)),
]


def summarise_profile(collapsed: str) -> dict[str, float]:
    """Share of samples by the package of the innermost frame, from py-spy's raw output."""
    totals: dict[str, int] = {}
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaf = stack.rsplit(";", 1)[-1]
        bucket = next(
            (name for name, keys in PROFILE_BUCKETS if any(k in leaf for k in keys)), "other"
        )
        totals[bucket] = totals.get(bucket, 0) + int(count)
    samples = sum(totals.values()) or 1
    return {k: round(v / samples, 3) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


def main_step(backend: dict[str, Any], count: int) -> dict[str, Any] | None:
    """The step at the main permit count (all scenarios)."""
    return next((s for s in backend["steps"] if s["permits"] == count), None)


def list_scaling(backend: dict[str, Any]) -> dict[str, Any]:
    """Scenario 2's p50 latency and requests/s per permit count; largest over smallest."""
    points = [
        {
            "permits": s["permits"],
            "p50_ms": s["scenarios"]["list_pending"]["p50_ms"],
            "p99_ms": s["scenarios"]["list_pending"]["p99_ms"],
            "rps": s["scenarios"]["list_pending"]["rps"],
            "ratio_to_ceiling": s["scenarios"]["list_pending"]["ratio_to_ceiling"],
        }
        for s in backend["steps"]
    ]
    ratio = points[-1]["p50_ms"] / points[0]["p50_ms"] if points and points[0]["p50_ms"] else None
    # The same growth measured against the ceiling run beside each step: on a shared machine the
    # raw latencies of two steps minutes apart also differ by whatever else was running.
    relative = (
        points[0]["ratio_to_ceiling"] / points[-1]["ratio_to_ceiling"]
        if points and points[-1]["ratio_to_ceiling"]
        else None
    )
    return {
        "points": points,
        "p50_ratio_largest_to_smallest": round(ratio, 2) if ratio else None,
        "ceiling_relative_ratio_largest_to_smallest": round(relative, 2) if relative else None,
    }


def markdown(report: dict[str, Any]) -> str:
    """The results as Markdown tables (bench/README.md copies these)."""
    m = report["machine"]
    o = report["options"]
    lines = [
        f"Measured {report['finished_at']} on {m['cpu_count']} CPU ({m['cpu_model']}), "
        f"{m['ram_gb']} GB RAM, Python {m['python']}, SQLite {m['sqlite']}, {m['wrk']}. "
        f"gunicorn {o['workers']} x {o['worker_class']} worker(s), {o['threads']} thread(s); "
        f"wrk {o['wrk_threads']} thread(s), {o['connections']} connections, "
        f"{o['duration']} s per run, median of {o['runs']} runs, load generator on the same "
        "machine over loopback.",
    ]
    if o.get("enforcement_only"):
        import enforcement

        return "\n".join(lines + enforcement.markdown(report)) + "\n"
    if o.get("export_only"):
        lines = [
            f"Measured {report['finished_at']} on {m['cpu_count']} CPU ({m['cpu_model']}), "
            f"{m['ram_gb']} GB RAM, Python {m['python']}, SQLite {m['sqlite']}, PostgreSQL "
            f"{m.get('postgres', '-')}."
        ]
        return "\n".join(lines + export_markdown(report)) + "\n"
    if o.get("queue_only"):
        lines = [
            f"Measured {report['finished_at']} on {m['cpu_count']} CPU ({m['cpu_model']}), "
            f"{m['ram_gb']} GB RAM, Python {m['python']}, SQLite {m['sqlite']}, PostgreSQL "
            f"{m.get('postgres', '-')}."
        ]
        return "\n".join(lines + queue_markdown(report)) + "\n"
    if o.get("sweep_only"):
        lines = [
            f"Measured {report['finished_at']} on {m['cpu_count']} CPU ({m['cpu_model']}), "
            f"{m['ram_gb']} GB RAM, Python {m['python']}, SQLite {m['sqlite']}, PostgreSQL "
            f"{m.get('postgres', '-')}; before = {o.get('sweep_before') or '-'}, after = this code."
        ]
        return "\n".join(lines + sweep_markdown(report)) + "\n"
    lines += [
        "",
        "CPU ms/req: user + system time of the gunicorn master and workers over a run, divided"
        " by its requests (the database server's own work on PostgreSQL is not in it; SQLite's"
        " is). \"CPU: of ceiling\" is the ceiling's CPU per request over the scenario's, the"
        " median of the pairs; the targets (issue 17) are on it.",
        "",
        "| backend | scenario | permits | req/s | p50 ms | p99 ms | req/s: of ceiling |"
        " CPU ms/req | CPU: of ceiling | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for b in report["backends"]:
        step = main_step(b, o["count"])
        if step is None:
            continue
        for name in ["apply", "list_pending", "by_plate", "by_id", "queue", "ceiling"]:
            s = step["scenarios"].get(name)
            if s is None:
                continue
            goal = TARGETS.get(name)
            cpu_ratio = s.get("cpu_ratio_to_ceiling")
            verdict = ""
            if goal is not None and cpu_ratio is not None:
                verdict = f"{'met' if cpu_ratio >= goal else 'missed'} (>= {goal:.0%})"
            cpu = _or_dash(s.get("cpu_ms_per_request"))
            lines.append(
                f"| {b['backend']} | {SCENARIOS[name]} | {step['permits']:,} | {s['rps']:,.0f} | "
                f"{s['p50_ms']} | {s['p99_ms']} | {s['ratio_to_ceiling']:.0%} | {cpu} | "
                f"{'-' if cpu_ratio is None else f'{cpu_ratio:.0%}'} | {verdict} |"
            )
    for b in report["backends"]:
        step = main_step(b, o["count"]) or {"scenarios": {}}
        queue, api = step["scenarios"].get("queue"), step["scenarios"].get("list_pending")
        if queue and api and queue.get("cpu_ms_per_request") and api.get("cpu_ms_per_request"):
            times = queue["cpu_ms_per_request"] / api["cpu_ms_per_request"]
            verdict = "met" if times <= 1 else "missed"
            lines.append(
                f"| {b['backend']} | queue page (20 rows) against the API's 50-permit page | | | |"
                f" | | {times:.2f}x | | no more CPU (issue 16): {verdict} |"
            )
    lines += [
        "",
        "List scaling (scenario 2, p50 latency, each step next to its own ceiling run):",
        "",
        "| backend | permits | req/s | p50 ms | p99 ms | of ceiling |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for b in report["backends"]:
        scaling = b["list_scaling"]
        for p in scaling["points"]:
            lines.append(
                f"| {b['backend']} | {p['permits']:,} | {p['rps']:,.0f} | {p['p50_ms']} | "
                f"{p['p99_ms']} | {p['ratio_to_ceiling']:.0%} |"
            )
        raw = scaling["p50_ratio_largest_to_smallest"]
        relative = scaling["ceiling_relative_ratio_largest_to_smallest"]
        verdict = "met" if (relative or 99) <= 1.5 else "missed"
        lines.append(
            f"| {b['backend']} | largest / smallest | | p50 {raw}x | | {relative}x against the "
            f"ceiling; target <= 1.5x: {verdict} |"
        )
    lines += queue_markdown(report)
    import enforcement

    lines += enforcement.markdown(report)
    lines += export_markdown(report)
    lines += sweep_markdown(report)
    for b in report["backends"]:
        step = main_step(b, o["count"])
        for name, summary in (step or {}).get("profiles", {}).items():
            if summary:
                top = ", ".join(f"{k} {v:.0%}" for k, v in list(summary.items())[:7])
                lines += [
                    "",
                    f"Profile, {b['backend']} {SCENARIOS[name]} (py-spy, one worker, "
                    f"self time by package): {top}.",
                ]
    lines += [
        "",
        "Peak RSS (VmHWM) during the runs:",
        "",
        "| backend | process | MB |",
        "|---|---|---:|",
    ]
    for b in report["backends"]:
        rss = b.get("rss", {})
        if rss:
            lines.append(f"| {b['backend']} | gunicorn worker | {rss['gunicorn']['worker_mb']} |")
            lines.append(f"| {b['backend']} | Celery worker (main) | {rss['celery']['main_mb']} |")
            lines.append(
                f"| {b['backend']} | Celery worker (pool child) | {rss['celery']['worker_mb']} |"
            )
    return "\n".join(lines) + "\n"


def _or_dash(value: Any) -> str:
    return "-" if value is None else str(value)


def sweep_markdown(report: dict[str, Any]) -> list[str]:
    """The sweep table: time, and the writes meanwhile; before and after when both ran."""
    runs = report["options"]["runs"]
    lines = [
        "",
        "Expiry sweep (one `expire_due_permits()` over N due permits, with their events), while"
        " one writer applies and approves in turn (bench/sweep.py); median of"
        f" {runs} runs up to 100,000 due permits, before and after alternating; load is"
        " /proc/loadavg (1 min) at the median run:",
        "",
        "| backend | due permits | code | seconds | CPU s: sweep / server | statements |"
        " writes during sweep | worst wait ms | median ms | writer alone: worst / median ms |"
        " load | target |",
        "|---|---:|---|---:|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for b in report["backends"]:
        for after in b["sweep"]:
            for name, s in (("before", after.get("before")), ("after", after)):
                if s is None:
                    continue
                during, alone = s["writes_during_sweep"], s["writes_before_sweep"]
                verdict = ""
                if s["due_permits"] == 100_000 and name == "after":
                    fast = "met" if s["seconds"] < 2 else "missed"
                    bounded = "met" if during.get("worst_ms", 0) <= 200 else "missed"
                    verdict = f"< 2 s: {fast}; waits <= 200 ms: {bounded}"
                cpu = f"{_or_dash(s.get('cpu_seconds'))} / {_or_dash(s.get('server_cpu_seconds'))}"
                lines.append(
                    f"| {b['backend']} | {s['due_permits']:,} | {name} | {s['seconds']} | {cpu} | "
                    f"{s['statements']} | {during['answers']} | {during.get('worst_ms', '-')} | "
                    f"{during.get('median_ms', '-')} | {alone.get('worst_ms', '-')} / "
                    f"{alone.get('median_ms', '-')} | {s.get('loadavg', '-')} | {verdict} |"
                )
    return lines


def chart(report: dict[str, Any], path: Path) -> None:
    """Three panels: requests/s vs the ceiling, list latency by size, sweep time by size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    names = ["apply", "list_pending", "by_plate", "by_id", "ceiling"]
    width = 0.8 / max(1, len(report["backends"]))
    for i, b in enumerate(report["backends"]):
        step = main_step(b, report["options"]["count"])
        if step is None:
            continue
        values = [step["scenarios"].get(n, {}).get("rps", 0) for n in names]
        xs = [x + i * width for x in range(len(names))]
        axes[0].bar(xs, values, width, label=b["backend"])
    axes[0].set_xticks([x + width * (len(report["backends"]) - 1) / 2 for x in range(len(names))])
    axes[0].set_xticklabels(["1 apply", "2 list", "3 plate", "4 by id", "5 ceiling"])
    axes[0].set_ylabel("requests/s (median)")
    axes[0].set_title(f"Scenarios at {report['options']['count']:,} permits")
    axes[0].legend()
    for b in report["backends"]:
        pts = b["list_scaling"]["points"]
        axes[1].plot(
            [p["permits"] for p in pts],
            [p["p50_ms"] for p in pts],
            "o-",
            label=f"{b['backend']} p50",
        )
        axes[1].plot(
            [p["permits"] for p in pts],
            [p["p99_ms"] for p in pts],
            "x--",
            label=f"{b['backend']} p99",
        )
        sw = b["sweep"]
        axes[2].plot(
            [s["due_permits"] for s in sw], [s["seconds"] for s in sw], "o-", label=b["backend"]
        )
    axes[1].set_xscale("log")
    axes[1].set_xlabel("permits in the database")
    axes[1].set_ylabel("latency ms")
    axes[1].set_title("Scenario 2 (pending list) by size")
    axes[1].set_ylim(bottom=0)
    axes[1].legend()
    if any(b["sweep"] for b in report["backends"]):  # --sweep-sizes "" runs none
        axes[2].set_xscale("log")
        axes[2].set_yscale("log")
    axes[2].set_xlabel("due permits")
    axes[2].set_ylabel("seconds")
    axes[2].set_title("One expiry sweep")
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; the defaults are the published configuration."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--count", type=int, default=100_000, help="main step: all scenarios here")
    p.add_argument(
        "--scales",
        default="1000,10000,100000,1000000",
        help="permit counts of the list-scaling steps (must include --count)",
    )
    p.add_argument("--sweep-sizes", default="1000,100000,1000000")
    p.add_argument(
        "--sweep-before",
        default=None,
        metavar="GIT_REF",
        help="also time the sweeps of this version (git archive), side by side",
    )
    p.add_argument("--sweep-only", action="store_true", help="only the sweeps (no serving, no wrk)")
    p.add_argument(
        "--queue-count",
        type=int,
        default=100_000,
        help="permits for the queue page's CPU per request (bench/queue_page.py); 0: skip",
    )
    p.add_argument("--queue-only", action="store_true", help="only the queue page's figures")
    p.add_argument(
        "--enforcement-count",
        type=int,
        default=100_000,
        help="permits for the enforcement scenarios (bench/enforcement.py); 0: skip",
    )
    p.add_argument("--enforcement-only", action="store_true", help="only the enforcement figures")
    p.add_argument(
        "--export-sizes",
        default="100000,1000000",
        help="permits in a CSV export, step by step (bench/export.py); empty: skip",
    )
    p.add_argument("--export-only", action="store_true", help="only the CSV export's figures")
    p.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    p.add_argument("--runs", type=int, default=3, help="runs per scenario (median reported)")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--wrk-threads", type=int, default=2)
    # sync workers, two per CPU: each request on its own connection, so the load spreads over
    # every worker. gthread's kept-alive connections stay on whichever worker accepted them,
    # which left one of two workers idle in some runs here (README, Benchmarks).
    p.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY", 0) or 0),
        help="gunicorn workers (default: WEB_CONCURRENCY, else two per CPU)",
    )
    p.add_argument("--threads", type=int, default=int(os.environ.get("GUNICORN_THREADS", 1)))
    p.add_argument("--worker-class", default=os.environ.get("GUNICORN_WORKER_CLASS", "sync"))
    p.add_argument("--backends", default=None, help="sqlite,postgres (default: what is set up)")
    p.add_argument("--label", default="latest", help="results file name stem")
    p.add_argument(
        "--combine",
        nargs="+",
        metavar="JSON",
        default=None,
        help="only merge earlier result files (e.g. one per backend) into --label",
    )
    p.add_argument(
        "--no-profile",
        dest="profile",
        action="store_false",
        help="skip the py-spy profiles of one gunicorn worker at the main step",
    )
    opts = p.parse_args(argv)
    opts.scales = sorted({int(x) for x in opts.scales.split(",") if x} | {opts.count})
    opts.sweep_sizes = [int(x) for x in opts.sweep_sizes.split(",") if x]
    opts.export_sizes = [int(x) for x in opts.export_sizes.split(",") if x]
    opts.workers = opts.workers or 2 * (os.cpu_count() or 1)
    return opts


def main(argv: list[str] | None = None) -> int:
    """Run everything, write bench/results/<label>.{json,md,png}."""
    opts = parse_args(argv)
    if opts.combine:
        return combine([Path(p) for p in opts.combine], opts.label)
    if not opts.sweep_only and not opts.queue_only and not opts.export_only:
        ensure_wrk()
    pg_url = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_POSTGRES_URL")
    backends = (
        opts.backends.split(",") if opts.backends else ["sqlite"] + (["postgres"] if pg_url else [])
    )
    if "postgres" in backends and not pg_url:
        raise SystemExit("--backends postgres needs BENCH_POSTGRES_URL or TEST_POSTGRES_URL")
    report: dict[str, Any] = {
        "machine": machine(),
        "options": {k: v for k, v in vars(opts).items()},
        "started_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "backends": [],
    }
    log(f"machine: {report['machine']}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="permit-bench-") as tmp:
        opts.before_dir = None
        if opts.sweep_before:
            opts.before_dir = checkout(opts.sweep_before, Path(tmp) / "before")
            report["options"]["sweep_before"] = subprocess.run(
                ["git", "rev-parse", "--short", opts.sweep_before],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        for backend in backends:
            result = Bench(backend, opts, Path(tmp)).run(pg_url)
            result.setdefault("steps", [])
            result["list_scaling"] = list_scaling(result)
            if backend == "postgres":
                engine = sa.create_engine(
                    sa.make_url(pg_url).set(drivername="postgresql+psycopg")  # type: ignore[arg-type]
                )
                with engine.connect() as conn:
                    version = conn.execute(sa.text("SHOW server_version")).scalar()
                    report["machine"]["postgres"] = version
                engine.dispose()
            report["backends"].append(result)
    report["finished_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    report["wall_seconds"] = round(time.monotonic() - started)
    write(report, opts.label)
    log(f"finished in {report['wall_seconds']} s")
    return 0


def checkout(ref: str, folder: Path) -> Path:
    """The tree of git `ref` in `folder` (git archive: no worktree to clean up)."""
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def write(report: dict[str, Any], label: str) -> None:
    """bench/results/<label>.json, .md and .png."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / label
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(report))
    options = report["options"]
    if not any(options.get(k) for k in ("queue_only", "enforcement_only", "export_only")):
        chart(report, stem.with_suffix(".png"))
    print(markdown(report))
    log(f"wrote {stem}.json, .md{', .png' if stem.with_suffix('.png').exists() else ''}")


def combine(paths: list[Path], label: str) -> int:
    """One report from several runs with the same options (e.g. one invocation per backend)."""
    reports = [json.loads(p.read_text()) for p in paths]
    merged = dict(reports[0])
    merged["backends"] = [b for r in reports for b in r["backends"]]
    merged["finished_at"] = max(r["finished_at"] for r in reports)
    merged["combined_from"] = [p.name for p in paths]
    for r in reports[1:]:
        merged["machine"].update({k: v for k, v in r["machine"].items() if k == "postgres"})
    write(merged, label)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Enforcement endpoints against the bare-Flask ceiling: requests/s and CPU per request (issue 17).

Called by bench/run.py (`make bench`; `--enforcement-count N`, 0 skips; `--enforcement-only`).
On a fresh database seeded with N permits (the bench mix: 60% approved), with an enforcement
account's token, gunicorn serves the service and the ceiling (bench/ceiling.py) with the same
settings. wrk drives, per round, the ceiling and then each scenario:

- `check`: GET /enforcement/check?license_plate=<random seeded plate, any spelling>&zone=CITY
  (every check also goes into the batched check log, as in production);
- `permits_50` / `permits_500`: GET /enforcement/permits?zone=CITY&limit=50|500 (the first page).

CPU per request is the gunicorn workers' user + system CPU time (/proc/<pid>/stat) during the
run divided by the requests answered: far steadier than requests/s on a shared machine. The
server side of PostgreSQL is not in it (the database's own work; reported as is). Each figure is
the median of `--runs` runs; each ratio the median of the runs' ratios to the ceiling run just
before: `cpu_vs_ceiling` = ceiling CPU per request / scenario CPU per request (1.0 = as cheap as
the ceiling), `rps_vs_ceiling` likewise for requests/s.
"""

from __future__ import annotations

import os
import secrets
import statistics
import time
from pathlib import Path
from typing import Any

import run as bench  # bench/run.py (this folder is on sys.path when run.py imports us)

ENFORCER_EMAIL = "bench-enforcer@example.org"
SCENARIOS = {
    "check": "GET /enforcement/check (token and plate caches warm: hits)",
    "permits_50": "GET /enforcement/permits?limit=50",
    "permits_500": "GET /enforcement/permits?limit=500",
}
# The check asks about this many seeded plates (every worker's cache holds them after the
# warm-up: the target is the check when its reads are cache hits), warmed up this long.
HOT_PLATES = 100
CHECK_WARM_UP_SECONDS = 8


def _plate_cache_counts(base: str) -> tuple[float, float]:
    """(hits, misses) of the plate cache so far, summed over the workers (GET /metrics)."""
    import urllib.request

    with urllib.request.urlopen(base + "/metrics") as r:  # noqa: S310 - our own loopback URL
        text = r.read().decode()
    found = {"hit": 0.0, "miss": 0.0}
    for line in text.splitlines():
        if line.startswith("permit_cache_requests_total{") and 'cache="plate"' in line:
            for result in found:
                if f'result="{result}"' in line:
                    found[result] += float(line.rsplit(" ", 1)[1])
    return found["hit"], found["miss"]


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (/proc/<pid>/stat)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _timed(
    proc: bench.Proc,
    url: str,
    script: str | None,
    args: list[str],
    headers: dict[str, str],
    opts: Any,
    workdir: Path,
) -> dict[str, Any]:
    """One wrk run with the CPU its gunicorn workers spent per answered request."""
    workers = proc.tree()[1:]
    before = _cpu_seconds(workers)
    run = bench.wrk(url, script, args, headers, opts, opts.duration, workdir)
    spent = _cpu_seconds(workers) - before
    run["cpu_ms_per_request"] = round(spent * 1000 / max(run["requests"], 1), 3)
    return run


def measure(backend: str, database_url: str, opts: Any, workdir: Path) -> dict[str, Any]:
    """Seed, serve, and measure the enforcement scenarios against the ceiling on one backend."""
    count = opts.enforcement_count
    env = bench.service_env(database_url, workdir / "instance-enforcement")
    bench.flask(env, "db", "upgrade")
    bench.log(f"{backend}: enforcement, seeding {count:,} permits")
    bench.flask(env, "permits", "seed", "--force", "--count", str(count))
    bench.vacuum_if_postgres(database_url)
    password = secrets.token_urlsafe(16)
    bench.flask(
        env, "users", "create", ENFORCER_EMAIL, "--role", "enforcer", "--password", password
    )
    issued = bench.flask(env, "users", "create-token", ENFORCER_EMAIL, check=False)
    headers = {"Authorization": f"Bearer {issued.stdout.strip().splitlines()[-1].strip()}"}
    settings = {"workers": opts.workers, "threads": opts.threads, "worker_class": opts.worker_class}
    port, ceiling_port = bench.free_port(), bench.free_port()
    procs: list[bench.Proc] = []
    try:
        app = bench.Proc(
            "app",
            bench.gunicorn_cmd("wsgi:app", port, settings, workdir),
            env,
            workdir / "app-enforcement.log",
        )
        procs.append(app)
        ceiling = bench.Proc(
            "ceiling",
            bench.gunicorn_cmd("ceiling:app", ceiling_port, settings, workdir),
            env,
            workdir / "ceiling-enforcement.log",
        )
        procs.append(ceiling)
        base, ceiling_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{ceiling_port}"
        bench.wait_http(base + "/healthz")
        bench.wait_http(ceiling_base + "/ceiling")
        status, _, body = bench.get_json(
            base + "/enforcement/check?license_plate=aaa%2000000&zone=CITY", headers
        )
        if status != 200 or set(body) != {
            "license_plate",
            "zone",
            "at",
            "permitted",
            "valid_until",
        }:
            raise RuntimeError(f"enforcement check failed: {status} {body}")
        status, _, body = bench.get_json(base + "/enforcement/permits?zone=CITY&limit=500", headers)
        if status != 200 or not body["items"]:
            raise RuntimeError(f"enforcement listing failed: {status} {len(body['items'])}")

        def target(name: str) -> tuple[bench.Proc, str, str | None, list[str], dict[str, str]]:
            if name == "ceiling":
                return ceiling, ceiling_base + "/ceiling", None, [], {}
            if name == "check":
                return (
                    app,
                    base + "/enforcement/check",
                    "plate.lua",
                    [str(min(count, HOT_PLATES)), "check"],
                    headers,
                )
            limit = name.split("_")[1]
            return app, f"{base}/enforcement/permits?zone=CITY&limit={limit}", None, [], headers

        names = list(SCENARIOS)
        for name in ["ceiling", *names]:  # warm-up
            _proc, url, script, args, hdrs = target(name)
            seconds = CHECK_WARM_UP_SECONDS if name == "check" else 1
            bench.wrk(url, script, args, hdrs, opts, seconds, workdir)
        hits_before, misses_before = _plate_cache_counts(base)
        runs: dict[str, list[dict[str, Any]]] = {n: [] for n in ["ceiling", *names]}
        cpu_ratios: dict[str, list[float]] = {n: [] for n in names}
        rps_ratios: dict[str, list[float]] = {n: [] for n in names}
        for round_no in range(opts.runs):
            for name in names:
                ceiling_run = _timed(*target("ceiling"), opts, workdir)
                run = _timed(*target(name), opts, workdir)
                runs["ceiling"].append(ceiling_run)
                runs[name].append(run)
                cpu_ratios[name].append(
                    ceiling_run["cpu_ms_per_request"] / run["cpu_ms_per_request"]
                    if run["cpu_ms_per_request"]
                    else 0
                )
                rps_ratios[name].append(
                    run["rps"] / ceiling_run["rps"] if ceiling_run["rps"] else 0
                )
            bench.log(
                f"{backend} enforcement round {round_no + 1}: "
                + ", ".join(
                    f"{n} {runs[n][-1]['rps']:.0f}/s {runs[n][-1]['cpu_ms_per_request']} ms CPU "
                    f"({cpu_ratios[n][-1]:.0%} of the ceiling's CPU efficiency)"
                    for n in names
                )
            )
        hits, misses = _plate_cache_counts(base)
        hits, misses = hits - hits_before, misses - misses_before
        bench.log(f"{backend} enforcement: plate cache {hits:.0f} hits, {misses:.0f} misses")
        out: dict[str, Any] = {"permits": count, "scenarios": {}}
        for name, found in runs.items():
            summary = bench.median_of(found)
            summary["cpu_ms_per_request"] = round(
                statistics.median(r["cpu_ms_per_request"] for r in found), 3
            )
            if name != "ceiling":
                summary["cpu_vs_ceiling"] = round(statistics.median(cpu_ratios[name]), 3)
                summary["rps_vs_ceiling"] = round(statistics.median(rps_ratios[name]), 3)
            if name == "check":
                summary["plate_cache_hit_share"] = round(hits / max(hits + misses, 1), 4)
            out["scenarios"][name] = summary
        out["loadavg"] = Path("/proc/loadavg").read_text().split()[0]
        return out
    finally:
        for proc in reversed(procs):
            proc.stop()
        time.sleep(0.1)


def markdown(report: dict[str, Any]) -> list[str]:
    """The enforcement table of the report."""
    rows = [b for b in report["backends"] if b.get("enforcement")]
    if not rows:
        return []
    lines = [
        "",
        "## Enforcement against the ceiling (issue 17)",
        "",
        "gunicorn workers' CPU per answered request (/proc/<pid>/stat, user + system) and "
        "requests/s, medians of the runs; `vs ceiling` = the ceiling's figure / the scenario's "
        "for CPU (1.0: as cheap as bare Flask), the scenario's / the ceiling's for requests/s. "
        f"The check asks about {HOT_PLATES} seeded plates after a {CHECK_WARM_UP_SECONDS} s "
        "warm-up, so its token and plate reads are cache hits (`plate cache hits`: the share "
        "during the measured runs). PostgreSQL's server CPU is not in the figure.",
        "",
        "| backend | permits | scenario | CPU ms/request | CPU vs ceiling | req/s | req/s vs "
        "ceiling | p99 ms | load |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for b in rows:
        e = b["enforcement"]
        for name, label in [("ceiling", "ceiling: bare Flask, 50-item list"), *SCENARIOS.items()]:
            s = e["scenarios"][name]
            lines.append(
                f"| {b['backend']} | {e['permits']:,} | {label} | {s['cpu_ms_per_request']} | "
                f"{s.get('cpu_vs_ceiling', 1.0):.0%} | {s['rps']:.0f} | "
                f"{s.get('rps_vs_ceiling', 1.0):.0%} | {s['p99_ms']} | {e['loadavg']} |"
            )
        share = e["scenarios"]["check"].get("plate_cache_hit_share")
        if share is not None:
            lines.append(f"| {b['backend']} | | plate cache hits (check) | {share:.1%} | | | | | |")
    return lines

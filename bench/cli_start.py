"""How long `flask` commands take from start to answer: this code and an earlier one side by side.

    python bench/cli_start.py --before REF [--runs 15] [--label cli]

Each version (git REF via `git archive`; this checkout) gets a fresh SQLite database made by
`flask db upgrade` and runs the installed `flask` script from its own folder (FLASK_APP=wsgi,
as the README runs it). After two warm-up runs of each command (Python writes its .pyc files),
the versions alternate run by run, so both see the same load. Wall time is start to exit; CPU
time is the child's user + system time (os.wait4), steadier than wall time on a shared machine.
Writes bench/results/<label>.json and .md; bench/README.md quotes the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FLASK = str(Path(sys.executable).parent / "flask")
COMMANDS = [["users", "list"], ["permits", "find", "AB-123"], ["--help"]]


def _tree(ref: str, folder: Path) -> Path:
    """The files of git `ref` in `folder` (git archive: no worktree to clean up)."""
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True)
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def _env(tree: Path, data: Path) -> dict[str, str]:
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FLASK_", "CELERY_", "RATELIMIT_", "DATABASE_"))
        and k != "PYTHONDONTWRITEBYTECODE"  # commands reuse their .pyc files, as `make` runs them
    }
    return {
        **keep,
        "FLASK_APP": "wsgi",
        "SECRET_KEY": "bench-cli-start-0123456789abcdef",
        "INSTANCE_PATH": str(data / "instance"),
        "DATABASE_URL": "sqlite:///" + str(data / "db.sqlite3"),
    }


def _run_once(args: list[str], tree: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + system) of one `flask ARGS` process."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [FLASK, *args], cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _pid, _status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = 0  # reaped here; keeps Popen from waiting again
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    """Time every command of both versions, alternating, and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git ref of the earlier version")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--label", default="cli")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        versions = {
            "before": (_tree(opts.before, Path(tmp, "before-tree")), Path(tmp, "before")),
            "after": (ROOT, Path(tmp, "after")),
        }
        envs = {name: _env(tree, data) for name, (tree, data) in versions.items()}
        for name, (tree, _data) in versions.items():
            subprocess.run([FLASK, "db", "upgrade"], cwd=tree, env=envs[name], check=True,
                           capture_output=True)  # fmt: skip
        samples: dict[str, dict[str, list[tuple[float, float]]]] = {}
        loads: list[float] = []
        for args in COMMANDS:
            command = "flask " + " ".join(args)
            for name, (tree, _data) in versions.items():
                for _ in range(2):
                    _run_once(args, tree, envs[name])
            for _ in range(opts.runs):
                loads.append(os.getloadavg()[0])
                for name, (tree, _data) in versions.items():
                    samples.setdefault(command, {}).setdefault(name, []).append(
                        _run_once(args, tree, envs[name])
                    )
    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} CPU, Python {platform.python_version()}",
        "before": opts.before,
        "runs": opts.runs,
        "load_1min": {"min": min(loads), "median": statistics.median(loads), "max": max(loads)},
        "samples": samples,
    }
    lines = [
        f"Measured {result['when']} on {result['machine']}; before = {opts.before}, after = this "
        f"code; median of {opts.runs} runs each, alternating; load (1 min) median "
        f"{result['load_1min']['median']:.2f} (min {min(loads):.2f}, max {max(loads):.2f}).",
        "",
        "| command | wall before | wall after | CPU before | CPU after |",
        "|---|---:|---:|---:|---:|",
    ]
    for command, by_version in samples.items():
        cells = [
            f"{statistics.median(s[i] for s in by_version[name]):.2f} s"
            for i in (0, 1)
            for name in ("before", "after")
        ]
        lines.append(f"| `{command}` | " + " | ".join(cells) + " |")
    out = ROOT / "bench" / "results" / opts.label
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

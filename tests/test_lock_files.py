"""The lock files in requirements/: what `make run`, `make test` and `make bench` install.

Every package pinned to one version, no download or index address (a lock must install the same
from any mirror), every dependency pyproject.toml declares locked, one version per package
across the three files. After changing dependencies in pyproject.toml: `make lock`.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCKS = {"run": [], "dev": ["dev"], "bench": ["bench"]}  # lock file -> pyproject extras
PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]+\])?==(?P<version>[^\s;]+)(\s*;.*)?$"
)


def _lines(name: str) -> list[str]:
    text = (ROOT / "requirements" / f"{name}.txt").read_text()
    return [line for line in text.splitlines() if line.strip()]


def _pins(name: str) -> dict[str, str]:
    pins = {}
    for line in _lines(name):
        match = PIN.match(line)
        if match:
            pins[canonicalize_name(match["name"])] = match["version"]
    return pins


@pytest.mark.parametrize("name", LOCKS)
def test_every_line_of_a_lock_is_a_pin_or_a_comment(name: str) -> None:
    for line in _lines(name):
        if line.lstrip().startswith("#"):
            continue
        assert PIN.match(line), f"requirements/{name}.txt: not a `name==version` pin: {line!r}"


@pytest.mark.parametrize("name", LOCKS)
def test_a_lock_holds_no_download_or_index_address(name: str) -> None:
    for line in _lines(name):
        assert "://" not in line, f"requirements/{name}.txt names an address: {line!r}"
        option = line.split()[0]
        assert not option.startswith(("-i", "--index", "--extra-index", "-f", "--find-links")), line
        assert not option.startswith(("--trusted-host", "-e", "--editable")), line


@pytest.mark.parametrize(("name", "extras"), LOCKS.items())
def test_every_dependency_pyproject_declares_is_locked_within_its_range(
    name: str, extras: list[str]
) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in extras:
        declared += project["optional-dependencies"][extra]
    pins = _pins(name)
    for spec in map(Requirement, declared):
        key = canonicalize_name(spec.name)
        assert key in pins, f"{spec.name} is not in requirements/{name}.txt: run `make lock`"
        assert spec.specifier.contains(pins[key], prereleases=True), (
            f"requirements/{name}.txt pins {spec.name}=={pins[key]}, outside {spec}: `make lock`"
        )


@pytest.mark.parametrize("name", ["dev", "bench"])
def test_dev_and_bench_locks_pin_the_same_versions_as_the_run_lock(name: str) -> None:
    run, other = _pins("run"), _pins(name)
    assert run.keys() <= other.keys()
    assert {k: other[k] for k in run} == run


def test_make_installs_from_the_locks_with_uv() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for name in LOCKS:
        assert f"-r requirements/{name}.txt" in makefile
    assert "pip install -q -e" not in makefile  # nothing resolved afresh on install
    assert "pip install -q --disable-pip-version-check uv==" in makefile  # the bootstrap

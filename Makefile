# permit_service — the README's commands. `make run` and `make test` work on a fresh machine
# with Python 3.11+ and nothing else.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
export FLASK_APP := wsgi

.PHONY: run test lint lock bench clean install install-dev translations

# Installs come from the lock files in requirements/ (every package pinned, made by `make lock`),
# with uv: from PATH when there is one, else pip puts it into the venv (a fresh machine has only
# Python). `uv pip install` never removes anything, so one venv can hold run + dev + bench.
# No --compile-bytecode (pip's way: every file, ~15 s on 2 busy cores): Python writes the .pyc
# of what a process imports when it first imports it, so the first start pays for what it uses
# and later ones reuse it. Hence PYTHONDONTWRITEBYTECODE is dropped for make's commands: with it,
# every process start would compile the libraries again (about twice the start-up time).
UV_VERSION ?= 0.13.9
UV ?= $(or $(shell command -v uv 2>/dev/null),$(BIN)/uv)
UV_INSTALL = $(UV) pip install -q --python $(BIN)/python
unexport PYTHONDONTWRITEBYTECODE

$(BIN)/python:
	$(if $(filter $(BIN)/uv,$(UV)),$(PYTHON) -m venv $(VENV),$(UV) venv -q --python $(PYTHON) $(VENV))

$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)

# Runtime dependencies only (what `make run` needs), then the project itself, editable.
$(VENV)/.installed: pyproject.toml requirements/run.txt | $(BIN)/python $(UV)
	$(UV_INSTALL) -r requirements/run.txt
	$(UV_INSTALL) --no-deps -e .
	@touch $@

# Plus the test tools.
$(VENV)/.installed-dev: pyproject.toml requirements/dev.txt | $(BIN)/python $(UV)
	$(UV_INSTALL) -r requirements/dev.txt
	$(UV_INSTALL) --no-deps -e .
	@touch $@ $(VENV)/.installed

# Plus the benchmark tools (matplotlib, psutil, profilers).
$(VENV)/.installed-bench: pyproject.toml requirements/bench.txt | $(BIN)/python $(UV)
	$(UV_INSTALL) -r requirements/bench.txt
	$(UV_INSTALL) --no-deps -e .
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Page languages (Flask-Babel). The .po files are the source (committed); the compiled .mo files
# are build output (git-ignored), made here for `run` and `test`, and by the Dockerfile.
TRANSLATIONS := permit_service/translations
CATALOGUES := $(patsubst %.po,%.mo,$(wildcard $(TRANSLATIONS)/*/LC_MESSAGES/messages.po))
BABEL_KEYWORDS := -k _l -k lazy_gettext

$(CATALOGUES): %.mo: %.po | $(VENV)/.installed
	$(BIN)/pybabel compile -i $< -o $@

# After changing strings: extract them, merge into every language's .po (new ones empty,
# changed ones fuzzy: translate those), and compile. tests/web/test_translations.py fails while
# a string is missing or fuzzy.
translations: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg $(BABEL_KEYWORDS) --no-location --sort-output \
		-o $(TRANSLATIONS)/messages.pot permit_service
	$(BIN)/pybabel update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) -w 100 \
		--ignore-obsolete --ignore-pot-creation-date
	$(BIN)/pybabel compile -d $(TRANSLATIONS) --statistics

# Re-resolve the lock files from pyproject.toml (after adding or changing a dependency): the
# newest versions pyproject.toml allows, for Python 3.11 on any platform. dev and bench are
# constrained to run's pins, so `make run`, `make test` and `make bench` share every version.
# No index or download address is written (tests/test_lock_files.py checks that). Keeps the
# pinned versions it can; `make lock LOCK_ARGS=--upgrade` moves everything to the newest.
LOCK = $(UV) pip compile -q pyproject.toml --universal --python-version 3.11 \
	--no-emit-index-url --no-emit-find-links --custom-compile-command 'make lock' $(LOCK_ARGS)
lock: | $(UV)
	$(LOCK) -o requirements/run.txt
	$(LOCK) --extra dev -c requirements/run.txt -o requirements/dev.txt
	$(LOCK) --extra bench -c requirements/run.txt -c requirements/dev.txt -o requirements/bench.txt

# A local .env with a generated SECRET_KEY (production is the default: no key, no start).
# `make run` skips it when SECRET_KEY is already in the environment.
# umask 077: the key is readable by its owner only (mode 600).
.env:
	@umask 077; echo "SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_hex(32))')" > .env
	@echo "created .env with a generated SECRET_KEY"

# The web app, one Celery worker and one beat (see Procfile), supervised by honcho through
# tools/make_run.py: it prints where to go next once the app answers; Ctrl-C stops all three and
# exits 0, SIGTERM stops them too. Logs are plain text unless LOG_FORMAT says otherwise.
run: export LOG_FORMAT ?= text
run: $(VENV)/.installed $(CATALOGUES) $(if $(SECRET_KEY),,.env)
	$(BIN)/flask db upgrade
	PATH="$(abspath $(BIN)):$$PATH" exec $(BIN)/python tools/make_run.py $(PORT)

test: $(VENV)/.installed-dev $(CATALOGUES)
	$(BIN)/pytest $(PYTEST_ARGS)

# Benchmarks (not tests): see bench/run.py and the README's Benchmarks section. PostgreSQL too
# when BENCH_POSTGRES_URL (or TEST_POSTGRES_URL) is set. BENCH_ARGS="--scales 1000,100000" etc.
bench: $(VENV)/.installed-bench
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Fails on lint findings and on formatting (`ruff format .` fixes the latter).
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache .hypothesis

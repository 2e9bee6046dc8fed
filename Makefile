# permit_service — the README's commands. `make run` and `make test` work on a fresh machine
# with Python 3.11+ and nothing else.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
export FLASK_APP := wsgi

.PHONY: run test lint bench clean install install-dev translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Runtime dependencies only (what `make run` needs).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

# Plus the test tools.
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed

# Plus the benchmark tools (matplotlib, psutil, profilers).
$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[bench]'
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

# A local .env with a generated SECRET_KEY (production is the default: no key, no start).
# `make run` skips it when SECRET_KEY is already in the environment.
.env:
	@echo "SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_hex(32))')" > .env
	@echo "created .env with a generated SECRET_KEY"

# The web app, one Celery worker and one beat (see Procfile), supervised by honcho: Ctrl-C or
# SIGTERM stops all three. `--env /dev/null`: the app reads .env itself, where the environment
# wins; honcho's own .env loading would let .env win instead. honcho SIGKILLs what still runs
# 5 s after the first process stopped (its KILL_WAIT, not an option: honcho issue #189); a
# Celery worker's warm shutdown can take longer on a busy machine, so it gets 20 s.
HONCHO = $(BIN)/python -c 'import sys, honcho.command as c, honcho.manager as m; \
	m.KILL_WAIT = 20; sys.exit(c.main())'

run: $(VENV)/.installed $(CATALOGUES) $(if $(SECRET_KEY),,.env)
	$(BIN)/flask db upgrade
	PATH="$(abspath $(BIN)):$$PATH" exec $(HONCHO) start --env /dev/null --port $(PORT)

test: $(VENV)/.installed-dev $(CATALOGUES)
	$(BIN)/pytest $(PYTEST_ARGS)

# Benchmarks (not tests): see bench/run.py and the README's Benchmarks section. PostgreSQL too
# when BENCH_POSTGRES_URL (or TEST_POSTGRES_URL) is set. BENCH_ARGS="--scales 1000,100000" etc.
bench: $(VENV)/.installed-bench
	$(BIN)/python bench/run.py $(BENCH_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache .hypothesis

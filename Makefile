# Two commands set everything up on a bare machine with Python 3.11: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Server processes for `make run` (production: deploy/serve.sh's WEB_CONCURRENCY, 4).
WEB_CONCURRENCY ?= 2

.PHONY: install run test test-fast lint format migrations clean-db

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependency list changes. Serving needs only the project's own
# dependencies; the test and benchmark tools (.[dev]: pytest, Playwright, schemathesis...)
# come with `make test`.
$(VENV)/.installed-serve: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --quiet --disable-pip-version-check -e '.[dev]'
	touch $(VENV)/.installed-serve $@

install: $(VENV)/.installed

# Development: DEBUG on for every step of `make run` (and only there). .env.development holds
# DEBUG and a secret key of this checkout's own, so that manage.py commands work in a plain
# shell afterwards (tradenet/devenv.py). The banner comes when the server answers.
run: export DJANGO_DEBUG = 1
run: $(VENV)/.installed-serve
	@$(BIN)/python -m tradenet.devenv
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_stations
	$(BIN)/python manage.py seed_agreements
	$(BIN)/python manage.py ensure_superuser
	@# Stopping make (Ctrl-C or SIGTERM) stops the server and the embedded PostgreSQL it used.
	exec env PYTHON=$(BIN)/python HOST=$(HOST) PORT=$(PORT) FORWARDED_ALLOW_IPS=127.0.0.1 \
		WEB_CONCURRENCY=$(WEB_CONCURRENCY) $(BIN)/python -m tradenet.devserver

test: install
	@scripts/ensure-test-tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest

# The quicker loop while changing code (docs/testing.md#a-quicker-loop): lint and every test
# but those marked cluster, browser or slow. `make test` runs them all, and CI runs `make test`.
test-fast: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest -m "not cluster and not browser and not slow"

# The lint steps alone (docs/testing.md#lint-and-types), as the pre-commit hooks run them:
# ruff, the formatter, the import contracts, and mypy (its settings need no database).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrations: install
	$(BIN)/python manage.py makemigrations

# Stops and deletes the embedded PostgreSQL cluster in .pgdata/.
clean-db:
	-$(BIN)/python -c "from tradenet.embedded_postgres import stop; stop()"
	rm -rf .pgdata

# Two commands set everything up on a bare machine with Python 3.11: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint format migrations clean-db

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependency list changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# Development: DEBUG on for every step of `make run` (and only there).
run: export DJANGO_DEBUG = 1
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_stations
	$(BIN)/python manage.py ensure_superuser
	@echo ""
	@echo "  TradeNet is serving on http://$(HOST):$(PORT)/"
	@echo "    admin:     http://$(HOST):$(PORT)/admin/"
	@echo "    live feed: http://$(HOST):$(PORT)/live/"
	@echo "    API docs:  http://$(HOST):$(PORT)/api/docs/"
	@echo ""
	@# Stopping make (Ctrl-C or SIGTERM) stops the server and the embedded PostgreSQL it used.
	exec env PYTHON=$(BIN)/python HOST=$(HOST) PORT=$(PORT) FORWARDED_ALLOW_IPS=127.0.0.1 \
		$(BIN)/python -m tradenet.devserver

test: install
	@scripts/ensure-test-tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrations: install
	$(BIN)/python manage.py makemigrations

# Stops and deletes the embedded PostgreSQL cluster in .pgdata/.
clean-db:
	-$(BIN)/python -c "from tradenet.embedded_postgres import stop; stop()"
	rm -rf .pgdata

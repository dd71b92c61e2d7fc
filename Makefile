# assistflow — the two commands a new user needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup lint bench clean-db

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

## Set up, migrate an SQLite database, load demo data and serve at http://127.0.0.1:5000
run: $(STAMP)
	$(BIN)/assistflow db upgrade
	$(BIN)/assistflow demo load
	$(BIN)/assistflow serve --host 127.0.0.1 --port 5000

## Set up and run the test suite (SQLite by default; TEST_DATABASE_URL=postgresql+psycopg://… for PostgreSQL)
test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/engine_overhead.py 300
	$(BIN)/python bench/timers.py 10000
	$(BIN)/python bench/bridge_visits.py 300

clean-db:
	rm -f instance/assistflow.db instance/assistflow.db-wal instance/assistflow.db-shm

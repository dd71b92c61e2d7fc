# assistflow — the two commands a new user needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup lint bench clean-db browser documents reliability-doc

NODE_STAMP := node_modules/.installed

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

## The web app's front-end libraries (bpmn-js, htmx, Chart.js) from the npm registry, as locked
$(NODE_STAMP): package.json package-lock.json
	command -v npm >/dev/null || { test "$$(id -u)" = 0 && apt-get install -y -qq nodejs npm; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

## Debian's chromium and a Chinese font for the browser tests (root installs them; otherwise those
## tests skip with a message, and CI, which requires them, fails)
BROWSER_PACKAGES := chromium fonts-wqy-zenhei
browser:
	{ command -v chromium >/dev/null && test -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc; } \
		|| { test "$$(id -u)" = 0 && (apt-get install -y -qq $(BROWSER_PACKAGES) \
		|| (apt-get update -qq && apt-get install -y -qq $(BROWSER_PACKAGES))); } \
		|| echo "chromium not installed: browser tests will be skipped"

## WeasyPrint's system libraries (Pango), a Chinese font for the printed notices, and poppler-utils
## (pdftotext, pdfinfo) for the tests that read them back; root installs them, otherwise a message
DOCUMENT_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 fonts-wqy-zenhei poppler-utils
documents:
	{ ls /usr/lib/*/libpangoft2-1.0.so.0 >/dev/null 2>&1 && test -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc \
		&& command -v pdftotext >/dev/null; } \
		|| { test "$$(id -u)" = 0 && (apt-get install -y -qq $(DOCUMENT_PACKAGES) \
		|| (apt-get update -qq && apt-get install -y -qq $(DOCUMENT_PACKAGES))); } \
		|| echo "Pango, the Chinese font or poppler-utils missing: notices cannot be printed"

setup: $(STAMP) $(NODE_STAMP)

## Set up, migrate an SQLite database, load demo data and serve at http://127.0.0.1:5000
run: $(STAMP) $(NODE_STAMP) documents
	$(BIN)/assistflow db upgrade
	$(BIN)/assistflow demo load
	ASSISTFLOW_LOG_FORMAT=$${ASSISTFLOW_LOG_FORMAT:-text} $(BIN)/assistflow serve --host 127.0.0.1 --port 5000

## The suite on a later date: `make test CLOCK_AHEAD_DAYS=396` runs it with the wall clock that many
## days ahead (the session and the servers and schedulers it starts; see tests/clock_ahead.py)
CLOCK_AHEAD_DAYS ?=

## Set up and run the test suite (SQLite by default; TEST_DATABASE_URL=postgresql+psycopg://… for PostgreSQL)
test: $(STAMP) $(NODE_STAMP) browser documents
	ASSISTFLOW_TEST_CLOCK_AHEAD_DAYS=$(CLOCK_AHEAD_DAYS) $(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## Regenerate the figures docs/RELIABILITY.md opens with (from the suite's collection; tests/test_reliability_doc.py checks them)
reliability-doc: $(STAMP)
	$(BIN)/python -m tests.reliability --write

## Every benchmark, one after the other (about 45 minutes; PostgreSQL parts need the local server)
bench: $(STAMP)
	$(BIN)/python bench/engine_overhead.py 300
	$(BIN)/python bench/bridge_visits.py 1000
	$(BIN)/python bench/inbox_scale.py 1000000 --plans
	$(BIN)/python bench/http_throughput.py 20 6 --nodes
	$(BIN)/python bench/timers.py 10000
	$(BIN)/python bench/footprint.py 200
	$(BIN)/python bench/inbox_web.py 100000
	$(BIN)/python bench/load_staff.py 50 60
	$(BIN)/python bench/case_search.py 1000000 --plans
	$(BIN)/python bench/case_pages.py 300 300 6000
	$(BIN)/python bench/attachments.py 100
	$(BIN)/python bench/documents.py 20
	$(BIN)/python bench/documents.py casefile 30 20
	$(BIN)/python bench/messages.py 1000 100000
	$(BIN)/python bench/dmn.py 60
	$(BIN)/python bench/metrics_scrape.py 8 60
	$(BIN)/python bench/login_storm.py 30 4 50
	$(BIN)/python bench/login_storm.py 30 4 50 --default --rate 100

clean-db:
	rm -f instance/assistflow.db instance/assistflow.db-wal instance/assistflow.db-shm
	rm -rf instance/audit-checkpoints  # checkpoints of the removed database's audit chain

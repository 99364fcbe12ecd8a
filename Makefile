# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check lint typecheck unit services tools clean cluster

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dialer demo

# A local distributed deployment (API, 2 dispatchers, 2 workers, beat, simulator) on the local
# PostgreSQL, Redis and RabbitMQ, with a demo campaign; Ctrl-C stops it. docs/operations.md.
cluster: $(STAMP) services
	$(BIN)/dialer up --demo 2000

services:
	bash scripts/ensure-services.sh

# promtool (metric and alert-rule checks) and Chromium (dashboard browser tests).
tools:
	bash scripts/ensure-tools.sh

# Style, and the architecture's import directions ([tool.importlinter] in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# tests/unit: pure code on in-memory adapters (no servers, no sockets, no sleeps): seconds.
unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

# The quick loop before a commit (under a minute): lint, types, unit tests.
check: lint typecheck unit

test: $(STAMP) services tools lint typecheck
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Civic Listener: `make run` and `make test` work on a fresh machine with Python 3.11+
# and Debian's package tools. Every target creates .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test bench lint format install dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(RUN_STAMP) $@

install: $(RUN_STAMP)
dev: $(DEV_STAMP)

## Start the service on the embedded SQLite database with the demo stream, and serve the console.
run: $(RUN_STAMP)
	$(BIN)/civic-listener run --console

## Install what the tests need (PostgreSQL and Chromium from Debian included) and run them.
test: $(DEV_STAMP)
	bash scripts/install-test-deps.sh
	bash scripts/run-tests.sh $(ARGS)

## Print throughput and memory figures as JSON.
bench: $(RUN_STAMP)
	$(BIN)/civic-listener bench --json

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy -p civic_listener -p listener -p classifiers -p responders -p models

format: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache

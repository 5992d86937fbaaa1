VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: setup run test lint typecheck bench clean

$(BIN)/otel-cost: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/otel-cost

run: setup
	$(BIN)/otel-cost quickstart

test: setup
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check otel_cost tests bench
	$(BIN)/ruff format --check otel_cost tests bench

typecheck: setup
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/import_bench.py

clean:
	rm -rf $(VENV) build *.egg-info

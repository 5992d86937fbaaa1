VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: setup run test lint typecheck bench bench-import bench-serve bench-query bench-gate bench-proxy bench-sdk alerts-check dashboards clean

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
	$(BIN)/ruff check otel_cost tests bench grafana
	$(BIN)/ruff format --check otel_cost tests bench grafana

typecheck: setup
	$(BIN)/mypy

# Every benchmark, one after the other (about 15 minutes; the import
# benchmark runs ccusage through npx, which needs the npm registry).
bench: bench-import bench-serve bench-query bench-gate bench-proxy bench-sdk

bench-import: setup
	$(BIN)/python bench/import_bench.py

bench-serve: setup
	$(BIN)/python bench/serve_bench.py

bench-query: setup
	$(BIN)/python bench/query_bench.py

bench-gate: setup
	$(BIN)/python bench/gate_bench.py

bench-proxy: setup
	$(BIN)/python -m otel_cost.capture.proxy.bench

bench-sdk: setup
	$(BIN)/python -m otel_cost.sdk.bench

# Needs Debian's prometheus and prometheus-alertmanager packages.
alerts-check:
	promtool check rules alerts/prometheus-rules.yaml
	promtool test rules alerts/prometheus-rules.test.yaml
	amtool check-config alerts/alertmanager.yaml

# Regenerate the dashboard JSON (and the Helm chart's copy) from grafana/build.py.
dashboards: setup
	$(BIN)/python grafana/build.py

clean:
	rm -rf $(VENV) build *.egg-info

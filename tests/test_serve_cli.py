"""Option checks of ``otel-cost serve`` that fail before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys

from click.testing import CliRunner

from otel_cost.cli.main import cli
from otel_cost.store.migrations import load_migrations


def test_bad_address_is_usage_error():
    result = CliRunner().invoke(cli, ["serve", "--otlp-grpc", "localhost"])
    assert result.exit_code == 2
    assert "'localhost' is not HOST:PORT" in result.output


def test_exposed_host_needs_token(monkeypatch):
    monkeypatch.delenv("OTEL_COST_API_TOKEN", raising=False)
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 1
    assert "binding to '0.0.0.0' exposes the service" in result.output
    assert "$OTEL_COST_API_TOKEN" in result.output


def test_token_env_names_variable(monkeypatch):
    monkeypatch.delenv("MY_TOKEN", raising=False)
    result = CliRunner().invoke(
        cli, ["serve", "--api", "0.0.0.0:8787", "--token-env", "MY_TOKEN"]
    )
    assert result.exit_code == 1
    assert "set a bearer token in $MY_TOKEN" in result.output


def test_migrate_only_applies_schema(tmp_path):
    dsn = f"chdb://{tmp_path / 'store'}"
    done = subprocess.run(
        [sys.executable, "-m", "otel_cost", "serve", "--db", dsn, "--migrate-only"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OTEL_COST_DATA_DIR": str(tmp_path / "data")},
    )
    assert done.returncode == 0, done.stderr
    count = len(load_migrations())
    assert f"{count} of {count} migrations recorded" in done.stderr

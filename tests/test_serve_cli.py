"""Option checks of ``otel-cost serve`` that fail before anything starts."""

from __future__ import annotations

from click.testing import CliRunner

from otel_cost.cli.main import cli


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

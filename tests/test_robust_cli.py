"""CLI options that reject bad values, and output that reads right for one item."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from otel_cost.budgets.ledger import AuditRecord, append_audit
from otel_cost.cli.main import cli
from otel_cost.events import CostEvent, CostStatus
from otel_cost.store import Store
from otel_cost.store.writer import write_events


def audit_record(reason: str, day: int) -> AuditRecord:
    return AuditRecord(
        action="override",
        envelope="web",
        scope="project",
        instance="2026-12-01",
        actor="bob",
        reason=reason,
        ts=datetime(2026, 12, day, tzinfo=UTC),
    )


def test_audit_limit_below_one_rejected(store: Store) -> None:
    append_audit(store, [audit_record("older", 1), audit_record("newer", 2)])
    runner = CliRunner()

    negative = runner.invoke(cli, ["budget", "audit", "--limit", "-2"])
    zero = runner.invoke(cli, ["budget", "audit", "--limit", "0"])
    one = runner.invoke(cli, ["budget", "audit", "--limit", "1"])

    assert negative.exit_code == 2
    assert "Invalid value for '--limit': -2 is not in the range x>=1" in (
        negative.output
    )
    assert zero.exit_code == 2
    assert one.exit_code == 0, one.output
    assert one.output.splitlines() == [
        "2026-12-02 00:00:00 override web [2026-12-01] by bob: newer"
    ]


def test_import_missing_path_fails(tmp_path: Path) -> None:
    missing = tmp_path / "does-not-exist"

    result = CliRunner().invoke(cli, ["import", "claude-code", "--path", str(missing)])

    assert result.exit_code == 1
    assert result.output == (
        f"error: --path '{missing}' not found; pass a directory that exists\n"
    )


def test_budget_missing_file_fails(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    runner = CliRunner()

    status = runner.invoke(cli, ["budget", "status", "--file", str(missing)])
    listed = runner.invoke(cli, ["budget", "list", "--file", str(missing)])

    assert status.exit_code == 2
    assert f"Invalid value for '--file': File '{missing}' does not exist." in (
        status.output
    )
    assert listed.exit_code == 2
    assert not missing.exists()


def test_budget_set_creates_file(tmp_path: Path) -> None:
    path = tmp_path / "new.yaml"

    result = CliRunner().invoke(
        cli,
        ["budget", "set", "web", "--scope", "project", "--limit", "5",
         "--file", str(path)],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert path.exists()


def test_status_one_unpriced_event(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text(
        "envelopes:\n"
        "  - {name: web, scope: project, limit_usd: 100, match: {project: web}}\n"
    )
    event = CostEvent(
        event_id="u1", ts=datetime(2026, 12, 10, tzinfo=UTC), harness="claude-code",
        source="test", project="web", model="mystery-model", cost_usd=None,
        cost_status=CostStatus.UNPRICED,
    )  # fmt: skip
    write_events(store, [event])

    result = CliRunner().invoke(
        cli,
        ["budget", "status", "--at", "2026-12-16T00:00:00Z", "--file", str(path)],
    )

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "web [project 2026-12-01] OK: $0.00 of $100.00 (0.0%), $100.00 left, "
        "projected $0.00 "
        "(1 unpriced event not counted)"
    ]


def test_pricing_card_one_model(tmp_path: Path) -> None:
    card = tmp_path / "card.json"
    card.write_text(
        '{"solo-model": {"input_cost_per_token": 0.000001,'
        ' "output_cost_per_token": 0.000002, "litellm_provider": "openai",'
        ' "mode": "chat"}}'
    )
    runner = CliRunner()

    added = runner.invoke(
        cli,
        ["pricing", "add", str(card), "--effective", "2026-09-01",
         "--version", "solo"],
    )  # fmt: skip
    shown = runner.invoke(cli, ["pricing", "show", "solo"])
    listed = runner.invoke(cli, ["pricing", "list"])

    assert added.exit_code == 0, added.output
    assert added.output == "added rate card solo: 1 model, in force from 2026-09-01\n"
    assert shown.output == "solo: 1 model from 2026-09-01\n"
    assert listed.output.splitlines()[-1] == (
        f"{'solo':<36} from 2026-09-01  1 model      0 findings"
    )


def test_pricing_add_rejects_negative_price(tmp_path: Path) -> None:
    from otel_cost.pricing.registry import read_index, registry_dir

    card = tmp_path / "card.json"
    card.write_text(
        '{"neg-model": {"input_cost_per_token": -0.000001,'
        ' "output_cost_per_token": 0.000002, "litellm_provider": "openai",'
        ' "mode": "chat"}}'
    )
    runner = CliRunner()
    finding = "warning: neg-model: input_cost_per_token: negative price -0.000001"

    added = runner.invoke(
        cli,
        ["pricing", "add", str(card), "--effective", "2026-09-01",
         "--version", "neg"],
    )  # fmt: skip
    checked = runner.invoke(cli, ["pricing", "check", str(card)])

    assert added.exit_code == 1
    assert checked.exit_code == 1
    assert finding in added.output
    assert finding in checked.output
    assert (
        f"error: rate card {str(card)!r} not added because of 1 unusable price"
        in added.output
    )
    assert "added rate card" not in added.output
    assert all(entry["version"] != "neg" for entry in read_index())
    assert not (registry_dir() / "neg.json").exists()


def test_pricing_add_warns_of_odd_rates(tmp_path: Path) -> None:
    card = tmp_path / "card.json"
    # Published cards have such entries: an input price without an output price.
    card.write_text(
        '{"odd-model": {"input_cost_per_token": 0.000001,'
        ' "litellm_provider": "openai", "mode": "chat"}}'
    )
    added = CliRunner().invoke(
        cli,
        ["pricing", "add", str(card), "--effective", "2026-09-01",
         "--version", "odd"],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "warning: odd-model" in added.output
    assert "added rate card odd" in added.output


def test_pricing_invalid_effective_date(tmp_path: Path) -> None:
    card = tmp_path / "card.json"
    card.write_text('{"m": {"input_cost_per_token": 0.000001}}')

    result = CliRunner().invoke(
        cli, ["pricing", "add", str(card), "--effective", "2026-13-01"]
    )

    assert result.exit_code == 2
    assert (
        "'2026-13-01' is not a valid date; expected YYYY-MM-DD such as 2026-09-01"
        in result.output
    )
    assert "%Y" not in result.output


def test_help_lists_hook_once() -> None:
    runner = CliRunner()

    listing = runner.invoke(cli, ["--help"])
    alias = runner.invoke(cli, ["hooks", "--help"])

    assert listing.exit_code == 0
    command_names = [
        line.split()[0] for line in listing.output.splitlines() if line.startswith("  ")
    ]
    assert "hook" in command_names
    assert "hooks" not in command_names
    assert alias.exit_code == 0
    assert "Run budget gates for agent hooks" in alias.output


def test_unreachable_server_one_line() -> None:
    # A port that was free a moment ago, so the connection is refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"

    result = subprocess.run(
        [sys.executable, "-m", "otel_cost", "budget", "audit", "--db", url],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(
        f"error: cannot reach the ClickHouse server at {url}"
    )

"""Cline importer: extension tasks and Cline CLI sessions."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from otel_cost.capture.importers import get_importer
from otel_cost.capture.importers.roo_family import ClineImporter
from otel_cost.capture.importers.runner import ImportRun
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "cline"
RATE_CARD = (
    Path(__file__).parents[1]
    / "otel_cost/pricing/data/litellm-model-prices-2026-07-24.json"
)
RATES = json.loads(RATE_CARD.read_text(), parse_float=Decimal)
TASK = "1756400000000"
SESSION = "cli-20250829-7c41"
SONNET = "claude-sonnet-4-5-20250929"


def cost(model: str, **counts: int) -> Decimal:
    """Price token counts by hand with the rate card's per-token rates."""
    keys = {
        "input": "input_cost_per_token",
        "output": "output_cost_per_token",
        "cache_read": "cache_read_input_token_cost",
        "cache_write": "cache_creation_input_token_cost",
    }
    return sum(
        (count * RATES[model][keys[name]] for name, count in counts.items()),
        Decimal(0),
    )


# The extension writes tokensIn without the cache tokens.
COST_FIRST = cost(SONNET, input=3, cache_write=15000, output=450)
COST_SECOND = cost(SONNET, input=5, cache_write=600, cache_read=15000, output=220)
COST_DELETED = cost(SONNET, input=2, cache_write=300, cache_read=14800, output=180)
COST_SUBAGENTS = cost(SONNET, input=4000, output=900)
# The CLI writes inputTokens with the cache tokens included.
COST_CLI_MINI = cost("gpt-5-mini", input=3000, cache_read=6000, output=1200)
COST_CLI_SONNET = cost(
    "claude-sonnet-4-5", input=1000, cache_read=15000, cache_write=4000, output=500
)
TOTAL = (
    COST_FIRST
    + COST_SECOND
    + COST_DELETED
    + COST_SUBAGENTS
    + COST_CLI_MINI
    + COST_CLI_SONNET
)


@pytest.fixture
def cline_dirs(tmp_path: Path) -> tuple[Path, Path]:
    """Copies of the extension's storage and of the CLI's data directory."""
    extension = tmp_path / "saoudrizwan.claude-dev"
    shutil.copytree(FIXTURES / "saoudrizwan.claude-dev", extension)
    data = tmp_path / "cline-data"
    shutil.copytree(FIXTURES / "cli-data", data)
    return extension, data


def run_import(store: Store, registry: PricingRegistry, *roots: Path) -> ImportRun:
    run = ImportRun(store, registry, ClineImporter())
    run.run(list(roots))
    return run


def events_by_id(store: Store) -> dict[str, dict[str, object]]:
    rows = store.query_dicts(
        "SELECT event_id, session_id, provider, model, project, input_tokens,"
        " cache_read_tokens, cache_write_5m_tokens, output_tokens, cost_usd,"
        " reported_cost_usd, attributes FROM cost_events FINAL"
        " WHERE harness = 'cline'"
    )
    return {str(row["event_id"]): row for row in rows}


def test_cline_import_totals(
    store: Store, registry: PricingRegistry, cline_dirs: tuple[Path, Path]
) -> None:
    run = run_import(store, registry, *cline_dirs)

    events = events_by_id(store)
    assert sorted(events) == [
        f"cline:{TASK}:1756400000200",
        f"cline:{TASK}:1756400020000",
        f"cline:{TASK}:1756400040000",
        f"cline:{TASK}:1756400045000",
        f"cline:{SESSION}:m2",
        f"cline:{SESSION}:m3",
    ]
    total = store.query(
        "SELECT sum(cost_usd) FROM cost_events FINAL WHERE harness = 'cline'"
    )[0][0]
    assert total == TOTAL
    assert run.summary.bad_lines == 2
    assert any("entry 5: tokensIn must be" in e for e in run.summary.errors)
    assert any("message 4: metrics.inputTokens" in e for e in run.summary.errors)


def test_cline_extension_attribution(
    store: Store, registry: PricingRegistry, cline_dirs: tuple[Path, Path]
) -> None:
    run_import(store, registry, *cline_dirs)
    events = events_by_id(store)

    first = events[f"cline:{TASK}:1756400000200"]
    assert (first["provider"], first["model"]) == ("anthropic", SONNET)
    assert first["project"] == "confy"
    assert (first["input_tokens"], first["cache_write_5m_tokens"]) == (3, 15000)
    assert first["reported_cost_usd"] == Decimal("0.063009")
    assert first["attributes"]["client"] == "vscode"
    deleted = events[f"cline:{TASK}:1756400040000"]
    assert deleted["attributes"]["record"] == "deleted_api_reqs"
    assert deleted["cache_read_tokens"] == 14800
    subagents = events[f"cline:{TASK}:1756400045000"]
    assert subagents["attributes"]["record"] == "subagent_usage"
    assert (subagents["input_tokens"], subagents["output_tokens"]) == (4000, 900)


def test_cline_cli_attribution(
    store: Store, registry: PricingRegistry, cline_dirs: tuple[Path, Path]
) -> None:
    run_import(store, registry, *cline_dirs)
    events = events_by_id(store)

    mini = events[f"cline:{SESSION}:m2"]
    assert (mini["provider"], mini["model"]) == ("openai", "gpt-5-mini")
    assert (mini["input_tokens"], mini["cache_read_tokens"]) == (3000, 6000)
    assert mini["project"] == "cli-tool"
    assert mini["attributes"]["client"] == "cli"
    sonnet = events[f"cline:{SESSION}:m3"]
    assert (sonnet["provider"], sonnet["model"]) == ("anthropic", "claude-sonnet-4-5")
    assert sonnet["input_tokens"] == 1000
    assert sonnet["cache_write_5m_tokens"] == 4000
    assert sonnet["reported_cost_usd"] == Decimal("0.0345")


def test_cline_reimport_never_double_counts(
    store: Store, registry: PricingRegistry, cline_dirs: tuple[Path, Path]
) -> None:
    first = run_import(store, registry, *cline_dirs)
    second = run_import(store, registry, *cline_dirs)

    assert first.summary.inserted == 6
    assert second.summary.inserted == 0
    assert second.summary.files_read == 0
    count, total = store.query(
        "SELECT count(), sum(cost_usd) FROM cost_events FINAL WHERE harness = 'cline'"
    )[0]
    assert (count, total) == (6, TOTAL)


def test_cline_default_roots(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    importer = get_importer("cline")
    for name in (
        "OTEL_COST_CLINE_DIR",
        "CLINE_DIR",
        "CLINE_DATA_DIR",
        "CLINE_SESSION_DATA_DIR",
        "XDG_CONFIG_HOME",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    roots = importer.default_roots()
    storage = tmp_path / "home/.config/Code/User/globalStorage/saoudrizwan.claude-dev"
    assert storage in roots
    assert roots[-2:] == [
        tmp_path / "home/.cline/data",
        tmp_path / "home/.cline/data/sessions",
    ]
    monkeypatch.setenv("CLINE_DIR", str(tmp_path / "cline"))
    monkeypatch.setenv("CLINE_SESSION_DATA_DIR", str(tmp_path / "sessions"))
    assert importer.default_roots()[-2:] == [
        tmp_path / "cline/data",
        tmp_path / "sessions",
    ]
    monkeypatch.setenv("OTEL_COST_CLINE_DIR", str(tmp_path / "ext"))
    assert importer.default_roots() == [tmp_path / "ext"]

"""Archived months that receive late events: reconcile leaves them, restore merges."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from otel_cost.cli.main import cli
from otel_cost.errors import StoreError
from otel_cost.events import CostEvent, Usage
from otel_cost.events import TokenCategory as T
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store
from otel_cost.store.archive import Outcome, export_partitions, restore_partitions
from otel_cost.store.migrations import load_migrations, render, split_statements
from otel_cost.store.writer import write_events

OPUS = "claude-opus-4-8"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
YEAR = timedelta(days=365)
ARCHIVED_TS = datetime(1999, 1, 10, 8, 0, tzinfo=UTC)
LATE_TS = datetime(1999, 1, 15, 9, 30, tzinfo=UTC)
# claude-opus-4-8: 5e-06 per input token, 2.5e-05 per output token.
COST_ARCHIVED = 3 * D("0.000005") + 4 * D("0.000025")  # 0.000115
COST_LATE = 1000 * D("0.000005") + 100 * D("0.000025")  # 0.0075
COST_JANUARY = COST_ARCHIVED + COST_LATE  # 0.007615
ROLLUP_SUMS = "sum(events), sum(cost_usd), sum(input_tokens), sum(output_tokens)"


def opus(
    registry: PricingRegistry,
    event_id: str,
    ts: datetime,
    tokens_in: int,
    tokens_out: int,
    session: str,
) -> CostEvent:
    return registry.price_event(
        CostEvent(
            event_id=event_id, ts=ts, harness="claude-code", source="otlp",
            session_id=session, project="shop", user="ana", model=OPUS,
            usage=Usage(tokens={T.INPUT: tokens_in, T.OUTPUT: tokens_out}),
        )
    )  # fmt: skip


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def january(store: Store, table: str) -> tuple[Any, ...]:
    return tuple(
        store.query(
            f"SELECT {ROLLUP_SUMS} FROM {table} WHERE toYYYYMM(bucket) = 199901"
        )[0]
    )


def january_events(store: Store) -> tuple[Any, ...]:
    return tuple(
        store.query(
            "SELECT count(), sum(cost_usd), sum(input_tokens), sum(output_tokens) "
            "FROM cost_events FINAL WHERE toYYYYMM(ts) = 199901"
        )[0]
    )


def report_total(engine_dsn: str) -> tuple[int, D]:
    output = invoke(
        "report", "--db", engine_dsn, "--by", "day", "--since", "1999-01-01",
        "--until", "1999-01-31", "--tz", "UTC", "--format", "json",
    )  # fmt: skip
    document = json.loads(output)
    return int(document["events"]), D(str(document["total_usd"]))


@pytest.fixture
def archived(
    store: Store, registry: PricingRegistry, engine_dsn: str, tmp_path: Path
) -> Path:
    """January 1999 with one event, exported and dropped with the CLI."""
    write_events(store, [opus(registry, "jan-1", ARCHIVED_TS, 3, 4, "s-old")])
    directory = tmp_path / "archive"
    output = invoke(
        "archive", "export", "--db", engine_dsn, "--older-than", "365d",
        "--to", str(directory), "--drop",
    )  # fmt: skip
    assert output.startswith("exported and dropped 1999-01: 1 event, $0.000115 (")
    return directory


def test_export_records_archived_month(store: Store, archived: Path) -> None:
    rows = store.query(
        "SELECT month, location, events, cost_usd FROM archived_months FINAL"
    )
    path = str((archived / "cost_events-199901.parquet").resolve())
    assert rows == [(199901, path, 1, COST_ARCHIVED)]
    assert store.query("SELECT count() FROM cost_events") == [(0,)]


def test_late_event_survives_reconcile_and_restore(
    store: Store, registry: PricingRegistry, engine_dsn: str, archived: Path
) -> None:
    write_events(store, [opus(registry, "jan-late", LATE_TS, 1000, 100, "s-late")])
    assert january(store, "cost_rollup_15m") == (2, COST_JANUARY, 1003, 104)
    assert report_total(engine_dsn) == (2, COST_JANUARY)

    output = invoke(
        "reconcile", "--db", engine_dsn, "--all", "--settle-seconds", "0",
        "--pause-seconds", "0", "--json",
    )  # fmt: skip

    document = json.loads(output)
    assert document["groups_corrected"] == 0
    for table in document["tables"]:
        # One group per event: they sit in different buckets and sessions.
        assert table["groups_archived"] == 2
        assert table["archived_months"] == ["199901"]
        assert table["months_without_events"] == []
    assert january(store, "cost_rollup_15m") == (2, COST_JANUARY, 1003, 104)
    assert january(store, "cost_sessions") == (2, COST_JANUARY, 1003, 104)
    assert report_total(engine_dsn) == (2, COST_JANUARY)
    text = invoke(
        "reconcile", "--db", engine_dsn, "--all", "--settle-seconds", "0",
        "--pause-seconds", "0", "--dry-run",
    )  # fmt: skip
    assert "; left alone 2 groups in archived months: 199901\n" in text
    assert text.endswith(
        "rollups match cost_events FINAL outside the archived months\n"
    )

    output = invoke("archive", "restore", "--db", engine_dsn, str(archived))

    assert output.startswith("restored 1999-01: 1 event, $0.000115 (")
    assert output.rstrip().endswith("; kept 1 late event")
    assert january_events(store) == (2, COST_JANUARY, 1003, 104)
    assert january(store, "cost_rollup_15m") == (2, COST_JANUARY, 1003, 104)
    assert january(store, "cost_sessions") == (2, COST_JANUARY, 1003, 104)
    assert report_total(engine_dsn) == (2, COST_JANUARY)
    assert store.query("SELECT count() FROM archived_months FINAL") == [(0,)]
    ingest = store.query("SELECT sum(rows) FROM cost_ingest_1m WHERE ts_month = 199901")
    assert ingest == [(2,)]


def test_restored_rollups_match_events(
    store: Store, registry: PricingRegistry, engine_dsn: str, archived: Path
) -> None:
    write_events(store, [opus(registry, "jan-late", LATE_TS, 1000, 100, "s-late")])
    restore_partitions(store, archived)

    sessions = store.query(
        "SELECT session_id, sum(events), sum(cost_usd), min(first_ts), max(last_ts) "
        "FROM cost_sessions GROUP BY session_id ORDER BY session_id"
    )
    assert sessions == [
        ("s-late", 1, COST_LATE, LATE_TS.replace(tzinfo=None),
         LATE_TS.replace(tzinfo=None)),
        ("s-old", 1, COST_ARCHIVED, ARCHIVED_TS.replace(tzinfo=None),
         ARCHIVED_TS.replace(tzinfo=None)),
    ]  # fmt: skip
    # With the month restored, the reconciler compares it again and finds it right.
    output = invoke(
        "reconcile", "--db", engine_dsn, "--all", "--settle-seconds", "0",
        "--pause-seconds", "0", "--dry-run", "--json",
    )  # fmt: skip
    document = json.loads(output)
    assert document["groups_corrected"] == 0
    assert [table["groups_checked"] for table in document["tables"]] == [2, 2]
    assert [table["groups_archived"] for table in document["tables"]] == [0, 0]


def test_resent_archived_event_counted_once(
    store: Store, registry: PricingRegistry, archived: Path
) -> None:
    # The archived event arrives again: the month stores it once, the rollups twice.
    write_events(store, [opus(registry, "jan-1", ARCHIVED_TS, 3, 4, "s-old")])
    assert january(store, "cost_rollup_15m") == (2, 2 * COST_ARCHIVED, 6, 8)

    restored = restore_partitions(store, archived)

    assert [(a.outcome, a.inserted, a.late_events) for a in restored] == [
        (Outcome.RESTORED, 0, 0)
    ]
    assert january_events(store) == (1, COST_ARCHIVED, 3, 4)
    assert january(store, "cost_rollup_15m") == (1, COST_ARCHIVED, 3, 4)
    assert january(store, "cost_sessions") == (1, COST_ARCHIVED, 3, 4)


def test_export_skips_month_with_late_events(
    store: Store, registry: PricingRegistry, engine_dsn: str, archived: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    write_events(store, [opus(registry, "jan-late", LATE_TS, 1000, 100, "s-late")])
    again = tmp_path / "again"

    output = invoke(
        "archive", "export", "--db", engine_dsn, "--older-than", "365d",
        "--to", str(again), "--drop",
    )  # fmt: skip

    assert output.startswith("skipped 1999-01: archived already to ")
    assert "left its 1 late event in cost_events" in output
    assert not again.exists()
    assert january_events(store) == (1, COST_LATE, 1000, 100)
    exported = export_partitions(store, again, YEAR, drop=True, now=NOW)
    assert [(a.outcome, a.events, a.cost_usd) for a in exported] == [
        (Outcome.ALREADY_ARCHIVED, 1, COST_LATE)
    ]
    assert january_events(store) == (1, COST_LATE, 1000, 100)


def test_restore_rejects_other_file(
    store: Store, registry: PricingRegistry, archived: Path, tmp_path: Path
) -> None:
    # Restored, written to and archived again with 2 events: the first file
    # (1 event) is not the one recorded.
    restore_partitions(store, archived)
    write_events(store, [opus(registry, "jan-late", LATE_TS, 1000, 100, "s-late")])
    second = tmp_path / "second"
    exported = export_partitions(store, second, YEAR, drop=True, now=NOW)
    assert [(a.events, a.cost_usd) for a in exported] == [(2, COST_JANUARY)]

    with pytest.raises(StoreError, match="has 1 events, but month 199901 was archived"):
        restore_partitions(store, archived)

    restored = restore_partitions(store, second)
    assert [(a.outcome, a.inserted) for a in restored] == [(Outcome.RESTORED, 2)]
    assert january(store, "cost_rollup_15m") == (2, COST_JANUARY, 1003, 104)


def test_cluster_replicates_archived_months() -> None:
    migration = next(m for m in load_migrations() if m.name == "archived_months")
    statements = split_statements(render(migration.sql, None, "main"))
    assert len(statements) == 1
    assert (
        "CREATE TABLE IF NOT EXISTS archived_months ON CLUSTER 'main'"
        in (statements[0])
    )
    assert (
        "ENGINE = ReplicatedReplacingMergeTree("
        "'/clickhouse/tables/all/{database}/archived_months', '{replica}', archived_at)"
    ) in statements[0]

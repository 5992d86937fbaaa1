"""Cold archive: export old months to Parquet, drop them, restore them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from otel_cost.cli.main import cli
from otel_cost.errors import ConfigError, StoreError
from otel_cost.events import CostEvent, Usage
from otel_cost.events import TokenCategory as T
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store
from otel_cost.store.archive import (
    Outcome,
    export_partitions,
    parse_age,
    restore_partitions,
)
from otel_cost.store.writer import write_events

OPUS = "claude-opus-4-8"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
YEAR = timedelta(days=365)
# One day before NOW or the clock, whichever is later, so that no cutoff in
# these tests (365 days or more before NOW or the clock) archives its month.
RECENT = max(NOW, datetime.now(UTC)) - timedelta(days=1)
# claude-opus-4-8: 5e-06 per input token, 2.5e-05 per output token.
COST_OCT = 1000 * D("0.000005") + 100 * D("0.000025")  # 0.0075
COST_OCT_GROWN = 1000 * D("0.000005") + 400 * D("0.000025")  # 0.015
COST_JAN = 2000 * D("0.000005")  # 0.01
COST_RECENT = 4000 * D("0.000005") + 1000 * D("0.000025")  # 0.045


def opus(
    registry: PricingRegistry,
    event_id: str,
    ts: datetime,
    tokens_in: int,
    tokens_out: int,
) -> CostEvent:
    return registry.price_event(
        CostEvent(
            event_id=event_id, ts=ts, harness="claude-code", source="import",
            session_id=f"s-{event_id}", project="shop", model=OPUS,
            usage=Usage(tokens={T.INPUT: tokens_in, T.OUTPUT: tokens_out}),
            attributes={"git.branch": "main"},
        )
    )  # fmt: skip


@pytest.fixture
def history(store: Store, registry: PricingRegistry) -> Store:
    october = datetime(2024, 10, 20, 9, 0, tzinfo=UTC)
    write_events(
        store,
        [
            opus(registry, "oct-1", october, 1000, 100),
            opus(registry, "oct-2", october + timedelta(days=1), 1000, 100),
            CostEvent(
                event_id="oct-unpriced", ts=october, harness="codex", source="import",
                model="mystery-model", usage=Usage(tokens={T.INPUT: 300}),
            ),
            opus(registry, "jan-1", datetime(2025, 1, 5, tzinfo=UTC), 2000, 0),
            opus(registry, "recent", RECENT, 4000, 1000),
        ],
    )  # fmt: skip
    # A grown revision of oct-2 replaces it: the rollup gets a negative row.
    grown = opus(registry, "oct-2", october + timedelta(days=1), 1000, 400)
    assert write_events(store, [grown]).replaced == 1
    return store


def all_rows(store: Store) -> list[tuple[Any, ...]]:
    return [
        tuple(row)
        for row in store.query("SELECT * FROM cost_events FINAL ORDER BY event_id")
    ]


def rollup_totals(store: Store) -> tuple[Any, ...]:
    return tuple(
        store.query(
            "SELECT sum(cost_usd), sum(events), sum(output_tokens) FROM cost_rollup_15m"
        )[0]
    )


def test_export_drop_restore_round_trip(history: Store, tmp_path: Path) -> None:
    before = all_rows(history)
    total = COST_OCT + COST_OCT_GROWN + COST_JAN + COST_RECENT
    assert rollup_totals(history) == (total, 5, 1500)

    exported = export_partitions(history, tmp_path, YEAR, drop=True, now=NOW)

    assert [(a.partition, a.events, a.cost_usd, a.outcome) for a in exported] == [
        ("202410", 3, COST_OCT + COST_OCT_GROWN, Outcome.DROPPED),
        ("202501", 1, COST_JAN, Outcome.DROPPED),
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "cost_events-202410.parquet",
        "cost_events-202501.parquet",
    ]
    remaining = history.query("SELECT event_id FROM cost_events")
    assert remaining == [("recent",)]
    # The rollup keeps the archived months.
    assert rollup_totals(history) == (total, 5, 1500)

    restored = restore_partitions(history, tmp_path)

    assert [(a.partition, a.events, a.outcome) for a in restored] == [
        ("202410", 3, Outcome.RESTORED),
        ("202501", 1, Outcome.RESTORED),
    ]
    assert all_rows(history) == before
    assert rollup_totals(history) == (total, 5, 1500)
    october = history.query(
        "SELECT sum(cost_usd), sum(events) FROM cost_rollup_15m "
        "WHERE toYYYYMM(bucket) = 202410"
    )
    assert october == [(COST_OCT + COST_OCT_GROWN, 3)]


def test_restore_twice_skips_months(history: Store, tmp_path: Path) -> None:
    export_partitions(history, tmp_path, YEAR, drop=True, now=NOW)
    restore_partitions(history, tmp_path)
    again = restore_partitions(history, tmp_path)
    assert [(a.partition, a.outcome) for a in again] == [
        ("202410", Outcome.ALREADY_STORED),
        ("202501", Outcome.ALREADY_STORED),
    ]
    assert history.query("SELECT count() FROM cost_events FINAL") == [(5,)]
    assert rollup_totals(history)[1] == 5


def test_export_without_drop_keeps_rows(
    history: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    exported = export_partitions(history, tmp_path, YEAR, now=NOW)
    assert [a.outcome for a in exported] == [Outcome.EXPORTED, Outcome.EXPORTED]
    assert history.query("SELECT count() FROM cost_events FINAL") == [(5,)]
    assert history.query("SELECT count() FROM archived_months") == [(0,)]
    late = opus(registry, "oct-late", datetime(2024, 10, 30, tzinfo=UTC), 10, 0)
    write_events(history, [late])
    # Every event of each file is still stored, so nothing is restored.
    restored = restore_partitions(history, tmp_path)
    assert [(a.outcome, a.late_events) for a in restored] == [
        (Outcome.ALREADY_STORED, 1),
        (Outcome.ALREADY_STORED, 0),
    ]
    assert history.query("SELECT count() FROM cost_events FINAL") == [(6,)]


def test_export_rejects_existing_file(history: Store, tmp_path: Path) -> None:
    (tmp_path / "cost_events-202410.parquet").write_bytes(b"")
    with pytest.raises(StoreError, match="already exists"):
        export_partitions(history, tmp_path, YEAR, now=NOW)


def test_cutoff_leaves_recent_months(history: Store, tmp_path: Path) -> None:
    # On 4 Dec 2026, 700 days back is 4 Jan 2025: only October 2024 has ended.
    exported = export_partitions(history, tmp_path, timedelta(days=700), now=NOW)
    assert [a.partition for a in exported] == ["202410"]


def test_nothing_to_export_leaves_no_folder(history: Store, tmp_path: Path) -> None:
    target = tmp_path / "archive"
    exported = export_partitions(history, target, timedelta(days=3650), now=NOW)
    assert exported == []
    assert not target.exists()


def test_parse_age_days_only() -> None:
    assert parse_age("365d") == timedelta(days=365)
    with pytest.raises(ConfigError, match="invalid age '1y'"):
        parse_age("1y")


def test_cli_export_and_restore(
    history: Store, engine_dsn: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["archive", "export", "--db", engine_dsn, "--older-than", "365d", "--to",
         str(tmp_path), "--drop"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("exported and dropped 2024-10: 3 events, $0.0225 (")
    assert lines[1].startswith("exported and dropped 2025-01: 1 event, $0.01 (")
    assert history.query("SELECT count() FROM cost_events") == [(1,)]
    result = runner.invoke(
        cli, ["archive", "restore", "--db", engine_dsn, str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith(
        "restored 2024-10: 3 events, $0.0225"
    )
    assert history.query("SELECT count() FROM cost_events FINAL") == [(5,)]
    result = runner.invoke(
        cli, ["archive", "export", "--db", engine_dsn, "--older-than", "a year", "--to",
              str(tmp_path)]
    )  # fmt: skip
    assert result.exit_code == 1
    assert "invalid age 'a year'" in result.output


def session_totals(store: Store) -> tuple[Any, ...]:
    return tuple(store.query("SELECT sum(cost_usd), sum(events) FROM cost_sessions")[0])


def test_restore_keeps_session_rollup(history: Store, tmp_path: Path) -> None:
    total = COST_OCT + COST_OCT_GROWN + COST_JAN + COST_RECENT
    assert session_totals(history) == (total, 5)
    export_partitions(history, tmp_path, YEAR, drop=True, now=NOW)
    assert session_totals(history) == (total, 5)
    restore_partitions(history, tmp_path)
    assert session_totals(history) == (total, 5)


def ingest_by_month(store: Store) -> list[tuple[Any, ...]]:
    return [
        tuple(row)
        for row in store.query(
            "SELECT ts_month, sum(rows), max(max_delay_ms), "
            "arraySum(mapValues(sumMap(delay_histogram))) FROM cost_ingest_1m "
            "GROUP BY ts_month ORDER BY ts_month"
        )
    ]


def test_restore_rebuilds_ingest_rollup(history: Store, tmp_path: Path) -> None:
    # An October event that arrived in November 2024, in another ingestion month.
    history.insert(
        "cost_events",
        [["oct-early", 1, datetime(2024, 10, 25, tzinfo=UTC), "import",
          datetime(2024, 11, 2, tzinfo=UTC)]],
        ["event_id", "version", "ts", "source", "ingested_at"],
    )  # fmt: skip
    recent = int(RECENT.strftime("%Y%m"))
    before = ingest_by_month(history)
    # October: oct-early, oct-1, oct-unpriced and both stored revisions of oct-2.
    assert [row[:2] for row in before] == [(202410, 5), (202501, 1), (recent, 1)]
    export_partitions(history, tmp_path, YEAR, drop=True, now=NOW)
    assert ingest_by_month(history) == before

    restore_partitions(history, tmp_path)

    after = ingest_by_month(history)
    # The file holds only the latest revision of oct-2, so October counts 4 rows.
    assert [row[:2] for row in after] == [(202410, 4), (202501, 1), (recent, 1)]
    assert [row[3] for row in after] == [4, 1, 1]
    november = history.query(
        "SELECT sum(rows), max(max_delay_ms) FROM cost_ingest_1m "
        "WHERE toYYYYMM(minute) = 202411"
    )
    assert november == [(1, 8 * 86_400_000)]
    # oct-1 has the longest delay, and its row comes back unchanged.
    assert [row[2] for row in after] == [row[2] for row in before]
    restore_partitions(history, tmp_path)
    assert ingest_by_month(history) == after

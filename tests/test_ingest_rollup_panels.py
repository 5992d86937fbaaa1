"""The ingestion panels read ``cost_ingest_1m`` and agree with ``cost_events``."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from test_grafana_queries import DASHBOARDS, Request, panel_sql, run

from otel_cost.events import CostEvent, Usage
from otel_cost.events import TokenCategory as T
from otel_cost.store import Store
from otel_cost.store.migrations import (
    apply_migrations,
    backfill_statements,
    load_migrations,
    render,
    split_statements,
)
from otel_cost.store.writer import write_events

START = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
REQUEST = Request(start=START, end=START + timedelta(hours=3))
WRITTEN = "Event rows written by source"
DELAY = "Ingestion delay by source"
# A bucket's geometric midpoint is within 2^(1/32) - 1 = 2.19% of any delay in it.
TOLERANCE = 2 ** (1 / 32) - 1
# The panels' queries before cost_ingest_1m existed, as the reference.
RAW_WRITTEN = (
    "SELECT $__timeInterval(ingested_at) AS time, source, count() AS rows "
    "FROM cost_events WHERE $__timeFilter(ingested_at) "
    "GROUP BY time, source ORDER BY time, source"
)
RAW_DELAY = (
    "SELECT source, count() AS rows, "
    "quantileExact(0.5)(dateDiff('millisecond', ts, ingested_at) / 1000) AS p50_s, "
    "quantileExact(0.95)(dateDiff('millisecond', ts, ingested_at) / 1000) AS p95_s, "
    "max(dateDiff('millisecond', ts, ingested_at) / 1000) AS max_s "
    "FROM cost_events WHERE $__timeFilter(ingested_at) GROUP BY source ORDER BY source"
)
COLUMNS = ["event_id", "version", "ts", "source", "ingested_at"]


def at(hour: int, minute: int, second: float = 0) -> datetime:
    """Return a time on 17 Nov 2026."""
    return START.replace(hour=hour, minute=minute) + timedelta(seconds=second)


def event_row(
    event_id: str, source: str, arrived: datetime, delay_ms: int, version: int = 1
) -> list[Any]:
    """Return a ``cost_events`` row that arrived ``delay_ms`` after its own time."""
    return [
        event_id,
        version,
        arrived - timedelta(milliseconds=delay_ms),
        source,
        arrived,
    ]


def stored_rows() -> list[list[Any]]:
    """The rows of the hand-computed tests, with their delays in milliseconds."""
    return [
        # hook: 6 rows, delays 0.5, 1, 2, 4, 100 and 300.5 s.
        event_row("h1", "hook", at(10, 0, 30), 500),
        event_row("h2", "hook", at(10, 0, 30), 1_000),
        event_row("h3", "hook", at(10, 0, 30), 2_000),
        event_row("h4", "hook", at(10, 0, 59.999), 4_000),
        event_row("h5", "hook", at(10, 0, 30), 100_000),
        # A second revision of h1, with h1's own time, arriving 4.5 min later.
        event_row("h1", "hook", at(10, 5), 300_500, version=2),
        # import: 1 day and 31 days, the second from October.
        event_row("i1", "import", at(11, 0), 86_400_000),
        event_row("i2", "import", at(10, 0), 31 * 86_400_000),
        # otlp: event times 3 s and 2 s ahead of the store's clock, and no delay.
        event_row("o1", "otlp", at(11, 30), -3_000),
        event_row("o2", "otlp", at(11, 30), -2_000),
        event_row("o3", "otlp", at(11, 30), 0),
        # Before the range: left out.
        event_row("h0", "hook", at(8, 59, 59), 10),
    ]


@pytest.fixture
def arrivals(store: Store) -> Store:
    # Each row in its own insert, as separate writes would store them.
    for values in stored_rows():
        store.insert("cost_events", [values], COLUMNS)
    return store


@pytest.fixture(scope="module")
def dashboards() -> dict[str, dict[str, Any]]:
    loaded = [json.loads(path.read_text()) for path in DASHBOARDS.glob("*.json")]
    return {dashboard["uid"]: dashboard for dashboard in loaded}


def finops(dashboards: dict[str, dict[str, Any]], title: str) -> str:
    return panel_sql(dashboards, "otel-cost-finops", title)


def test_panels_read_ingest_rollup(dashboards: dict[str, dict[str, Any]]) -> None:
    for title in (WRITTEN, DELAY):
        sql = finops(dashboards, title)
        assert "FROM cost_ingest_1m " in sql
        assert "cost_events" not in sql


def test_rows_written_per_hour(
    arrivals: Store, dashboards: dict[str, dict[str, Any]]
) -> None:
    _, rows = run(arrivals, finops(dashboards, WRITTEN), REQUEST)
    ten, eleven = datetime(2026, 11, 17, 10), datetime(2026, 11, 17, 11)
    assert rows == [
        (ten, "hook", 6),
        (ten, "import", 1),
        (eleven, "import", 1),
        (eleven, "otlp", 3),
    ]


def test_rows_written_per_minute(
    arrivals: Store, dashboards: dict[str, dict[str, Any]]
) -> None:
    request = Request(start=at(10, 0), end=at(10, 10), interval_s=60)
    _, rows = run(arrivals, finops(dashboards, WRITTEN), request)
    # h4 arrived at 10:00:59.999, still in the 10:00 minute.
    assert rows == [
        (datetime(2026, 11, 17, 10, 0), "hook", 5),
        (datetime(2026, 11, 17, 10, 0), "import", 1),
        (datetime(2026, 11, 17, 10, 5), "hook", 1),
    ]


def test_delay_quantiles_by_hand(
    arrivals: Store, dashboards: dict[str, dict[str, Any]]
) -> None:
    columns, rows = run(arrivals, finops(dashboards, DELAY), REQUEST)
    assert columns == ["source", "rows", "p50_s", "p95_s", "max_s"]
    by_source = {row[0]: row for row in rows}
    assert list(by_source) == ["hook", "import", "otlp"]
    # quantileExact(q) takes the row at 0-based rank floor(q * n) in delay order.
    # hook, n = 6: rank 3 is 4 s, rank 5 is 300.5 s.
    hook = by_source["hook"]
    assert hook[1] == 6
    assert hook[2] == pytest.approx(4.0, rel=TOLERANCE)
    assert hook[3] == pytest.approx(300.5, rel=TOLERANCE)
    assert hook[4] == 300.5
    # import, n = 2: rank 1 for both quantiles, 31 days.
    imported = by_source["import"]
    assert imported[1] == 2
    assert imported[2] == pytest.approx(31 * 86400, rel=TOLERANCE)
    assert imported[3] == pytest.approx(31 * 86400, rel=TOLERANCE)
    assert imported[4] == 31 * 86400
    # otlp, n = 3: rank 1 is -2 s, rank 2 is exactly 0.
    otlp = by_source["otlp"]
    assert otlp[1] == 3
    assert otlp[2] == pytest.approx(-2.0, rel=TOLERANCE)
    assert otlp[3] == 0
    assert otlp[4] == 0


def test_delay_histogram_buckets(arrivals: Store) -> None:
    # Bucket 1 + floor(16 * log2(|delay ms|)), negated for a negative delay:
    # 16 * log2(3000) = 184.8 and 16 * log2(2000) = 175.5.
    otlp = arrivals.query(
        "SELECT sumMap(delay_histogram) FROM cost_ingest_1m WHERE source = 'otlp'"
    )[0][0]
    assert otlp == {-185: 1, -176: 1, 0: 1}
    # 500 ms: 143.5, 1 s: 159.5, 2 s: 175.5, 4 s: 191.5, 100 s: 265.8, 300.5 s: 291.2.
    hook = arrivals.query(
        "SELECT sumMap(delay_histogram) FROM cost_ingest_1m WHERE source = 'hook' "
        "AND minute >= '2026-11-17 09:00:00'"
    )[0][0]
    assert hook == {144: 1, 160: 1, 176: 1, 192: 1, 266: 1, 292: 1}


def test_rollup_keeps_event_month(arrivals: Store) -> None:
    rows = arrivals.query(
        "SELECT ts_month, sum(rows) FROM cost_ingest_1m GROUP BY ts_month "
        "ORDER BY ts_month"
    )
    assert rows == [(202610, 1), (202611, 11)]


def test_panels_match_raw_events(
    store: Store, dashboards: dict[str, dict[str, Any]]
) -> None:
    # 3,000 distinct events with delays spread from -5 s to 60 days.
    rng = random.Random(20261117)
    values = []
    for number in range(3000):
        arrived = START + timedelta(seconds=rng.randrange(3 * 3600))
        if rng.random() < 0.05:
            delay = -rng.randrange(5000)
        else:
            delay = int(10 ** rng.uniform(0, 9.7))
        source = ("hook", "sdk", "import")[number % 3]
        values.append(event_row(f"e{number}", source, arrived, delay))
    store.insert("cost_events", values, COLUMNS)
    assert run(store, finops(dashboards, WRITTEN), REQUEST) == run(
        store, RAW_WRITTEN, REQUEST
    )
    _, panel = run(store, finops(dashboards, DELAY), REQUEST)
    _, raw = run(store, RAW_DELAY, REQUEST)
    assert [row[:2] for row in panel] == [row[:2] for row in raw]
    for got, expected in zip(panel, raw, strict=True):
        assert got[2] == pytest.approx(expected[2], rel=TOLERANCE), got[0]
        assert got[3] == pytest.approx(expected[3], rel=TOLERANCE), got[0]
        assert got[4] == expected[4], got[0]


def test_writer_revisions_count_again(store: Store) -> None:
    def event(output_tokens: int) -> CostEvent:
        return CostEvent(
            event_id="stream-1", ts=datetime.now(UTC), harness="claude-code",
            source="proxy", model="claude-sonnet-4-5",
            usage=Usage(tokens={T.INPUT: 100, T.OUTPUT: output_tokens}),
        )  # fmt: skip

    write_events(store, [event(10)])
    write_events(store, [event(10)])  # an exact re-send, not stored
    write_events(store, [event(50)])  # a grown revision, stored as a second row
    rows = store.query("SELECT source, sum(rows) FROM cost_ingest_1m GROUP BY source")
    assert rows == [("proxy", 2)]


def test_backfill_counts_each_event_once(arrivals: Store) -> None:
    written = "SELECT sum(rows) FROM cost_ingest_1m WHERE source = 'hook'"
    # h0 to h5, and the second revision of h1.
    assert arrivals.query(written) == [(7,)]
    # A store migrated before 0006 gains the rollup from cost_events FINAL:
    # h1's two revisions count once, with the later arrival.
    arrivals.command("DROP TABLE cost_ingest_1m_mv")
    arrivals.command("DROP TABLE cost_ingest_1m")
    arrivals.command(
        "ALTER TABLE schema_migrations DELETE WHERE version = 6 "
        "SETTINGS mutations_sync = 1"
    )
    assert 6 in apply_migrations(arrivals.client)
    rows = arrivals.query(
        "SELECT source, sum(rows), max(max_delay_ms) FROM cost_ingest_1m "
        "GROUP BY source ORDER BY source"
    )
    assert rows == [("hook", 6, 300_500), ("import", 2, 31 * 86_400_000),
                    ("otlp", 3, 0)]  # fmt: skip


def test_backfill_reads_events_final() -> None:
    migration = next(item for item in load_migrations() if item.version == 6)
    (insert,) = backfill_statements(migration.sql)
    assert insert.startswith("INSERT INTO cost_ingest_1m\nSELECT")
    assert insert.endswith("FROM cost_events FINAL")


def test_cluster_render_shards_ingest() -> None:
    migration = next(item for item in load_migrations() if item.version == 6)
    statements = split_statements(render(migration.sql, None, "c1"))
    head = re.compile(r"CREATE (?:TABLE|MATERIALIZED VIEW) IF NOT EXISTS (\w+)")
    names = []
    for statement in statements:
        match = head.match(statement)
        names.append(match.group(1) if match else "")
    assert names == ["cost_ingest_1m_local", "cost_ingest_1m", "cost_ingest_1m_mv"]
    assert (
        "ENGINE = ReplicatedAggregatingMergeTree("
        "'/clickhouse/tables/{shard}/{database}/cost_ingest_1m_local', '{replica}')"
    ) in statements[0]
    assert statements[1].endswith(
        "ENGINE = Distributed('c1', currentDatabase(), cost_ingest_1m_local, rand())"
    )
    assert " TO cost_ingest_1m_local AS\n" in statements[2]
    assert statements[2].endswith("FROM cost_events_local")

"""Platform and FinOps dashboard: provider mix, unpriced usage, pipeline health, own cost."""

from __future__ import annotations

from typing import Any

from panels.common import (
    FILTERS,
    FORMAT_TIME_SERIES,
    TOTAL_TOKENS,
    attribution_variables,
    build_dashboard,
    panel,
    row,
    textbox_variable,
)

UID = "otel-cost-finops"
WHERE = f"$__timeFilter(bucket) AND {FILTERS}"
ROLLUP_TOKENS = " + ".join(f"sum({column})" for column in TOTAL_TOKENS.split(" + "))
STORAGE_PRICE = "toFloat64(toDecimal64OrZero(${storage_usd_per_gb_month:sqlstring}, 4))"
OWN_PARTS = "system.parts WHERE active AND database = currentDatabase()"

# cost_ingest_1m counts delays in log-scale buckets, 16 per doubling of the
# delay in milliseconds (clickhouse/migrations/0006_cost_ingest_1m.sql). A
# quantile is read from the bucket that contains the row of rank floor(level *
# rows), the row that quantileExact(level) returns, as the bucket's geometric
# midpoint: within 2.2% of the exact delay.
DELAY_BUCKETS_PER_DOUBLING = 16
DELAY_HISTOGRAM = (
    "SELECT source, sum(rows) AS rows, sumMap(delay_histogram) AS histogram, "
    "arrayCumSum(mapValues(histogram)) AS counts, "
    "mapKeys(histogram)[arrayFirstIndex(c -> c > floor(0.5 * counts[-1]), counts)] "
    "AS p50_bucket, "
    "mapKeys(histogram)[arrayFirstIndex(c -> c > floor(0.95 * counts[-1]), counts)] "
    "AS p95_bucket, max(max_delay_ms) / 1000 AS max_s "
    "FROM cost_ingest_1m WHERE $__timeFilter(minute) GROUP BY source"
)


def _bucket_seconds(bucket: str) -> str:
    """Return SQL for the midpoint of delay bucket ``bucket``, in seconds."""
    steps = DELAY_BUCKETS_PER_DOUBLING
    return (
        f"if({bucket} = 0, 0, sign({bucket}) * exp2((abs({bucket}) - 0.5) / {steps})) "
        "/ 1000"
    )


DELAY_SQL = (
    f"SELECT source, rows, {_bucket_seconds('p50_bucket')} AS p50_s, "
    f"{_bucket_seconds('p95_bucket')} AS p95_s, max_s "
    f"FROM ({DELAY_HISTOGRAM}) ORDER BY source"
)


def _mix_panels() -> list[dict[str, Any]]:
    return [
        row("Provider and model mix"),
        panel(
            "piechart",
            "Provider mix",
            "Share of priced spend per provider in the time range.",
            "SELECT provider, sum(cost_usd) AS cost_usd FROM cost_rollup_15m "
            f"WHERE {WHERE} GROUP BY provider ORDER BY cost_usd DESC, provider",
            (8, 8),
            options={"reduceOptions": {"values": True, "calcs": []}},
        ),
        panel(
            "timeseries",
            "Spend by provider",
            "Priced cost per interval, one series per provider.",
            "SELECT $__timeInterval(bucket) AS time, provider, sum(cost_usd) AS cost_usd "
            f"FROM cost_rollup_15m WHERE {WHERE} GROUP BY time, provider "
            "ORDER BY time, provider",
            (16, 8),
            fmt=FORMAT_TIME_SERIES,
        ),
        panel(
            "table",
            "Model mix",
            "Events, tokens and priced spend per resolved model, with the "
            "effective price per million tokens.",
            "SELECT provider, resolved_model, sum(events) AS events, "
            f"{ROLLUP_TOKENS} AS tokens, sum(cost_usd) AS model_usd, "
            "if(tokens = 0, NULL, model_usd * 1000000 / tokens) "
            "AS usd_per_million_tokens FROM cost_rollup_15m "
            f"WHERE {WHERE} AND cost_status != 'unpriced' "
            "GROUP BY provider, resolved_model ORDER BY model_usd DESC, resolved_model",
            (24, 8),
        ),
    ]


def _unpriced_panels() -> list[dict[str, Any]]:
    return [
        row("Unpriced usage"),
        panel(
            "stat",
            "Unpriced share of events",
            "Events with no rate card for their model, in percent of all events. "
            "Their tokens are stored; their cost is unknown, never counted as $0.",
            "SELECT round(sumIf(events, cost_status = 'unpriced') * 100 / "
            "greatest(sum(events), 1), 2) AS unpriced_pct "
            f"FROM cost_rollup_15m WHERE {WHERE}",
            (6, 7),
            unit="percent",
        ),
        panel(
            "table",
            "Unpriced usage by model",
            "Models that had no price: add a rate card or an override for them.",
            "SELECT harness, provider, model, sum(events) AS events, "
            f"{ROLLUP_TOKENS} AS tokens FROM cost_rollup_15m "
            f"WHERE {WHERE} AND cost_status = 'unpriced' "
            "GROUP BY harness, provider, model ORDER BY tokens DESC, model",
            (12, 7),
            unit="short",
        ),
        panel(
            "table",
            "Cost status",
            "Events and spend by how far the cost can be trusted: priced from a "
            "rate card, estimated, or unpriced.",
            "SELECT cost_status, sum(events) AS events, sum(cost_usd) AS cost_usd "
            f"FROM cost_rollup_15m WHERE {WHERE} GROUP BY cost_status "
            "ORDER BY cost_status",
            (6, 7),
        ),
    ]


def _pipeline_panels() -> list[dict[str, Any]]:
    written = panel(
        "timeseries",
        "Event rows written by source",
        "Rows written to cost_events per interval by capture source "
        "(hook, proxy, sdk, otlp, import), each stored revision of an event "
        "counted. Read from cost_ingest_1m, by the minute of arrival.",
        "SELECT $__timeInterval(minute) AS time, source, sum(rows) AS rows "
        "FROM cost_ingest_1m WHERE $__timeFilter(minute) "
        "GROUP BY time, source ORDER BY time, source",
        (12, 8),
        unit="short",
        fmt=FORMAT_TIME_SERIES,
    )
    # The rollup has one row per minute, so a shorter interval adds no detail.
    written["interval"] = "1m"
    return [
        row("Pipeline health"),
        written,
        panel(
            "table",
            "Ingestion delay by source",
            "Seconds from an event's own time to its arrival in the store, over "
            "the rows written in the range: each stored revision of an event "
            "counts, with its own arrival time. Median and 95th percentile come "
            "from a log-scale histogram and are within 2.2% of the exact value; "
            "the maximum is exact. Imports of old history have long delays by "
            "nature.",
            DELAY_SQL,
            (12, 8),
            unit="s",
        ),
        panel(
            "table",
            "Importers",
            "Session files read per importer, events found and lines that could "
            "not be parsed.",
            "SELECT importer, count() AS files, sum(events) AS events, "
            "sum(bad_lines) AS bad_lines, max(updated_at) AS last_read "
            "FROM import_progress FINAL GROUP BY importer ORDER BY importer",
            (12, 6),
            unit="short",
        ),
        panel(
            "table",
            "Rate cards",
            "Rate card versions that priced events in this store.",
            "SELECT version, effective_from, source, models, findings, recorded_at "
            "FROM pricing_versions FINAL ORDER BY effective_from DESC, version LIMIT 20",
            (12, 6),
            unit="short",
        ),
    ]


def _own_cost_panels() -> list[dict[str, Any]]:
    return [
        row("Cost of otel-cost itself"),
        panel(
            "table",
            "Storage by table",
            "Rows and bytes of each otel-cost table in this database.",
            "SELECT table, sum(rows) AS rows, sum(bytes_on_disk) AS bytes_on_disk, "
            "sum(data_uncompressed_bytes) AS uncompressed_bytes "
            f"FROM {OWN_PARTS} GROUP BY table ORDER BY bytes_on_disk DESC, table",
            (12, 7),
            unit="bytes",
        ),
        panel(
            "stat",
            "Storage cost per month",
            "Estimate: bytes on disk of all otel-cost tables times the storage "
            "price variable (USD per GB-month).",
            f"SELECT round(sum(bytes_on_disk) / 1000000000 * {STORAGE_PRICE}, 4) "
            f"AS storage_usd_per_month FROM {OWN_PARTS}",
            (6, 7),
            decimals=4,
        ),
        panel(
            "stat",
            "Stored events",
            "Rows in cost_events, including revisions not yet merged away.",
            f"SELECT sum(rows) AS rows FROM {OWN_PARTS} AND table = 'cost_events'",
            (6, 7),
            unit="short",
        ),
    ]


def dashboard() -> dict[str, Any]:
    """Return the platform and FinOps dashboard."""
    panels = [
        *_mix_panels(),
        *_unpriced_panels(),
        *_pipeline_panels(),
        *_own_cost_panels(),
    ]
    variables = [
        *attribution_variables(),
        textbox_variable(
            "storage_usd_per_gb_month", "Storage USD per GB-month", "0.10"
        ),
    ]
    return build_dashboard(
        UID,
        "otel-cost / Platform and FinOps",
        "Provider and model mix, unpriced usage, pipeline health and the storage "
        "cost of otel-cost itself.",
        panels,
        variables,
        time_from="now-7d",
    )

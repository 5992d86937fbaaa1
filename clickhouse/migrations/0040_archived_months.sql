-- Months of cost_events that otel-cost archive export --drop moved to a
-- Parquet file. The rollups keep an archived month's totals, so the
-- reconciler must not compare them with the few events (late arrivals) that
-- cost_events may hold for that month. otel-cost archive restore deletes the
-- month's row once the file's events are back. A month archived again gets a
-- new row, and ReplacingMergeTree keeps the latest one (read with FINAL).
-- This is small shared state, so in cluster mode every node keeps a full
-- replica of it, like import_progress.
CREATE TABLE IF NOT EXISTS archived_months
(
    month UInt32,
    location String,
    events UInt64,
    cost_usd Decimal(38, 12),
    archived_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(archived_at)
ORDER BY month;

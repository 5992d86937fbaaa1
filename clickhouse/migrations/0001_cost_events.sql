-- Raw cost events: one row per priced action, in canonical token categories.
-- ReplacingMergeTree keyed by event_id keeps the latest version of an event;
-- the writer also skips exact re-sends before they reach the table, so the
-- rollups fed from it never count an event twice.
CREATE TABLE IF NOT EXISTS cost_events
(
    event_id String,
    version UInt64,
    ts DateTime64(3, 'UTC'),
    harness LowCardinality(String),
    source LowCardinality(String),
    session_id String,
    parent_session_id String,
    provider LowCardinality(String),
    model_requested LowCardinality(String),
    model LowCardinality(String),
    resolved_model LowCardinality(String),
    project String,
    task_type LowCardinality(String),
    user String,
    team LowCardinality(String),
    cost_center LowCardinality(String),
    git_repo String,
    git_branch String,
    trace_id String,
    span_id String,
    operation LowCardinality(String),
    tool_name LowCardinality(String),
    outcome LowCardinality(String),
    error_type LowCardinality(String),
    latency_ms UInt32,
    service_tier LowCardinality(String),
    input_tokens UInt64,
    cache_read_tokens UInt64,
    cache_write_5m_tokens UInt64,
    cache_write_1h_tokens UInt64,
    output_tokens UInt64,
    reasoning_tokens UInt64,
    image_input_tokens UInt64,
    audio_input_tokens UInt64,
    image_output_tokens UInt64,
    audio_output_tokens UInt64,
    web_search_count UInt32,
    tool_call_count UInt32,
    pricing_version LowCardinality(String),
    cost_status LowCardinality(String),
    cost_usd Nullable(Decimal(38, 12)),
    cost_by_category Map(LowCardinality(String), Decimal(38, 12)),
    reported_cost_usd Nullable(Decimal(38, 12)),
    attributes Map(String, String),
    ingested_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(ts)
ORDER BY event_id
{{TTL_EVENTS}}
{{TABLE_SETTINGS}};

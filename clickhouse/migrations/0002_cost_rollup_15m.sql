-- Totals per 15-minute bucket and attribution dimensions. Fifteen minutes
-- divides every UTC offset in use, so day buckets in any time zone are exact.
-- Corrections of an event already counted arrive as negative rows written
-- directly by the writer; SummingMergeTree adds them up.
CREATE TABLE IF NOT EXISTS cost_rollup_15m
(
    bucket DateTime('UTC'),
    harness LowCardinality(String),
    provider LowCardinality(String),
    resolved_model LowCardinality(String),
    model LowCardinality(String),
    project String,
    team LowCardinality(String),
    user String,
    cost_status LowCardinality(String),
    events Int64,
    cost_usd Decimal(38, 12),
    reported_cost_usd Decimal(38, 12),
    input_tokens Int64,
    cache_read_tokens Int64,
    cache_write_5m_tokens Int64,
    cache_write_1h_tokens Int64,
    output_tokens Int64,
    reasoning_tokens Int64,
    image_input_tokens Int64,
    audio_input_tokens Int64,
    image_output_tokens Int64,
    audio_output_tokens Int64,
    web_search_count Int64,
    tool_call_count Int64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket, harness, provider, resolved_model, model, project, team, user, cost_status)
{{TABLE_SETTINGS}};

CREATE MATERIALIZED VIEW IF NOT EXISTS cost_rollup_15m_mv TO cost_rollup_15m AS
SELECT
    toStartOfFifteenMinutes(ts) AS bucket,
    harness,
    provider,
    resolved_model,
    model,
    project,
    team,
    user,
    cost_status,
    toInt64(1) AS events,
    ifNull(cost_usd, toDecimal128(0, 12)) AS cost_usd,
    ifNull(reported_cost_usd, toDecimal128(0, 12)) AS reported_cost_usd,
    toInt64(input_tokens) AS input_tokens,
    toInt64(cache_read_tokens) AS cache_read_tokens,
    toInt64(cache_write_5m_tokens) AS cache_write_5m_tokens,
    toInt64(cache_write_1h_tokens) AS cache_write_1h_tokens,
    toInt64(output_tokens) AS output_tokens,
    toInt64(reasoning_tokens) AS reasoning_tokens,
    toInt64(image_input_tokens) AS image_input_tokens,
    toInt64(audio_input_tokens) AS audio_input_tokens,
    toInt64(image_output_tokens) AS image_output_tokens,
    toInt64(audio_output_tokens) AS audio_output_tokens,
    toInt64(web_search_count) AS web_search_count,
    toInt64(tool_call_count) AS tool_call_count
FROM cost_events;

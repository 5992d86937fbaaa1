-- Totals per session, 15-minute bucket and attribution dimensions, so that
-- session reports and panels need not read cost_events FINAL. The bucket is
-- the same as in cost_rollup_15m, so a range on 15-minute boundaries gives
-- exact totals. first_ts and last_ts bound the session's events in a row.
-- Corrections of an event already counted arrive as negative rows written
-- directly by the writer. A replaced revision keeps the first revision's time
-- and session, so min and max stay right after a correction, but a group
-- whose events all moved to other dimensions nets to zero events and must be
-- left out with HAVING sum(events) != 0.
CREATE TABLE IF NOT EXISTS cost_sessions
(
    bucket DateTime('UTC'),
    user String,
    session_id String,
    harness LowCardinality(String),
    provider LowCardinality(String),
    resolved_model LowCardinality(String),
    model LowCardinality(String),
    project String,
    team LowCardinality(String),
    cost_status LowCardinality(String),
    first_ts SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_ts SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    events SimpleAggregateFunction(sum, Int64),
    cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    reported_cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    input_tokens SimpleAggregateFunction(sum, Int64),
    cache_read_tokens SimpleAggregateFunction(sum, Int64),
    cache_write_5m_tokens SimpleAggregateFunction(sum, Int64),
    cache_write_1h_tokens SimpleAggregateFunction(sum, Int64),
    output_tokens SimpleAggregateFunction(sum, Int64),
    reasoning_tokens SimpleAggregateFunction(sum, Int64),
    image_input_tokens SimpleAggregateFunction(sum, Int64),
    audio_input_tokens SimpleAggregateFunction(sum, Int64),
    image_output_tokens SimpleAggregateFunction(sum, Int64),
    audio_output_tokens SimpleAggregateFunction(sum, Int64),
    web_search_count SimpleAggregateFunction(sum, Int64),
    tool_call_count SimpleAggregateFunction(sum, Int64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (user, bucket, session_id, harness, provider, resolved_model, model, project,
          team, cost_status)
{{TABLE_SETTINGS}};

CREATE MATERIALIZED VIEW IF NOT EXISTS cost_sessions_mv TO cost_sessions AS
SELECT
    toStartOfFifteenMinutes(ts) AS bucket,
    user,
    session_id,
    harness,
    provider,
    resolved_model,
    model,
    project,
    team,
    cost_status,
    ts AS first_ts,
    ts AS last_ts,
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

-- Rows written to cost_events per minute of ingested_at and capture source,
-- so that the ingestion panels need not scan cost_events, whose sort and
-- partition keys do not cover ingested_at. Every row inserted into
-- cost_events counts, so a grown revision of an event counts again; the
-- writer adds no correction rows here.
--
-- delay_histogram counts the delays (ingested_at - ts in milliseconds) in
-- log-scale buckets, 16 per doubling. Bucket k > 0 holds delays d with
-- 2^((k-1)/16) <= d < 2^(k/16), bucket -k the same negative range (an event
-- time ahead of the store's clock) and bucket 0 a delay of exactly 0. A
-- quantile read as the bucket's geometric midpoint 2^((k-0.5)/16) is within
-- 2.2% of the exact value. max_delay_ms is exact.
--
-- ts_month is toYYYYMM(ts), the cost_events partition a row came from. It is
-- part of the partition key so that an archive restore can drop and rebuild
-- exactly the rows of the month it re-inserts.
CREATE TABLE IF NOT EXISTS cost_ingest_1m
(
    minute DateTime('UTC'),
    source LowCardinality(String),
    ts_month UInt32,
    rows SimpleAggregateFunction(sum, UInt64),
    max_delay_ms SimpleAggregateFunction(max, Int64),
    delay_histogram SimpleAggregateFunction(sumMap, Map(Int16, UInt64))
)
ENGINE = AggregatingMergeTree
PARTITION BY (toYYYYMM(minute), ts_month)
ORDER BY (minute, source, ts_month)
{{TABLE_SETTINGS}};

CREATE MATERIALIZED VIEW IF NOT EXISTS cost_ingest_1m_mv TO cost_ingest_1m AS
SELECT
    toStartOfMinute(toDateTime(ingested_at)) AS minute,
    source,
    toYYYYMM(ts) AS ts_month,
    toUInt64(1) AS rows,
    dateDiff('millisecond', ts, ingested_at) AS max_delay_ms,
    map(
        toInt16(sign(max_delay_ms) * (1 + floor(16 * log2(greatest(abs(max_delay_ms), 1))))),
        toUInt64(1)
    ) AS delay_histogram
FROM cost_events;

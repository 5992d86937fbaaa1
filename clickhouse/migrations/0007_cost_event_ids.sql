-- The id of every stored event, for the writer's duplicate lookup.
--
-- cost_events is sorted by event_id in granules of 8,192 rows, so the lookup
-- of a batch of 2,000 random ids reads nearly every granule of every month:
-- its cost grows with the table. Here granules hold 128 rows, so a lookup
-- reads at most 128 rows per id, whatever the size of the table.
--
-- A month dropped from cost_events by `archive export --drop` keeps its ids
-- here. The writer then finds no row for such an id in cost_events and stores
-- the event as new, as it would without this table.
CREATE TABLE IF NOT EXISTS cost_event_ids
(
    event_id String,
    month UInt32
)
ENGINE = ReplacingMergeTree
PARTITION BY month
ORDER BY event_id
SETTINGS index_granularity = 128;

CREATE MATERIALIZED VIEW IF NOT EXISTS cost_event_ids_mv TO cost_event_ids AS
SELECT
    event_id,
    toYYYYMM(ts) AS month
FROM cost_events;

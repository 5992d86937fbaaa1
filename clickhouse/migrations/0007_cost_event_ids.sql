-- A 64-bit hash of the id of every stored event, for the writer's duplicate
-- lookup.
--
-- cost_events is sorted by event_id in granules of 8,192 rows, so the lookup
-- of a batch of 2,000 random ids reads nearly every granule of every month:
-- its cost grows with the table (about 200 ms at 5 million events). Here each
-- granule holds 256 hashes in its own small compressed block, so a lookup
-- reads a few megabytes whatever the size of the table (about 27 ms at 5
-- million). A hash shared by two ids only sends the writer to cost_events,
-- which then finds no row for the new id.
--
-- A month dropped from cost_events by `archive export --drop` keeps its
-- hashes here, with the same effect: the writer stores such an event as new.
CREATE TABLE IF NOT EXISTS cost_event_ids
(
    id_hash UInt64,
    month UInt32
)
ENGINE = ReplacingMergeTree
PARTITION BY month
ORDER BY id_hash
SETTINGS index_granularity = 256, min_compress_block_size = 4096,
    max_compress_block_size = 8192;

CREATE MATERIALIZED VIEW IF NOT EXISTS cost_event_ids_mv TO cost_event_ids AS
SELECT
    cityHash64(event_id) AS id_hash,
    toYYYYMM(ts) AS month
FROM cost_events;

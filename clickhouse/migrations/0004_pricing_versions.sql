-- Every rate card that priced events in this store, for audit and repricing.
CREATE TABLE IF NOT EXISTS pricing_versions
(
    version String,
    effective_from DateTime64(3, 'UTC'),
    source String,
    models UInt32,
    findings UInt32,
    recorded_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(recorded_at)
ORDER BY version;

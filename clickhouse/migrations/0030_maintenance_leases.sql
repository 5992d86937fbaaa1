-- Leases that let only one process at a time run a maintenance job against
-- this database (otel-cost reconcile takes the lease named 'reconcile').
-- Each acquisition inserts the next term of a lease with the insert
-- deduplication token '<name>-<term>'. ClickHouse keeps only the first insert
-- of a token, so of two processes that claim the same term at once, exactly
-- one row survives and its holder owns the lease until expires_at.
-- Plain MergeTree deduplicates inserts only with
-- non_replicated_deduplication_window set; ReplicatedMergeTree (cluster mode)
-- deduplicates through Keeper by default.
CREATE TABLE IF NOT EXISTS maintenance_leases
(
    name LowCardinality(String),
    term UInt64,
    holder String,
    acquired_at DateTime64(3, 'UTC'),
    expires_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (name, term)
SETTINGS non_replicated_deduplication_window = 1000;

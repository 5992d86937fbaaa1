-- How far each session file has been imported, so that a second run reads
-- only the bytes appended since. The decoder state lets a format that needs
-- earlier lines (Codex running totals) resume in the middle of a file.
CREATE TABLE IF NOT EXISTS import_progress
(
    importer LowCardinality(String),
    path String,
    size UInt64,
    mtime_ns Int64,
    fingerprint String,
    offset UInt64,
    state String,
    events UInt64,
    bad_lines UInt64,
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (importer, path);

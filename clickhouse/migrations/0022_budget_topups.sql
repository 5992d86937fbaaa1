-- Emergency top-ups through their life: requested, then approved (and applied
-- to the ledger) or rejected by a named approver. Each change writes a new row
-- with a higher version; queries read the latest with FINAL or argMax.
CREATE TABLE IF NOT EXISTS budget_topups
(
    topup_id String,
    version UInt64,
    envelope String,
    instance String,
    amount_usd Decimal(38, 12),
    status LowCardinality(String),
    requested_by String,
    requested_at DateTime64(3, 'UTC'),
    reason String,
    decided_by String,
    decided_at Nullable(DateTime64(3, 'UTC')),
    decision_reason String
)
ENGINE = ReplacingMergeTree(version)
ORDER BY topup_id;

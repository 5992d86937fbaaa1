-- Append-only audit log of budget decisions: overrides, gate denials, top-up
-- requests and approvals, and envelope changes made from the CLI. otel-cost
-- only ever inserts here; nothing updates or deletes rows, so the table keeps
-- the plain MergeTree engine (no replacing or collapsing).
CREATE TABLE IF NOT EXISTS budget_audit_log
(
    audit_id String,
    ts DateTime64(3, 'UTC'),
    action LowCardinality(String),
    envelope String,
    scope LowCardinality(String),
    instance String,
    actor String,
    reason String,
    amount_usd Nullable(Decimal(38, 12)),
    limit_usd Nullable(Decimal(38, 12)),
    spent_usd Nullable(Decimal(38, 12)),
    estimate_usd Nullable(Decimal(38, 12)),
    harness LowCardinality(String),
    session_id String,
    details Map(String, String)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (ts, envelope, audit_id);

-- Adjustments to an envelope's limit for one instance of it: a project
-- envelope's period (instance = period start, YYYY-MM-DD), a session (the
-- session id) or a task (the task id). An applied top-up adds amount_usd; an
-- override adds amount_usd, or lifts the limit entirely when amount_usd is NULL.
CREATE TABLE IF NOT EXISTS budget_ledger
(
    entry_id String,
    ts DateTime64(3, 'UTC'),
    envelope String,
    instance String,
    kind LowCardinality(String),
    amount_usd Nullable(Decimal(38, 12)),
    actor String,
    reason String,
    topup_id String
)
ENGINE = MergeTree
ORDER BY (envelope, instance, ts, entry_id);

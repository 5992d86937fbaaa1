"""Cluster mode: the rendered DDL, and the single-node form left as it was."""

from __future__ import annotations

import re

import pytest

from otel_cost.errors import ConfigError
from otel_cost.store import Store, open_store
from otel_cost.store.migrations import (
    EMBEDDED_TTL,
    MIGRATIONS_TABLE,
    SERVER_TTL,
    load_migrations,
    render,
    split_statements,
)

CLUSTER = "otel_cost_cluster"
ON_CLUSTER = f"ON CLUSTER '{CLUSTER}'"


def cluster_statements() -> list[str]:
    statements = split_statements(render(MIGRATIONS_TABLE, None, CLUSTER))
    for migration in load_migrations():
        statements += split_statements(render(migration.sql, "tiered", CLUSTER))
    return statements


def created(statements: list[str]) -> dict[str, str]:
    """Return each CREATE statement by the name of what it creates."""
    by_name = {}
    for statement in statements:
        match = re.match(
            r"CREATE (?:TABLE|MATERIALIZED VIEW) IF NOT EXISTS (\w+)", statement
        )
        assert match, statement
        by_name[match.group(1)] = statement
    return by_name


@pytest.mark.parametrize("policy", [None, "tiered"])
def test_single_node_render_unchanged(policy: str | None) -> None:
    ttl = SERVER_TTL if policy else EMBEDDED_TTL
    settings = f"SETTINGS storage_policy = '{policy}'" if policy else ""
    for migration in load_migrations():
        expected = migration.sql.replace("{{TTL_EVENTS}}", ttl).replace(
            "{{TABLE_SETTINGS}}", settings
        )
        assert render(migration.sql, policy) == expected
        assert render(migration.sql, policy, None) == expected


def test_every_create_on_cluster() -> None:
    statements = cluster_statements()
    assert len(statements) == len(created(statements))
    for statement in statements:
        head = statement.splitlines()[0]
        assert ON_CLUSTER in head, head


def test_engines_become_replicated() -> None:
    tables = created(cluster_statements())
    for name, statement in tables.items():
        engine = re.search(r"ENGINE = (\w+)", statement)
        if engine is None:
            assert name in (
                "cost_rollup_15m_mv",
                "cost_sessions_mv",
                "cost_ingest_1m_mv",
                "cost_event_ids_mv",
            )
            continue
        assert engine.group(1).startswith(("Replicated", "Distributed")), name
    assert (
        "ENGINE = ReplicatedReplacingMergeTree("
        "'/clickhouse/tables/{shard}/{database}/cost_events_local', '{replica}', version)"
    ) in tables["cost_events_local"]
    assert (
        "ENGINE = ReplicatedSummingMergeTree("
        "'/clickhouse/tables/{shard}/{database}/cost_rollup_15m_local', '{replica}')"
    ) in tables["cost_rollup_15m_local"]
    assert (
        "ENGINE = ReplicatedAggregatingMergeTree("
        "'/clickhouse/tables/{shard}/{database}/cost_ingest_1m_local', '{replica}')"
    ) in tables["cost_ingest_1m_local"]
    assert (
        "ENGINE = ReplicatedMergeTree("
        "'/clickhouse/tables/all/{database}/budget_ledger', '{replica}')"
    ) in tables["budget_ledger"]
    assert (
        "ENGINE = ReplicatedReplacingMergeTree("
        "'/clickhouse/tables/all/{database}/import_progress', '{replica}', updated_at)"
    ) in tables["import_progress"]


def test_distributed_tables_front_shards() -> None:
    tables = created(cluster_statements())
    assert tables["cost_events"] == (
        f"CREATE TABLE IF NOT EXISTS cost_events {ON_CLUSTER} AS cost_events_local\n"
        f"ENGINE = Distributed('{CLUSTER}', currentDatabase(), cost_events_local, "
        "cityHash64(event_id))"
    )
    assert tables["cost_rollup_15m"] == (
        f"CREATE TABLE IF NOT EXISTS cost_rollup_15m {ON_CLUSTER} "
        "AS cost_rollup_15m_local\n"
        f"ENGINE = Distributed('{CLUSTER}', currentDatabase(), cost_rollup_15m_local, "
        "rand())"
    )
    assert tables["cost_ingest_1m"] == (
        f"CREATE TABLE IF NOT EXISTS cost_ingest_1m {ON_CLUSTER} "
        "AS cost_ingest_1m_local\n"
        f"ENGINE = Distributed('{CLUSTER}', currentDatabase(), cost_ingest_1m_local, "
        "rand())"
    )
    # Unsharded tables keep their name and get no Distributed table.
    assert "budget_ledger_local" not in tables
    assert "Distributed" not in tables["budget_ledger"]


def test_rollup_view_reads_local_tables() -> None:
    view = created(cluster_statements())["cost_rollup_15m_mv"]
    assert view.startswith(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS cost_rollup_15m_mv "
        f"{ON_CLUSTER} TO cost_rollup_15m_local AS\nSELECT"
    )
    assert view.endswith("FROM cost_events_local")
    ingest = created(cluster_statements())["cost_ingest_1m_mv"]
    assert f"{ON_CLUSTER} TO cost_ingest_1m_local AS\nSELECT" in ingest
    assert ingest.endswith("FROM cost_events_local")


def test_cluster_keeps_ttl_and_policy() -> None:
    events = created(cluster_statements())["cost_events_local"]
    assert "INTERVAL 90 DAY TO VOLUME 'warm'" in events
    assert events.endswith("SETTINGS storage_policy = 'tiered'")


def test_cluster_ddl_parses(store: Store) -> None:
    # The embedded engine has no cluster to run them on, but its parser
    # checks the syntax of every rewritten statement.
    for statement in cluster_statements():
        tree = store.query(f"EXPLAIN AST {statement}")
        assert tree[0][0].startswith("CreateQuery"), statement


def test_invalid_cluster_name_rejected() -> None:
    with pytest.raises(ConfigError, match='invalid ClickHouse cluster name "x\' --"'):
        render(load_migrations()[0].sql, None, "x' --")


def test_embedded_store_ignores_cluster(
    engine_dsn: str, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_COST_CLICKHOUSE_CLUSTER", CLUSTER)
    store = open_store(engine_dsn, database)
    try:
        ddl = store.query("SHOW CREATE TABLE cost_events")[0][0]
        assert "ENGINE = ReplacingMergeTree(version)" in ddl
        assert store.query("EXISTS TABLE cost_events_local")[0][0] == 0
    finally:
        store.command(f"DROP DATABASE IF EXISTS {database}")
        store.close()

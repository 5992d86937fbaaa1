"""Migrations apply once, are recorded, and render the right TTL form."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from otel_cost.store import Store, open_store
from otel_cost.store.migrations import EMBEDDED_TTL, load_migrations, render


def test_migrations_recorded_once(store: Store, engine_dsn: str, database: str) -> None:
    versions = [
        row[0]
        for row in store.query("SELECT version FROM schema_migrations ORDER BY version")
    ]
    assert versions == [migration.version for migration in load_migrations()]
    again = open_store(engine_dsn, database)
    count = again.query("SELECT count() FROM schema_migrations")[0][0]
    assert count == len(versions)


def test_embedded_ttl_tiers(store: Store) -> None:
    ddl = store.query("SHOW CREATE TABLE cost_events")[0][0]
    assert "toIntervalDay(90) RECOMPRESS" in ddl
    assert "toIntervalDay(365) RECOMPRESS" in ddl


def test_server_ttl_uses_storage_policy() -> None:
    sql = load_migrations()[0].sql
    rendered = render(sql, "otel_cost_tiered")
    assert "INTERVAL 90 DAY TO VOLUME 'warm'" in rendered
    assert "INTERVAL 365 DAY TO VOLUME 'cold'" in rendered
    assert "SETTINGS storage_policy = 'otel_cost_tiered'" in rendered
    assert EMBEDDED_TTL not in rendered


def test_second_process_gets_clear_message(
    store: Store, engine_dsn: str, tmp_path: Path
) -> None:
    # This test process holds the embedded store; another process must be told so.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "otel_cost",
            "report",
            "--db",
            engine_dsn,
            "--tz",
            "UTC",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "is in use by another otel-cost process" in result.stderr
    assert "Traceback" not in result.stderr

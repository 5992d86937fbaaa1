"""Shared fixtures: one embedded engine per test process, a fresh database per test.

chDB runs one engine per process on one data directory, so every test gets its
own ClickHouse database inside that engine instead of its own directory.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_cost import config
from otel_cost.pricing.registry import PricingRegistry, load_registry
from otel_cost.store import Store, open_store

_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def engine_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """DSN of this test process's embedded store."""
    return f"chdb://{tmp_path_factory.mktemp('chdb') / 'store'}"


@pytest.fixture(autouse=True)
def isolated_dirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine_dsn: str
) -> None:
    """Keep every test away from the real home, data directory and agent files."""
    # Every variable otel-cost reads is cleared first, so that no test sees
    # the developer's own agent history, store or upstreams.
    for name in dir(config):
        if name.startswith("ENV_"):
            monkeypatch.delenv(getattr(config, name), raising=False)
    monkeypatch.setenv("OTEL_COST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OTEL_COST_CLICKHOUSE_URL", engine_dsn)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def database() -> str:
    """A database name no other test in this process uses."""
    return f"test_{os.getpid()}_{next(_database_numbers)}"


@pytest.fixture
def store(
    engine_dsn: str, database: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    """A freshly migrated store in its own database."""
    monkeypatch.setenv("OTEL_COST_CLICKHOUSE_DATABASE", database)
    opened = open_store(engine_dsn, database)
    yield opened
    opened.command(f"DROP DATABASE IF EXISTS {database}")
    opened.close()


@pytest.fixture(scope="session")
def registry() -> PricingRegistry:
    """The built-in rate card only."""
    return load_registry()

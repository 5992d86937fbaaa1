"""The ClickHouse store: embedded chDB or a server, through clickhouse-connect."""

from otel_cost.store.connection import Store, open_store

__all__ = ["Store", "open_store"]

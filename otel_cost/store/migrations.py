"""Ordered SQL migrations from ``clickhouse/migrations``, applied once each.

Each file is ``NNNN_name.sql``. Placeholders pick the form that suits the
store: ``{{TTL_EVENTS}}`` and ``{{TABLE_SETTINGS}}``.

With a cluster name, every CREATE runs ``ON CLUSTER`` and MergeTree-family
engines become their ``Replicated`` form. The event and rollup tables are
created as ``<table>_local`` on each node, with a ``Distributed`` table under
the usual name in front. So the rest of otel-cost reads and writes the same
table names in both modes.

A migration that creates a materialized view over ``cost_events`` also fills
the view's table from the events already stored.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from otel_cost.errors import ConfigError, StoreError

logger = logging.getLogger(__name__)

FILE_PATTERN = re.compile(r"^(\d{4})_([\w-]+)\.sql$")
HOT_DAYS = 90
WARM_DAYS = 365

# The embedded engine has a single disk: the warm tier is recompression with a
# stronger codec, and the cold tier stronger still.
EMBEDDED_TTL = (
    f"TTL toDateTime(ts) + INTERVAL {HOT_DAYS} DAY RECOMPRESS CODEC(ZSTD(6)),\n"
    f"    toDateTime(ts) + INTERVAL {WARM_DAYS} DAY RECOMPRESS CODEC(ZSTD(15))"
)
# A server with a storage policy of three volumes moves parts between them.
SERVER_TTL = (
    f"TTL toDateTime(ts) + INTERVAL {HOT_DAYS} DAY TO VOLUME 'warm',\n"
    f"    toDateTime(ts) + INTERVAL {WARM_DAYS} DAY TO VOLUME 'cold'"
)

# Tables split across shards, each with the Distributed sharding key that keeps
# every revision of one row on one shard (ReplacingMergeTree replaces rows only
# within a shard). Rollup rows are only ever summed (or their min and max
# taken), so any shard will do.
SHARDED_TABLES = {
    "cost_events": "cityHash64(event_id)",
    "cost_event_ids": "id_hash",
    "cost_rollup_15m": "rand()",
    "cost_sessions": "rand()",
    "cost_ingest_1m": "rand()",
}
LOCAL_SUFFIX = "_local"
CLUSTER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
CREATE_HEAD = re.compile(
    r"^(CREATE\s+(?:TABLE|MATERIALIZED\s+VIEW|VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(\w+))",
    re.IGNORECASE,
)
VIEW_HEAD = re.compile(
    r"^CREATE\s+MATERIALIZED\s+VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?\w+\s+TO\s+(\w+)"
    r"\s+AS\s+",
    re.IGNORECASE,
)
MERGE_TREE_ENGINE = re.compile(
    r"ENGINE\s*=\s*(\w*)MergeTree(?:\s*\(([^)]*)\))?", re.IGNORECASE
)

MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY version
"""


@dataclass(frozen=True)
class Migration:
    """One SQL file of the schema."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """The SHA-256 of the file text, to spot an edited migration."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    """Return the packaged migrations in version order."""
    found = []
    for entry in resources.files("otel_cost").joinpath("migrations").iterdir():
        match = FILE_PATTERN.match(entry.name)
        if match:
            found.append(
                Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8"))
            )
    return sorted(found, key=lambda migration: migration.version)


def render(sql: str, storage_policy: str | None, cluster: str | None = None) -> str:
    """Fill the placeholders, then rewrite the statements for ``cluster`` if given.

    Without a cluster the output is the file with its placeholders filled.
    """
    if storage_policy:
        ttl = SERVER_TTL
        settings = f"SETTINGS storage_policy = '{storage_policy}'"
    else:
        ttl, settings = EMBEDDED_TTL, ""
    filled = sql.replace("{{TTL_EVENTS}}", ttl).replace("{{TABLE_SETTINGS}}", settings)
    if cluster is None:
        return filled
    statements = []
    for statement in split_statements(filled):
        statements.extend(cluster_statements(statement, check_cluster_name(cluster)))
    return "".join(f"{statement};\n\n" for statement in statements)


def check_cluster_name(cluster: str) -> str:
    """Return ``cluster`` if it is a valid ClickHouse cluster name, else raise."""
    if not CLUSTER_NAME.match(cluster):
        raise ConfigError(
            f"invalid ClickHouse cluster name {cluster!r}; use letters, digits, "
            "_, . and -, as in the server's remote_servers configuration"
        )
    return cluster


def cluster_statements(statement: str, cluster: str) -> list[str]:
    """Rewrite one statement for ``cluster``; a sharded table gains a Distributed."""
    for table in SHARDED_TABLES:
        statement = re.sub(rf"\b{table}\b", table + LOCAL_SUFFIX, statement)
    head = CREATE_HEAD.match(statement)
    if head is None:
        return [statement]
    name = head.group(2)
    statement = f"{head.group(1)} ON CLUSTER '{cluster}'" + statement[head.end() :]
    statement = MERGE_TREE_ENGINE.sub(
        lambda engine: _replicated_engine(engine, name), statement, count=1
    )
    base = name.removesuffix(LOCAL_SUFFIX)
    if name == base or base not in SHARDED_TABLES or "MergeTree" not in statement:
        return [statement]
    distributed = (
        f"CREATE TABLE IF NOT EXISTS {base} ON CLUSTER '{cluster}' AS {name}\n"
        f"ENGINE = Distributed('{cluster}', currentDatabase(), {name}, "
        f"{SHARDED_TABLES[base]})"
    )
    return [statement, distributed]


def _replicated_engine(engine: re.Match[str], table: str) -> str:
    # A sharded table keeps one replica set per shard. The other tables are
    # small shared state (import offsets, rate cards, budgets) that every node
    # must see in full, so all nodes replicate one copy of each.
    base = table.removesuffix(LOCAL_SUFFIX)
    shard = "{shard}" if base in SHARDED_TABLES else "all"
    arguments = [f"'/clickhouse/tables/{shard}/{{database}}/{table}'", "'{replica}'"]
    if engine.group(2) and engine.group(2).strip():
        arguments.append(engine.group(2).strip())
    return f"ENGINE = Replicated{engine.group(1)}MergeTree({', '.join(arguments)})"


def backfill_statements(sql: str) -> list[str]:
    """Return an INSERT for each materialized view in ``sql`` over stored events.

    A view receives only the inserts made after it exists, so a view added to a
    store that already has events fills its table from ``cost_events FINAL``
    once. The statements use the usual table names, so in cluster mode they
    read and write through the Distributed tables from one node.
    """
    # NOTE: events written between the view's creation and this INSERT are
    # counted twice. Migrate before starting writers (serve --migrate-only).
    inserts = []
    for statement in split_statements(sql):
        head = VIEW_HEAD.match(statement)
        if head is None or not statement.endswith("FROM cost_events"):
            continue
        select = statement[head.end() :]
        inserts.append(f"INSERT INTO {head.group(1)}\n{select} FINAL")
    return inserts


def split_statements(sql: str) -> list[str]:
    """Split a migration into statements at semicolons that end a line."""
    without_comments = "\n".join(
        line for line in sql.splitlines() if not line.lstrip().startswith("--")
    )
    parts = re.split(r";\s*(?:\n|$)", without_comments)
    return [part.strip() for part in parts if part.strip()]


def apply_migrations(
    client: Any, storage_policy: str | None = None, cluster: str | None = None
) -> list[int]:
    """Apply every migration not yet recorded and return the versions applied."""
    if cluster is None:
        client.command(MIGRATIONS_TABLE)
    else:
        for statement in split_statements(render(MIGRATIONS_TABLE, None, cluster)):
            client.command(statement)
    applied = {
        row[0]: row[1]
        for row in client.query(
            "SELECT version, checksum FROM schema_migrations"
        ).result_rows
    }
    done = []
    for migration in load_migrations():
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                logger.warning(
                    "migration %04d_%s changed after it was applied; not re-run",
                    migration.version,
                    migration.name,
                )
            continue
        _apply(client, migration, storage_policy, cluster)
        done.append(migration.version)
    return done


def _apply(
    client: Any, migration: Migration, storage_policy: str | None, cluster: str | None
) -> None:
    rendered = render(migration.sql, storage_policy, cluster)
    for statement in split_statements(rendered):
        try:
            client.command(statement)
        except Exception as exc:
            raise StoreError(
                f"migration {migration.version:04d}_{migration.name} failed: {exc}"
            ) from exc
    for statement in backfill_statements(migration.sql):
        try:
            client.command(statement)
        except Exception as exc:
            raise StoreError(
                f"backfill of migration {migration.version:04d}_{migration.name} "
                f"failed: {exc}"
            ) from exc
    client.insert(
        "schema_migrations",
        [[migration.version, migration.name, migration.checksum, datetime.now(UTC)]],
        column_names=["version", "name", "checksum", "applied_at"],
    )
    logger.info("applied migration %04d_%s", migration.version, migration.name)

"""Ordered SQL migrations from ``clickhouse/migrations``, applied once each.

Each file is ``NNNN_name.sql``. Placeholders pick the form that suits the
store: ``{{TTL_EVENTS}}`` and ``{{TABLE_SETTINGS}}``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from otel_cost.errors import StoreError

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


def render(sql: str, storage_policy: str | None) -> str:
    """Fill the placeholders for an embedded store or a server with tiered volumes."""
    if storage_policy:
        ttl = SERVER_TTL
        settings = f"SETTINGS storage_policy = '{storage_policy}'"
    else:
        ttl, settings = EMBEDDED_TTL, ""
    return sql.replace("{{TTL_EVENTS}}", ttl).replace("{{TABLE_SETTINGS}}", settings)


def split_statements(sql: str) -> list[str]:
    """Split a migration into statements at semicolons that end a line."""
    without_comments = "\n".join(
        line for line in sql.splitlines() if not line.lstrip().startswith("--")
    )
    parts = re.split(r";\s*(?:\n|$)", without_comments)
    return [part.strip() for part in parts if part.strip()]


def apply_migrations(client: Any, storage_policy: str | None = None) -> list[int]:
    """Apply every migration not yet recorded; return the versions applied."""
    client.command(MIGRATIONS_TABLE)
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
        _apply(client, migration, storage_policy)
        done.append(migration.version)
    return done


def _apply(client: Any, migration: Migration, storage_policy: str | None) -> None:
    for statement in split_statements(render(migration.sql, storage_policy)):
        try:
            client.command(statement)
        except Exception as exc:
            raise StoreError(
                f"migration {migration.version:04d}_{migration.name} failed: {exc}"
            ) from exc
    client.insert(
        "schema_migrations",
        [[migration.version, migration.name, migration.checksum, datetime.now(UTC)]],
        column_names=["version", "name", "checksum", "applied_at"],
    )
    logger.info("applied migration %04d_%s", migration.version, migration.name)

"""Opening the store: DSN parsing, the embedded-store lock and migrations."""

from __future__ import annotations

import atexit
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import clickhouse_connect

from otel_cost import config
from otel_cost.errors import StoreError
from otel_cost.store.lock import StoreLock
from otel_cost.store.migrations import apply_migrations

logger = logging.getLogger(__name__)

EMBEDDED_SCHEME = "chdb://"
SERVER_SCHEMES = ("http://", "https://")
DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# chDB runs one engine per process on one data directory, so every Store in a
# process shares the engine's root client and lock for that directory.
_embedded: dict[Path, tuple[Any, StoreLock]] = {}


@dataclass
class Store:
    """A migrated ClickHouse database, embedded or on a server."""

    client: Any
    dsn: str
    database: str
    embedded: bool
    path: Path | None = None
    #: Values derived from the schema, such as column types, kept per handle.
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _closed: bool = field(default=False, repr=False)

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        """Run a statement that returns no rows."""
        return self.client.command(sql, parameters=parameters)

    def query(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> list[Any]:
        """Run a query and return its rows as tuples."""
        result = self.client.query(sql, parameters=parameters, settings=settings)
        return list(result.result_rows)

    def query_dicts(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Run a query and return its rows as dictionaries keyed by column name."""
        result = self.client.query(sql, parameters=parameters, settings=settings)
        names = result.column_names
        return [dict(zip(names, row, strict=True)) for row in result.result_rows]

    def insert(self, table: str, rows: list[list[Any]], columns: list[str]) -> None:
        """Insert rows given column by column name."""
        if rows:
            self.client.insert(table, rows, column_names=columns)

    def close(self) -> None:
        """Close this handle; the embedded engine stays up until the process ends."""
        if not self._closed and not self.embedded:
            self.client.close()
        self._closed = True


def open_store(
    dsn: str | None = None, database: str | None = None, migrate: bool = True
) -> Store:
    """Open the store named by ``dsn`` (default: the embedded store) and migrate it."""
    dsn = dsn or config.default_dsn()
    database = database or config.clickhouse_database()
    if not DATABASE_NAME.match(database):
        raise StoreError(
            f"invalid database name {database!r}; use letters, digits and _"
        )
    if dsn.startswith(EMBEDDED_SCHEME):
        store = _open_embedded(dsn, database)
    elif dsn.startswith(SERVER_SCHEMES):
        store = _open_server(dsn, database)
    else:
        raise StoreError(
            f"unsupported store DSN {dsn!r}; expected chdb:///path or http(s)://host:port"
        )
    if migrate and store.embedded:
        apply_migrations(store.client)
    elif migrate:
        apply_migrations(
            store.client, config.storage_policy(), config.clickhouse_cluster()
        )
    return store


def embedded_path(dsn: str) -> Path:
    """Return the data directory named by a ``chdb://`` DSN."""
    raw = dsn[len(EMBEDDED_SCHEME) :].split("?", 1)[0]
    if not raw or raw == "memory":
        raise StoreError(
            "an in-memory chdb store cannot be shared; give a path: chdb:///path"
        )
    return Path(raw).expanduser().resolve()


def _open_embedded(dsn: str, database: str) -> Store:
    path = embedded_path(dsn)
    if path not in _embedded:
        if _embedded:
            other = next(iter(_embedded))
            raise StoreError(
                f"this process already runs the embedded store {str(other)!r}; "
                f"chDB cannot open a second one at {str(path)!r}"
            )
        _check_timezone_variable()
        lock = StoreLock(path)
        try:
            lock.acquire()
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            lock.release()
            raise StoreError(
                f"cannot create the embedded store at {str(path)!r}: {exc.strerror}; "
                "give a directory path with --db chdb:///path"
            ) from exc
        try:
            root = clickhouse_connect.get_client(dsn=f"{EMBEDDED_SCHEME}{path}")
        except Exception as exc:
            lock.release()
            raise StoreError(
                f"cannot open the embedded store {str(path)!r}: {exc}"
            ) from exc
        _embedded[path] = (root, lock)
    root, _ = _embedded[path]
    root.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    client = clickhouse_connect.get_client(
        dsn=f"{EMBEDDED_SCHEME}{path}", database=database
    )
    return Store(client=client, dsn=dsn, database=database, embedded=True, path=path)


def _check_timezone_variable() -> None:
    # chDB fails with an unrelated message when TZ names no known zone.
    zone = os.environ.get("TZ", "").lstrip(":")
    if not zone:
        return
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise StoreError(
            f"TZ={zone!r} is not an IANA time zone, and the embedded ClickHouse "
            "cannot start with it; unset TZ or set it to a name such as Europe/Berlin"
        ) from None


def _open_server(dsn: str, database: str) -> Store:
    try:
        root = clickhouse_connect.get_client(dsn=dsn)
        root.command(f"CREATE DATABASE IF NOT EXISTS {database}")
        client = clickhouse_connect.get_client(dsn=dsn, database=database)
    except Exception as exc:
        raise StoreError(
            f"cannot reach the ClickHouse server at {_redact(dsn)}: {exc}"
        ) from exc
    return Store(client=client, dsn=_redact(dsn), database=database, embedded=False)


def _redact(dsn: str) -> str:
    # Never print a password that a DSN carries.
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", dsn)


def _release_all() -> None:
    for _, lock in _embedded.values():
        lock.release()


atexit.register(_release_all)

"""Cold archive: monthly ``cost_events`` partitions exported to Parquet files and back.

``cost_events`` is partitioned by ``toYYYYMM(ts)``. An export writes each
month that ended before the cutoff to ``cost_events-YYYYMM.parquet``, one row
per event (the latest revision, read with FINAL), and can then drop the month
from ``cost_events``. The rollups ``cost_rollup_15m``, ``cost_sessions`` and
``cost_ingest_1m`` keep their rows, so dashboards and reports still show the
archived months.

A restore inserts a file into ``cost_events`` again. The materialized views
would add the month to the rollups a second time, so the restore first drops
the rollups' partitions of that month and lets the insert rebuild them.
``cost_ingest_1m`` is partitioned by ingestion month and event month, so the
restore drops every partition of it whose event month is the restored one.
The rebuilt month then counts one row per archived event, where it counted
every stored revision before.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet  # type: ignore[import-untyped]

from otel_cost.errors import ConfigError, StoreError
from otel_cost.store.connection import Store

logger = logging.getLogger(__name__)

FILE_PATTERN = re.compile(r"^cost_events-(\d{6})\.parquet$")
AGE_PATTERN = re.compile(r"^(\d+)d$")
READ_BYTES = 4 * 2**20


@dataclass(frozen=True)
class ArchivedPartition:
    """One month of ``cost_events`` and its Parquet file."""

    partition: str
    path: Path
    events: int
    cost_usd: Decimal
    #: Export: dropped from ``cost_events``. Restore: skipped, already present.
    changed: bool = False


def parse_age(text: str) -> timedelta:
    """Return the age in ``text``, a whole number of days such as ``365d``."""
    match = AGE_PATTERN.match(text.strip())
    if match is None:
        raise ConfigError(f"invalid age {text!r}; expected a number of days, e.g. 365d")
    return timedelta(days=int(match.group(1)))


def old_partitions(store: Store, cutoff: datetime) -> list[str]:
    """Return the months (``YYYYMM``) of ``cost_events`` that ended before ``cutoff``."""
    # NOTE: in cluster mode cost_events is a Distributed table with no parts
    # of its own, so this finds nothing. Archiving a cluster is not supported.
    rows = store.query(
        "SELECT DISTINCT partition_id FROM system.parts "
        "WHERE database = currentDatabase() AND table = 'cost_events' AND active "
        "ORDER BY partition_id"
    )
    return [row[0] for row in rows if _month_end(row[0]) <= cutoff]


def export_partitions(
    store: Store,
    directory: Path,
    older_than: timedelta,
    drop: bool = False,
    now: datetime | None = None,
) -> list[ArchivedPartition]:
    """Write each month older than ``older_than`` to ``directory``, then maybe drop it."""
    cutoff = (now or datetime.now(UTC)) - older_than
    directory.mkdir(parents=True, exist_ok=True)
    exported = []
    for partition in old_partitions(store, cutoff):
        archived = _export_one(store, directory, partition)
        if drop:
            _drop_exported(store, archived)
            archived = ArchivedPartition(
                partition, archived.path, archived.events, archived.cost_usd, True
            )
        exported.append(archived)
    return exported


def restore_partitions(store: Store, directory: Path) -> list[ArchivedPartition]:
    """Insert every archive file in ``directory`` into ``cost_events`` again."""
    paths = sorted(
        path for path in directory.glob("*.parquet") if FILE_PATTERN.match(path.name)
    )
    if not paths:
        raise StoreError(
            f"no cost_events-YYYYMM.parquet files in {str(directory)!r}; "
            "give the directory that otel-cost archive export wrote"
        )
    return [_restore_one(store, path) for path in paths]


def _export_one(store: Store, directory: Path, partition: str) -> ArchivedPartition:
    path = directory / f"cost_events-{partition}.parquet"
    if path.exists():
        raise StoreError(
            f"archive file {str(path)!r} already exists; "
            "export to an empty directory or move the file away"
        )
    events, cost = _partition_totals(store, partition)
    partial = path.with_name(path.name + ".partial")
    stream = store.client.raw_stream(
        "SELECT * FROM cost_events FINAL WHERE _partition_id = %(partition)s",
        {"partition": partition},
        fmt="Parquet",
    )
    with partial.open("wb") as handle:
        while chunk := stream.read(READ_BYTES):
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    written = pyarrow.parquet.read_metadata(partial).num_rows
    if written != events:
        partial.unlink()
        raise StoreError(
            f"export of partition {partition} wrote {written} rows, expected "
            f"{events}; events were probably written meanwhile, run the export again"
        )
    partial.replace(path)
    logger.info("exported partition %s: %s events to %s", partition, events, path)
    return ArchivedPartition(partition, path, events, cost)


def _drop_exported(store: Store, archived: ArchivedPartition) -> None:
    # NOTE: an event written into this month between this check and the
    # DROP is lost. Archive only months that nothing writes to any more.
    events, _ = _partition_totals(store, archived.partition)
    if events != archived.events:
        raise StoreError(
            f"partition {archived.partition} now has {events} events, but the file "
            f"has {archived.events}; not dropped, run the export again"
        )
    store.command(f"ALTER TABLE cost_events DROP PARTITION ID '{archived.partition}'")
    logger.info("dropped partition %s from cost_events", archived.partition)


def _restore_one(store: Store, path: Path) -> ArchivedPartition:
    match = FILE_PATTERN.match(path.name)
    assert match is not None
    partition = match.group(1)
    in_file = pyarrow.parquet.read_metadata(path).num_rows
    present, _ = _partition_totals(store, partition)
    if present == in_file:
        logger.info("partition %s already has its %s events", partition, present)
        return ArchivedPartition(partition, path, present, Decimal(0), True)
    if present:
        raise StoreError(
            f"partition {partition} of cost_events has {present} events and "
            f"{str(path)!r} has {in_file}; restore needs the partition empty, "
            "as otel-cost archive export --drop leaves it"
        )
    # NOTE: the whole file is read into memory for the insert.
    # The rollups are fed by views from cost_events, so the insert below
    # rebuilds the month in each of them.
    for rollup in ("cost_rollup_15m", "cost_sessions"):
        store.command(f"ALTER TABLE {rollup} DROP PARTITION ID '{partition}'")
    _drop_ingest_month(store, partition)
    store.client.raw_insert(
        "cost_events", None, insert_block=path.read_bytes(), fmt="Parquet"
    )
    events, cost = _partition_totals(store, partition)
    if events != in_file:
        raise StoreError(
            f"restore of {str(path)!r} stored {events} events, expected {in_file}"
        )
    logger.info("restored partition %s: %s events from %s", partition, events, path)
    return ArchivedPartition(partition, path, events, cost)


def _drop_ingest_month(store: Store, partition: str) -> None:
    # cost_ingest_1m is partitioned by (toYYYYMM(minute), ts_month), so the
    # rows of one event month sit in partitions with ids "<any month>-YYYYMM".
    rows = store.query(
        "SELECT DISTINCT partition_id FROM system.parts "
        "WHERE database = currentDatabase() AND table = 'cost_ingest_1m' AND active "
        "AND endsWith(partition_id, %(suffix)s)",
        {"suffix": f"-{partition}"},
    )
    for (partition_id,) in rows:
        store.command(f"ALTER TABLE cost_ingest_1m DROP PARTITION ID '{partition_id}'")


def _partition_totals(store: Store, partition: str) -> tuple[int, Decimal]:
    row = store.query(
        "SELECT count(), ifNull(sum(cost_usd), toDecimal128(0, 12)) "
        "FROM cost_events FINAL WHERE _partition_id = %(partition)s",
        {"partition": partition},
    )[0]
    return int(row[0]), row[1]


def _month_end(partition: str) -> datetime:
    year, month = int(partition[:4]), int(partition[4:])
    if month == 12:
        return datetime(year + 1, 1, 1, tzinfo=UTC)
    return datetime(year, month + 1, 1, tzinfo=UTC)

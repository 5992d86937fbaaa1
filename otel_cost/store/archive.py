"""Cold archive: monthly ``cost_events`` partitions exported to Parquet files and back.

``cost_events`` is partitioned by ``toYYYYMM(ts)``. An export writes each
month that ended before the cutoff to ``cost_events-YYYYMM.parquet``, one row
per event (the latest revision, read with FINAL), and can then drop the month
from ``cost_events``. The rollups ``cost_rollup_15m``, ``cost_sessions`` and
``cost_ingest_1m`` keep their rows, so dashboards and reports still show the
archived months. A dropped month is recorded in ``archived_months``, so that
the reconciler leaves its rollup groups alone even when late events arrive in
it, and an export leaves such a month (its late events) where it is.

A restore inserts the file's events whose ids the month does not hold yet, so
late events that arrived after the export stay as they are. The materialized
views add the inserted events to the rollups on top of the archived totals,
so the restore then drops the month from each rollup and rebuilds it from
``cost_events FINAL`` with the views' own SELECT. ``cost_ingest_1m`` is
partitioned by ingestion month and event month, so the restore rebuilds every
partition of it whose event month is the restored one. The rebuilt month
counts one row per event, where it counted every stored revision before.
Last, the restore deletes the month's ``archived_months`` row.
"""

from __future__ import annotations

import io
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import pyarrow  # type: ignore[import-untyped]
import pyarrow.compute  # type: ignore[import-untyped]
import pyarrow.parquet  # type: ignore[import-untyped]

from otel_cost.errors import ConfigError, StoreError
from otel_cost.store.connection import Store
from otel_cost.store.migrations import backfill_statements, load_migrations

logger = logging.getLogger(__name__)

FILE_PATTERN = re.compile(r"^cost_events-(\d{6})\.parquet$")
AGE_PATTERN = re.compile(r"^(\d+)d$")
READ_BYTES = 4 * 2**20
#: Rollups partitioned by the event month alone (``toYYYYMM(bucket)``).
MONTH_ROLLUPS = ("cost_rollup_15m", "cost_sessions")
#: Rollup partitioned by ingestion month and event month.
INGEST_ROLLUP = "cost_ingest_1m"


class Outcome(StrEnum):
    """The result of an export or a restore for one month."""

    EXPORTED = "exported"
    DROPPED = "exported and dropped"
    #: Export: the month is recorded as archived and contains only late events.
    ALREADY_ARCHIVED = "already archived"
    RESTORED = "restored"
    #: Restore: every event of the file is stored and the month is not archived.
    ALREADY_STORED = "already stored"


@dataclass(frozen=True)
class ArchivedPartition:
    """One month of ``cost_events`` and its Parquet file.

    ``events`` and ``cost_usd`` are the file's totals, except for a month
    skipped as already archived, where they are the late events' totals.
    """

    partition: str
    path: Path
    events: int
    cost_usd: Decimal
    outcome: Outcome
    #: Restore: events of the file that were missing and are now inserted.
    inserted: int = 0
    #: Events of the month that are not in the file (they arrived after the export).
    late_events: int = 0


@dataclass(frozen=True)
class ArchiveRecord:
    """A row of ``archived_months``: a month dropped from ``cost_events``."""

    month: int
    location: str
    events: int
    cost_usd: Decimal
    archived_at: datetime


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


def archive_records(store: Store) -> dict[int, ArchiveRecord]:
    """Return the months recorded in ``archived_months``, by ``YYYYMM``."""
    rows = store.query(
        "SELECT month, location, events, cost_usd, archived_at "
        "FROM archived_months FINAL ORDER BY month"
    )
    return {
        int(row[0]): ArchiveRecord(int(row[0]), row[1], int(row[2]), row[3], row[4])
        for row in rows
    }


def export_partitions(
    store: Store,
    directory: Path,
    older_than: timedelta,
    drop: bool = False,
    now: datetime | None = None,
) -> list[ArchivedPartition]:
    """Write each month older than ``older_than`` to ``directory``, then maybe drop it.

    A month recorded as archived contains only events that arrived after its
    export. It is skipped, because a second file would split the month.
    """
    cutoff = (now or datetime.now(UTC)) - older_than
    records = archive_records(store)
    exported = []
    for partition in old_partitions(store, cutoff):
        record = records.get(int(partition))
        if record is not None:
            exported.append(_skip_archived(store, partition, record))
            continue
        # Created only for a month to write, so a run with nothing leaves no folder.
        directory.mkdir(parents=True, exist_ok=True)
        archived = _export_one(store, directory, partition)
        if drop:
            _drop_exported(store, archived)
            archived = ArchivedPartition(
                partition, archived.path, archived.events, archived.cost_usd,
                Outcome.DROPPED,
            )  # fmt: skip
        exported.append(archived)
    return exported


def restore_partitions(store: Store, directory: Path) -> list[ArchivedPartition]:
    """Insert the events of every archive file in ``directory`` that are missing."""
    paths = sorted(
        path for path in directory.glob("*.parquet") if FILE_PATTERN.match(path.name)
    )
    if not paths:
        raise StoreError(
            f"no cost_events-YYYYMM.parquet files in {str(directory)!r}; "
            "give the directory that otel-cost archive export wrote"
        )
    records = archive_records(store)
    restored = []
    for path in paths:
        partition = _partition_of(path)
        restored.append(_restore_one(store, path, records.get(int(partition))))
    return restored


def _skip_archived(
    store: Store, partition: str, record: ArchiveRecord
) -> ArchivedPartition:
    events, cost = _partition_totals(store, partition)
    logger.info(
        "partition %s was archived to %s on %s and has %s late events; not exported "
        "again, restore the month first",
        partition,
        record.location,
        record.archived_at,
        events,
    )
    return ArchivedPartition(
        partition, Path(record.location), events, cost, Outcome.ALREADY_ARCHIVED,
        late_events=events,
    )  # fmt: skip


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
    return ArchivedPartition(partition, path, events, cost, Outcome.EXPORTED)


def _drop_exported(store: Store, archived: ArchivedPartition) -> None:
    # NOTE: an event written into this month between this check and the
    # DROP is lost. Archive only months that nothing writes to any more.
    events, _ = _partition_totals(store, archived.partition)
    if events != archived.events:
        raise StoreError(
            f"partition {archived.partition} now has {events} events, but the file "
            f"has {archived.events}; not dropped, run the export again"
        )
    # The record goes first: a month recorded but not dropped only keeps the
    # reconciler away until a restore, while a month dropped but not recorded
    # could have its archived totals "corrected" away.
    store.insert(
        "archived_months",
        [[int(archived.partition), str(archived.path.resolve()), archived.events,
          archived.cost_usd, datetime.now(UTC)]],
        ["month", "location", "events", "cost_usd", "archived_at"],
    )  # fmt: skip
    store.command(f"ALTER TABLE cost_events DROP PARTITION ID '{archived.partition}'")
    logger.info("dropped partition %s from cost_events", archived.partition)


def _restore_one(
    store: Store, path: Path, record: ArchiveRecord | None
) -> ArchivedPartition:
    partition = _partition_of(path)
    # NOTE: the whole file is read into memory for the insert.
    table = pyarrow.parquet.read_table(path)
    if record is not None and record.events != table.num_rows:
        raise StoreError(
            f"{str(path)!r} has {table.num_rows} events, but month {partition} was "
            f"archived with {record.events} events to {record.location!r}; "
            "restore that file instead"
        )
    stored = _stored_ids(store, partition)
    missing, late = _compare_ids(table, stored)
    if missing.num_rows == 0 and record is None:
        logger.info("partition %s already has the %s events of %s",
                    partition, table.num_rows, path)  # fmt: skip
        return ArchivedPartition(
            partition, path, table.num_rows, _file_cost(table), Outcome.ALREADY_STORED,
            late_events=late,
        )  # fmt: skip
    if missing.num_rows:
        _insert_table(store, missing)
    _rebuild_rollups(store, partition)
    events, _ = _partition_totals(store, partition)
    if events != len(stored) + missing.num_rows:
        raise StoreError(
            f"restore of {str(path)!r} left partition {partition} with {events} "
            f"events, expected {len(stored) + missing.num_rows}"
        )
    if record is not None:
        store.command(
            "DELETE FROM archived_months WHERE month = %(month)s",
            {"month": int(partition)},
        )
    logger.info(
        "restored partition %s: %s of %s events inserted from %s, %s late events kept",
        partition,
        missing.num_rows,
        table.num_rows,
        path,
        late,
    )
    return ArchivedPartition(
        partition, path, table.num_rows, _file_cost(table), Outcome.RESTORED,
        inserted=missing.num_rows, late_events=late,
    )  # fmt: skip


def _compare_ids(table: Any, stored: set[str]) -> tuple[Any, int]:
    """Return the rows of ``table`` not in ``stored``, and the stored ids not in it."""
    ids = table.column("event_id")
    stored_ids = pyarrow.array(sorted(stored), type=ids.type)
    missing = table.filter(
        pyarrow.compute.invert(pyarrow.compute.is_in(ids, value_set=stored_ids))
    )
    late = len(stored - set(ids.to_pylist()))
    return missing, late


def _stored_ids(store: Store, partition: str) -> set[str]:
    # NOTE: only this month is searched. An archived event stored again with a
    # time in another month would be inserted twice.
    rows = store.query(
        "SELECT DISTINCT event_id FROM cost_events WHERE _partition_id = %(partition)s",
        {"partition": partition},
    )
    return {row[0] for row in rows}


def _insert_table(store: Store, table: Any) -> None:
    buffer = io.BytesIO()
    pyarrow.parquet.write_table(table, buffer)
    store.client.raw_insert(
        "cost_events", None, insert_block=buffer.getvalue(), fmt="Parquet"
    )


def _rebuild_rollups(store: Store, partition: str) -> None:
    """Replace the month in every rollup with its totals from ``cost_events FINAL``."""
    for rollup in MONTH_ROLLUPS:
        store.command(f"ALTER TABLE {rollup} DROP PARTITION ID '{partition}'")
    _drop_ingest_month(store, partition)
    for insert in _rollup_backfills():
        store.command(f"{insert} WHERE _partition_id = '{partition}'")


def _rollup_backfills() -> list[str]:
    # The migrations' own backfill statements: each view's SELECT over
    # cost_events FINAL, so the rebuilt rows match what the views write.
    targets = {*MONTH_ROLLUPS, INGEST_ROLLUP}
    inserts = [
        insert
        for migration in load_migrations()
        for insert in backfill_statements(migration.sql)
        if insert.split()[2] in targets
    ]
    if len(inserts) != len(targets):
        raise StoreError(
            f"found {len(inserts)} rollup views over cost_events in the migrations, "
            f"expected {len(targets)} ({', '.join(sorted(targets))})"
        )
    return inserts


def _drop_ingest_month(store: Store, partition: str) -> None:
    # cost_ingest_1m is partitioned by (toYYYYMM(minute), ts_month), so the
    # rows of one event month sit in partitions with ids "<any month>-YYYYMM".
    rows = store.query(
        "SELECT DISTINCT partition_id FROM system.parts "
        "WHERE database = currentDatabase() AND table = %(table)s AND active "
        "AND endsWith(partition_id, %(suffix)s)",
        {"table": INGEST_ROLLUP, "suffix": f"-{partition}"},
    )
    for (partition_id,) in rows:
        store.command(f"ALTER TABLE {INGEST_ROLLUP} DROP PARTITION ID '{partition_id}'")


def _partition_totals(store: Store, partition: str) -> tuple[int, Decimal]:
    row = store.query(
        "SELECT count(), ifNull(sum(cost_usd), toDecimal128(0, 12)) "
        "FROM cost_events FINAL WHERE _partition_id = %(partition)s",
        {"partition": partition},
    )[0]
    return int(row[0]), row[1]


def _file_cost(table: Any) -> Decimal:
    # Unpriced events have a null cost, which the sum skips.
    total = pyarrow.compute.sum(table.column("cost_usd")).as_py()
    return total if total is not None else Decimal(0)


def _partition_of(path: Path) -> str:
    match = FILE_PATTERN.match(path.name)
    assert match is not None
    return match.group(1)


def _month_end(partition: str) -> datetime:
    year, month = int(partition[:4]), int(partition[4:])
    if month == 12:
        return datetime(year + 1, 1, 1, tzinfo=UTC)
    return datetime(year, month + 1, 1, tzinfo=UTC)

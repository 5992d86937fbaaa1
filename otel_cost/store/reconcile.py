"""Reconcile the rollups with ``cost_events FINAL`` by inserting correction rows.

Two writers that store the same new event at once (two ``otel-cost serve``
replicas, for example) both miss it in their lookup and both insert it.
``cost_events`` keeps one row after FINAL, but the materialized views have
added the event to ``cost_rollup_15m`` and ``cost_sessions`` twice. The
reconciler aggregates ``cost_events FINAL`` exactly as the views do. It
compares the result with each rollup group by group (the columns of the
rollup's ORDER BY key) and inserts each difference as a correction row, as the
writer does with its negative rows. Money is compared and corrected as exact
decimals. Unpriced events count in the rollups with a cost of 0 and the
``cost_status`` ``unpriced``, so a correction keeps them unpriced.

Rules that keep a correction from fighting a write in progress:

- A 15-minute bucket is left alone when any row of ``cost_events`` in it was
  ingested within the settle window (``ingested_at`` against the server's
  clock). A write inserts its events first and its negative rows after them,
  so while it runs its bucket looks wrong, but its new rows are recent.
- The difference is computed twice, a pause apart. Only a group whose
  difference is identical in both passes is corrected (with the time bounds
  of the second pass).
- Only one reconciler runs at a time: each run that writes holds the
  ``reconcile`` lease in ``maintenance_leases`` and checks it again just
  before it inserts. A dry run takes no lease.

A correction is the difference at the time of the passes. A write that lands
later adds the same amounts to ``cost_events`` and to the rollup, so the
difference, and the correction, stay right. Once corrected, the difference
is zero, so a second run corrects nothing.

``cost_sessions`` also keeps ``first_ts`` (min) and ``last_ts`` (max) per
group. A correction row carries the true bounds of the group, which can lower
a ``first_ts`` that is too late or raise a ``last_ts`` that is too early. It
cannot raise a ``first_ts`` that is too early or lower a ``last_ts`` that is
too late, because the stored row keeps its value under min and max. Such
groups are counted in ``bounds_unfixable``, and only a rebuild of the
partition from ``cost_events FINAL`` repairs them.

Archived months are left alone. ``otel-cost archive export --drop`` keeps
the rollups of a month it drops and records the month in
``archived_months``. The rollups of such a month hold the archive's totals
plus any events that arrived after the export, while ``cost_events`` holds
only those late events, so the two cannot be compared. Groups in a recorded
month are skipped on both sides and counted in ``groups_archived``, and the
month is listed in ``archived_months``. As a fallback for months archived
before that table existed, a month with rollup rows but no events at all is
skipped the same way and listed in ``months_without_events``.

NOTE: a month archived before ``archived_months`` existed and then written to
looks live, and a run over it replaces its archived totals with the events
present. ``otel-cost archive restore`` of its file repairs it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from otel_cost.errors import ConfigError
from otel_cost.store.connection import Store
from otel_cost.store.lease import acquire_lease, check_lease, release_lease
from otel_cost.store.reconcile_queries import (
    MEASURES,
    ROLLUPS,
    GroupPair,
    Rollup,
    Window,
    archived_months,
    differing_groups,
    groups_by_month,
    months_without_events,
    recent_buckets,
    utc,
)
from otel_cost.store.writer import FEE_COLUMNS, TOKEN_COLUMNS

__all__ = ["ReconcileReport", "TableReport", "Window", "reconcile", "window_for"]

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
DEFAULT_DAYS = 3
DEFAULT_SETTLE = timedelta(minutes=10)
DEFAULT_PAUSE = timedelta(seconds=2)
LEASE_NAME = "reconcile"
DEFAULT_LEASE_TIME = timedelta(minutes=30)


@dataclass(frozen=True)
class Correction:
    """A row to insert into a rollup: the key, the difference and the bounds."""

    key: tuple[Any, ...]
    delta: tuple[Any, ...]
    first_ts: datetime | None
    last_ts: datetime | None


@dataclass
class TableReport:
    """Findings of one reconciler run in one rollup table."""

    table: str
    groups_checked: int = 0
    groups_corrected: int = 0
    #: Groups that differ but sit in a bucket with recent writes.
    groups_unsettled: int = 0
    #: Groups whose difference changed between the two passes.
    groups_changing: int = 0
    bounds_unfixable: int = 0
    #: Groups left alone because their month is archived (either list below).
    groups_archived: int = 0
    #: Months recorded in ``archived_months`` that have rollup rows in the range.
    archived_months: list[str] = field(default_factory=list)
    #: Other months with rollup rows but no events, taken as archived.
    months_without_events: list[str] = field(default_factory=list)
    events_delta: int = 0
    cost_usd_delta: Decimal = ZERO
    reported_cost_usd_delta: Decimal = ZERO
    tokens_delta: int = 0
    fees_delta: int = 0


@dataclass
class ReconcileReport:
    """The outcome of one reconciler run over ``[start, end)``."""

    start: datetime | None
    end: datetime | None
    dry_run: bool
    tables: list[TableReport]

    @property
    def corrected(self) -> int:
        """Groups corrected (or, in a dry run, that would be) over all tables."""
        return sum(table.groups_corrected for table in self.tables)

    @property
    def deferred(self) -> int:
        """Groups that differ but are left for a later run (unsettled or changing)."""
        return sum(
            table.groups_unsettled + table.groups_changing for table in self.tables
        )

    @property
    def bounds_unfixable(self) -> int:
        """Session groups whose time bounds a correction row cannot repair."""
        return sum(table.bounds_unfixable for table in self.tables)


def window_for(
    since: datetime | None,
    until: datetime | None,
    days: int | None,
    now: datetime | None = None,
) -> Window:
    """Return the reconcile window: ``since``/``until``, the last ``days``, or all.

    Without any bound the window is the last `DEFAULT_DAYS` days. ``days=0``
    means all of the stored data. Bounds are rounded down to 15 minutes.
    """
    if days is not None and (since is not None or until is not None):
        raise ConfigError("give either a number of days or --since/--until, not both")
    if days is not None and days < 0:
        raise ConfigError(f"invalid number of days {days}; expected 0 or more")
    if days == 0:
        return Window(None, None)
    now = now or datetime.now(UTC)
    if since is None and until is None:
        since = now - timedelta(days=days or DEFAULT_DAYS)
    start = _floor_bucket(since) if since is not None else None
    end = _floor_bucket(until) if until is not None else None
    if start is not None and end is not None and end <= start:
        raise ConfigError(
            f"--until {until} is not after --since {since} on 15-minute boundaries"
        )
    return Window(start, end)


def reconcile(
    store: Store,
    window: Window,
    dry_run: bool = False,
    settle: timedelta = DEFAULT_SETTLE,
    pause: timedelta = DEFAULT_PAUSE,
    lease_time: timedelta = DEFAULT_LEASE_TIME,
) -> ReconcileReport:
    """Compare both rollups with ``cost_events FINAL`` and insert corrections.

    With ``dry_run`` the report lists what would be corrected, and nothing is
    written. Raises `LeaseHeldError` when another reconciler holds the lease.
    """
    lease = None if dry_run else acquire_lease(store, LEASE_NAME, lease_time)
    try:
        recorded = archived_months(store)
        skipped = [_skipped(store, rollup, window, recorded) for rollup in ROLLUPS]
        first = [
            _differences(store, rollup, window, skip.months)
            for rollup, skip in zip(ROLLUPS, skipped, strict=True)
        ]
        if pause > timedelta(0):
            time.sleep(pause.total_seconds())
        second = [
            _differences(store, rollup, window, skip.months)
            for rollup, skip in zip(ROLLUPS, skipped, strict=True)
        ]
        unsettled = recent_buckets(store, window, settle)
        plans = [
            _plan(rollup, before, after, unsettled, skip)
            for rollup, before, after, skip in zip(
                ROLLUPS, first, second, skipped, strict=True
            )
        ]
        if lease is not None:
            check_lease(store, lease)
            for rollup, (_, corrections) in zip(ROLLUPS, plans, strict=True):
                _insert_corrections(store, rollup, corrections)
    finally:
        if lease is not None:
            release_lease(store, lease)
    report = ReconcileReport(window.start, window.end, dry_run, [p[0] for p in plans])
    _log_report(report)
    return report


@dataclass(frozen=True)
class _Skipped:
    """The archived months of one rollup in the range, left alone by a run."""

    recorded: list[int]
    without_events: list[int]
    groups: int

    @property
    def months(self) -> list[int]:
        return sorted({*self.recorded, *self.without_events})


def _skipped(
    store: Store, rollup: Rollup, window: Window, recorded: set[int]
) -> _Skipped:
    # A recorded month may hold late events, so the fallback heuristic (no
    # events at all) only adds the months that are not recorded.
    empty = [
        month
        for month in months_without_events(store, rollup, window)
        if month not in recorded
    ]
    groups = groups_by_month(store, rollup, window, sorted({*recorded, *empty}))
    present = [month for month in sorted(recorded) if month in groups]
    return _Skipped(present, empty, sum(groups.values()))


@dataclass
class _Differences:
    """One pass over one rollup: the groups and what each needs."""

    checked: int
    needed: dict[tuple[Any, ...], Correction]
    unfixable: set[tuple[Any, ...]]


def _differences(
    store: Store, rollup: Rollup, window: Window, skip_months: list[int]
) -> _Differences:
    checked, pairs = differing_groups(store, rollup, window, skip_months)
    needed: dict[tuple[Any, ...], Correction] = {}
    unfixable: set[tuple[Any, ...]] = set()
    for pair in pairs:
        correction, bounds_wrong = _compare(pair)
        if correction is not None:
            needed[pair.key] = correction
        if bounds_wrong:
            unfixable.add(pair.key)
    return _Differences(checked, needed, unfixable)


def _compare(pair: GroupPair) -> tuple[Correction | None, bool]:
    """Return the correction a group needs, and whether its bounds are beyond repair."""
    key, expected, actual = pair.key, pair.expected, pair.actual
    width = len(MEASURES)
    want = expected.measures if expected else (0,) * width
    have = actual.measures if actual else (0,) * width
    delta = tuple(w - h for w, h in zip(want, have, strict=True))
    # A correction row carries the true bounds, or the stored ones for a group
    # that has no events any more, so that it never widens the bounds.
    source = expected or actual
    first = source.first_ts if source else None
    last = source.last_ts if source else None
    bounds_fixable = bounds_wrong = False
    if expected is not None and actual is not None and expected.first_ts is not None:
        bounds_fixable = (
            _after(actual.first_ts, expected.first_ts)
            or _after(expected.last_ts, actual.last_ts)
        )  # fmt: skip
        bounds_wrong = (
            _after(expected.first_ts, actual.first_ts)
            or _after(actual.last_ts, expected.last_ts)
        )  # fmt: skip
    if any(delta) or bounds_fixable:
        return Correction(key, delta, first, last), bounds_wrong
    return None, bounds_wrong


def _after(left: datetime | None, right: datetime | None) -> bool:
    return left is not None and right is not None and left > right


def _plan(
    rollup: Rollup,
    first: _Differences,
    second: _Differences,
    unsettled: set[datetime],
    skipped: _Skipped,
) -> tuple[TableReport, list[Correction]]:
    report = TableReport(
        rollup.table,
        groups_checked=second.checked,
        bounds_unfixable=len(second.unfixable),
        groups_archived=skipped.groups,
        archived_months=[str(month) for month in skipped.recorded],
        months_without_events=[str(month) for month in skipped.without_events],
    )
    corrections = []
    for key, correction in second.needed.items():
        # A consistent write between the passes can move a group's bounds but
        # not its difference. The bounds of the second pass are the current
        # true ones, so only the difference has to agree.
        previous = first.needed.get(key)
        if utc(key[0]) in unsettled:
            report.groups_unsettled += 1
        elif previous is None or previous.delta != correction.delta:
            report.groups_changing += 1
        else:
            corrections.append(correction)
            _add_delta(report, correction.delta)
    report.groups_corrected = len(corrections)
    return report, corrections


def _add_delta(report: TableReport, delta: tuple[Any, ...]) -> None:
    values = dict(zip(MEASURES, delta, strict=True))
    report.events_delta += values["events"]
    report.cost_usd_delta += values["cost_usd"]
    report.reported_cost_usd_delta += values["reported_cost_usd"]
    report.tokens_delta += sum(values[name] for name in TOKEN_COLUMNS.values())
    report.fees_delta += sum(values[name] for name in FEE_COLUMNS.values())


def _insert_corrections(
    store: Store, rollup: Rollup, corrections: list[Correction]
) -> None:
    rows = [_correction_row(rollup, correction) for correction in corrections]
    store.insert(rollup.table, rows, list(rollup.columns))


def _correction_row(rollup: Rollup, correction: Correction) -> list[Any]:
    values = dict(zip(rollup.keys, correction.key, strict=True))
    values.update(zip(MEASURES, correction.delta, strict=True))
    if rollup.bounds:
        values["first_ts"] = correction.first_ts
        values["last_ts"] = correction.last_ts
    return [values[column] for column in rollup.columns]


def _log_report(report: ReconcileReport) -> None:
    for table in report.tables:
        logger.info(
            "reconciled %s: %s groups checked, %s corrected, %s unsettled, "
            "%s changing, %s in archived months, cost delta %s, token delta %s",
            table.table,
            table.groups_checked,
            table.groups_corrected,
            table.groups_unsettled,
            table.groups_changing,
            table.groups_archived,
            table.cost_usd_delta,
            table.tokens_delta,
        )
        if table.bounds_unfixable:
            logger.warning(
                "%s: %s session groups have time bounds that only a rebuild repairs",
                table.table,
                table.bounds_unfixable,
            )


def _floor_bucket(moment: datetime) -> datetime:
    moment = utc(moment)
    return moment.replace(
        minute=moment.minute - moment.minute % 15, second=0, microsecond=0
    )

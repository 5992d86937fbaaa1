"""Budget periods in UTC: calendar months, ISO weeks (from Monday) and days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from otel_cost.errors import ConfigError

# Accumulating more periods than this would not change a capped carry-over
# in practice and would cost one query pair per period.
MAX_ROLLOVER_PERIODS = 120


def period_start(period: str, at: datetime) -> datetime:
    """Return the UTC start of the period that contains ``at``."""
    day = at.astimezone(UTC).date()
    if period == "month":
        day = day.replace(day=1)
    elif period == "week":
        day = day - timedelta(days=day.weekday())
    elif period != "day":
        raise ConfigError(
            f"unknown budget period {period!r}; expected month, week or day"
        )
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def next_period_start(period: str, start: datetime) -> datetime:
    """Return the start of the period after the one starting at ``start``."""
    if period == "month":
        year, month = (
            (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        )
        return start.replace(year=year, month=month)
    if period == "week":
        return start + timedelta(days=7)
    return start + timedelta(days=1)


def period_starts_between(
    period: str, first: date, current: datetime
) -> list[datetime]:
    """Return the period starts from the period holding ``first`` up to ``current``.

    ``current`` itself is excluded; at most `MAX_ROLLOVER_PERIODS` starts are returned,
    the most recent ones.
    """
    start = period_start(
        period, datetime(first.year, first.month, first.day, tzinfo=UTC)
    )
    starts = []
    while start < current:
        starts.append(start)
        start = next_period_start(period, start)
    return starts[-MAX_ROLLOVER_PERIODS:]


def instance_key(start: datetime) -> str:
    """Return the ledger instance key of a period: its start date."""
    return start.date().isoformat()

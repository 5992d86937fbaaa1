"""Data sources of the views: the running service's API, else the store itself.

An embedded store can be open in one process only, so while ``otel-cost
serve`` runs the views must go through its API.
"""

from __future__ import annotations

import importlib
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from otel_cost.store import Store, open_store
from otel_cost.views import store_queries as sql
from otel_cost.views.budgets import load_budget_lines
from otel_cost.views.model import (
    PERIODS,
    ROLLING_WINDOWS,
    ZERO,
    DayStatus,
    Query,
    SessionDetail,
    SessionRow,
    Snapshot,
    Total,
)

logger = logging.getLogger(__name__)

SESSION_LIST_LIMIT = 200
PROJECT_LIST_DAYS = 30


class ViewSource(Protocol):
    """Read side of the views: one snapshot per refresh plus session drill-down."""

    name: str

    def snapshot(self, query: Query, now: datetime) -> Snapshot:
        """Return everything one refresh shows."""
        ...

    def sessions(self, query: Query, now: datetime) -> list[SessionRow]:
        """Return the sessions of the selected period, most recent first."""
        ...

    def day_status(self, now: datetime) -> DayStatus:
        """Return today's spend per project and the budgets."""
        ...

    def session_detail(self, session_id: str, top_n: int) -> SessionDetail | None:
        """Return one session with its tokens and most expensive events."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def utc_now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


def start_of_local_day(now: datetime) -> datetime:
    """Return the UTC instant of the last local midnight before ``now``."""
    local = now.astimezone()
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.astimezone(UTC)


class StoreSource:
    """Views read straight from a store opened in this process."""

    name = "store"

    def __init__(self, store: Store) -> None:
        """Wrap an open store; `close` closes it."""
        self.store = store
        # One handle serves the refresh thread and the UI thread, one query at a time.
        self._lock = threading.Lock()

    def snapshot(self, query: Query, now: datetime) -> Snapshot:
        """Return everything one refresh shows, computed with SQL on the store."""
        with self._lock:
            return self._snapshot(query, now)

    def _snapshot(self, query: Query, now: datetime) -> Snapshot:
        store, project = self.store, query.project
        since = now - PERIODS[query.period]
        end = now + timedelta(milliseconds=1)
        today = start_of_local_day(now)
        rolling = {
            window: sql.total(store, now - PERIODS[window], end, project)
            for window in ROLLING_WINDOWS
        }
        recent = sql.sessions(store, since, end, project, 1)
        current = (
            sql.session_detail(store, recent[0].session_id, query.top_n)
            if recent
            else None
        )
        return Snapshot(
            taken_at=now,
            source=self.name,
            query=query,
            rolling=rolling,
            today=sql.total(store, today, end, project),
            period_total=sql.total(store, since, end, project),
            current_session=current,
            mix=sql.mix(store, since, end, project, query.grouping),
            top_operations=sql.top_operations(store, since, end, project, query.top_n),
            unpriced=sql.unpriced(store, since, end, project),
            projects=sql.projects(store, now - timedelta(days=PROJECT_LIST_DAYS), end),
            project_today=sql.mix(store, today, end, None, "project"),
            budgets=load_budget_lines(store, now),
        )

    def day_status(self, now: datetime) -> DayStatus:
        """Return today's spend per project and the budgets, in two queries."""
        today = start_of_local_day(now)
        end = now + timedelta(milliseconds=1)
        with self._lock:
            projects = sql.mix(self.store, today, end, None, "project")
            budgets = load_budget_lines(self.store, now)
        total = Total(
            cost_usd=sum((row.cost_usd for row in projects), ZERO),
            events=sum(row.events for row in projects),
            unpriced_events=sum(row.unpriced_events for row in projects),
        )
        return DayStatus(now, self.name, total, projects, budgets)

    def sessions(self, query: Query, now: datetime) -> list[SessionRow]:
        """Return the sessions of the selected period, most recent first."""
        since = now - PERIODS[query.period]
        end = now + timedelta(milliseconds=1)
        with self._lock:
            return sql.sessions(
                self.store, since, end, query.project, SESSION_LIST_LIMIT
            )

    def session_detail(self, session_id: str, top_n: int) -> SessionDetail | None:
        """Return one session with its tokens and most expensive events."""
        with self._lock:
            return sql.session_detail(self.store, session_id, top_n)

    def close(self) -> None:
        """Close the store handle."""
        self.store.close()


def running_service_url() -> str | None:
    """Return the API URL of a running ``otel-cost serve``, or None when none runs."""
    try:
        discovery: Any = importlib.import_module("otel_cost.serve.discovery")
    except ImportError:
        return None
    service = discovery.running_service()
    if not service:
        return None
    url = service.get("api_url")
    return str(url) if url else None


def open_source(dsn: str | None = None, api_url: str | None = None) -> ViewSource:
    """Return the API source if a service runs or ``api_url`` is given, else the store.

    An explicit ``dsn`` always reads the store, because the user named it.
    """
    if dsn is None:
        api_url = api_url or running_service_url()
    if api_url:
        from otel_cost.views.api_source import ApiSource

        logger.debug("reading through the service API at %s", api_url)
        return ApiSource(api_url)
    return StoreSource(open_store(dsn))

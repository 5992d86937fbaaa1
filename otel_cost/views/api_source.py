"""Views read through the REST API of a running ``otel-cost serve``.

Endpoints used: ``/api/v1/burn`` (rolling totals), ``/api/v1/summary``
(spend grouped by a dimension), ``/api/v1/top`` (most expensive events) and
``/api/v1/sessions`` and ``/api/v1/budgets``. Money arrives as exact decimal
strings and becomes `Decimal` through its text, so no float rounding creeps in.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from otel_cost import config
from otel_cost.errors import OtelCostError
from otel_cost.views.model import (
    PERIODS,
    ROLLING_WINDOWS,
    ZERO,
    BudgetLine,
    DayStatus,
    MixRow,
    Operation,
    Query,
    SessionDetail,
    SessionRow,
    Snapshot,
    Total,
    UnpricedUsage,
)
from otel_cost.views.source import (
    PROJECT_LIST_DAYS,
    SESSION_LIST_LIMIT,
    start_of_local_day,
)

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 3.0
#: Look-back that covers any session when fetching one session by id.
ALL_TIME = "520w"


class ApiError(OtelCostError):
    """The service API cannot be reached or returned something unexpected."""


class ApiSource:
    """Views read through the service's REST API."""

    name = "api"

    def __init__(self, api_url: str, token: str | None = None) -> None:
        """Talk to the service at ``api_url`` (for example http://127.0.0.1:8787)."""
        self.api_url = api_url.rstrip("/")
        self.token = (
            token if token is not None else os.environ.get(config.ENV_API_TOKEN)
        )
        # The service runs on this host or is named directly: never use a proxy.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def get(self, path: str, **params: Any) -> Any:
        """GET one endpoint and return its decoded JSON body."""
        present = {k: v for k, v in params.items() if v not in (None, "")}
        url = f"{self.api_url}{path}"
        if present:
            url += "?" + urllib.parse.urlencode(present)
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with self._opener.open(request, timeout=TIMEOUT_SECONDS) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise ApiError(
                f"GET {path} on {self.api_url} failed: HTTP {exc.code}"
            ) from exc
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            raise ApiError(f"GET {path} on {self.api_url} failed: {exc}") from exc

    def snapshot(self, query: Query, now: datetime) -> Snapshot:
        """Return everything one refresh shows, from a handful of API calls."""
        window = {"since": _iso(now - PERIODS[query.period]), "until": _until(now)}
        project = query.project
        burn = self.get("/api/v1/burn", project=project)
        rolling = {row["window"]: _total(row) for row in burn["windows"]}
        mix = self._summary(query.grouping, project, **window)
        sessions = self.sessions(query, now)
        current = (
            self.session_detail(sessions[0].session_id, query.top_n)
            if sessions
            else None
        )
        today = {"since": _iso(start_of_local_day(now)), "until": _until(now)}
        project_today = self._summary("project", None, **today)
        return Snapshot(
            taken_at=now,
            source=self.name,
            query=query,
            rolling={name: rolling[name] for name in ROLLING_WINDOWS},
            today=_sum_rows(
                [r for r in project_today if not project or r.key == project]
            ),
            period_total=_sum_rows(mix),
            current_session=current,
            mix=mix,
            top_operations=self._top(query.top_n, project, **window),
            unpriced=self._unpriced(project, window),
            projects=self._projects(now),
            project_today=project_today,
            budgets=self._budgets(),
        )

    def day_status(self, now: datetime) -> DayStatus:
        """Return today's spend per project, in one API call."""
        today = {"since": _iso(start_of_local_day(now)), "until": _until(now)}
        projects = self._summary("project", None, **today)
        return DayStatus(now, self.name, _sum_rows(projects), projects, self._budgets())

    def _budgets(self) -> list[BudgetLine] | None:
        """Return the service's budget lines, or None when it declares none."""
        payload = self.get("/api/v1/budgets")
        lines = [
            BudgetLine(
                scope=item["scope"],
                name=item["name"],
                limit_usd=Decimal(item["limit_usd"]),
                spent_usd=Decimal(item["spent_usd"]),
                period=item.get("period"),
                project=item["project"],
                # A service older than this client sends no unpriced count.
                unpriced_events=int(item.get("unpriced_events", 0)),
                instance=item.get("instance", ""),
            )
            for item in payload.get("budgets", [])
        ]
        return lines or None

    def sessions(self, query: Query, now: datetime) -> list[SessionRow]:
        """Return the sessions of the selected period, most recent first."""
        payload = self.get(
            "/api/v1/sessions",
            since=_iso(now - PERIODS[query.period]),
            until=_until(now),
            project=query.project,
            limit=SESSION_LIST_LIMIT,
        )
        return [_session(row) for row in payload["sessions"]]

    def session_detail(self, session_id: str, top_n: int) -> SessionDetail | None:
        """Return one session with its tokens by category and most expensive events."""
        payload = self.get("/api/v1/sessions", session=session_id, since=ALL_TIME)
        if not payload["sessions"]:
            return None
        row = payload["sessions"][0]
        tokens = {str(name): int(count) for name, count in row["tokens"].items()}
        operations = self._top(top_n, None, session=session_id, since=ALL_TIME)
        return SessionDetail(
            session=_session(row), tokens=tokens, operations=operations
        )

    def _summary(
        self, grouping: str, project: str | None, **window: str
    ) -> list[MixRow]:
        payload = self.get(
            "/api/v1/summary", group_by=grouping, project=project, **window
        )
        return [_mix_row(row) for row in payload["groups"]]

    def _unpriced(self, project: str | None, window: dict[str, str]) -> UnpricedUsage:
        payload = self.get(
            "/api/v1/summary", group_by="model", project=project, **window
        )
        unpriced = [row for row in payload["groups"] if row["unpriced_events"]]
        # NOTE: the summary counts tokens per model, not per cost status, so
        # only models with no priced event at all contribute their tokens.
        whole = [row for row in unpriced if row["unpriced_events"] == row["events"]]
        return UnpricedUsage(
            events=sum(int(row["unpriced_events"]) for row in unpriced),
            tokens=sum(int(row["total_tokens"]) for row in whole),
            models=sorted(str(row["key"]) for row in unpriced),
        )

    def _projects(self, now: datetime) -> list[str]:
        since = _iso(now - timedelta(days=PROJECT_LIST_DAYS))
        rows = self._summary("project", None, since=since, until=_until(now))
        return sorted({row.key for row in rows})

    def _top(self, n: int, project: str | None, **params: str) -> list[Operation]:
        payload = self.get("/api/v1/top", n=n, project=project, **params)
        return [_operation(row) for row in payload["events"]]

    def close(self) -> None:
        """Nothing to release: every call opens its own connection."""


def _iso(instant: datetime) -> str:
    return (
        instant.astimezone(UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _until(now: datetime) -> str:
    # The API's upper bound is exclusive; include an event stamped exactly now.
    return _iso(now + timedelta(milliseconds=1))


def _money(value: Any) -> Decimal:
    return ZERO if value in (None, "") else Decimal(str(value))


def _total(row: Mapping[str, Any]) -> Total:
    return Total(
        cost_usd=_money(row["cost_usd"]),
        events=int(row["events"]),
        unpriced_events=int(row["unpriced_events"]),
    )


def _mix_row(row: Mapping[str, Any]) -> MixRow:
    return MixRow(
        key=str(row["key"]),
        cost_usd=_money(row["cost_usd"]),
        events=int(row["events"]),
        unpriced_events=int(row["unpriced_events"]),
    )


def _sum_rows(rows: list[MixRow]) -> Total:
    return Total(
        cost_usd=sum((row.cost_usd for row in rows), ZERO),
        events=sum(row.events for row in rows),
        unpriced_events=sum(row.unpriced_events for row in rows),
    )


def _instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _session(row: Mapping[str, Any]) -> SessionRow:
    return SessionRow(
        session_id=str(row["session_id"]),
        harness=str(row["harness"]),
        project=str(row["project"]),
        started=_instant(row["first_ts"]),
        last_seen=_instant(row["last_ts"]),
        events=int(row["events"]),
        cost_usd=_money(row["cost_usd"]),
        unpriced_events=int(row["unpriced_events"]),
    )


def _operation(row: Mapping[str, Any]) -> Operation:
    return Operation(
        ts=_instant(row["ts"]),
        session_id=str(row["session_id"]),
        project=str(row["project"]),
        model=str(row["resolved_model"] or row["model"]),
        operation=str(row["operation"]),
        tool_name=str(row["tool_name"]),
        total_tokens=sum(int(count) for count in row["tokens"].values()),
        cost_usd=_money(row["cost_usd"]),
    )

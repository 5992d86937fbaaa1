"""Views read through the REST API of a running ``otel-cost serve``.

Endpoints used: ``/api/v1/burn`` (rolling totals), ``/api/v1/summary``
(spend grouped by a dimension), ``/api/v1/top`` (most expensive events) and
``/api/v1/sessions``. Money arrives as decimal strings or numbers and is
turned into `Decimal` through its text, so no float rounding creeps in.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from otel_cost.errors import OtelCostError
from otel_cost.views.budgets import budget_lines_from
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
from otel_cost.views.source import start_of_local_day

logger = logging.getLogger(__name__)

#: Bearer token the service requires on non-loopback binds.
ENV_API_TOKEN = "OTEL_COST_API_TOKEN"
TIMEOUT_SECONDS = 3.0
ROW_KEYS = ("rows", "items", "groups", "sessions", "operations", "data")


class ApiError(OtelCostError):
    """The service API cannot be reached or returned something unexpected."""


class ApiSource:
    """Views read through the service's REST API."""

    name = "api"

    def __init__(self, api_url: str, token: str | None = None) -> None:
        """Talk to the service at ``api_url`` (for example http://127.0.0.1:8787)."""
        self.api_url = api_url.rstrip("/")
        self.token = token if token is not None else os.environ.get(ENV_API_TOKEN)

    def get(self, path: str, **params: Any) -> Any:
        """GET one endpoint and return its decoded JSON body."""
        query = urllib.parse.urlencode(
            {k: v for k, v in params.items() if v not in (None, "")}
        )
        url = f"{self.api_url}{path}" + (f"?{query}" if query else "")
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise ApiError(
                f"GET {path} on {self.api_url} failed: HTTP {exc.code}"
            ) from exc
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            raise ApiError(f"GET {path} on {self.api_url} failed: {exc}") from exc

    def snapshot(self, query: Query, now: datetime) -> Snapshot:
        """Return everything one refresh shows, from a handful of API calls."""
        since = _iso(now - PERIODS[query.period])
        today = _iso(start_of_local_day(now))
        project = query.project
        burn = self.get("/api/v1/burn", project=project)
        rolling = {window: _total(_window(burn, window)) for window in ROLLING_WINDOWS}
        mix = self._summary(query.grouping, since, project)
        project_today = self._summary("project", today, None)
        sessions = self.sessions(query, now)
        current = (
            self.session_detail(sessions[0].session_id, query.top_n)
            if sessions
            else None
        )
        return Snapshot(
            taken_at=now,
            source=self.name,
            query=query,
            rolling=rolling,
            today=_sum_rows(self._summary("project", today, project)),
            period_total=_sum_rows(mix),
            current_session=current,
            mix=mix,
            top_operations=self._top(query.top_n, since, project),
            unpriced=_unpriced(mix),
            projects=self._projects(now),
            project_today=project_today,
            budgets=self._budgets(),
        )

    def day_status(self, now: datetime) -> DayStatus:
        """Return today's spend per project and the budgets, in two API calls."""
        projects = self._summary("project", _iso(start_of_local_day(now)), None)
        return DayStatus(now, self.name, _sum_rows(projects), projects, self._budgets())

    def sessions(self, query: Query, now: datetime) -> list[SessionRow]:
        """Return the sessions of the selected period, most recent first."""
        since = _iso(now - PERIODS[query.period])
        payload = self.get("/api/v1/sessions", since=since, project=query.project)
        rows = [_session(row) for row in _rows(payload)]
        return sorted(rows, key=lambda row: row.last_seen, reverse=True)

    def session_detail(self, session_id: str, top_n: int) -> SessionDetail | None:
        """Return one session; tokens and events come from the API when it has them."""
        quoted = urllib.parse.quote(session_id, safe="")
        try:
            payload = self.get(f"/api/v1/sessions/{quoted}")
        except ApiError:
            return self._detail_from_list(session_id, top_n)
        fields = payload.get("session", payload) if isinstance(payload, Mapping) else {}
        tokens = {str(k): int(v) for k, v in dict(fields.get("tokens") or {}).items()}
        operations = [_operation(row) for row in fields.get("operations") or []][:top_n]
        return SessionDetail(
            session=_session(fields), tokens=tokens, operations=operations
        )

    def _detail_from_list(self, session_id: str, top_n: int) -> SessionDetail | None:
        payload = self.get("/api/v1/sessions", session_id=session_id)
        for row in _rows(payload):
            session = _session(row)
            if session.session_id == session_id:
                operations = self._top(top_n, None, None, session_id)
                return SessionDetail(session=session, operations=operations)
        return None

    def _summary(self, grouping: str, since: str, project: str | None) -> list[MixRow]:
        payload = self.get(
            "/api/v1/summary", group_by=grouping, since=since, project=project
        )
        return [_mix_row(row, grouping) for row in _rows(payload)]

    def _projects(self, now: datetime) -> list[str]:
        rows = self._summary("project", _iso(now - PERIODS["30d"]), None)
        return sorted({row.key for row in rows})

    def _top(
        self, n: int, since: str | None, project: str | None, session_id: str = ""
    ) -> list[Operation]:
        payload = self.get(
            "/api/v1/top", n=n, since=since, project=project, session_id=session_id
        )
        return [_operation(row) for row in _rows(payload)][:n]

    def _budgets(self) -> list[BudgetLine] | None:
        try:
            payload = self.get("/api/v1/budgets")
        except ApiError:
            return None
        return budget_lines_from(_rows(payload))

    def close(self) -> None:
        """Nothing to release: every call opens its own connection."""


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _rows(payload: Any) -> list[Mapping[str, Any]]:
    if isinstance(payload, list):
        return payload
    if isinstance(payload, Mapping):
        for key in ROW_KEYS:
            if isinstance(payload.get(key), list):
                return list(payload[key])
    raise ApiError(f"expected a JSON list of rows, got {type(payload).__name__}")


def _money(value: Any) -> Decimal:
    return ZERO if value in (None, "") else Decimal(str(value))


def _int(fields: Mapping[str, Any], *names: str) -> int:
    for name in names:
        if fields.get(name) is not None:
            return int(fields[name])
    return 0


def _window(burn: Any, window: str) -> Any:
    if isinstance(burn, Mapping):
        for container in (burn, burn.get("windows"), burn.get("rolling")):
            if isinstance(container, Mapping) and window in container:
                return container[window]
    return None


def _total(value: Any) -> Total:
    if isinstance(value, Mapping):
        return Total(
            cost_usd=_money(value.get("cost_usd")),
            events=_int(value, "events"),
            unpriced_events=_int(value, "unpriced_events", "unpriced"),
        )
    return Total(cost_usd=_money(value))


def _mix_row(row: Mapping[str, Any], grouping: str) -> MixRow:
    key = row.get(grouping, row.get("key", row.get("group", "")))
    return MixRow(
        key=str(key),
        cost_usd=_money(row.get("cost_usd")),
        events=_int(row, "events"),
        unpriced_events=_int(row, "unpriced_events", "unpriced"),
    )


def _sum_rows(rows: list[MixRow]) -> Total:
    return Total(
        cost_usd=sum((row.cost_usd for row in rows), ZERO),
        events=sum(row.events for row in rows),
        unpriced_events=sum(row.unpriced_events for row in rows),
    )


def _unpriced(rows: list[MixRow]) -> UnpricedUsage:
    # The summary carries unpriced counts per group but not tokens or model names.
    return UnpricedUsage(events=sum(row.unpriced_events for row in rows))


def _instant(value: Any) -> datetime:
    if not value:
        return datetime.fromtimestamp(0, UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _session(fields: Mapping[str, Any]) -> SessionRow:
    started = _instant(fields.get("started") or fields.get("first_ts"))
    return SessionRow(
        session_id=str(fields.get("session_id", "")),
        harness=str(fields.get("harness", "")),
        project=str(fields.get("project", "")),
        started=started,
        last_seen=_instant(fields.get("last_seen") or fields.get("last_ts")) or started,
        events=_int(fields, "events"),
        cost_usd=_money(fields.get("cost_usd")),
        unpriced_events=_int(fields, "unpriced_events", "unpriced"),
    )


def _operation(fields: Mapping[str, Any]) -> Operation:
    return Operation(
        ts=_instant(fields.get("ts")),
        session_id=str(fields.get("session_id", "")),
        project=str(fields.get("project", "")),
        model=str(fields.get("resolved_model") or fields.get("model", "")),
        operation=str(fields.get("operation", "")),
        tool_name=str(fields.get("tool_name", "")),
        total_tokens=_int(fields, "total_tokens", "tokens"),
        cost_usd=_money(fields.get("cost_usd")),
    )

"""The REST API, ``/metrics``, health endpoints and the OpenAPI document.

Every path except ``/healthz`` and ``/readyz`` needs the bearer token when one
is configured. Money is returned as decimal strings, times as ISO 8601 UTC.
"""

from __future__ import annotations

import importlib
import logging
import re
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson

from otel_cost.errors import ConfigError, OtelCostError
from otel_cost.serve import queries
from otel_cost.serve.attributes import id_text
from otel_cost.serve.canonical import InvalidEventError, parse_body, parse_event
from otel_cost.serve.http_common import BodyError, Handler
from otel_cost.serve.ingest import price
from otel_cost.serve.pipeline import (
    OverloadedError,
    UnavailableError,
    WriteRejectedError,
)

logger = logging.getLogger(__name__)

MAX_EVENTS_BODY_BYTES = 16 * 2**20
MAX_GATE_BODY_BYTES = 2**20
GATE_PATH = "/api/v1/budgets/gate"
#: Module and function that decide budget gates, when the budgets package exists.
GATE_MODULE, GATE_FUNCTION = "otel_cost.budgets.hookrun", "gate_endpoint"
SESSION_EVENTS = re.compile(r"^/api/v1/sessions/([^/]+)/events$")
PUBLIC_PATHS = ("/healthz", "/readyz")
EVENTS_PATH = "/api/v1/events"
POST_PATHS = (EVENTS_PATH, GATE_PATH)
#: Paths served by GET and HEAD, besides the session events pattern above.
GET_PATHS = frozenset(
    {
        *PUBLIC_PATHS,
        "/metrics",
        "/openapi.yaml",
        "/api/v1/summary",
        "/api/v1/sessions",
        "/api/v1/top",
        "/api/v1/report",
        "/api/v1/budgets",
        "/api/v1/budgets/status",
        "/api/v1/burn",
    }
)
PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def openapi_text() -> bytes:
    """Return the OpenAPI description shipped with the package."""
    return (resources.files("otel_cost.serve") / "openapi.yaml").read_bytes()


class ApiHandler(Handler):
    """Handles the query API and the operational endpoints."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server method name
        """Reply to a query or an operational endpoint."""
        url = urlsplit(self.path)
        if url.path not in PUBLIC_PATHS and not self._token_ok():
            return
        if url.path in POST_PATHS:
            self.reject_method()
            return
        params = dict(parse_qsl(url.query))
        try:
            self._get(url.path, params)
        except OtelCostError as exc:
            self.send_json(
                400 if isinstance(exc, queries.QueryError) else 503, {"error": str(exc)}
            )
        except Exception as exc:  # noqa: BLE001 - a store failure must not kill the thread
            logger.warning("query %s failed: %s", url.path, exc)
            self.send_json(503, {"error": f"the store cannot answer now: {exc}"})

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802 - the http.server method name
        """Accept canonical cost events."""
        path = urlsplit(self.path).path
        if not self._token_ok():
            return
        handlers = {EVENTS_PATH: self._post_events, GATE_PATH: self._post_gate}
        if path not in handlers:
            self.reject_method()
            return
        try:
            handlers[path]()
        except BodyError as exc:
            self.close_connection = True
            headers = {"Retry-After": "5"} if exc.status == 429 else None
            self.send_json(exc.status, {"error": str(exc)}, headers)
        except Exception as exc:  # noqa: BLE001 - reply instead of dropping the connection
            logger.exception("POST %s failed", path)
            self.close_connection = True
            self.send_json(500, {"error": f"internal error: {exc}"})

    def allowed_methods(self, path: str) -> str | None:
        """Return the ``Allow`` header value for ``path``, None when nothing is there."""
        if path in POST_PATHS:
            return "POST"
        if path in GET_PATHS or SESSION_EVENTS.match(path):
            return "GET, HEAD"
        return None

    def _token_ok(self) -> bool:
        return bool(self.authorized(self.state.auth))

    def _get(self, path: str, params: dict[str, str]) -> None:
        state = self.state
        if path == "/healthz":
            self.send_json(200, {"status": "ok", "pid": state.pid})
        elif path == "/readyz":
            ready = state.readiness()
            self.send_json(200 if ready["ready"] else 503, ready)
        elif path == "/metrics":
            page, _ = state.metrics_page()
            self.send_bytes(200, page.encode(), PROMETHEUS_TYPE)
        elif path == "/openapi.yaml":
            self.send_bytes(200, openapi_text(), "application/yaml")
        elif path.startswith("/api/v1/"):
            self._query(path, params)
        else:
            self.send_json(
                404, {"error": f"no endpoint at {path!r}; see /openapi.yaml"}
            )

    def _query(self, path: str, params: dict[str, str]) -> None:
        now = datetime.now(UTC)
        match = SESSION_EVENTS.match(path)
        with self.state.reader() as store:
            if path == "/api/v1/summary":
                dimension = params.get("group_by") or "project"
                scope = queries.scope_from_params(params, now)
                payload: dict[str, Any] = {
                    "group_by": dimension,
                    **_range(scope),
                    "groups": queries.summary(store, dimension, scope),
                }
            elif path == "/api/v1/sessions":
                scope = queries.scope_from_params(params, now)
                limit = queries.parse_limit(params.get("limit"), "limit", 100)
                payload = {
                    **_range(scope),
                    "sessions": queries.sessions(store, scope, limit),
                }
            elif match:
                limit = queries.parse_limit(params.get("limit"), "limit", 1000)
                # A session id over the attribute limit is stored as id_text
                # shortens it, so look it up the same way.
                session_id = id_text(unquote(match.group(1)))
                payload = {
                    "session_id": session_id,
                    "events": queries.session_events(store, session_id, limit),
                }
            elif path == "/api/v1/top":
                scope = queries.scope_from_params(params, now)
                limit = queries.parse_limit(params.get("n"), "n", 10)
                payload = {**_range(scope), "events": queries.top(store, scope, limit)}
            elif path == "/api/v1/report":
                payload = _report(store, params)
            elif path == "/api/v1/budgets":
                payload = _budgets(store, now)
            elif path == "/api/v1/budgets/status":
                payload = _budget_statuses(store, params, now)
            elif path == "/api/v1/burn":
                filters = queries.scope_from_params(params, now).filters
                payload = {
                    "at": queries.iso(now),
                    "windows": queries.burn(store, filters, now),
                }
            else:
                self.send_json(
                    404, {"error": f"no endpoint at {path!r}; see /openapi.yaml"}
                )
                return
        self.send_json(200, payload)

    def _post_events(self) -> None:
        length = self.body_length(MAX_EVENTS_BODY_BYTES)
        with self.state.body_budget.reserve(length):
            self._handle_events(self.read_body(length))

    def _post_gate(self) -> None:
        gate = _gate_function()
        if gate is None:
            self.send_json(
                404, {"error": "budget gates are not installed in this build"}
            )
            return
        body = self.read_body(self.body_length(MAX_GATE_BODY_BYTES))
        try:
            action = orjson.loads(body)
            if not isinstance(action, dict):
                raise ValueError(f"expected a JSON object, got {type(action).__name__}")
            with self.state.reader() as store:
                decision = gate(store, self.state.registry, action)
        except (orjson.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
            self.send_json(400, {"error": f"invalid gate action: {exc}"})
            return
        except Exception as exc:  # noqa: BLE001 - report the store failure, keep serving
            logger.warning("budget gate failed: %s", exc)
            self.send_json(503, {"error": f"the budget gate cannot decide now: {exc}"})
            return
        self.send_json(200, decision)

    def _handle_events(self, body: bytes) -> None:
        try:
            raw_events = parse_body(orjson.loads(body))
        except orjson.JSONDecodeError as exc:
            self.send_json(400, {"error": f"invalid JSON body: {exc}"})
            return
        except InvalidEventError as exc:
            self.send_json(400, {"error": str(exc)})
            return
        events, errors = [], []
        for index, raw in enumerate(raw_events):
            try:
                events.append(price(parse_event(raw), self.state.registry))
            except OtelCostError as exc:
                errors.append({"index": index, "error": str(exc)})
        self._store_events(events, errors, len(raw_events))

    def _store_events(
        self, events: list[Any], errors: list[dict[str, Any]], total: int
    ) -> None:
        metrics_ = self.state.self_metrics
        try:
            # Hooks read the budgets right after they post, so wait for the write.
            self.state.pipeline.submit(events, settle=True)
        except OverloadedError as exc:
            metrics_.record_rejected("events", "overloaded", total)
            self.send_json(429, {"error": str(exc)}, {"Retry-After": "5"})
            return
        except UnavailableError as exc:
            metrics_.record_rejected("events", "unavailable", total)
            self.send_json(503, {"error": str(exc)}, {"Retry-After": "5"})
            return
        except WriteRejectedError as exc:
            metrics_.record_rejected("events", "store_rejected", total)
            self.send_json(500, {"error": str(exc)})
            return
        metrics_.record_request("events", "api", total, len(events), 0)
        if errors:
            metrics_.record_rejected("events", "invalid", len(errors))
        status = 400 if errors and not events else 200
        self.send_json(
            status,
            {"accepted": len(events), "rejected": len(errors), "errors": errors[:100]},
        )


def _range(scope: queries.Scope) -> dict[str, Any]:
    return {
        "since": queries.iso(scope.since),
        "until": queries.iso(scope.until),
        "filters": scope.filters,
    }


def _gate_function() -> Any:
    try:
        module = importlib.import_module(GATE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name is not None and GATE_MODULE.startswith(exc.name):
            return None
        raise
    return getattr(module, GATE_FUNCTION, None)


def _report(store: Any, params: dict[str, str]) -> dict[str, Any]:
    """Return ``otel-cost report``'s JSON document, for that command to use."""
    from datetime import date

    from otel_cost.reports.report import GROUPINGS, build_report, day_bounds
    from otel_cost.reports.timezones import validate_timezone

    group_by = params.get("group_by") or "day"
    if group_by not in GROUPINGS:
        expected = ", ".join(GROUPINGS)
        raise queries.QueryError(f"group_by={group_by!r}; expected one of {expected}")
    try:
        zone = validate_timezone(params.get("tz") or "UTC")
    except OtelCostError as exc:
        raise queries.QueryError(f"invalid report parameter tz: {exc}") from None
    days: dict[str, date | None] = {}
    for name in ("since", "until"):
        text = params.get(name)
        try:
            days[name] = date.fromisoformat(text) if text else None
        except ValueError as exc:
            raise queries.QueryError(
                f"invalid report parameter {name}={text!r}: {exc}; expected YYYY-MM-DD"
            ) from None
    since, until = days["since"], days["until"]
    if since and until and since > until:
        raise queries.QueryError(f"since {since} is after until {until}")
    start, end = day_bounds(since, until, zone)
    report = build_report(store, group_by, zone, start, end)
    document: dict[str, Any] = orjson.loads(
        orjson.dumps(report.as_dict(), default=queries.money)
    )
    return document


def _budgets(store: Any, now: datetime) -> dict[str, Any]:
    """Return every budget envelope with its limit and spend (an empty list: none)."""
    from otel_cost.views.budgets import load_budget_lines

    lines = load_budget_lines(store, now) or []
    return {"budgets": [_budget_item(line) for line in lines]}


def _budget_statuses(
    store: Any, params: dict[str, str], now: datetime
) -> dict[str, Any]:
    """Return envelope statuses as ``otel-cost budget status --json`` prints them."""
    from otel_cost.budgets.envelopes import budgets_path, find_envelope, load_envelopes
    from otel_cost.budgets.status import statuses_document

    try:
        envelopes = load_envelopes(budgets_path())
        names = [name for name in params.get("envelope", "").split(",") if name]
        if names:
            envelopes = [find_envelope(envelopes, name) for name in names]
        at = datetime.fromisoformat(params["at"]) if params.get("at") else now
    except (ConfigError, ValueError) as exc:
        raise queries.QueryError(str(exc)) from None
    if at.tzinfo is None:
        raise queries.QueryError(f"at {params['at']!r} has no time zone offset")
    return statuses_document(store, envelopes, at, params.get("session") or None)


def _budget_item(line: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "scope": line.scope,
        "name": line.name,
        "limit_usd": queries.money(line.limit_usd),
        "spent_usd": queries.money(line.spent_usd),
        "unpriced_events": line.unpriced_events,
        "project": line.project,
    }
    # Only project budgets have a period, and only session and task budgets
    # have an instance.
    if line.period is not None:
        item["period"] = line.period
    if line.instance:
        item["instance"] = line.instance
    return item

"""An unknown price is shown as unknown, never as $0, in the API and the menubar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from serve_support import T0_NS, client, serving, span, trace_request

from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store
from otel_cost.views.api_source import ApiSource
from otel_cost.views.budgets import load_budget_lines
from otel_cost.views.menubar import render
from otel_cost.views.model import DayStatus, MixRow, Total

# The span's time, T0_NS: 2026-08-20T10:00:00Z.
SPAN_DAY = {"since": "2026-08-20T00:00:00Z", "until": "2026-08-21T00:00:00Z"}
PRICED_SPAN = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.output_tokens": 100,
}
UNKNOWN_SPAN = {**PRICED_SPAN, "gen_ai.request.model": "mystery-model-7"}
# claude-sonnet-4-5: 1000 x 3e-6 + 100 x 1.5e-5
PRICED_COST = "0.0045"
BUDGETS = (
    "envelopes:\n"
    "  - {name: dev-session, scope: session, limit_usd: 5}\n"
    "  - {name: web-monthly, scope: project, limit_usd: 1, match: {project: web}}\n"
)


def recent_event(event_id: str, session: str, model: str, minutes_ago: int) -> dict:
    moment = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {
        "event_id": event_id,
        "ts": moment.isoformat().replace("+00:00", "Z"),
        "harness": "claude-code",
        "source": "proxy",
        "provider": "anthropic",
        "model": model,
        "session_id": session,
        "project": "web",
        "usage": {"input": 1000, "output": 100},
    }


# sess-otlp-1 has only an unknown model, sess-otlp-2 one priced event and one
# unknown, sess-otlp-3 one priced event.
SESSION_EVENTS = [
    recent_event("u1", "sess-otlp-1", "mystery-model-7", 30),
    recent_event("p2", "sess-otlp-2", "claude-sonnet-4-5", 20),
    recent_event("u2", "sess-otlp-2", "mystery-model-7", 15),
    recent_event("p3", "sess-otlp-3", "claude-sonnet-4-5", 10),
]


@pytest.fixture
def budgets_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "budgets.yaml"
    path.write_text(BUDGETS)
    monkeypatch.setenv("OTEL_COST_BUDGETS_FILE", str(path))
    return path


def test_summary_unpriced_model_is_null(
    store: Store, registry: PricingRegistry
) -> None:
    body = trace_request(
        [span(1, PRICED_SPAN), span(2, UNKNOWN_SPAN, start_ns=T0_NS + 10**9)],
        {"service.name": "agent", "project": "web"},
    )
    with serving(store, registry, ack="store") as service, client() as http:
        reply = http.post(
            f"{service.urls['otlp_http_url']}/v1/traces",
            content=body.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert reply.status_code == 200
        api = service.urls["api_url"]
        by_model = http.get(
            f"{api}/api/v1/summary", params={"group_by": "model", **SPAN_DAY}
        ).json()
        by_project = http.get(
            f"{api}/api/v1/summary", params={"group_by": "project", **SPAN_DAY}
        ).json()
        report = http.get(
            f"{api}/api/v1/report",
            params={"group_by": "model", "tz": "UTC", "since": "2026-08-20",
                    "until": "2026-08-20"},
        ).json()  # fmt: skip

    models = {group["key"]: group for group in by_model["groups"]}
    assert models["mystery-model-7"]["cost_usd"] is None
    assert models["mystery-model-7"]["events"] == 1
    assert models["mystery-model-7"]["unpriced_events"] == 1
    assert models["claude-sonnet-4-5"]["cost_usd"] == PRICED_COST
    assert models["claude-sonnet-4-5"]["unpriced_events"] == 0
    # A group with a priced event keeps its priced sum and counts the rest.
    assert by_project["groups"][0]["key"] == "web"
    assert by_project["groups"][0]["cost_usd"] == PRICED_COST
    assert by_project["groups"][0]["unpriced_events"] == 1
    rows = {row["key"]: row for row in report["rows"]}
    assert rows["mystery-model-7"]["cost_usd"] is None


def test_budgets_carry_unpriced_events(
    store: Store, registry: PricingRegistry, budgets_file: Path
) -> None:
    with serving(store, registry) as service, client() as http:
        reply = http.post(
            f"{service.urls['api_url']}/api/v1/events",
            content=orjson.dumps({"events": SESSION_EVENTS}),
            headers={"Content-Type": "application/json"},
        )
        assert reply.json()["accepted"] == 4
        listed = http.get(f"{service.urls['api_url']}/api/v1/budgets").json()

    lines = {line["name"]: line for line in listed["budgets"]}
    assert lines["web-monthly"]["spent_usd"] == "0.009"
    assert lines["web-monthly"]["unpriced_events"] == 2
    sessions = [line for line in listed["budgets"] if line["scope"] == "session"]
    spent = sorted((line["spent_usd"], line["unpriced_events"]) for line in sessions)
    assert spent == [("0", 1), ("0.0045", 0), ("0.0045", 1)]


def test_menubar_notes_unpriced_events(
    store: Store, registry: PricingRegistry, budgets_file: Path
) -> None:
    now = datetime.now(UTC)
    with serving(store, registry, ack="store") as service, client() as http:
        http.post(
            f"{service.urls['api_url']}/api/v1/events",
            content=orjson.dumps({"events": SESSION_EVENTS}),
            headers={"Content-Type": "application/json"},
        )
        through_api = ApiSource(service.urls["api_url"]).day_status(now)
    direct = load_budget_lines(store, now)
    assert direct is not None

    for budgets in (through_api.budgets, direct):
        assert budgets is not None
        unpriced = sorted(line.unpriced_events for line in budgets)
        assert unpriced == [0, 1, 1, 2]
    lines = render(through_api, "swiftbar", ["otel-cost", "top"]).splitlines()
    web = [line for line in lines if line.startswith("web-monthly budget:")]
    assert web == [
        "web-monthly budget: 1% used, $0.9910 left (2 unpriced events not counted)"
        " | color=#2e7d32"
    ]
    noted = [line for line in lines if "(1 unpriced event not counted)" in line]
    assert len(noted) == 2


def test_session_budget_lines_distinct(
    store: Store, registry: PricingRegistry, budgets_file: Path
) -> None:
    now = datetime.now(UTC)
    with serving(store, registry) as service, client() as http:
        http.post(
            f"{service.urls['api_url']}/api/v1/events",
            content=orjson.dumps({"events": SESSION_EVENTS}),
            headers={"Content-Type": "application/json"},
        )
        listed = http.get(f"{service.urls['api_url']}/api/v1/budgets").json()
        through_api = ApiSource(service.urls["api_url"]).day_status(now)

    by_name = {line["name"]: line for line in listed["budgets"]}
    assert sorted(by_name) == [
        "dev-session sess-otlp-1",
        "dev-session sess-otlp-2",
        "dev-session sess-otlp-3",
        "web-monthly",
    ]
    assert by_name["dev-session sess-otlp-1"] == {
        "scope": "session",
        "name": "dev-session sess-otlp-1",
        "instance": "sess-otlp-1",
        "limit_usd": "5",
        "spent_usd": "0",
        "unpriced_events": 1,
        "project": "",
    }
    assert by_name["web-monthly"]["period"] == "month"
    assert "instance" not in by_name["web-monthly"]
    lines = render(through_api, "swiftbar", ["otel-cost", "top"]).splitlines()
    session_lines = sorted(line for line in lines if line.startswith("dev-session"))
    assert session_lines == [
        "dev-session sess-otlp-1 budget: 0% used, $5.00 left"
        " (1 unpriced event not counted) | color=#2e7d32",
        "dev-session sess-otlp-2 budget: 0% used, $5.00 left"
        " (1 unpriced event not counted) | color=#2e7d32",
        "dev-session sess-otlp-3 budget: 0% used, $5.00 left | color=#2e7d32",
    ]


def test_menubar_all_unpriced_project() -> None:
    now = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
    projects = [
        MixRow("web", Decimal("0.40"), 2, 1),
        MixRow("lab", Decimal(0), 3, 3),
    ]
    status = DayStatus(now, "store", Total(Decimal("0.40"), 5, 4), projects, None)
    lines = render(status, "swiftbar", ["otel-cost", "top"]).splitlines()
    assert lines[0] == "$0.4000 ? | color=#9e9e9e"
    assert "web: $0.4000 | color=#9e9e9e" in lines
    assert "lab: unpriced | color=#9e9e9e" in lines
    assert "4 unpriced events today | color=#c62828" in lines

    only_unpriced = DayStatus(now, "store", Total(Decimal(0), 3, 3), projects[1:], None)
    lines = render(only_unpriced, "swiftbar", ["otel-cost", "top"]).splitlines()
    assert lines[0] == "unpriced | color=#9e9e9e"
    assert lines[2] == "Today unpriced"

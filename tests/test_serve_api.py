"""The REST API, /metrics, health, token rules and the discovery file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import grpc
import orjson
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from serve_support import client, serving, span, trace_request

from otel_cost.errors import ConfigError
from otel_cost.serve.discovery import discovery_path, running_service
from otel_cost.serve.service import ServeConfig, Service


def at(hours_ago: float) -> str:
    moment = datetime.now(UTC) - timedelta(hours=hours_ago)
    return moment.isoformat().replace("+00:00", "Z")


def event(event_id: str, hours_ago: float, **fields):
    base = {
        "event_id": event_id,
        "ts": at(hours_ago),
        "harness": "claude-code",
        "source": "proxy",
        "model": "claude-sonnet-4-5",
        "provider": "anthropic",
        "usage": {"input": 1000, "output": 100},
    }
    return {**base, **fields}


# 1000 x 3e-6 + 100 x 1.5e-5
EVENT_COST = Decimal("0.0045")
EVENTS = [
    event("e1", 0.5, session_id="s1", project="web", team="t1", user="ana"),
    event(
        "e2",
        0.25,
        session_id="s1",
        project="web",
        team="t1",
        user="ana",
        usage={"input": 2000, "output": 200},
    ),
    event(
        "e3", 5, session_id="s2", project="api", team="t2", user="bo", cost_center="cc1"
    ),
    event("e4", 50, session_id="s3", project="api", team="t2", user="bo"),
    event(
        "e5", 0.75, session_id="s2", project="api", model="unknown-model-q", team="t2"
    ),
]


def post_events(http, service, events, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return http.post(
        f"{service.urls['api_url']}/api/v1/events",
        content=orjson.dumps({"events": events}),
        headers=headers,
    )


def test_posted_events_and_queries(store, registry):
    with serving(store, registry) as service, client() as http:
        reply = post_events(http, service, EVENTS)
        assert reply.json() == {"accepted": 5, "rejected": 0, "errors": []}
        again = post_events(http, service, EVENTS)
        assert again.status_code == 200
        api = service.urls["api_url"]
        by_project = http.get(
            f"{api}/api/v1/summary", params={"group_by": "project", "since": "7d"}
        ).json()
        by_day = http.get(
            f"{api}/api/v1/summary", params={"group_by": "day", "since": "20m"}
        ).json()
        sessions = http.get(f"{api}/api/v1/sessions", params={"since": "7d"}).json()
        session_events = http.get(f"{api}/api/v1/sessions/s1/events").json()
        top = http.get(f"{api}/api/v1/top", params={"n": 2, "since": "7d"}).json()
        burn = http.get(f"{api}/api/v1/burn").json()
        filtered = http.get(
            f"{api}/api/v1/summary",
            params={"group_by": "user", "team": "t1", "since": "7d"},
        ).json()
    groups = {group["key"]: group for group in by_project["groups"]}
    assert groups["web"]["cost_usd"] == "0.0135"
    assert groups["web"]["events"] == 2
    assert groups["api"]["cost_usd"] == "0.009"
    assert groups["api"]["events"] == 3
    assert groups["api"]["unpriced_events"] == 1
    assert groups["web"]["tokens"]["input"] == 3000
    assert by_project["groups"][0]["key"] == "web"
    assert len(by_day["groups"]) == 1
    assert by_day["groups"][0]["events"] == 1
    assert by_day["groups"][0]["key"] == at(0.25)[:10]
    assert [row["session_id"] for row in sessions["sessions"]] == ["s1", "s2", "s3"]
    assert sessions["sessions"][0]["cost_usd"] == "0.0135"
    assert [row["event_id"] for row in session_events["events"]] == ["e1", "e2"]
    assert session_events["events"][1]["cost_usd"] == "0.009"
    assert [row["event_id"] for row in top["events"]] == ["e2", "e1"]
    windows = {window["window"]: window for window in burn["windows"]}
    assert windows["1h"]["cost_usd"] == "0.0135"
    assert windows["1h"]["events"] == 3
    assert windows["1h"]["unpriced_events"] == 1
    assert windows["24h"]["cost_usd"] == "0.018"
    assert windows["7d"]["cost_usd"] == "0.0225"
    assert windows["24h"]["usd_per_hour"] == "0.00075"
    assert [group["key"] for group in filtered["groups"]] == ["ana"]


def test_posted_event_errors_name_fields(store, registry):
    bad = [
        event("ok1", 1),
        {"event_id": "x", "harness": "h", "source": "hook"},
        event("bad-usage", 1, usage={"tokens_in": 5}),
        event("bad-time", 1, ts="yesterday"),
        event("bad-cost", 1, reported_cost_usd="cheap"),
        event(
            "estimated",
            1,
            cost_status="estimated",
            schema_version=1,
            usage={"input": 10, "cache_read": 100, "output": 1},
        ),
    ]
    with serving(store, registry) as service, client() as http:
        reply = post_events(http, service, bad)
        not_json = http.post(
            f"{service.urls['api_url']}/api/v1/events",
            content=b"{",
            headers={"Content-Type": "application/json"},
        )
        all_bad = post_events(http, service, [{"event_id": "x"}])
    body = reply.json()
    assert body["accepted"] == 2
    assert body["rejected"] == 4
    errors = {item["index"]: item["error"] for item in body["errors"]}
    assert (
        errors[1] == "invalid cost event field '(event)': 'ts' is a required property"
    )
    assert "('tokens_in' was unexpected)" in errors[2]
    assert errors[3] == "invalid cost event field 'ts': 'yesterday' is not ISO 8601"
    assert errors[4].startswith("invalid cost event field 'reported_cost_usd'")
    assert not_json.status_code == 400
    assert all_bad.status_code == 400
    row = store.query_dicts(
        "SELECT * FROM cost_events FINAL WHERE event_id = 'estimated'"
    )[0]
    # 10 x 3e-6 + 100 x 3e-7 + 1 x 1.5e-5
    assert row["cost_usd"] == Decimal("0.000075")
    assert row["cost_status"] == "estimated"


def test_negative_reported_cost_rejected(store, registry):
    events = [event("refund", 1, reported_cost_usd="-500")]
    with serving(store, registry) as service, client() as http:
        reply = post_events(http, service, events)
    assert reply.status_code == 400
    error = reply.json()["errors"][0]["error"]
    assert error.startswith("invalid cost event field 'reported_cost_usd': '-500'")
    stored = store.query_dicts(
        "SELECT count() AS n FROM cost_events WHERE event_id = 'refund'"
    )
    assert stored[0]["n"] == 0


def test_wrong_method_gets_405(store, registry):
    with serving(store, registry) as service, client() as http:
        base = f"{service.urls['api_url']}/api/v1"
        gate = http.get(f"{base}/budgets/gate")
        events = http.get(f"{base}/events")
        post_summary = http.post(f"{base}/summary", content=b"{}")
        delete_session = http.delete(f"{base}/sessions/s1/events")
        post_unknown = http.post(f"{base}/nothing", content=b"{}")
    assert gate.status_code == 405
    assert gate.headers["Allow"] == "POST"
    assert gate.json() == {
        "error": "method GET is not allowed at '/api/v1/budgets/gate'; use POST"
    }
    assert events.status_code == 405
    assert events.headers["Allow"] == "POST"
    assert post_summary.status_code == 405
    assert post_summary.headers["Allow"] == "GET, HEAD"
    assert delete_session.status_code == 405
    assert delete_session.headers["Allow"] == "GET, HEAD"
    assert post_unknown.status_code == 404
    assert post_unknown.json() == {"error": "no endpoint at '/api/v1/nothing'"}


def test_bad_query_parameters_answer_400(store, registry):
    with serving(store, registry) as service, client() as http:
        api = service.urls["api_url"]
        bad_dimension = http.get(f"{api}/api/v1/summary", params={"group_by": "color"})
        bad_time = http.get(f"{api}/api/v1/summary", params={"since": "last week"})
        bad_limit = http.get(f"{api}/api/v1/top", params={"n": "0"})
        bad_zone = http.get(f"{api}/api/v1/summary", params={"tz": "Mars/Base"})
        missing = http.get(f"{api}/api/v2/nothing")
    assert bad_dimension.status_code == 400
    assert "group_by='color' is not a dimension" in bad_dimension.json()["error"]
    assert bad_time.status_code == 400
    assert bad_limit.status_code == 400
    assert bad_zone.status_code == 400
    assert missing.status_code == 404


def test_metrics_cost_and_self_counters(store, registry):
    spans = [
        span(
            i,
            {
                "gen_ai.request.model": "claude-sonnet-4-5",
                "gen_ai.usage.input_tokens": 1000,
                "gen_ai.usage.output_tokens": 100,
            },
        )
        for i in (1, 2)
    ]
    with serving(store, registry, ack="store") as service, client() as http:
        http.post(
            f"{service.urls['otlp_http_url']}/v1/traces",
            content=trace_request(
                spans, {"service.name": "agent-x", "project": "p1"}
            ).SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        post_events(http, service, [event("n1", 0.1, project="p2")])
        page = http.get(f"{service.urls['api_url']}/metrics")
    text = page.text
    assert page.headers["content-type"].startswith("text/plain; version=0.0.4")
    labels = 'project="p1",model="claude-sonnet-4-5",harness="agent-x"'
    assert f"otel_cost_cost_usd_total{{{labels}}} 0.009" in text
    assert f'otel_cost_events_total{{{labels},cost_status="priced"}} 2' in text
    assert f'otel_cost_tokens_total{{{labels},type="input"}} 2000' in text
    assert 'otel_cost_burn_usd{project="p2",window="1h"} 0.0045' in text
    assert (
        'otel_cost_serve_received_items_total{signal="traces",transport="http"} 2'
        in text
    )
    assert (
        'otel_cost_serve_received_items_total{signal="events",transport="api"} 1'
        in text
    )
    assert 'otel_cost_serve_written_events_total{result="inserted"} 3' in text
    assert "otel_cost_serve_write_duration_seconds_count 2" in text
    assert "otel_cost_serve_store_up 1" in text
    # The budget module's lines (when installed) were read without error.
    assert "otel_cost_serve_metrics_store_read_ok 1" in text


def test_token_required_off_loopback(store, registry):
    settings = ServeConfig(dsn=store.dsn, database=store.database, api_host="0.0.0.0")
    with pytest.raises(
        ConfigError, match="set a bearer token in \\$OTEL_COST_API_TOKEN"
    ):
        Service(settings, registry)


def test_token_checked_on_every_endpoint(store, registry):
    with serving(store, registry, token="s3cret") as service, client() as http:
        api = service.urls["api_url"]
        no_token = http.get(f"{api}/api/v1/summary")
        wrong = http.get(
            f"{api}/api/v1/summary", headers={"Authorization": "Bearer nope"}
        )
        right = http.get(
            f"{api}/api/v1/summary", headers={"Authorization": "Bearer s3cret"}
        )
        health = http.get(f"{api}/healthz")
        metrics_page = http.get(f"{api}/metrics")
        post_no_token = post_events(http, service, [event("t1", 1)])
        post_token = post_events(http, service, [event("t1", 1)], token="s3cret")
        address = service.urls["otlp_grpc_url"].removeprefix("http://")
        request = trace_request([span(1, {"gen_ai.request.model": "gpt-4o"})], {})
        with grpc.insecure_channel(address) as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            try:
                stub.Export(request, timeout=10)
                grpc_code = None
            except grpc.RpcError as error:
                grpc_code = error.code()
            grpc_reply = stub.Export(
                request, timeout=10, metadata=(("authorization", "Bearer s3cret"),)
            )
        otlp = http.post(
            f"{service.urls['otlp_http_url']}/v1/traces",
            content=b"",
            headers={"Content-Type": "application/x-protobuf"},
        )
    assert grpc_code == grpc.StatusCode.UNAUTHENTICATED
    assert grpc_reply.partial_success.rejected_spans == 0
    assert no_token.status_code == 401
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert health.status_code == 200
    assert metrics_page.status_code == 401
    assert post_no_token.status_code == 401
    assert post_token.status_code == 200
    assert otlp.status_code == 401


def test_discovery_file_and_running_service(store, registry):
    assert running_service() is None
    with serving(store, registry) as service, client() as http:
        info = running_service()
        assert info is not None
        assert info["pid"] == service.pid
        assert info["api_url"] == service.urls["api_url"]
        assert info["otlp_http_url"] == service.urls["otlp_http_url"]
        assert info["otlp_grpc_url"] == service.urls["otlp_grpc_url"]
        assert info["database"] == store.database
        openapi = http.get(f"{service.urls['api_url']}/openapi.yaml")
        ready = http.get(f"{service.urls['api_url']}/readyz").json()
    assert not discovery_path().exists()
    assert running_service() is None
    assert openapi.status_code == 200
    assert openapi.text.startswith("openapi: 3.1.0")
    assert ready["ready"] is True
    assert ready["store"] == "up"


def test_stale_discovery_file_ignored(store, registry):
    discovery_path().parent.mkdir(parents=True, exist_ok=True)
    discovery_path().write_text(
        orjson.dumps(
            {
                "pid": 2**22 + 12345,
                "api_url": "http://127.0.0.1:9",
                "otlp_http_url": "x",
                "otlp_grpc_url": "y",
            }
        ).decode()
    )
    assert running_service() is None


def test_logs_hold_no_secrets(store, registry, caplog):
    caplog.set_level("DEBUG")
    prompt = "PLEASE-DO-NOT-LOG-THIS-PROMPT"
    spans = [
        span(
            1,
            {
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 5,
                "gen_ai.usage.output_tokens": 1,
                "gen_ai.input.messages": prompt,
            },
        ),
        span(
            2,
            {
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 1,
                "gen_ai.usage.output_tokens": 9,
                "gen_ai.usage.reasoning.output_tokens": 99,
                "gen_ai.input.messages": prompt,
            },
        ),
    ]
    with serving(store, registry, token="s3cret-token") as service, client() as http:
        auth = {"Authorization": "Bearer s3cret-token"}
        reply = http.post(
            f"{service.urls['otlp_http_url']}/v1/traces",
            content=trace_request(spans, {"service.name": "a"}).SerializeToString(),
            headers={"Content-Type": "application/x-protobuf", **auth},
        )
        http.get(f"{service.urls['api_url']}/api/v1/summary", headers=auth)
    assert reply.status_code == 200
    assert "gen_ai.usage.output_tokens is 9, smaller than the 99 tokens" in caplog.text
    assert prompt not in caplog.text
    assert "s3cret-token" not in caplog.text


def test_service_client_queries(store, registry):
    from otel_cost.serve.client import ServiceClient, ServiceError

    with serving(store, registry, token="tok") as service:
        api = ServiceClient(running_service()["api_url"], token="tok")
        posted = api.post(
            "/api/v1/events", {"events": [event("c1", 0.5, project="cli")]}
        )
        summary = api.get("/api/v1/summary", {"group_by": "project", "since": "1d"})
        with pytest.raises(
            ServiceError, match="HTTP 400: group_by='x' is not a dimension"
        ):
            api.get("/api/v1/summary", {"group_by": "x"})
        with pytest.raises(ServiceError, match="HTTP 401"):
            ServiceClient(service.urls["api_url"], token="wrong").get("/api/v1/burn")
    assert posted["accepted"] == 1
    assert summary["groups"][0]["key"] == "cli"
    assert summary["groups"][0]["cost_usd"] == "0.0045"
    with pytest.raises(ServiceError, match="cannot reach otel-cost serve"):
        ServiceClient(service.urls["api_url"], token="tok", timeout_s=2).get("/healthz")


def test_sink_wire_format_accepted(store, registry):
    from otel_cost.events import CostEvent, TokenCategory, Usage
    from otel_cost.events_json import event_to_json

    sent = CostEvent(
        event_id="proxy:msg_1",
        ts=datetime(2026, 8, 20, 10, tzinfo=UTC),
        harness="codex",
        source="proxy",
        model="gpt-4o",
        provider="openai",
        usage=Usage(tokens={TokenCategory.INPUT: 1000, TokenCategory.OUTPUT: 10}),
        reported_cost_usd=Decimal("0.0026"),
    )
    with serving(store, registry) as service, client() as http:
        reply = post_events(http, service, [event_to_json(sent)])
    assert reply.json() == {"accepted": 1, "rejected": 0, "errors": []}
    row = store.query_dicts("SELECT * FROM cost_events FINAL")[0]
    # 1000 x 2.5e-6 + 10 x 1e-5
    assert row["cost_usd"] == Decimal("0.0026")
    assert row["reported_cost_usd"] == Decimal("0.0026")
    assert row["source"] == "proxy"


def test_budget_gate_endpoint(store, registry):
    from otel_cost.budgets.actions import Action, ActionKind
    from otel_cost.budgets.envelopes import (
        Envelope,
        Scope,
        budgets_path,
        save_envelopes,
    )

    save_envelopes(
        budgets_path(),
        [
            Envelope(
                "dev", Scope.SESSION, Decimal("0.01"), match={"harness": "claude-code"}
            )
        ],
    )
    calls = [
        event(
            f"g{minute}",
            1 - minute / 60,
            session_id="s1",
            project="web",
            usage={"input": 1000, "cache_read": 9000, "output": output},
        )
        for minute, output in ((1, 400), (2, 600))
    ]
    action = Action(
        ActionKind.FILE_READ,
        "claude-code",
        "s1",
        cwd="/src/web",
        added_tokens=2000,
        label="reading big.json",
    )
    with serving(store, registry) as service, client() as http:
        post_events(http, service, calls)
        reply = http.post(
            f"{service.urls['api_url']}/api/v1/budgets/gate",
            content=orjson.dumps(action.to_dict()),
            headers={"Content-Type": "application/json"},
        )
        page = http.get(f"{service.urls['api_url']}/metrics").text
        bad = http.post(
            f"{service.urls['api_url']}/api/v1/budgets/gate",
            content=b'{"kind": "teleport"}',
            headers={"Content-Type": "application/json"},
        )
    decision = reply.json()
    assert reply.status_code == 200
    assert decision["verdict"] == "deny"
    # 10,000 cached context x 3e-7 + 2,000 new input x 3e-6 + 500 output x 1.5e-5
    assert decision["estimate_usd"] == "0.0165"
    assert decision["envelopes"][0]["envelope"] == "dev"
    assert bad.status_code == 400
    assert "invalid gate action" in bad.json()["error"]
    assert "# TYPE otel_cost_budget_spent_usd" in page
    assert 'envelope="dev"' in page


def test_gate_rejects_negative_tokens(store, registry):
    action = {
        "kind": "file_read",
        "harness": "claude-code",
        "session_id": "s1",
        "added_tokens": -5,
    }
    with serving(store, registry) as service, client() as http:
        reply = http.post(
            f"{service.urls['api_url']}/api/v1/budgets/gate",
            content=orjson.dumps(action),
            headers={"Content-Type": "application/json"},
        )
    assert reply.status_code == 400
    assert reply.json() == {
        "error": "invalid gate action: 'added_tokens' must be an integer >= 0, got -5"
    }


def test_budgets_and_report_endpoints(store, registry, tmp_path, monkeypatch):
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(
        "envelopes:\n"
        "  - {name: web-monthly, scope: project, limit_usd: 1, match: {project: web}}\n"
    )
    monkeypatch.setenv("OTEL_COST_BUDGETS_FILE", str(budgets))
    with serving(store, registry) as service, client() as http:
        post_events(http, service, EVENTS[:2])
        api = service.urls["api_url"]
        listed = http.get(f"{api}/api/v1/budgets").json()
        report = http.get(
            f"{api}/api/v1/report", params={"group_by": "project", "tz": "UTC"}
        ).json()
        bad = http.get(f"{api}/api/v1/report", params={"group_by": "planet"})
        bad_day = http.get(f"{api}/api/v1/report", params={"since": "2026-13-45"})
        reversed_days = http.get(
            f"{api}/api/v1/report",
            params={"since": "2026-12-02", "until": "2026-12-01"},
        )
    assert listed == {
        "budgets": [
            {
                "scope": "project",
                "name": "web-monthly",
                "limit_usd": "1",
                "spent_usd": "0.0135",
                "unpriced_events": 0,
                "period": "month",
                "project": "web",
            }
        ]
    }
    # e1 and e2 cost 0.0045 + 0.009.
    assert report["total_usd"] == "0.0135"
    assert report["rows"][0]["key"] == "web"
    assert bad.status_code == 400
    assert bad_day.status_code == 400
    assert "invalid report parameter since='2026-13-45'" in bad_day.json()["error"]
    assert reversed_days.status_code == 400
    assert reversed_days.json()["error"] == "since 2026-12-02 is after until 2026-12-01"


def test_budget_status_endpoint_and_cli(store, registry, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from otel_cost.cli.main import cli

    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(
        "envelopes:\n"
        "  - {name: web-monthly, scope: project, limit_usd: 1, match: {project: web}}\n"
        "  - {name: per-session, scope: session, limit_usd: 5}\n"
    )
    monkeypatch.setenv("OTEL_COST_BUDGETS_FILE", str(budgets))
    with serving(store, registry) as service, client() as http:
        post_events(http, service, EVENTS[:2])
        api = service.urls["api_url"]
        document = http.get(
            f"{api}/api/v1/budgets/status", params={"envelope": "web-monthly"}
        ).json()
        unknown = http.get(f"{api}/api/v1/budgets/status", params={"envelope": "nope"})
        printed = CliRunner().invoke(
            cli, ["budget", "status", "--db", store.dsn, "--json"]
        )
    (status,) = document["statuses"]
    assert status["envelope"] == "web-monthly"
    # e2 has twice the tokens of e1.
    assert Decimal(status["spent_usd"]) == EVENT_COST * 3
    assert status["state"] == "ok"
    assert document["envelopes_without_sessions"] == []
    assert unknown.status_code == 400
    assert "budget envelope 'nope' not found" in unknown.json()["error"]
    assert printed.exit_code == 0, printed.output
    listed = orjson.loads(printed.output)
    assert [item["envelope"] for item in listed] == ["web-monthly", "per-session"]
    # The projection moves with the clock between the two calls.
    same = {key: value for key, value in status.items() if key != "projected_usd"}
    assert {key: listed[0][key] for key in same} == same

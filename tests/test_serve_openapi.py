"""The OpenAPI description: served as kept in the repo, complete, and true."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import yaml
from serve_support import client, serving

from otel_cost.events_json import event_schema
from otel_cost.serve.api import openapi_text

DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "openapi.yaml"
ROUTES = {
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.yaml"),
    ("get", "/api/v1/summary"),
    ("get", "/api/v1/sessions"),
    ("get", "/api/v1/sessions/{session_id}/events"),
    ("get", "/api/v1/top"),
    ("get", "/api/v1/burn"),
    ("get", "/api/v1/report"),
    ("get", "/api/v1/budgets"),
    ("get", "/api/v1/budgets/status"),
    ("post", "/api/v1/events"),
    ("post", "/api/v1/budgets/gate"),
}


def load() -> dict:
    return yaml.safe_load(DOCUMENT.read_text())


def test_served_document_is_repo_file():
    assert openapi_text() == DOCUMENT.read_bytes()


def test_every_route_is_documented():
    paths = load()["paths"]
    documented = {(method, path) for path, item in paths.items() for method in item}
    assert documented == ROUTES


def test_event_schema_is_packaged_schema():
    documented = load()["components"]["schemas"]["CostEventInput"]
    assert documented == event_schema()


def test_documented_example_is_accepted(store, registry):
    example = load()["paths"]["/api/v1/events"]["post"]["requestBody"]["content"][
        "application/json"
    ]["example"]
    with serving(store, registry) as service, client() as http:
        reply = http.post(
            f"{service.urls['api_url']}/api/v1/events",
            content=orjson.dumps(example),
            headers={"Content-Type": "application/json"},
        )
    assert reply.json() == {"accepted": 1, "rejected": 0, "errors": []}
    row = store.query_dicts(
        "SELECT cost_usd, reported_cost_usd, cache_read_tokens FROM cost_events FINAL"
    )[0]
    # 12 x 3e-6 + 18000 x 3e-7 + 1200 x 3.75e-6 + 640 x 1.5e-5
    assert row["cost_usd"] == Decimal("0.019536")
    assert row["cache_read_tokens"] == 18000
    assert row["reported_cost_usd"] == Decimal("0.019536")

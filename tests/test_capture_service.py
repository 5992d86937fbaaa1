"""Live capture against a real ``otel-cost serve``: REST events and OTLP spans."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from fakes import wire
from fakes.server import FakeProvider
from serve_support import serving

from otel_cost import sdk
from otel_cost.cli.main import cli
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.sdk.setup import build_tracer_provider
from otel_cost.store import Store

AGENT = Path(__file__).parent / "fakes" / "agent.py"
MINI = "gpt-4o-mini-2024-07-18"


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        provider.add("chat-json", wire.openai_chat_json("chatcmpl-svc", MINI, {
            "prompt_tokens": 100, "completion_tokens": 20,
            "prompt_tokens_details": {"cached_tokens": 40},
        }))  # fmt: skip
        yield provider


def test_instrument_posts_to_service(
    store: Store, registry: PricingRegistry, fake: FakeProvider, tmp_path: Path
) -> None:
    plan = {"exit_code": 0, "steps": [{
        "name": "chat-json", "provider": "openai", "path": "/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": []},
        "headers": {"x-scenario": "chat-json", "Authorization": "Bearer sk-svc"},
    }]}  # fmt: skip
    plan_path, out_path = tmp_path / "plan.json", tmp_path / "out.json"
    plan_path.write_text(json.dumps(plan))
    with serving(store, registry):
        result = CliRunner().invoke(cli, [
            "instrument", "--session-id", "s-svc", "--harness", "test-agent",
            "--upstream-openai", fake.url + "/v1",
            "--", sys.executable, str(AGENT), str(plan_path), str(out_path),
        ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "events stored in http://127.0.0.1:" in result.output
    rows = store.query_dicts(
        "SELECT * FROM cost_events FINAL WHERE session_id = 's-svc'"
    )
    assert len(rows) == 1
    assert rows[0]["event_id"] == "proxy:openai:chatcmpl-svc"
    assert rows[0]["source"] == "proxy"
    # Priced by the service: 60 x 1.5e-7 + 40 x 7.5e-8 + 20 x 6e-7
    assert rows[0]["cost_usd"] == Decimal("0.000024")


def test_sdk_spans_reach_service(
    store: Store, registry: PricingRegistry, fake: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    fake.add("/v1/chat/completions", fake.routes["chat-json"])
    with serving(store, registry) as service:
        endpoint = service.urls["otlp_http_url"] + "/v1/traces"
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)
        monkeypatch.setenv("OTEL_SERVICE_NAME", "billing-bot")
        assert sdk.configure(tracer_provider=build_tracer_provider())
        try:
            response = httpx.post(fake.url + "/v1/chat/completions",
                                  json={"model": "gpt-4o-mini"})  # fmt: skip
            assert response.status_code == 200
        finally:
            sdk.shutdown()
    rows = store.query_dicts("SELECT * FROM cost_events FINAL WHERE source = 'sdk'")
    assert len(rows) == 1
    row = rows[0]
    assert row["model"] == MINI
    assert row["input_tokens"] == 60
    assert row["cache_read_tokens"] == 40
    assert row["output_tokens"] == 20
    assert row["cost_usd"] == Decimal("0.000024")
    # The cost the SDK computed arrives as the reported cost.
    assert row["reported_cost_usd"] == Decimal("0.000024")

"""Views against a running ``otel-cost serve``: discovery, API reads, live refresh."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from click.testing import CliRunner

from otel_cost.cli.main import cli
from otel_cost.events import CostEvent, CostStatus, TokenCategory, Usage
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store
from otel_cost.store.writer import write_events
from otel_cost.views.api_source import ApiSource
from otel_cost.views.model import Query
from otel_cost.views.source import StoreSource, open_source
from otel_cost.views.top_app import TopApp

service_module = pytest.importorskip("otel_cost.serve.service")


def priced(
    event_id: str, minutes_ago: float, session: str, project: str, cost: str | None
) -> CostEvent:
    """An event 1000 input tokens strong, priced by hand (None: unpriced)."""
    return CostEvent(
        event_id=event_id,
        ts=datetime.now(UTC) - timedelta(minutes=minutes_ago),
        harness="codex",
        source="hook",
        session_id=session,
        provider="openai",
        model="gpt-5" if cost else "mystery-model",
        resolved_model="gpt-5" if cost else "",
        project=project,
        usage=Usage(tokens={TokenCategory.INPUT: 1000}),
        cost_status=CostStatus.PRICED if cost else CostStatus.UNPRICED,
        cost_usd=Decimal(cost) if cost else None,
    )


@pytest.fixture
def service(store: Store, registry: PricingRegistry) -> Iterator[object]:
    """A service on free loopback ports over the test's database, with traffic."""
    write_events(
        store,
        [
            priced("a", 30, "s1", "web", "0.40"),
            priced("b", 20, "s1", "web", "0.60"),
            priced("c", 10, "s2", "api", None),
            priced("d", 3 * 60, "s3", "api", "2.00"),
        ],
    )
    settings = service_module.ServeConfig(
        dsn=store.dsn, database=store.database, grpc_port=0, http_port=0, api_port=0
    )
    running = service_module.Service(settings, registry)
    running.start()
    yield running
    running.stop()


def test_discovery_picks_api(service: object) -> None:
    source = open_source()
    assert isinstance(source, ApiSource)
    assert source.api_url == service.urls["api_url"]  # type: ignore[attr-defined]


def test_api_matches_store_snapshot(service: object, store: Store) -> None:
    now = datetime.now(UTC)
    query = Query(period="24h", grouping="project", top_n=3)
    api = open_source().snapshot(query, now)
    direct = StoreSource(store).snapshot(query, now)
    assert api.source == "api"
    for window in ("1h", "24h", "7d"):
        assert api.rolling[window] == direct.rolling[window], window
    assert api.rolling["1h"].cost_usd == Decimal("1.00")
    assert api.rolling["24h"].cost_usd == Decimal("3.00")
    assert api.rolling["24h"].unpriced_events == 1
    assert api.mix == direct.mix
    assert [row.key for row in api.mix] == ["api", "web"]
    assert api.top_operations == direct.top_operations
    assert api.current_session == direct.current_session
    assert api.current_session is not None
    assert api.current_session.session.session_id == "s2"
    assert api.unpriced == direct.unpriced
    assert api.projects == ["api", "web"]


def test_menubar_reads_service(service: object) -> None:
    result = CliRunner().invoke(cli, ["menubar"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    today = datetime.now().astimezone()
    if today - timedelta(hours=3) >= today.replace(hour=0, minute=0):
        assert lines[0] == "$3.00 ? | color=#9e9e9e"
    assert any(line.startswith("Read via api at ") for line in lines)


@pytest.mark.anyio
async def test_top_live_through_api(service: object, store: Store) -> None:
    app = TopApp(open_source(), Query(), refresh_seconds=0.5)
    async with app.run_test(size=(80, 24)) as pilot:
        started = time.monotonic()
        while app.snapshot is None:
            assert time.monotonic() - started < 5, "no first snapshot within 5 s"
            await pilot.pause(0.1)
        assert app.snapshot.source == "api"
        assert app.snapshot.rolling["1h"].cost_usd == Decimal("1.00")
        write_events(store, [priced("e", 0.1, "s4", "web", "1.25")])
        ingested = time.monotonic()
        while app.snapshot.rolling["1h"].cost_usd == Decimal("1.00"):
            assert time.monotonic() - ingested < 5, "new event not shown within 5 s"
            await pilot.pause(0.1)
        assert app.snapshot.rolling["1h"].cost_usd == Decimal("2.25")
        assert app.snapshot.current_session is not None
        assert app.snapshot.current_session.session.session_id == "s4"


@pytest.mark.anyio
async def test_top_survives_service_down() -> None:
    # Nothing listens on port 9 of loopback: every API call is refused.
    app = TopApp(ApiSource("http://127.0.0.1:9"), Query(), refresh_seconds=5)
    async with app.run_test(size=(80, 24)) as pilot:
        started = time.monotonic()
        while app.last_error is None:
            assert time.monotonic() - started < 5, "no refresh error within 5 s"
            await pilot.pause(0.1)
        assert "GET /api/v1/burn on http://127.0.0.1:9 failed" in app.last_error
        assert app.snapshot is None
        assert app.is_running

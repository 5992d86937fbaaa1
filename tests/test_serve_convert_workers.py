"""OTLP requests converted in worker processes store the same events."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from serve_support import client, serving, span, totals, trace_request

CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.cache_read.input_tokens": 600,
    "gen_ai.usage.cache_creation.input_tokens": 200,
    "gen_ai.usage.output_tokens": 100,
}
# 200 uncached x 3e-6 + 600 reads x 3e-7 + 200 writes x 3.75e-6 + 100 out x 1.5e-5
CHAT_COST = Decimal("0.00303")
PROTOBUF = {"Content-Type": "application/x-protobuf"}
# Requests of up to 50 spans are converted in the service itself.
LARGE = 60


def post(url: str, body: bytes) -> ExportTraceServiceResponse:
    with client() as http:
        reply = http.post(f"{url}/v1/traces", content=body, headers=PROTOBUF)
    assert reply.status_code == 200
    return ExportTraceServiceResponse.FromString(reply.content)


def test_workers_store_priced_spans(store, registry):
    no_ids = span(3, CHAT)
    no_ids.span_id = b""
    chats = [span(number, CHAT) for number in range(10, 10 + LARGE)]
    spans = [*chats, no_ids, span(4, {"http.method": "GET"})]
    body = trace_request(spans, {"service.name": "a", "user": "ana"})
    with serving(store, registry, convert_workers=1) as service:
        pool = service.receiver.pool
        assert pool is not None
        response = post(service.urls["otlp_http_url"], body.SerializeToString())
        assert pool.converted == 1
    assert response.partial_success.rejected_spans == 1
    assert (
        "span_id '' is not 8 non-zero bytes" in response.partial_success.error_message
    )
    result = totals(store)
    assert result["events"] == LARGE
    assert result["cost"] == LARGE * CHAT_COST
    assert result["rollup_events"] == LARGE
    assert result["rollup_cost"] == LARGE * CHAT_COST
    users = store.query("SELECT DISTINCT user, cost_status FROM cost_events")
    assert users == [("ana", "priced")]


def test_resend_through_workers_counts_once(store, registry):
    first = trace_request([span(n, CHAT) for n in range(1, 61)], {"service.name": "a"})
    # The second request repeats spans 31 to 60 and adds 61 to 90: its block
    # cannot go in as it is, so the service converts it again and deduplicates.
    second = trace_request(
        [span(n, CHAT) for n in range(31, 91)], {"service.name": "a"}
    )
    with serving(store, registry, convert_workers=1) as service:
        pool = service.receiver.pool
        assert pool is not None
        url = service.urls["otlp_http_url"]
        post(url, first.SerializeToString())
        post(url, second.SerializeToString())
        post(url, second.SerializeToString())
        assert pool.converted == 3
    result = totals(store)
    assert result["events"] == 90
    assert result["cost"] == 90 * CHAT_COST
    assert result["rollup_events"] == 90
    assert result["rollup_cost"] == 90 * CHAT_COST


def children_of(pid: int) -> list[int]:
    """Return the ids of the processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_workers_exit_with_killed_service(tmp_path: Path) -> None:
    env = {**os.environ, "OTEL_COST_DATA_DIR": str(tmp_path / "data")}
    command = [
        sys.executable, "-m", "otel_cost", "serve", "--db", f"chdb://{tmp_path / 'store'}",
        "--grpc-port", "0", "--http-port", "0", "--api-port", "0",
        "--convert-workers", "1",
    ]  # fmt: skip
    service = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        discovery = tmp_path / "data" / "serve.json"
        deadline = time.monotonic() + 60
        while not discovery.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert discovery.exists()
        workers = children_of(service.pid)
        assert workers
    finally:
        service.kill()
        service.wait(30)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in workers if alive(pid)]


def test_busy_workers_leave_request_here(store, registry):
    chats = [span(number, CHAT) for number in range(10, 10 + LARGE)]
    body = trace_request(chats, {"service.name": "a"})
    with serving(store, registry, convert_workers=1) as service:
        pool = service.receiver.pool
        assert pool is not None
        # As if the only worker were converting another request now.
        pool._busy = 1
        response = post(service.urls["otlp_http_url"], body.SerializeToString())
        pool._busy = 0
        assert pool.converted == 0
    assert response.partial_success.rejected_spans == 0
    assert totals(store)["events"] == LARGE

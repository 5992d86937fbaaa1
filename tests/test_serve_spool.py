"""Store outages, the disk spool, replay after restart, overload and limits."""

from __future__ import annotations

import gzip
import threading
import time
from decimal import Decimal

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from serve_support import client, serving, span, totals, trace_request

from otel_cost.errors import ConfigError, StoreError
from otel_cost.serve.service import ServeConfig, Service
from otel_cost.serve.spool import Spool
from otel_cost.store.writer import write_events

SPAN_ATTRS = {
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.usage.input_tokens": 100,
    "gen_ai.usage.output_tokens": 10,
}
# 100 x 3e-6 + 10 x 1.5e-5
SPAN_COST = Decimal("0.00045")


class FlakyWriter:
    """The real writer, failing with StoreError while ``down`` is set."""

    def __init__(self, down: bool = True) -> None:
        self.down = down
        self.failures = 0

    def __call__(self, store, events):
        if self.down:
            self.failures += 1
            raise StoreError("simulated outage: the store is unreachable")
        return write_events(store, events)


def send(http, service, first: int, count: int, trace: int = 1):
    request = trace_request(
        [span(first + i, SPAN_ATTRS, trace_number=trace) for i in range(count)],
        {"service.name": "a"},
    )
    return http.post(
        f"{service.urls['otlp_http_url']}/v1/traces",
        content=request.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )


def wait_for(condition, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_outage_spools_then_replays(store, registry, tmp_path):
    writer = FlakyWriter(down=True)
    with (
        serving(store, registry, write=writer, spool_dir=tmp_path / "spool") as service,
        client() as http,
    ):
        assert send(http, service, 1, 5).status_code == 200
        assert send(http, service, 6, 5).status_code == 200
        assert totals(store)["events"] == 0
        assert len(list((tmp_path / "spool").glob("*.spool"))) == 1
        ready = http.get(f"{service.urls['api_url']}/readyz").json()
        assert ready["store"] == "down"
        assert ready["ready"] is True
        writer.down = False
        wait_for(lambda: totals(store)["events"] == 10)
        wait_for(service.pipeline.spool.is_empty)
        page = http.get(f"{service.urls['api_url']}/metrics").text
    assert "otel_cost_serve_spooled_events_total 10" in page
    assert "otel_cost_serve_replayed_events_total 10" in page
    assert totals(store)["cost"] == SPAN_COST * 10
    assert totals(store)["rollup_cost"] == SPAN_COST * 10
    assert list((tmp_path / "spool").glob("*.spool")) == []


def test_spool_replayed_after_restart(store, registry, tmp_path):
    spool_dir = tmp_path / "spool"
    with (
        serving(
            store, registry, write=FlakyWriter(down=True), spool_dir=spool_dir
        ) as service,
        client() as http,
    ):
        assert send(http, service, 1, 3).status_code == 200
    assert totals(store)["events"] == 0
    assert len(list(spool_dir.glob("*.spool"))) == 1
    with serving(store, registry, spool_dir=spool_dir) as service, client() as http:
        wait_for(lambda: totals(store)["events"] == 3)
        # A re-send of the spooled batch and new spans after the replay.
        assert send(http, service, 1, 3).status_code == 200
        assert send(http, service, 4, 2).status_code == 200
    result = totals(store)
    assert result["events"] == 5
    assert result["rollup_events"] == 5
    assert result["cost"] == SPAN_COST * 5
    assert list(spool_dir.glob("*.spool")) == []


def test_full_spool_is_retryable(store, registry, tmp_path):
    with (
        serving(
            store,
            registry,
            write=FlakyWriter(down=True),
            spool_dir=tmp_path / "s",
            max_spool_bytes=100,
        ) as service,
        client() as http,
    ):
        reply = send(http, service, 1, 3)
        channel = grpc.insecure_channel(
            service.urls["otlp_grpc_url"].removeprefix("http://")
        )
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        request = trace_request([span(9, SPAN_ATTRS)], {"service.name": "a"})
        try:
            stub.Export(request, timeout=10)
            raise AssertionError("the export should have failed")
        except grpc.RpcError as error:
            code, trailers = error.code(), dict(error.trailing_metadata())
        channel.close()
    assert reply.status_code == 503
    assert reply.headers["retry-after"] == "5"
    assert "at its limit of 100" in status_pb2.Status.FromString(reply.content).message
    assert code == grpc.StatusCode.UNAVAILABLE
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry)
    assert retry.retry_delay.seconds == 5


def test_full_queue_answers_429(store, registry):
    release = threading.Event()
    writing = threading.Event()

    def slow_write(store_, events):
        writing.set()
        release.wait(10)
        return write_events(store_, events)

    with (
        serving(store, registry, write=slow_write, max_queue_events=3) as service,
        client() as http,
    ):
        first = threading.Thread(target=send, args=(http, service, 1, 3))
        first.start()
        wait_for(writing.is_set)  # the writer is busy with the first request
        second = threading.Thread(target=send, args=(http, service, 4, 3))
        second.start()
        wait_for(lambda: service.pipeline.queued_events == 3)
        third = send(http, service, 7, 1)
        release.set()
        first.join()
        second.join()
    assert third.status_code == 429
    assert third.headers["retry-after"] == "5"
    assert totals(store)["events"] == 6


def test_ten_thousand_spans_one_request(store, registry):
    with serving(store, registry) as service, client() as http:
        assert send(http, service, 1, 10_000).status_code == 200
    result = totals(store)
    assert result["events"] == 10_000
    assert result["cost"] == SPAN_COST * 10_000
    assert result["rollup_cost"] == SPAN_COST * 10_000


def test_huge_values_and_bombs_rejected(store, registry):
    prompt = span(1, {**SPAN_ATTRS, "gen_ai.input.messages": "x" * 2_000_000})
    long_model = span(2, {**SPAN_ATTRS, "gen_ai.request.model": "m" * 300})
    request = trace_request([prompt, long_model], {"service.name": "a"})
    bomb = gzip.compress(b"\0" * (64 * 2**20 + 10))
    with serving(store, registry) as service, client() as http:
        reply = http.post(
            f"{service.urls['otlp_http_url']}/v1/traces",
            content=request.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        too_large = http.post(
            f"{service.urls['otlp_http_url']}/v1/traces",
            content=bomb,
            headers={
                "Content-Type": "application/x-protobuf",
                "Content-Encoding": "gzip",
            },
        )
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    partial = ExportTraceServiceResponse.FromString(reply.content).partial_success
    assert partial.rejected_spans == 1
    assert "model name is 300 characters, over 256" in partial.error_message
    row = store.query_dicts("SELECT attributes FROM cost_events FINAL")[0]
    assert "gen_ai.input.messages" not in row["attributes"]
    assert too_large.status_code == 413


def test_spool_skips_torn_tail(tmp_path):
    spool = Spool(tmp_path)
    spool.append(b"first")
    spool.append(b"second")
    spool.seal()
    segment = spool.segments()[0]
    with segment.open("ab") as handle:
        handle.write(b"\x00\x00\x00\x09\x00")  # a header cut short by a crash
    assert [record.payload for record in spool.read(segment)] == [b"first", b"second"]
    reopened = Spool(tmp_path)
    reopened.append(b"third")
    assert [path.name for path in reopened.segments()] == [
        "000000000001.spool",
        "000000000002.spool",
    ]


def test_rejected_write_not_retryable(store, registry, tmp_path):
    def rejecting_write(store_, events):
        raise ValueError("Code: 53. Type mismatch in column cost_usd")

    with (
        serving(store, registry, write=rejecting_write, ack="store") as service,
        client() as http,
    ):
        reply = send(http, service, 1, 2)
    assert reply.status_code == 500
    assert (
        "the store rejected 2 events"
        in status_pb2.Status.FromString(reply.content).message
    )
    assert totals(store)["events"] == 0


def test_rejected_spool_segment_set_aside(store, registry, tmp_path):
    spool_dir = tmp_path / "spool"
    with (
        serving(
            store, registry, write=FlakyWriter(down=True), spool_dir=spool_dir
        ) as service,
        client() as http,
    ):
        assert send(http, service, 1, 2).status_code == 200
    attempts = []

    def rejecting_write(store_, events):
        attempts.append(len(events))
        raise ValueError("Code: 53. Type mismatch in column cost_usd")

    with serving(
        store, registry, write=rejecting_write, spool_dir=spool_dir
    ) as service:
        wait_for(lambda: (spool_dir / "failed").exists(), timeout_s=20)
        assert service.pipeline.spool.is_empty()
    assert attempts == [2, 2, 2]
    assert [path.name for path in (spool_dir / "failed").iterdir()] == [
        "000000000001.spool"
    ]
    assert list(spool_dir.glob("*.spool")) == []


def test_body_budget_answers_429(store, registry):
    release = threading.Event()
    writing = threading.Event()

    def slow_write(store_, events):
        writing.set()
        release.wait(10)
        return write_events(store_, events)

    with (
        serving(
            store,
            registry,
            write=slow_write,
            max_body_bytes_in_flight=1000,
            # The first request then stays in flight until its write ends.
            ack="store",
        ) as service,
        client() as http,
    ):
        first = threading.Thread(target=send, args=(http, service, 1, 3))
        first.start()
        wait_for(writing.is_set)
        second = send(http, service, 4, 3)
        release.set()
        first.join()
    assert second.status_code == 429
    assert second.headers["retry-after"] == "5"
    assert (
        "at the limit of 1000" in status_pb2.Status.FromString(second.content).message
    )
    assert totals(store)["events"] == 3


def test_set_aside_keeps_earlier_segments(tmp_path):
    spool = Spool(tmp_path)
    spool.append(b"first")
    spool.seal()
    first = spool.set_aside(spool.segments()[0], "failed")
    # A spool opened on the emptied directory, as after a restart, numbers
    # its segments from 1 again.
    spool = Spool(tmp_path)
    spool.append(b"second")
    spool.seal()
    second = spool.set_aside(spool.segments()[0], "failed")
    assert first.name == "000000000001.spool"
    assert second.name == "000000000001.2.spool"
    assert first.read_bytes().endswith(b"first")
    assert second.read_bytes().endswith(b"second")
    assert spool.is_empty()


def test_unreachable_server_store_spools(registry, tmp_path):
    from otel_cost.serve.service import ServeConfig, Service

    settings = ServeConfig(
        dsn="http://127.0.0.1:1",
        database="otel_cost",
        grpc_port=0,
        http_port=0,
        api_port=0,
        spool_dir=tmp_path / "spool",
    )
    service = Service(settings, registry)
    service.start()
    try:
        with client() as http:
            accepted = send(http, service, 1, 4)
            ready = http.get(f"{service.urls['api_url']}/readyz").json()
            summary = http.get(f"{service.urls['api_url']}/api/v1/summary")
    finally:
        service.stop()
    assert accepted.status_code == 200
    assert ready["store"] == "down"
    assert ready["ready"] is True
    assert summary.status_code == 503
    assert (
        "cannot reach the ClickHouse server at http://127.0.0.1:1"
        in summary.json()["error"]
    )
    assert len(list((tmp_path / "spool").glob("*.spool"))) == 1


def test_default_spool_per_store(store, registry):
    from otel_cost.serve.service import default_spool_dir

    first = default_spool_dir("chdb:///data/a", "otel_cost")
    assert first == default_spool_dir("chdb:///data/a", "otel_cost")
    assert first != default_spool_dir("chdb:///data/b", "otel_cost")
    assert first != default_spool_dir("chdb:///data/a", "other")
    assert first.name.startswith("otel_cost-")
    with serving(store, registry) as service:
        assert service.pipeline.spool.directory == default_spool_dir(
            store.dsn, store.database
        )


def test_spool_of_other_store_rejected(store, registry, tmp_path):
    from otel_cost.errors import ConfigError
    from otel_cost.serve.service import ServeConfig, Service

    with serving(store, registry, spool_dir=tmp_path / "spool"):
        pass
    other = ServeConfig(
        dsn=store.dsn, database="another_db", spool_dir=tmp_path / "spool"
    )
    with pytest.raises(ConfigError, match="contains events for .* database 'test_"):
        Service(other, registry)


def test_unreadable_spool_record_set_aside(store, registry, tmp_path):
    spool_dir = tmp_path / "spool"
    Spool(spool_dir).append(b"not a list of events")
    with serving(store, registry, spool_dir=spool_dir) as service, client() as http:
        wait_for(lambda: (spool_dir / "failed").exists(), timeout_s=20)
        assert send(http, service, 1, 2).status_code == 200
    assert [path.name for path in (spool_dir / "failed").iterdir()] == [
        "000000000001.spool"
    ]
    assert totals(store)["events"] == 2


def test_unusable_spool_dir_is_config_error(store, registry, tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_bytes(b"")
    settings = ServeConfig(dsn=store.dsn, database=store.database, spool_dir=blocked)
    with pytest.raises(
        ConfigError, match="cannot use the spool directory .*--spool-dir"
    ):
        Service(settings, registry)


def test_unknown_dsn_scheme_stops_start(registry, tmp_path):
    settings = ServeConfig(
        dsn="garbage://x", database="otel_cost", spool_dir=tmp_path / "spool"
    )
    service = Service(settings, registry)
    with pytest.raises(ConfigError, match="unsupported store DSN 'garbage://x'"):
        service.start()

"""``--ack journal``: acknowledge once journaled, store in batches, replay after a crash."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from serve_support import client, serving, span, totals, trace_request

from otel_cost.events import CostEvent
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.serve.ingest import convert_traces
from otel_cost.serve.pipeline import (
    Submission,
    WritePipeline,
    journal_record,
    read_journal_record,
)
from otel_cost.serve.self_metrics import SelfMetrics
from otel_cost.serve.spool import Spool
from otel_cost.store import Store
from otel_cost.store.writer import (
    WriteResult,
    decode_block,
    prepare_events,
    write_events,
)

SPAN_ATTRS = {
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.usage.input_tokens": 100,
    "gen_ai.usage.output_tokens": 10,
}
# 100 x 3e-6 + 10 x 1.5e-5
SPAN_COST = Decimal("0.00045")


def request(first: int, count: int, trace: int = 1):
    return trace_request(
        [span(first + i, SPAN_ATTRS, trace_number=trace) for i in range(count)],
        {"service.name": "a", "project": "journal"},
    )


def send(http, service, first: int, count: int):
    return http.post(
        f"{service.urls['otlp_http_url']}/v1/traces",
        content=request(first, count).SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )


def wait_for(condition, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def journal_of(store: Store, registry: PricingRegistry, spool_dir: Path, first: int):
    """Write one request of 4 spans to a journal, as a killed service leaves it."""
    events = convert_traces(request(first, 4), registry).events
    prepared = prepare_events(store, events)
    assert prepared is not None
    Spool(spool_dir).append(journal_record(Submission([], prepared)))
    return events


def test_acknowledged_before_the_write_ends(store, registry, tmp_path):
    release = threading.Event()
    writing = threading.Event()

    def slow_write(store_, events):
        writing.set()
        release.wait(20)
        return write_events(store_, events)

    spool_dir = tmp_path / "spool"
    with (
        serving(store, registry, write=slow_write, spool_dir=spool_dir) as service,
        client() as http,
    ):
        assert send(http, service, 1, 3).status_code == 200
        wait_for(writing.is_set)
        # The writer is still busy with the first request, and the second is
        # acknowledged from the journal all the same.
        assert send(http, service, 4, 2).status_code == 200
        assert totals(store)["events"] == 0
        assert not service.pipeline.spool.is_empty()
        release.set()
        wait_for(lambda: totals(store)["events"] == 5)
        wait_for(service.pipeline.spool.is_empty)
        page = http.get(f"{service.urls['api_url']}/metrics").text
    assert "otel_cost_serve_journaled_events_total 5" in page
    assert totals(store)["rollup_cost"] == SPAN_COST * 5
    assert list(spool_dir.glob("*.spool")) == []


def test_crash_journal_stored_at_start(store, registry, tmp_path):
    spool_dir = tmp_path / "spool"
    journal_of(store, registry, spool_dir, 1)
    journal_of(store, registry, spool_dir, 5)
    with serving(store, registry, spool_dir=spool_dir) as service:
        # Stored before the service listens, so no wait is needed.
        assert totals(store)["events"] == 8
        assert service.pipeline.spool.is_empty()
    result = totals(store)
    assert result["cost"] == SPAN_COST * 8
    assert result["rollup_events"] == 8
    assert list(spool_dir.glob("*.spool")) == []


def test_rollups_repaired_after_an_interrupted_insert(store, registry, tmp_path):
    spool_dir = tmp_path / "spool"
    events = journal_of(store, registry, spool_dir, 1)
    # The kill came after the events table took the rows and before the
    # 15-minute rollup's view did.
    write_events(store, events)
    store.command("TRUNCATE TABLE cost_rollup_15m")
    assert totals(store)["rollup_events"] == 0
    with serving(store, registry, spool_dir=spool_dir) as service:
        wait_for(lambda: totals(store)["rollup_events"] == 4, timeout_s=30)
        wait_for(service.pipeline.spool.is_empty)
    result = totals(store)
    assert result["events"] == 4
    assert result["rollup_cost"] == SPAN_COST * 4


def test_rejected_batch_set_aside_after_retries(store, registry, tmp_path):
    attempts: list[int] = []

    def rejecting_write(store_, events):
        attempts.append(len(events))
        raise ValueError("Code: 53. Type mismatch in column cost_usd")

    spool_dir = tmp_path / "spool"
    with (
        serving(store, registry, write=rejecting_write, spool_dir=spool_dir) as service,
        client() as http,
    ):
        # Acknowledged: the events are on disk, and the store's refusal shows
        # up in the log, the metrics and the failed folder instead.
        assert send(http, service, 1, 2).status_code == 200
        wait_for(lambda: (spool_dir / "failed").exists(), timeout_s=30)
        wait_for(service.pipeline.spool.is_empty)
    assert attempts == [2, 2, 2, 2]
    assert len(list((spool_dir / "failed").iterdir())) == 1
    assert totals(store)["events"] == 0


def test_record_of_a_block_reads_back(store, registry):
    events = convert_traces(request(1, 3), registry).events
    prepared = prepare_events(store, events)
    assert prepared is not None
    record = journal_record(Submission([], prepared))
    read = read_journal_record(record)
    assert not isinstance(read, list)
    assert read.ids == prepared.ids
    assert read.cost_usd == SPAN_COST * 3
    assert read.block == prepared.block
    assert read.first_ts == min(event.ts for event in events)
    assert read.load() == events


def test_decode_block_keeps_every_field(store, registry):
    events = convert_traces(request(1, 2), registry).events
    events[1].attributes["otel_cost.unpriced_reason"] = "kept"
    prepared = prepare_events(store, events)
    assert prepared is not None
    assert decode_block(prepared.block) == events


def test_events_record_of_earlier_spools_reads_back():
    # Spools written before blocks were journaled hold events as JSON.
    payload = b"[]"
    assert read_journal_record(payload) == []


@pytest.mark.parametrize("appended", [1, 3])
def test_release_removes_stored_segments_only(tmp_path, appended):
    spool = Spool(tmp_path)
    first = spool.append(b"a")
    spool.seal()
    marks = [spool.append(bytes([n])) for n in range(appended)]
    spool.release(first)
    # The sealed segment is stored, and the active one still contains records.
    assert len(spool.segments()) == 1
    spool.release(marks[0])
    assert spool.is_empty() == (appended == 1)
    spool.release(marks[-1])
    assert spool.is_empty()
    assert spool.segments() == []
    # Appending after a release starts a segment with a higher number.
    later = spool.append(b"z")
    assert later.segment > marks[-1].segment


@pytest.mark.parametrize("segment_bytes", [64, 2**20])
def test_concurrent_appends_are_all_kept(tmp_path, segment_bytes):
    # 64-byte segments roll over every few records, between appends and fsyncs.
    spool = Spool(tmp_path, segment_bytes=segment_bytes)
    start = threading.Barrier(8)

    def append(number: int) -> None:
        start.wait()
        for index in range(20):
            mark = spool.append(f"{number}-{index}".encode(), sync=False)
            spool.sync(mark)

    threads = [threading.Thread(target=append, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spool.seal()
    records = [r.payload for s in spool.segments() for r in spool.read(s)]
    assert sorted(records) == sorted(
        f"{n}-{i}".encode() for n in range(8) for i in range(20)
    )


def test_full_queue_holds_requests_back(store, tmp_path):
    release = threading.Event()
    writes: list[int] = []

    def blocked_write(store_, events):
        writes.append(len(events))
        release.wait(20)
        return WriteResult(inserted=len(events))

    pipeline = WritePipeline(
        lambda: store,
        blocked_write,
        Spool(tmp_path / "spool"),
        SelfMetrics(),
        max_batch_events=4,
        ack="journal",
        flush_seconds=0.0,
    )
    pipeline.use_store(store)
    pipeline.start()
    ts = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

    def events(first: int, count: int) -> list[CostEvent]:
        return [
            CostEvent(event_id=f"e{n}", ts=ts, harness="sdk", source="sdk")
            for n in range(first, first + count)
        ]

    try:
        pipeline.submit(events(0, 1))
        wait_for(lambda: writes == [1])
        # The writer is busy: two events fill the queue's room (half a batch).
        pipeline.submit(events(1, 2))
        waiting = threading.Thread(target=pipeline.submit, args=(events(3, 1),))
        waiting.start()
        waiting.join(0.5)
        assert waiting.is_alive()
        release.set()
        waiting.join(10)
        assert not waiting.is_alive()
    finally:
        release.set()
        pipeline.stop()
    assert sum(writes) == 4


def test_unwritable_journal_not_ready(store, registry, tmp_path):
    spool_dir = tmp_path / "spool"
    with (
        serving(store, registry, spool_dir=spool_dir) as service,
        client() as http,
    ):
        assert send(http, service, 1, 2).status_code == 200
        wait_for(lambda: totals(store)["events"] == 2)
        # The spool directory is gone, and a file has taken its path.
        for path in spool_dir.iterdir():
            path.unlink()
        spool_dir.rmdir()
        spool_dir.write_bytes(b"")
        failed = send(http, service, 3, 2)
        ready = http.get(f"{service.urls['api_url']}/readyz")
        spool_dir.unlink()
        recovered = http.get(f"{service.urls['api_url']}/readyz")
        again = send(http, service, 5, 2)
        wait_for(lambda: totals(store)["events"] == 4)
    assert failed.status_code == 503
    assert ready.status_code == 503
    assert ready.json()["journal"] == "failing"
    assert recovered.status_code == 200
    assert recovered.json()["journal"] == "ok"
    assert again.status_code == 200

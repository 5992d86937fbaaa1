"""The writer waits briefly for more requests, so concurrent ones share one insert."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from otel_cost.events import CostEvent
from otel_cost.serve.pipeline import WritePipeline
from otel_cost.serve.self_metrics import SelfMetrics
from otel_cost.serve.spool import Spool
from otel_cost.store import Store
from otel_cost.store.writer import WriteResult

TS = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


class RecordingWriter:
    """Counts the events of each write call; stores nothing."""

    def __init__(self) -> None:
        self.writes: list[int] = []

    def __call__(self, store: Store, events: list[CostEvent]) -> WriteResult:
        self.writes.append(len(events))
        return WriteResult(inserted=len(events))


def submit_together(pipeline: WritePipeline, requests: int) -> None:
    start = threading.Barrier(requests)

    def send(number: int) -> None:
        start.wait()
        event = CostEvent(event_id=f"e{number}", ts=TS, harness="sdk", source="sdk")
        pipeline.submit([event])

    threads = [threading.Thread(target=send, args=(n,)) for n in range(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def run_pipeline(
    store: Store, tmp_path: Path, linger_seconds: float, requests: int
) -> list[int]:
    writer = RecordingWriter()
    pipeline = WritePipeline(
        lambda: store,
        writer,
        Spool(tmp_path / "spool"),
        SelfMetrics(),
        linger_seconds=linger_seconds,
    )
    pipeline.use_store(store)
    pipeline.start()
    try:
        submit_together(pipeline, requests)
    finally:
        pipeline.stop()
    return writer.writes


def test_concurrent_requests_share_write(store: Store, tmp_path: Path) -> None:
    # Five requests sent at once arrive well within a 300 ms wait.
    assert run_pipeline(store, tmp_path, 0.3, 5) == [5]


def test_every_event_written_once(store: Store, tmp_path: Path) -> None:
    writes = run_pipeline(store, tmp_path, 0.0, 40)
    assert sum(writes) == 40

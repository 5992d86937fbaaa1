"""The destination of live-captured events: a running ``otel-cost serve``, else the store.

An embedded store can be opened by one process only. So when a service runs,
events go through its REST API (``POST /api/v1/events``). Otherwise the
capturing process writes them into the store itself. `Emitter` moves the
writing off the request path onto a background thread.
"""

from __future__ import annotations

import importlib
import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import httpx

from otel_cost.errors import OtelCostError, StoreError
from otel_cost.events import CostEvent

logger = logging.getLogger(__name__)

EVENTS_PATH = "/api/v1/events"
SERVICE_TIMEOUT_S = 5.0
FLUSH_INTERVAL_S = 0.5
MAX_BATCH = 200


class EventSink(Protocol):
    """Something that stores priced events."""

    #: The destination, for messages: a DSN or a URL.
    target: str

    def write(self, events: Sequence[CostEvent]) -> None:
        """Store ``events`` or raise `OtelCostError`."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class StoreSink:
    """Writes events straight into a store (already priced by the caller)."""

    def __init__(self, dsn: str | None = None) -> None:
        from otel_cost.store import open_store

        self._store = open_store(dsn)
        self.target = self._store.dsn

    def write(self, events: Sequence[CostEvent]) -> None:
        """Write through the deduplicating writer."""
        from otel_cost.store.writer import write_events

        try:
            write_events(self._store, events)
        except OtelCostError:
            raise
        except Exception as exc:
            raise StoreError(f"cannot write {len(events)} events: {exc}") from exc

    def close(self) -> None:
        """Close the store handle."""
        self._store.close()


class ServiceSink:
    """Posts events to a running ``otel-cost serve``.

    When the service can no longer be reached (it was shut down
    mid-session), the sink switches to writing the store itself. That works
    once the service has exited and so released the store's lock.
    """

    def __init__(self, api_url: str, token: str | None = None) -> None:
        self.api_url = api_url.rstrip("/")
        self.target = self.api_url
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(timeout=SERVICE_TIMEOUT_S, headers=headers)
        self._fallback: StoreSink | None = None

    def write(self, events: Sequence[CostEvent]) -> None:
        """Post one batch; a non-2xx status raises."""
        if self._fallback is not None:
            self._fallback.write(events)
            return
        payload = {"events": [event_to_json(event) for event in events]}
        try:
            response = self._client.post(self.api_url + EVENTS_PATH, json=payload)
        except httpx.TransportError as exc:
            self._switch_to_store(exc)
            self.write(events)
            return
        if response.status_code >= 300:
            raise OtelCostError(
                f"the otel-cost service at {self.api_url} rejected {len(events)} "
                f"events with HTTP {response.status_code}"
            )

    def _switch_to_store(self, exc: Exception) -> None:
        try:
            self._fallback = StoreSink()
        except OtelCostError as store_exc:
            raise OtelCostError(
                f"cannot reach the otel-cost service at {self.api_url} ({exc}) "
                f"and cannot open the store: {store_exc}"
            ) from exc
        logger.warning(
            "otel-cost service at %s stopped answering (%s); writing to %s",
            self.api_url,
            type(exc).__name__,
            self._fallback.target,
        )
        self.target = self._fallback.target

    def close(self) -> None:
        """Close the HTTP client and the fallback store."""
        self._client.close()
        if self._fallback is not None:
            self._fallback.close()


def running_service() -> dict[str, Any] | None:
    """Return the local service's addresses, or None when no service runs."""
    try:
        discovery = importlib.import_module("otel_cost.serve.discovery")
    except ImportError:
        return None
    try:
        found: dict[str, Any] | None = discovery.running_service()
    except Exception as exc:  # a broken discovery file must not stop the capture
        logger.warning("cannot check for a running otel-cost service: %s", exc)
        return None
    return found


def open_sink(dsn: str | None = None) -> EventSink:
    """Return a sink for the running service, or for the store named by ``dsn``.

    An explicit ``dsn`` always means the store, even when a service runs.
    """
    service = None if dsn else running_service()
    if service and service.get("api_url"):
        return ServiceSink(str(service["api_url"]), service.get("token"))
    return StoreSink(dsn)


def event_to_json(event: CostEvent) -> dict[str, Any]:
    """Return the JSON form the service accepts: canonical usage, decimals as strings.

    Cost is left out because the service prices every event itself.
    """
    usage: dict[str, int] = {
        category.value: n for category, n in event.usage.tokens.items()
    }
    usage.update({fee.value: n for fee, n in event.usage.fees.items()})
    return {
        "event_id": event.event_id,
        "ts": event.ts.isoformat(),
        "harness": event.harness,
        "source": event.source,
        "session_id": event.session_id,
        "parent_session_id": event.parent_session_id,
        "provider": event.provider,
        "model_requested": event.model_requested,
        "model": event.model,
        "project": event.project,
        "task_type": event.task_type,
        "user": event.user,
        "team": event.team,
        "cost_center": event.cost_center,
        "git_repo": event.git_repo,
        "git_branch": event.git_branch,
        "trace_id": event.trace_id,
        "span_id": event.span_id,
        "operation": event.operation,
        "tool_name": event.tool_name,
        "outcome": event.outcome,
        "error_type": event.error_type,
        "latency_ms": event.latency_ms,
        "service_tier": event.service_tier,
        "usage": usage,
        "attributes": dict(event.attributes),
        "reported_cost_usd": _decimal_text(event.reported_cost_usd),
    }


def _decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


@dataclass
class EmitterStats:
    """Counts of what an emitter did."""

    written: int = 0
    failed: int = 0


class Emitter:
    """Writes events on a background thread in small batches, in arrival order.

    A failed batch is logged and counted, never raised: capture must not stop
    the agent it observes.
    """

    def __init__(self, sink: EventSink) -> None:
        self.sink = sink
        self.stats = EmitterStats()
        self._queue: queue.Queue[CostEvent | None] = queue.Queue()
        self._thread = threading.Thread(
            target=self._run, name="otel-cost-emitter", daemon=True
        )
        self._thread.start()

    def submit(self, event: CostEvent) -> None:
        """Queue one event for writing."""
        self._queue.put(event)

    def close(self, timeout_s: float = 30.0) -> None:
        """Write everything queued, then stop the thread and close the sink."""
        self._queue.put(None)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            logger.warning("event writer did not finish within %.0f s", timeout_s)
        self.sink.close()

    def _run(self) -> None:
        stop = False
        while not stop:
            batch, stop = self._next_batch()
            if batch:
                self._write(batch)

    def _next_batch(self) -> tuple[list[CostEvent], bool]:
        batch: list[CostEvent] = []
        try:
            item = self._queue.get(timeout=FLUSH_INTERVAL_S)
        except queue.Empty:
            return batch, False
        while item is not None:
            batch.append(item)
            if len(batch) >= MAX_BATCH:
                return batch, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, False
        return batch, True

    def _write(self, batch: list[CostEvent]) -> None:
        try:
            self.sink.write(batch)
        except Exception as exc:  # logged and counted; capture goes on
            self.stats.failed += len(batch)
            logger.warning(
                "cannot store %d events in %s: %s", len(batch), self.sink.target, exc
            )
            return
        self.stats.written += len(batch)

"""Converting OTLP requests in worker processes, beside the service's own thread.

Conversion and pricing are pure Python, so in one process they take turns on
the interpreter lock with everything else the service does. With
``--convert-workers N`` an export request is sent, still serialised, to one
of N worker processes when one is free (otherwise the service converts it).
The worker parses, converts, prices and encodes the events as a
``cost_events`` insert block, and returns the block with the request's counts
and ids. The service converts the request again itself only
when the block cannot be inserted as it is (a stored or repeated id, or the
store is down and the events go to the spool).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import CancelledError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from otel_cost.events import CostEvent
from otel_cost.pricing.registry import PricingRegistry, load_registry
from otel_cost.serve.ingest import Conversion, convert_logs, convert_traces
from otel_cost.store.writer import PreparedEvents, encode_prepared, native_encoder

logger = logging.getLogger(__name__)

TRACES, LOGS = "traces", "logs"
#: Allocations between two collections of a worker's youngest generation.
WORKER_GC_THRESHOLD = 50_000
#: How often a worker checks that the service that started it still runs.
PARENT_CHECK_SECONDS = 1.0


@dataclass
class RemoteConversion:
    """The counts, rejection reasons and insert block a worker returns for a request."""

    received: int
    ignored: int
    rejected: int
    errors: list[str]
    prepared: PreparedEvents | None = field(default=None, repr=False)

    def conversion(self) -> Conversion:
        """Return the counts as a `Conversion` without events."""
        return Conversion(
            received=self.received,
            ignored=self.ignored,
            rejected=self.rejected,
            errors=self.errors,
        )


# Set in each worker by `_start_worker`.
_registry: PricingRegistry | None = None
_encoder: Any = None


def _start_worker(pricing_files: list[str], type_names: list[str]) -> None:
    global _registry, _encoder
    _registry = load_registry(pricing_files)
    _encoder = native_encoder(type_names)
    # As in the service: the rate cards stay, and conversion makes few cycles.
    gc.freeze()
    gc.set_threshold(WORKER_GC_THRESHOLD, *gc.get_threshold()[1:])
    threading.Thread(
        target=_exit_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True
    ).start()


def _exit_with_parent(parent: int) -> None:
    # A service killed outright cannot stop its workers, which would then run
    # on with nothing to do: each exits once its parent process is gone.
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)


def _convert(signal: str, body: bytes) -> RemoteConversion:
    if _registry is None or _encoder is None:
        raise RuntimeError("the conversion worker did not start")
    if signal == TRACES:
        conversion = convert_traces(
            ExportTraceServiceRequest.FromString(body), _registry
        )
    else:
        conversion = convert_logs(ExportLogsServiceRequest.FromString(body), _registry)
    prepared = None
    if conversion.events:
        prepared = encode_prepared(_encoder, conversion.events)
        prepared.events = None
    return RemoteConversion(
        conversion.received,
        conversion.ignored,
        conversion.rejected,
        conversion.errors,
        prepared,
    )


class ConvertPool:
    """Worker processes that turn serialised export requests into insert blocks."""

    def __init__(
        self,
        workers: int,
        pricing_files: list[str],
        type_names: list[str],
        registry: PricingRegistry,
    ) -> None:
        self.registry = registry
        # Workers start fresh ("spawn"): a fork would copy the embedded
        # ClickHouse engine's threads and locks in an unknown state.
        self._executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(pricing_files, type_names),
        )
        self.workers = workers
        self.broken = False
        self._lock = threading.Lock()
        # Requests sent to the workers and not yet returned.
        self._busy = 0
        #: Requests the workers converted.
        self.converted = 0
        # Start every worker now, so the first requests do not wait for them.
        for future in [self._executor.submit(_ping) for _ in range(workers)]:
            future.result()

    def convert(self, signal: str, request: Any) -> RemoteConversion | None:
        """Convert one request in a worker; None when the pool cannot.

        Also None while every worker is busy: the caller then converts the
        request itself, so the service's own process converts beside them.
        """
        with self._lock:
            if self.broken or self._busy >= self.workers:
                return None
            self._busy += 1
        try:
            return self._convert_remote(signal, request)
        finally:
            with self._lock:
                self._busy -= 1

    def _convert_remote(self, signal: str, request: Any) -> RemoteConversion | None:
        try:
            future = self._executor.submit(
                _convert, signal, request.SerializeToString()
            )
            result: RemoteConversion = future.result()
        except CancelledError:
            # The service is stopping; the request is refused as it is.
            return None
        except BrokenProcessPool as exc:
            # A worker died; the service converts in its own process from now on.
            logger.error("a conversion worker stopped, converting in-process: %s", exc)
            self.broken = True
            return None
        except Exception:  # noqa: BLE001 - the service converts the request itself
            logger.exception("a conversion worker failed on one %s request", signal)
            return None
        self.converted += 1
        if result.prepared is not None:
            result.prepared.loader = lambda: self._convert_here(signal, request)
        return result

    def _convert_here(self, signal: str, request: Any) -> list[CostEvent]:
        convert = convert_traces if signal == TRACES else convert_logs
        return convert(request, self.registry).events

    def close(self) -> None:
        """Stop the workers without waiting for conversions under way.

        The service refuses every request once it stops, so a conversion still
        running has no use; its worker exits when it ends.
        """
        self._executor.shutdown(wait=False, cancel_futures=True)


def _ping() -> bool:
    return _registry is not None

"""The service's own counters, rendered in the Prometheus text format."""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from collections.abc import Iterable

from otel_cost.store.writer import WriteResult

#: Write latency histogram bounds, in seconds.
WRITE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PREFIX = "otel_cost_serve"


class SelfMetrics:
    """Thread-safe counters of what the service received, rejected and wrote."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self.received: Counter[tuple[str, str]] = Counter()
        self.rejected: Counter[tuple[str, str]] = Counter()
        self.ignored: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        self.written: Counter[str] = Counter()
        self.failed_requests: Counter[tuple[str, int]] = Counter()
        self._bucket_counts = [0] * (len(WRITE_BUCKETS) + 1)
        self._write_sum = 0.0

    def count(self, name: str, amount: int = 1) -> None:
        """Add to one of the plain counters (spooled_events, replayed_events, ...)."""
        with self._lock:
            self._counts[name] += amount

    def value(self, name: str) -> int:
        """Return one plain counter."""
        with self._lock:
            return self._counts[name]

    def record_request(
        self, signal: str, transport: str, received: int, accepted: int, ignored: int
    ) -> None:
        """Count the items of one request."""
        with self._lock:
            self.received[(signal, transport)] += received
            self.accepted[signal] += accepted
            self.ignored[signal] += ignored

    def record_rejected(self, signal: str, reason: str, items: int) -> None:
        """Count items rejected, by reason (invalid, overloaded, unavailable, ...)."""
        with self._lock:
            self.rejected[(signal, reason)] += items

    def record_failed_request(self, path: str, status: int) -> bool:
        """Count one request answered with an error; return True when it should be logged.

        The 1st, 10th, 100th, ... failure of each path and status is logged, so a
        misconfigured client cannot flood the log.
        """
        with self._lock:
            self.failed_requests[(path, status)] += 1
            count = self.failed_requests[(path, status)]
        return str(count).strip("0") == "1"

    def observe_write(self, seconds: float, result: WriteResult) -> None:
        """Record one store write: its latency and what it did."""
        with self._lock:
            self._bucket_counts[bisect.bisect_left(WRITE_BUCKETS, seconds)] += 1
            self._write_sum += seconds
            self.written["inserted"] += result.inserted
            self.written["replaced"] += result.replaced
            self.written["duplicate"] += result.duplicates

    def lines(self) -> list[str]:
        """Return the exposition lines of every self-metric."""
        with self._lock:
            lines = [
                *_family(
                    "received_items_total",
                    "counter",
                    "Spans, log records and events received.",
                    (
                        (f'signal="{s}",transport="{t}"', n)
                        for (s, t), n in sorted(self.received.items())
                    ),
                ),
                *_family(
                    "accepted_events_total",
                    "counter",
                    "Cost events accepted for writing.",
                    ((f'signal="{s}"', n) for s, n in sorted(self.accepted.items())),
                ),
                *_family(
                    "ignored_items_total",
                    "counter",
                    "Items received that carry no cost data.",
                    ((f'signal="{s}"', n) for s, n in sorted(self.ignored.items())),
                ),
                *_family(
                    "rejected_items_total",
                    "counter",
                    "Items rejected, by reason.",
                    (
                        (f'signal="{s}",reason="{r}"', n)
                        for (s, r), n in sorted(self.rejected.items())
                    ),
                ),
                *_family(
                    "failed_requests_total",
                    "counter",
                    "Requests answered with an HTTP error, by path and status.",
                    (
                        (f'path="{p}",status="{c}"', n)
                        for (p, c), n in sorted(self.failed_requests.items())
                    ),
                ),
                *_family(
                    "written_events_total",
                    "counter",
                    "Events written to the store, by result.",
                    ((f'result="{r}"', n) for r, n in sorted(self.written.items())),
                ),
                *_family(
                    "journaled_events_total",
                    "counter",
                    "Events acknowledged once in the disk journal (--ack journal).",
                    [("", self._counts["journaled_events"])],
                ),
                *_family(
                    "spooled_events_total",
                    "counter",
                    "Events left on disk for a replay while the store was down.",
                    [("", self._counts["spooled_events"])],
                ),
                *_family(
                    "replayed_events_total",
                    "counter",
                    "Events replayed from the spool into the store.",
                    [("", self._counts["replayed_events"])],
                ),
                *_family(
                    "write_failures_total",
                    "counter",
                    "Store writes that failed.",
                    [("", self._counts["write_failures"])],
                ),
            ]
            lines.extend(self._histogram_lines())
        return lines

    def _histogram_lines(self) -> list[str]:
        name = f"{PREFIX}_write_duration_seconds"
        lines = [
            f"# HELP {name} Latency of one batch write to the store.",
            f"# TYPE {name} histogram",
        ]
        cumulative = 0
        for bound, count in zip(WRITE_BUCKETS, self._bucket_counts, strict=False):
            cumulative += count
            lines.append(f'{name}_bucket{{le="{bound}"}} {cumulative}')
        total = sum(self._bucket_counts)
        lines.append(f'{name}_bucket{{le="+Inf"}} {total}')
        lines.append(f"{name}_sum {self._write_sum:.6f}")
        lines.append(f"{name}_count {total}")
        return lines


def _family(
    name: str, kind: str, help_text: str, samples: Iterable[tuple[str, int | float]]
) -> list[str]:
    full = f"{PREFIX}_{name}"
    lines = [f"# HELP {full} {help_text}", f"# TYPE {full} {kind}"]
    for labels, value in samples:
        lines.append(f"{full}{{{labels}}} {value}" if labels else f"{full} {value}")
    return lines


def gauge(name: str, help_text: str, value: int | float) -> list[str]:
    """Return the lines of one unlabelled service gauge."""
    return _family(name, "gauge", help_text, [("", value)])

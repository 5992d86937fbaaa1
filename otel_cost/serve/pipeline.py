"""The write pipeline: a bounded queue, one writer thread, and the disk spool.

Two ways to acknowledge a request:

- ``journal`` (the default): the request's events are appended to the spool
  and fsynced, and the request is acknowledged at once. The writer thread
  then takes the queued requests in large batches, at most one insert per
  `flush_seconds` while events keep arriving, and releases the spool up to
  each batch it stored. Large inserts cost ClickHouse far less per event, and
  a client no longer waits for the insert.
- ``store``: a request is acknowledged only after its events are in the store,
  or fsynced to the spool while the store is down. Concurrent requests share
  one insert.

When a write fails, the writer falls behind: the queue is dropped (every
event in it is on disk) and the spool is replayed first, oldest segment
first, so events reach the store in the order they were accepted, also across
restarts. Only this thread writes cost events, which is what makes the
writer's duplicate check safe.

With ``prepared`` on, the thread that submits a request also encodes its
events as an insert block (`prepare_events`), so the writer thread, which every
request waits for, only looks ids up and inserts.

NOTE: the duplicate check is a lookup followed by an insert, so two services
writing to one ClickHouse server can both insert an event that arrives at
both at once. The events table collapses such pairs, but the rollup counts
them twice (see docs/scale.md for routing and repair).
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson

from otel_cost.errors import OtelCostError, StoreError
from otel_cost.events import CostEvent
from otel_cost.serve.codec import decode_events, encode_events
from otel_cost.serve.self_metrics import SelfMetrics
from otel_cost.serve.spool import Spool, SpoolError, SpoolFullError, SpoolMark
from otel_cost.store.connection import Store
from otel_cost.store.writer import (
    LOOKUP_BYTES,
    PreparedEvents,
    WriteResult,
    decode_block,
    prepare_events,
    write_prepared,
)

logger = logging.getLogger(__name__)

WriteFunction = Callable[[Store, list[CostEvent]], WriteResult]
StoreOpener = Callable[[], Store]

ACK_JOURNAL = "journal"
ACK_STORE = "store"
ACK_MODES = (ACK_JOURNAL, ACK_STORE)

DEFAULT_QUEUE_EVENTS = 100_000
DEFAULT_BATCH_EVENTS = 20_000
#: How long the writer waits for more requests when few events are queued. An
#: insert costs about 25 ms whatever its size (the rollup views run on every
#: insert), so joining the requests that arrive meanwhile raises throughput
#: far more than the wait adds to latency.
DEFAULT_LINGER_SECONDS = 0.005
#: Queued events that end the wait at once.
LINGER_EVENTS = 2_000
#: Requests with at least this many events are encoded as an insert block by
#: the thread that received them. Smaller ones are encoded by the writer, all
#: together, because a block costs about 150 µs however few events it has.
ENCODE_AHEAD_EVENTS = 50
#: With ``ack=journal``, the shortest time between the starts of two inserts
#: while events keep arriving (an idle writer writes at once). An insert of
#: 20,000 events costs ClickHouse about a fifth of what ten inserts of 2,000
#: cost, and the wait bounds how long an event takes to become visible.
DEFAULT_FLUSH_SECONDS = 0.4
#: First byte of a journal record that contains an insert block. Records of
#: events encoded as JSON start with "[".
BLOCK_RECORD = b"N"
_HEADER_SIZE = struct.Struct(">I")
BUCKET = timedelta(minutes=15)
#: The reconciler's pause between its two passes after a replay.
REPAIR_PAUSE = timedelta(seconds=1)
RETRY_MIN_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0
# A write function given for a test gets the events in chunks of ids of at
# most this size, as the writer's own lookup takes them.
MAX_ID_BYTES_PER_WRITE = LOOKUP_BYTES
#: Failed replays of one segment, with the store up, before it is set aside.
MAX_SEGMENT_ATTEMPTS = 3
FAILED_DIR = "failed"

OK, DOWN, REJECTED = "ok", "down", "rejected"


class OverloadedError(OtelCostError):
    """The queue is full; the client should retry later."""


class UnavailableError(OtelCostError):
    """Neither the store nor the spool can take the events now."""


class WriteRejectedError(OtelCostError):
    """The store is up but rejected the events; retrying the same data cannot help."""


@dataclass
class Submission:
    """Events of one request, and how their write ended."""

    #: Events converted in this process (empty when a worker converted them).
    local_events: list[CostEvent]
    prepared: PreparedEvents | None = None
    done: threading.Event = field(default_factory=threading.Event)
    spooled: bool = False
    error: OtelCostError | None = None
    #: Where the request ends in the journal (``ack=journal`` only).
    mark: SpoolMark | None = None
    #: Set once the events are stored, or left in the journal for a replay.
    settled: threading.Event = field(default_factory=threading.Event)

    @property
    def count(self) -> int:
        """How many events the request carries."""
        return len(self.prepared.ids) if self.prepared else len(self.local_events)

    @property
    def events(self) -> list[CostEvent]:
        """The events; those a worker converted are converted again on first use."""
        return self.prepared.load() if self.prepared else self.local_events


class WritePipeline:
    """Accept batches of events and store them in order; the writer skips duplicates."""

    def __init__(
        self,
        open_store: StoreOpener,
        write: WriteFunction,
        spool: Spool,
        metrics: SelfMetrics,
        max_queue_events: int = DEFAULT_QUEUE_EVENTS,
        max_batch_events: int = DEFAULT_BATCH_EVENTS,
        prepared: bool = False,
        linger_seconds: float = DEFAULT_LINGER_SECONDS,
        ack: str = ACK_STORE,
        flush_seconds: float = DEFAULT_FLUSH_SECONDS,
    ) -> None:
        if ack not in ACK_MODES:
            raise ValueError(f"unknown ack mode {ack!r}; expected one of {ACK_MODES}")
        self._open_store = open_store
        self.prepared = prepared
        self.linger_seconds = linger_seconds
        self.ack = ack
        self.flush_seconds = flush_seconds
        #: With ``ack=journal``, queued events at which new requests wait and
        #: the writer stops lingering: half a batch keeps visibility near a
        #: second even when more arrives than the store takes.
        self.room_events = max(max_batch_events // 2, 1)
        self._write = write
        self.spool = spool
        self.metrics = metrics
        self.max_queue_events = max_queue_events
        self.max_batch_events = max_batch_events
        self._queue: deque[Submission] = deque()
        self._queued_events = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._store: Store | None = None
        self._retry_at = 0.0
        self._retry_delay = RETRY_MIN_SECONDS
        self.store_up = False
        self._last_error = ""
        self._segment_failures: dict[str, int] = {}
        # Appending to the journal and queueing happen under this lock, so
        # the queue holds requests in journal order. Taken before _cond.
        self._journal_lock = threading.Lock()
        # True while the writer stores from the journal rather than the queue.
        self._behind = ack == ACK_JOURNAL and not spool.is_empty()
        #: Why the last append to the journal failed; None once one succeeds.
        self.journal_error: str | None = None
        self._last_write = 0.0
        self._last_result = WriteResult()
        # The times of replayed events that were already stored, if any.
        self._suspect: tuple[datetime, datetime] | None = None
        self._thread = threading.Thread(
            target=self._run, name="otel-cost-writer", daemon=True
        )

    def start(self) -> None:
        """Start the writer thread (it replays any spool left from a previous run)."""
        self._thread.start()

    def use_store(self, store: Store) -> None:
        """Write to ``store``, opened by the caller at start."""
        self._store = store
        self.store_up = True

    @property
    def store(self) -> Store | None:
        """The store the writer uses, once open."""
        return self._store

    @property
    def queued_events(self) -> int:
        """Events accepted and waiting for the writer."""
        return self._queued_events

    def submit(
        self, events: list[CostEvent], timeout_s: float = 30.0, settle: bool = False
    ) -> Submission:
        """Queue events and wait until they are stored or spooled (or journaled).

        Raises `OverloadedError` when the queue is full and `UnavailableError`
        when neither the store nor the spool took them within ``timeout_s``.
        With ``settle`` the call also waits, up to ``timeout_s``, until the
        writer has stored journaled events, so a query right after it finds
        them (unless the store is down).
        """
        submission = Submission(events)
        if not events:
            return submission
        if len(events) >= ENCODE_AHEAD_EVENTS:
            submission.prepared = self._prepare(events)
        self._queue_and_wait(submission, timeout_s)
        if settle and self.ack == ACK_JOURNAL:
            submission.settled.wait(timeout_s)
        return submission

    def submit_prepared(
        self, prepared: PreparedEvents, timeout_s: float = 30.0
    ) -> Submission:
        """Queue events encoded elsewhere (a worker process) and wait like `submit`."""
        submission = Submission([], prepared if prepared.ids else None)
        if not prepared.ids:
            return submission
        return self._queue_and_wait(submission, timeout_s)

    def _queue_and_wait(self, submission: Submission, timeout_s: float) -> Submission:
        if self.ack == ACK_JOURNAL:
            return self._journal(submission, timeout_s)
        count = submission.count
        with self._cond:
            self._check_admission(count)
            self._queue.append(submission)
            self._queued_events += count
            self._cond.notify_all()
        if not submission.done.wait(timeout_s):
            # The writer may still store them; a retry is deduplicated by event id.
            raise UnavailableError(
                f"the store did not take the events within {timeout_s} s"
            )
        if submission.error is not None:
            raise submission.error
        return submission

    def _check_admission(self, count: int) -> None:
        """Raise unless a request of ``count`` events may be queued now (under _cond)."""
        if self._stopping:
            raise UnavailableError(
                "the service is stopping; retry against a running one"
            )
        full = self._queued_events + count > self.max_queue_events
        if full and self._queue:
            raise OverloadedError(
                f"the write queue contains {self._queued_events} events, at its limit of "
                f"{self.max_queue_events}; retry later"
            )

    def _journal(self, submission: Submission, timeout_s: float) -> Submission:
        """Append a request to the journal, queue it for the writer, and return."""
        count = submission.count
        record = journal_record(submission)
        self._wait_for_room(timeout_s)
        with self._journal_lock:
            with self._cond:
                self._check_admission(count)
            try:
                submission.mark = self.spool.append(record, sync=False)
            except (SpoolFullError, SpoolError) as exc:
                raise self._journal_failed(count, exc) from exc
            with self._cond:
                if self._behind:
                    # The writer reads these from the journal once it has caught up.
                    self.metrics.count("spooled_events", count)
                    submission.spooled = True
                    submission.settled.set()
                else:
                    # The writer may store them before the fsync below; should
                    # that fail, the client retries and the writer skips the
                    # events it already has.
                    self._queue.append(submission)
                    self._queued_events += count
                self._cond.notify_all()
        # Outside the lock, so requests journaled meanwhile share one fsync.
        try:
            self.spool.sync(submission.mark)
        except SpoolError as exc:
            raise self._journal_failed(count, exc) from exc
        self.journal_error = None
        self.metrics.count("journaled_events", count)
        submission.done.set()
        return submission

    def _journal_failed(self, count: int, exc: OtelCostError) -> UnavailableError:
        """Record a failed append; log it when the reason is new."""
        if str(exc) != self.journal_error:
            logger.error(
                "cannot journal %d events, responding 503 until the spool takes "
                "writes again (repeats are counted in "
                "otel_cost_serve_failed_requests_total): %s",
                count,
                exc,
            )
        self.journal_error = str(exc)
        return UnavailableError(f"the events cannot be journaled: {exc}")

    def journal_writable(self) -> bool:
        """Return whether the journal takes appends, trying it again after a failure."""
        if self.ack != ACK_JOURNAL or self.journal_error is None:
            return True
        problem = self.spool.probe()
        if problem is None:
            self.journal_error = None
        return problem is None

    def replay_now(self) -> None:
        """Store what the journal contains in the calling thread, before `start`."""
        if self._is_behind():
            self._retry_at = 0.0
            self._replay_safely()

    def _wait_for_room(self, timeout_s: float) -> None:
        """Wait while `room_events` are queued, so clients slow down to the writer's pace.

        The wait keeps the queue, and so the time to visibility, short. While
        the writer is behind nothing is queued and nothing waits.
        """
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._queued_events >= self.room_events and not self._stopping:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise UnavailableError(
                        f"the writer did not take the queued events within {timeout_s} s"
                    )
                self._cond.wait(remaining)

    def _prepare(self, events: list[CostEvent]) -> PreparedEvents | None:
        store = self._store
        if not self.prepared or store is None or not self.store_up:
            return None
        try:
            return prepare_events(store, events)
        except Exception:  # noqa: BLE001 - the writer encodes the events instead
            logger.debug("encoding %d events ahead of the write failed", len(events),
                         exc_info=True)  # fmt: skip
            return None

    def stop(self, timeout_s: float = 60.0) -> None:
        """Write or spool everything queued, then stop the writer thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout_s)
        self.spool.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping and not self._replay_due():
                    self._cond.wait(self._wait_seconds())
                if not self._queue and self._stopping:
                    break
            if self._replay_due():
                # The replay also spools requests that arrive meanwhile, in order.
                self._replay_safely()
                continue
            with self._cond:
                self._linger()
                batch = self._take_batch()
            if batch:
                self._handle_safely(batch)
        if not self.spool.is_empty():
            # One last attempt, so a store that came back gets everything now.
            self._retry_at = 0.0
            self._replay()

    def _linger(self) -> None:
        """Wait for more events while few are queued.

        With ``ack=store`` the wait is up to `linger_seconds`. With
        ``ack=journal`` it lasts until `flush_seconds` after the previous
        write started, or until a full batch is queued.
        """
        if self.ack == ACK_JOURNAL:
            deadline = self._last_write + self.flush_seconds
            enough = self.room_events
        else:
            deadline = time.monotonic() + self.linger_seconds
            enough = LINGER_EVENTS
        while self._queued_events < enough and not self._stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._cond.wait(remaining)

    def _replay_safely(self) -> None:
        try:
            self._replay()
        except OSError as exc:
            logger.error("replaying the spool failed, retrying later: %s", exc)
            self._retry_at = time.monotonic() + self._retry_delay
            self._retry_delay = min(self._retry_delay * 2, RETRY_MAX_SECONDS)

    def _handle_safely(self, batch: list[Submission]) -> None:
        # The writer thread must outlive any bug in one batch, and no client
        # may wait forever for a batch that failed.
        try:
            self._handle(batch)
        except Exception as exc:  # noqa: BLE001 - reported to the waiting clients
            logger.exception("writing a batch of %d requests failed", len(batch))
            for submission in batch:
                if not submission.done.is_set():
                    submission.error = UnavailableError(
                        f"writing the events failed: {exc}"
                    )
                    submission.done.set()

    def _take_batch(self) -> list[Submission]:
        batch: list[Submission] = []
        count = 0
        while self._queue and (
            not batch or count + self._queue[0].count <= self.max_batch_events
        ):
            submission = self._queue.popleft()
            batch.append(submission)
            count += submission.count
        self._queued_events -= count
        # Requests waiting for room in the queue may go on.
        self._cond.notify_all()
        return batch

    def _handle(self, batch: list[Submission]) -> None:
        if self.ack == ACK_JOURNAL:
            self._handle_journaled(batch)
            return
        if not self.spool.is_empty():
            outcome = DOWN
        else:
            outcome = self._write_batch(batch)
        if outcome == OK:
            for submission in batch:
                submission.done.set()
        elif outcome == DOWN:
            self._spool(batch, _events_of(batch))
        elif len(batch) > 1:
            # Find the request that contains the data the store rejects.
            for submission in batch:
                self._handle([submission])
        else:
            batch[0].error = WriteRejectedError(
                f"the store rejected {batch[0].count} events: {self._last_error}"
            )
            batch[0].done.set()

    def _handle_journaled(self, batch: list[Submission]) -> None:
        count = sum(s.count for s in batch)
        self._last_write = time.monotonic()
        outcome = self._write_batch(batch)
        mark = batch[-1].mark
        logger.debug(
            "wrote %d events of %d requests in %.0f ms",
            count,
            len(batch),
            (time.monotonic() - self._last_write) * 1000,
        )
        if outcome != OK:
            self._fall_behind(batch)
            return
        if mark is not None:
            self.spool.release(mark)
        for submission in batch:
            submission.settled.set()

    def _write_batch(self, batch: list[Submission]) -> str:
        """Write the requests of a batch as insert blocks when possible."""
        blocks = self._blocks_of(batch)
        if blocks is None:
            return self._try_write(_events_of(batch))
        return self._try_write(None, blocks, sum(s.count for s in batch))

    def _blocks_of(self, batch: list[Submission]) -> list[PreparedEvents] | None:
        """Return the batch's insert blocks, in order; None when they cannot be built.

        Small requests arrive unencoded, and each run of them becomes one block.
        """
        if not self.prepared:
            return None
        # Runs of unencoded requests, each encoded as one block in its place.
        runs: list[list[CostEvent] | PreparedEvents] = []
        for submission in batch:
            if submission.prepared is not None:
                runs.append(submission.prepared)
            elif runs and isinstance(runs[-1], list):
                runs[-1].extend(submission.local_events)
            else:
                runs.append(list(submission.local_events))
        blocks: list[PreparedEvents] = []
        for run in runs:
            block = self._prepare(run) if isinstance(run, list) else run
            if block is None:
                return None
            blocks.append(block)
        return blocks

    def _fall_behind(self, batch: list[Submission]) -> None:
        """Drop the queue and store from the journal instead, which contains all of it."""
        with self._journal_lock, self._cond:
            self._behind = True
            self._cond.notify_all()
            dropped = [*batch, *self._queue]
            self.metrics.count("spooled_events", sum(s.count for s in dropped))
            for submission in dropped:
                submission.spooled = True
                submission.settled.set()
            self._queue.clear()
            self._queued_events = 0

    def _spool(self, batch: list[Submission], events: list[CostEvent]) -> None:
        try:
            self.spool.append(encode_events(events))
        except (SpoolFullError, SpoolError) as exc:
            logger.error("cannot spool %d events: %s", len(events), exc)
            error = UnavailableError(f"the store is unavailable and {exc}")
            for submission in batch:
                submission.error = error
                submission.done.set()
            return
        self.metrics.count("spooled_events", len(events))
        for submission in batch:
            submission.spooled = True
            submission.done.set()

    def _try_write(
        self,
        events: list[CostEvent] | None,
        blocks: list[PreparedEvents] | None = None,
        count: int = 0,
    ) -> str:
        if time.monotonic() < self._retry_at:
            return DOWN
        started = time.perf_counter()
        if events is not None:
            count = len(events)
        try:
            store = self._store or self._open_store()
            self._store = store
            result = WriteResult()
            if blocks:
                result.add(write_prepared(store, blocks))
            else:
                for chunk in _chunks(events or []):
                    result.add(self._write(store, chunk))
        except StoreError as exc:
            self._mark_down(exc, count)
            return DOWN
        except Exception as exc:  # noqa: BLE001 - the client's errors vary by backend
            if not self._store_reachable():
                self._mark_down(exc, count)
                return DOWN
            logger.error("the store rejected %d events: %s", count, exc)
            self._last_error = str(exc)[:500]
            self.metrics.count("write_failures")
            return REJECTED
        self._last_result = result
        self.metrics.observe_write(time.perf_counter() - started, result)
        self._mark_up()
        return OK

    def _store_reachable(self) -> bool:
        try:
            if self._store is None:
                return False
            self._store.command("SELECT 1")
        except Exception:  # noqa: BLE001 - any failure means unreachable
            return False
        return True

    def _replay_due(self) -> bool:
        return self._is_behind() and time.monotonic() >= self._retry_at

    def _is_behind(self) -> bool:
        if self.ack == ACK_JOURNAL:
            return self._behind
        return not self.spool.is_empty()

    def _wait_seconds(self) -> float | None:
        if not self._is_behind():
            return None
        return max(self._retry_at - time.monotonic(), 0.01)

    def _replay(self) -> None:
        if self.ack == ACK_JOURNAL:
            self._catch_up()
            return
        self.spool.seal()
        self._replay_segments(self.spool.segments())

    def _catch_up(self) -> None:
        """Store the journal, segment by segment, until it is empty."""
        while True:
            with self._journal_lock:
                # Requests journaled from now on go to a new segment.
                self.spool.seal()
                segments = self.spool.segments()
                if not segments and self._suspect is None:
                    with self._cond:
                        self._behind = False
                    logger.info("the journal is stored; writing from the queue again")
                    return
            if not segments:
                self._repair_rollups()
            elif not self._replay_segments(segments):
                return

    def _repair_rollups(self) -> None:
        """Reconcile the rollups over the times of replayed events found stored.

        Such events were inserted before a crash, perhaps while the service
        was killed: the events table then has them, but a rollup view may
        not. The reconciler compares the two and corrects the rollups.
        """
        from otel_cost.store.reconcile import reconcile
        from otel_cost.store.reconcile_queries import Window

        assert self._suspect is not None
        first, last = self._suspect
        self._suspect = None
        window = Window(_bucket(first), _bucket(last) + BUCKET)
        try:
            report = reconcile(
                self._store or self._open_store(),
                window,
                settle=timedelta(0),
                pause=REPAIR_PAUSE,
            )
        except Exception as exc:  # noqa: BLE001 - the data is safe; say how to repair
            logger.warning(
                "could not check the rollups after replaying the journal (%s); "
                "run: otel-cost reconcile --since %s --until %s",
                exc,
                window.start.isoformat() if window.start else "",
                window.end.isoformat() if window.end else "",
            )
            return
        corrected = report.corrected
        if corrected:
            logger.warning(
                "corrected %d rollup groups left short by an interrupted write",
                corrected,
            )

    def _replay_segments(self, segments: list[Path]) -> bool:
        """Store sealed segments in order; return False when the store failed."""
        for segment in segments:
            outcome = self._replay_segment(segment)
            if outcome == DOWN:
                return False
            if outcome == REJECTED:
                if not self._count_segment_failure(segment):
                    return False
                continue
            self.spool.remove(segment)
            logger.info("replayed spool segment %s", segment.name)
        return True

    def _replay_segment(self, segment: Path) -> str:
        # Records already written before a failure are written again on the
        # next attempt; the writer skips them as duplicates. Consecutive
        # blocks are inserted together, as the queue's batches are.
        blocks: list[PreparedEvents] = []
        for record in self.spool.read(segment):
            try:
                item = read_journal_record(record.payload)
            except (ValueError, KeyError, TypeError) as exc:
                logger.error("spool segment %s has an unreadable record: %s",
                             segment.name, exc)  # fmt: skip
                return REJECTED
            if isinstance(item, PreparedEvents) and self.prepared:
                blocks.append(item)
                if sum(len(block.ids) for block in blocks) < self.max_batch_events:
                    continue
                outcome = self._replay_write(blocks=blocks)
            else:
                # Blocks read before these events are stored first, in order.
                outcome = self._replay_write(blocks=blocks)
                if outcome == OK:
                    events = item.load() if isinstance(item, PreparedEvents) else item
                    outcome = self._replay_write(events=events)
            blocks = []
            if outcome != OK:
                return outcome
        return self._replay_write(blocks=blocks)

    def _replay_write(
        self,
        blocks: list[PreparedEvents] | None = None,
        events: list[CostEvent] | None = None,
    ) -> str:
        """Write replayed blocks or events; nothing to write counts as written."""
        if events:
            count = len(events)
            outcome = self._try_write(events)
        elif blocks:
            count = sum(len(block.ids) for block in blocks)
            outcome = self._try_write(None, blocks, count)
        else:
            return OK
        if outcome == OK:
            self.metrics.count("replayed_events", count)
            if self.ack == ACK_STORE:
                self._spool_queued()
            elif self._last_result.duplicates or self._last_result.replaced:
                self._note_suspect(blocks or [], events or [])
        return outcome

    def _note_suspect(
        self, blocks: list[PreparedEvents], events: list[CostEvent]
    ) -> None:
        """Widen the time range `_repair_rollups` checks once the journal is stored."""
        times = [event.ts for event in events]
        for block in blocks:
            times.extend(ts for ts in (block.first_ts, block.last_ts) if ts)
        if not times:
            return
        if self._suspect is not None:
            times.extend(self._suspect)
        self._suspect = (min(times), max(times))

    def _count_segment_failure(self, segment: Path) -> bool:
        """Count a rejected replay; return True once the segment is set aside."""
        attempts = self._segment_failures.get(segment.name, 0) + 1
        self._segment_failures[segment.name] = attempts
        if attempts < MAX_SEGMENT_ATTEMPTS:
            self._retry_at = time.monotonic() + self._retry_delay
            self._retry_delay = min(self._retry_delay * 2, RETRY_MAX_SECONDS)
            return False
        target = self.spool.set_aside(segment, FAILED_DIR)
        logger.error(
            "the store rejected spool segment %s %d times; moved it to %s for inspection",
            segment.name,
            attempts,
            target,
        )
        return True

    def _spool_queued(self) -> None:
        # Requests that arrive during a long replay go behind it in the spool,
        # so they are acknowledged without waiting for the replay to finish.
        with self._cond:
            batch = self._take_batch()
        if batch:
            self._spool(batch, _events_of(batch))

    def _mark_down(self, exc: Exception, count: int) -> None:
        if self.store_up or self._retry_delay == RETRY_MIN_SECONDS:
            logger.error("store write of %d events failed, spooling: %s", count, exc)
        self.store_up = False
        self.metrics.count("write_failures")
        self._retry_at = time.monotonic() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, RETRY_MAX_SECONDS)

    def _mark_up(self) -> None:
        if not self.store_up and self._retry_delay > RETRY_MIN_SECONDS:
            logger.info("store writes succeed again")
        self.store_up = True
        self._retry_at = 0.0
        self._retry_delay = RETRY_MIN_SECONDS


def journal_record(submission: Submission) -> bytes:
    """Return the journal record of a request: its insert block, or its events."""
    prepared = submission.prepared
    if prepared is None:
        return encode_events(submission.local_events)
    header = orjson.dumps(
        {
            "ids": prepared.ids,
            "cost": str(prepared.cost_usd),
            "unpriced": prepared.unpriced,
            "first_ts": prepared.first_ts,
            "last_ts": prepared.last_ts,
        }
    )
    return b"".join(
        [BLOCK_RECORD, _HEADER_SIZE.pack(len(header)), header, prepared.block]
    )


def read_journal_record(payload: bytes) -> PreparedEvents | list[CostEvent]:
    """Return what `journal_record` wrote (spools of earlier versions contain events)."""
    if not payload.startswith(BLOCK_RECORD):
        return decode_events(payload)
    start = 1 + _HEADER_SIZE.size
    (length,) = _HEADER_SIZE.unpack_from(payload, 1)
    header = orjson.loads(payload[start : start + length])
    block = payload[start + length :]
    return PreparedEvents(
        list(header["ids"]),
        block,
        Decimal(header["cost"]),
        int(header["unpriced"]),
        loader=lambda: decode_block(block),
        first_ts=_time(header.get("first_ts")),
        last_ts=_time(header.get("last_ts")),
    )


def _bucket(ts: datetime) -> datetime:
    """Return the start of the 15-minute rollup bucket of ``ts``, in UTC."""
    ts = ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)
    return ts.replace(minute=ts.minute - ts.minute % 15, second=0, microsecond=0)


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _events_of(batch: list[Submission]) -> list[CostEvent]:
    return [event for submission in batch for event in submission.events]


def _chunks(events: list[CostEvent]) -> Iterator[list[CostEvent]]:
    chunk: list[CostEvent] = []
    id_bytes = 0
    for event in events:
        size = len(event.event_id.encode()) + 4
        if chunk and id_bytes + size > MAX_ID_BYTES_PER_WRITE:
            yield chunk
            chunk, id_bytes = [], 0
        chunk.append(event)
        id_bytes += size
    if chunk:
        yield chunk

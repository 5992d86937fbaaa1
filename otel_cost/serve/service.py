"""The service: stores, write pipeline, the three servers and the discovery file."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]
import orjson

from otel_cost import config
from otel_cost.budgets.envelopes import budgets_path
from otel_cost.errors import ConfigError, StoreError
from otel_cost.events import stable_id
from otel_cost.pricing.registry import PricingRegistry, load_registry
from otel_cost.serve import discovery, metrics
from otel_cost.serve.api import ApiHandler
from otel_cost.serve.convert_pool import ConvertPool
from otel_cost.serve.http_common import BearerAuth, BodyBudget, Server, is_loopback
from otel_cost.serve.otlp_grpc import start_grpc_server
from otel_cost.serve.otlp_http import OtlpHttpHandler
from otel_cost.serve.pipeline import (
    ACK_JOURNAL,
    DEFAULT_BATCH_EVENTS,
    DEFAULT_FLUSH_SECONDS,
    DEFAULT_QUEUE_EVENTS,
    WriteFunction,
    WritePipeline,
)
from otel_cost.serve.receiver import Receiver
from otel_cost.serve.self_metrics import SelfMetrics, gauge
from otel_cost.serve.spool import (
    DEFAULT_MAX_BYTES,
    JOURNAL_SEGMENT_BYTES,
    SEGMENT_BYTES,
    Spool,
)
from otel_cost.store.connection import (
    EMBEDDED_SCHEME,
    SERVER_SCHEMES,
    Store,
    open_store,
)
from otel_cost.store.writer import insert_type_names, write_events

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_GRPC_PORT = 4317
DEFAULT_HTTP_PORT = 4318
DEFAULT_API_PORT = 8787
STOP_GRACE_S = 10.0
SPOOL_OWNER_FILE = "store.json"


#: Largest journal left by a crash that is stored before the service listens.
#: A larger one (after a long store outage) is stored while the service runs.
STARTUP_REPLAY_BYTES = 64 * 2**20
#: Allocations between two collections of the youngest generation (Python: 700).
GC_YOUNG_THRESHOLD = 50_000
#: How long a thread holds the interpreter lock while another waits for it.
SWITCH_INTERVAL_S = 0.0005


@dataclass
class ServeConfig:
    """Settings of ``otel-cost serve``; port 0 picks a free port."""

    dsn: str | None = None
    database: str | None = None
    pricing_files: tuple[str, ...] = ()
    grpc_host: str = DEFAULT_HOST
    grpc_port: int = DEFAULT_GRPC_PORT
    http_host: str = DEFAULT_HOST
    http_port: int = DEFAULT_HTTP_PORT
    api_host: str = DEFAULT_HOST
    api_port: int = DEFAULT_API_PORT
    spool_dir: Path | None = None
    token: str | None = None
    #: Environment variable the token came from, named in error messages.
    token_env: str = config.ENV_API_TOKEN
    max_queue_events: int = DEFAULT_QUEUE_EVENTS
    max_batch_events: int = DEFAULT_BATCH_EVENTS
    max_spool_bytes: int = DEFAULT_MAX_BYTES
    #: Bytes of HTTP request bodies handled at once; more get 429 (retryable).
    max_body_bytes_in_flight: int = 256 * 2**20
    write: WriteFunction = field(default=write_events)
    #: Worker processes that convert OTLP requests (0: in this process).
    convert_workers: int = 0
    #: When a request is acknowledged: once journaled on disk, or once stored.
    ack: str = ACK_JOURNAL
    #: With ``ack=journal``, the shortest time between two inserts under load.
    flush_seconds: float = DEFAULT_FLUSH_SECONDS
    write_discovery: bool = True

    def check(self) -> None:
        """Refuse to expose the service beyond loopback without a token."""
        exposed = [
            host
            for host in (self.grpc_host, self.http_host, self.api_host)
            if not is_loopback(host)
        ]
        if exposed and not self.token:
            raise ConfigError(
                f"binding to {exposed[0]!r} exposes the service beyond this machine; "
                f"set a bearer token in ${self.token_env}, or bind to 127.0.0.1"
            )


class Service:
    """A running ``otel-cost serve``: start it, read its URLs, stop it."""

    def __init__(
        self, settings: ServeConfig, registry: PricingRegistry | None = None
    ) -> None:
        settings.check()
        self.settings = settings
        self.dsn = settings.dsn or config.default_dsn()
        self.database = settings.database or config.clickhouse_database()
        self.registry = registry or load_registry(settings.pricing_files)
        self.pid = os.getpid()
        self.auth = BearerAuth(settings.token)
        self.body_budget = BodyBudget(settings.max_body_bytes_in_flight)
        self.self_metrics = SelfMetrics()
        spool_dir = settings.spool_dir or default_spool_dir(self.dsn, self.database)
        claim_spool(spool_dir, self.dsn, self.database)
        self.pipeline = WritePipeline(
            self._open_store,
            settings.write,
            Spool(
                spool_dir,
                settings.max_spool_bytes,
                JOURNAL_SEGMENT_BYTES if settings.ack == ACK_JOURNAL else SEGMENT_BYTES,
            ),
            self.self_metrics,
            settings.max_queue_events,
            settings.max_batch_events,
            # Requests are encoded ahead only for the standard writer, which
            # can store such blocks; a writer given for a test is called as is.
            prepared=settings.write is write_events,
            ack=settings.ack,
            flush_seconds=settings.flush_seconds,
        )
        self.receiver = Receiver(self.registry, self.pipeline, self.self_metrics)
        self._reader_lock = threading.Lock()
        self._reader_store: Store | None = None
        self._servers: list[Server] = []
        self._grpc: grpc.Server | None = None
        self.urls: dict[str, str] = {}

    def start(self) -> None:
        """Open the store, start the writer and bind the three listeners."""
        if not self.dsn.startswith((EMBEDDED_SCHEME, *SERVER_SCHEMES)):
            raise ConfigError(
                f"unsupported store DSN {_redacted_dsn(self.dsn)!r}; expected "
                "chdb://PATH, http://HOST:PORT or https://HOST:PORT"
            )
        try:
            self.pipeline.use_store(self._open_store())
        except StoreError as exc:
            if self.dsn.startswith(EMBEDDED_SCHEME):
                raise
            # A server that is down now is retried by the writer; data is spooled.
            logger.error("store not reachable at start, spooling until it is: %s", exc)
        pipeline = self.pipeline
        if (
            pipeline.store_up
            and pipeline.ack == ACK_JOURNAL
            and 0 < pipeline.spool.size_bytes <= STARTUP_REPLAY_BYTES
        ):
            # After a crash: every acknowledged event is queryable once the
            # service listens, and new requests do not wait behind the replay.
            logger.info(
                "storing the %d bytes left in the journal before listening",
                pipeline.spool.size_bytes,
            )
            pipeline.replay_now()
        pipeline.start()
        settings = self.settings
        self._start_pool()
        self._grpc, grpc_port = start_grpc_server(
            self.receiver, self.auth, settings.grpc_host, settings.grpc_port
        )
        http = self._serve_http(settings.http_host, settings.http_port, OtlpHttpHandler)
        api = self._serve_http(settings.api_host, settings.api_port, ApiHandler)
        self.urls = {
            "api_url": _url(settings.api_host, api.server_address[1]),
            "otlp_http_url": _url(settings.http_host, http.server_address[1]),
            "otlp_grpc_url": _url(settings.grpc_host, grpc_port),
        }
        if settings.write_discovery:
            discovery.write_discovery(self.discovery_info())
        # The modules and rate cards loaded by now live as long as the process.
        # Freezing them keeps every later full collection from scanning them
        # again, which took about a tenth of the ingest time per span.
        gc.freeze()
        # Converting a request allocates many short-lived objects and few
        # cycles. Collecting the youngest generation every 50,000 allocations
        # instead of 700 cut conversion time by about a tenth.
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        # Converting threads hold the interpreter lock for long stretches, and
        # the writer, which needs it briefly between its queries, waits up to
        # 5 ms each time by default. With 0.5 ms, an insert of 6,000 events
        # beside a busy thread took 75 to 81 ms instead of 106 to 140 ms.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        logger.info(
            "serving OTLP/gRPC at %s, OTLP/HTTP at %s, API at %s",
            self.urls["otlp_grpc_url"],
            self.urls["otlp_http_url"],
            self.urls["api_url"],
        )

    def stop(self) -> None:
        """Stop accepting, write or spool everything accepted, remove the discovery file."""
        if self._grpc is not None:
            self._grpc.stop(STOP_GRACE_S).wait(STOP_GRACE_S)
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self.pipeline.stop()
        if self.receiver.pool is not None:
            self.receiver.pool.close()
        if self.settings.write_discovery:
            discovery.remove_discovery(self.pid)
        logger.info(
            "stopped; %d bytes left in the spool for the next start",
            self.pipeline.spool.size_bytes,
        )

    def _start_pool(self) -> None:
        # Workers encode insert blocks for the standard writer only, and need
        # the store's column types, so a store that is down at start means
        # converting in this process.
        workers = self.settings.convert_workers
        store = self.pipeline.store
        if not workers or not self.pipeline.prepared or store is None:
            return
        self.receiver.pool = ConvertPool(
            workers,
            list(self.settings.pricing_files),
            insert_type_names(store),
            self.registry,
        )
        logger.info("converting OTLP requests in %d worker processes", workers)

    def discovery_info(self) -> dict[str, Any]:
        """Return the content of the discovery file for this service."""
        return {
            "pid": self.pid,
            **self.urls,
            "dsn": _redacted_dsn(self.dsn),
            "database": self.database,
            "started_at": datetime.now(UTC).isoformat(),
            # Commands that read budgets through the service check it reads theirs.
            "budgets_file": str(budgets_path()),
        }

    def authorized_headers(self, header: str | None) -> bool:
        """Return True when an Authorization header carries the configured token."""
        return self.auth.allows(header)

    @contextlib.contextmanager
    def reader(self) -> Iterator[Store]:
        """Lend the query handle; queries on one chDB handle must not overlap."""
        with self._reader_lock:
            if self._reader_store is None:
                self._reader_store = open_store(self.dsn, self.database, migrate=False)
            yield self._reader_store

    def readiness(self) -> dict[str, Any]:
        """Return whether the service accepts data, and why."""
        pipeline = self.pipeline
        queue_full = pipeline.queued_events >= pipeline.max_queue_events
        spool_full = pipeline.spool.size_bytes >= pipeline.spool.max_bytes
        journal_ok = pipeline.journal_writable()
        return {
            "ready": journal_ok
            and not queue_full
            and (pipeline.store_up or not spool_full),
            "store": "up" if pipeline.store_up else "down",
            "journal": "ok" if journal_ok else "failing",
            "queued_events": pipeline.queued_events,
            "spool_bytes": pipeline.spool.size_bytes,
        }

    def metrics_page(self) -> tuple[str, bool]:
        """Return the Prometheus page and whether the store could be read."""
        pipeline = self.pipeline
        lines = self.self_metrics.lines()
        lines += gauge(
            "queued_events", "Events waiting for the writer.", pipeline.queued_events
        )
        lines += gauge(
            "spool_bytes", "Bytes held in the disk spool.", pipeline.spool.size_bytes
        )
        lines += gauge(
            "store_up", "1 when the last store write succeeded.", int(pipeline.store_up)
        )
        try:
            with self.reader() as store:
                return metrics.render(lines, store)
        except StoreError as exc:
            logger.warning("metrics cannot read the store: %s", exc)
            return metrics.render(lines, None)

    def _open_store(self) -> Store:
        return open_store(self.dsn, self.database)

    def _serve_http(self, host: str, port: int, handler: Any) -> Server:
        try:
            server = Server(host, port, handler, self)
        except OSError as exc:
            raise ConfigError(f"cannot bind {host}:{port}: {exc}") from exc
        thread = threading.Thread(
            target=server.serve_forever, args=(0.1,), name=f"http-{port}", daemon=True
        )
        thread.start()
        self._servers.append(server)
        return server


def default_spool_dir(dsn: str, database: str) -> Path:
    """Return the spool directory of one store, so no store replays another's events."""
    key = stable_id(_redacted_dsn(dsn), database)[:12]
    return config.data_dir() / "spool" / f"{database}-{key}"


def claim_spool(directory: Path, dsn: str, database: str) -> None:
    """Mark a spool directory as this store's, or raise if another store owns it."""
    owner = {"dsn": _redacted_dsn(dsn), "database": database}
    marker = directory / SPOOL_OWNER_FILE
    try:
        if marker.exists():
            found = orjson.loads(marker.read_bytes())
            if found != owner:
                raise ConfigError(
                    f"the spool directory {str(directory)!r} contains events for "
                    f"{found.get('dsn')!r} database {found.get('database')!r}, not for "
                    f"{owner['dsn']!r} database {database!r}; pass another --spool-dir"
                )
            return
        directory.mkdir(parents=True, exist_ok=True)
        marker.write_bytes(orjson.dumps(owner))
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigError(
            f"cannot use the spool directory {str(directory)!r}: {exc}; "
            "pass a writable --spool-dir"
        ) from None


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def _redacted_dsn(dsn: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", dsn)

"""Benchmark of ``otel-cost serve``: sustained OTLP ingest and time to visibility.

For each transport (OTLP/HTTP protobuf and OTLP/gRPC) and each batch size
(spans per export request), the script starts ``otel-cost serve`` as a
subprocess on a fresh embedded store in a temporary directory, then:

1. sends pre-built export requests of GenAI spans from ``--clients`` threads
   for ``--seconds``. The service acknowledges a request only once its events
   are in ClickHouse (or in its disk spool, which stays empty here), so
   acknowledged spans per second is the end-to-end ingest rate.
2. during that load, sends one-span probes over OTLP/HTTP with their own
   session id and polls ``/api/v1/sessions/<id>/events`` until the event is
   returned: the time from send to visibility, reported as p50 and p99.

Every span has its own id, so none is skipped as a duplicate. Prints one JSON
line per run, then a table. Usage:
python bench/serve_bench.py [--seconds 10] [--transports http,grpc]
[--batches 1,100,1000] [--clients 8]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]
import httpx
import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import (
    TraceServiceStub,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

T0_NS = 1_787_220_000_000_000_000
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def attributes(session: str) -> list[KeyValue]:
    values = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.conversation.id": session,
        "gen_ai.usage.input_tokens": 12000,
        "gen_ai.usage.cache_read.input_tokens": 10000,
        "gen_ai.usage.output_tokens": 800,
    }
    return [
        KeyValue(
            key=key,
            value=AnyValue(int_value=item)
            if isinstance(item, int)
            else AnyValue(string_value=item),
        )
        for key, item in values.items()
    ]


def request_body(first_span: int, count: int, session: str) -> bytes:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(
        key="service.name", value=AnyValue(string_value="bench-agent")
    )
    spans = resource_spans.scope_spans.add().spans
    shared = attributes(session)
    for number in range(first_span, first_span + count):
        spans.append(
            Span(
                trace_id=(number // 64 + 1).to_bytes(16, "big"),
                span_id=number.to_bytes(8, "big"),
                name="chat claude-sonnet-4-5",
                start_time_unix_nano=T0_NS + number * 1_000_000,
                end_time_unix_nano=T0_NS + number * 1_000_000 + 900_000_000,
                attributes=shared,
            )
        )
    return request.SerializeToString()


def start_service(
    directory: Path, convert_workers: int = 0, ack: str = "journal"
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    env = {**os.environ, "OTEL_COST_DATA_DIR": str(directory / "data")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "otel_cost",
            "serve",
            "--db",
            f"chdb://{directory / 'store'}",
            "--grpc-port",
            "0",
            "--http-port",
            "0",
            "--api-port",
            "0",
            "--convert-workers",
            str(convert_workers),
            "--ack",
            ack,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    discovery = directory / "data" / "serve.json"
    deadline = time.monotonic() + 120
    while not discovery.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("otel-cost serve did not start")
        time.sleep(0.1)
    return process, orjson.loads(discovery.read_bytes())


def bodies(client: int, batch: int, count: int) -> Iterator[bytes]:
    """Yield ``count`` export requests of ``batch`` spans with ids unique to ``client``.

    One request is built once and its span ids and times are rewritten before
    each serialisation, which keeps the load generator cheap.
    """
    template = ExportTraceServiceRequest.FromString(
        request_body(1, batch, f"client-{client}")
    )
    spans = template.resource_spans[0].scope_spans[0].spans
    for span in spans:
        # Each span gets its own attribute list, so its token counts can differ.
        del span.attributes[:]
        span.attributes.extend(attributes(f"client-{client}"))
    first = (client + 1) * 10**9
    for number in range(count):
        for offset, span in enumerate(spans):
            span_number = first + number * batch + offset
            # Token counts vary from span to span, as real requests do. Cache
            # reads stay below the input they are part of.
            usage = span.attributes
            usage[4].value.int_value = 8_000 + span_number % 9_973
            usage[5].value.int_value = span_number % 7_919
            usage[6].value.int_value = 100 + span_number % 1_201
            span.span_id = span_number.to_bytes(8, "big")
            span.trace_id = (span_number // 64 + 1).to_bytes(16, "big")
            span.start_time_unix_nano = T0_NS + span_number * 1_000_000
            span.end_time_unix_nano = span.start_time_unix_nano + 900_000_000
        yield template.SerializeToString()


class Load:
    """Client threads that send pre-built requests until the run ends."""

    def __init__(self, info: dict[str, Any], args: argparse.Namespace) -> None:
        self.info = info
        self.args = args
        self.stop = threading.Event()
        self.spans = [0] * args.clients
        self.failures = [0] * args.clients
        # Enough requests for 40,000 spans per second, the most any run reached.
        count = max(2, int(args.seconds * 40_000 / args.batch / args.clients) + 1)
        self.requests = [
            list(bodies(client, args.batch, count)) for client in range(args.clients)
        ]

    def http(self, index: int) -> None:
        url = f"{self.info['otlp_http_url']}/v1/traces"
        with httpx.Client(trust_env=False, timeout=60) as http:
            for body in self._paced(index):
                reply = http.post(url, content=body, headers=PROTOBUF)
                self._count(index, reply.status_code == 200)

    def grpc(self, index: int) -> None:
        target = self.info["otlp_grpc_url"].removeprefix("http://")
        with grpc.insecure_channel(target) as channel:
            export = TraceServiceStub(channel).Export
            for body in self._paced(index):
                try:
                    export(ExportTraceServiceRequest.FromString(body), timeout=60)
                except grpc.RpcError:
                    self._count(index, False)
                else:
                    self._count(index, True)

    def _paced(self, index: int) -> Iterator[bytes]:
        """Yield one client's requests until the run ends, at its share of ``--rate``.

        Without a rate each request follows the previous reply at once. With
        one, request k is sent k intervals after the start (or at once when
        the client is late), so the offered load does not follow the service.
        """
        rate = self.args.rate
        interval = self.args.clients * self.args.batch / rate if rate else 0.0
        start = time.perf_counter()
        for number, body in enumerate(self.requests[index]):
            delay = start + number * interval - time.perf_counter()
            if delay > 0:
                self.stop.wait(delay)
            if self.stop.is_set():
                return
            yield body

    def _count(self, index: int, ok: bool) -> None:
        if ok:
            self.spans[index] += self.args.batch
        else:
            self.failures[index] += 1


def probe(info: dict[str, Any], stop: threading.Event, latencies: list[float]) -> None:
    number = 10**12
    with httpx.Client(trust_env=False, timeout=60) as http:
        while not stop.is_set():
            number += 1
            session = f"probe-{number}"
            body = request_body(number, 1, session)
            started = time.perf_counter()
            http.post(
                f"{info['otlp_http_url']}/v1/traces", content=body, headers=PROTOBUF
            )
            while True:
                events = http.get(
                    f"{info['api_url']}/api/v1/sessions/{session}/events"
                ).json()
                if events["events"]:
                    break
                # Each poll is a query; polling more often would load the service.
                time.sleep(0.025)
            latencies.append(time.perf_counter() - started)
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--transports", default="http,grpc")
    parser.add_argument("--batches", default="1,100,1000")
    parser.add_argument(
        "--convert-workers",
        default="0",
        help="comma-separated values of serve --convert-workers to run",
    )
    parser.add_argument(
        "--rate",
        type=int,
        default=0,
        help="spans per second offered by all clients together (0: as fast as "
        "replies come); visibility is then measured below saturation",
    )
    parser.add_argument(
        "--ack",
        default="journal",
        help="comma-separated values of serve --ack to run (journal, store)",
    )
    args = parser.parse_args()
    results = []
    for ack in args.ack.split(","):
        for workers in (int(count) for count in args.convert_workers.split(",")):
            for transport in args.transports.split(","):
                for batch in (int(size) for size in args.batches.split(",")):
                    run_args = argparse.Namespace(
                        **{**vars(args), "ack": ack},
                        transport=transport,
                        batch=batch,
                        workers=workers,
                    )
                    result = measure(run_args)
                    print(orjson.dumps(result).decode(), flush=True)
                    results.append(result)
    print_table(results)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Start a fresh service, load it with one transport and batch size, stop it."""
    with tempfile.TemporaryDirectory() as temporary:
        process, info = start_service(Path(temporary), args.workers, args.ack)
        try:
            return run(info, args)
        finally:
            process.terminate()
            process.wait(120)


def run(info: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    load = Load(info, args)
    latencies: list[float] = []
    sender = load.http if args.transport == "http" else load.grpc
    threads = [
        threading.Thread(target=sender, args=(index,)) for index in range(args.clients)
    ]
    threads.append(threading.Thread(target=probe, args=(info, load.stop, latencies)))
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(args.seconds)
    load.stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "benchmark": "serve-ingest",
        "transport": args.transport,
        "batch": args.batch,
        "ack": args.ack,
        "convert_workers": args.workers,
        "clients": args.clients,
        "offered_spans_per_second": args.rate or None,
        "seconds": round(elapsed, 1),
        "spans_acknowledged": sum(load.spans),
        "spans_per_second": round(sum(load.spans) / elapsed),
        "failed_requests": sum(load.failures),
        "visibility_probes": len(ordered),
        "visibility_p50_ms": percentile_ms(ordered, 0.50),
        "visibility_p99_ms": percentile_ms(ordered, 0.99),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
    }


def percentile_ms(ordered: list[float], fraction: float) -> float | None:
    if not ordered:
        return None
    if fraction == 0.5:
        return round(statistics.median(ordered) * 1000, 1)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1000, 1)


def print_table(results: list[dict[str, Any]]) -> None:
    print(f"\n{'ack':<9}{'workers':<8}{'transport':<10}{'batch':>7}{'offered':>9}"
          f"{'spans/s':>10}{'failed':>8}{'p50 ms':>9}{'p99 ms':>9}")  # fmt: skip
    for result in results:
        offered = result["offered_spans_per_second"] or "max"
        print(
            f"{result['ack']:<9}{result['convert_workers']:<8}{result['transport']:<10}"
            f"{result['batch']:>7}{offered:>9}"
            f"{result['spans_per_second']:>10,}{result['failed_requests']:>8}"
            f"{result['visibility_p50_ms'] or '-':>9}"
            f"{result['visibility_p99_ms'] or '-':>9}"
        )


if __name__ == "__main__":
    main()

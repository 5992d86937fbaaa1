"""Benchmark of ``otel-cost serve``: sustained OTLP ingest and time to visibility.

Starts ``otel-cost serve`` as a subprocess on a fresh embedded store in a
temporary directory, then:

1. sends pre-built OTLP/HTTP protobuf requests of ``--batch`` GenAI spans
   from ``--clients`` threads for ``--seconds``. The service acknowledges a
   request only once its events are in ClickHouse, so acknowledged spans per
   second is the end-to-end ingest rate.
2. during that load, sends one-span probes with their own session id and
   polls ``/api/v1/sessions/<id>/events`` until the event is returned: the
   time from send to visibility, reported as p50 and p99.

Prints one JSON document. Usage: python bench/serve_bench.py [--seconds 20]
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
from pathlib import Path
from typing import Any

import httpx
import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
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


def start_service(directory: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
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


def load(
    url: str,
    bodies: list[bytes],
    batch: int,
    stop: threading.Event,
    counts: list[int],
    index: int,
) -> None:
    with httpx.Client(trust_env=False, timeout=60) as http:
        for body in bodies:
            if stop.is_set():
                return
            reply = http.post(url, content=body, headers=PROTOBUF)
            if reply.status_code == 200:
                counts[index] += batch


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
                time.sleep(0.005)
            latencies.append(time.perf_counter() - started)
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=512)
    args = parser.parse_args()
    requests_per_client = int(args.seconds * 40)
    bodies = [
        [
            request_body(
                (c * requests_per_client + r) * args.batch, args.batch, f"s{c}"
            )
            for r in range(requests_per_client)
        ]
        for c in range(args.clients)
    ]
    with tempfile.TemporaryDirectory() as temporary:
        process, info = start_service(Path(temporary))
        try:
            result = run(info, bodies, args)
        finally:
            process.terminate()
            process.wait(120)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


def run(
    info: dict[str, Any], bodies: list[list[bytes]], args: argparse.Namespace
) -> dict[str, Any]:
    stop = threading.Event()
    counts = [0] * args.clients
    latencies: list[float] = []
    url = f"{info['otlp_http_url']}/v1/traces"
    threads = [
        threading.Thread(
            target=load, args=(url, bodies[i], args.batch, stop, counts, i)
        )
        for i in range(args.clients)
    ]
    threads.append(threading.Thread(target=probe, args=(info, stop, latencies)))
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(args.seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "settings": {
            "seconds": args.seconds,
            "clients": args.clients,
            "batch": args.batch,
        },
        "spans_acknowledged": sum(counts),
        "spans_per_second": round(sum(counts) / elapsed),
        "visibility_probes": len(ordered),
        "visibility_p50_ms": round(statistics.median(ordered) * 1000, 1)
        if ordered
        else None,
        "visibility_p99_ms": round(
            ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1
        )
        if ordered
        else None,
    }


if __name__ == "__main__":
    main()

"""The real ``otel-cost serve`` process: SIGTERM flush, and SIGKILL mid-stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal

import orjson
import pytest
from serve_support import client, span, trace_request

SPAN_ATTRS = {
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.usage.input_tokens": 100,
    "gen_ai.usage.output_tokens": 10,
}
# 100 x 3e-6 + 10 x 1.5e-5
SPAN_COST = Decimal("0.00045")
BATCH = 50


# Services a test started; any still running when it ends (a failed
# assertion) is killed, so no service outlives its test.
STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def stop_leftover_services():
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait(30)


def start_serve(tmp_path, dsn):
    env = {**os.environ, "OTEL_COST_DATA_DIR": str(tmp_path / "data")}
    env.pop("OTEL_COST_CLICKHOUSE_DATABASE", None)
    discovery = tmp_path / "data" / "serve.json"
    discovery.unlink(missing_ok=True)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "otel_cost",
            "serve",
            "--db",
            dsn,
            "--grpc-port",
            "0",
            "--http-port",
            "0",
            "--api-port",
            "0",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    STARTED.append(process)
    deadline = time.monotonic() + 60
    while not discovery.exists():
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "serve did not start in 60 s"
        time.sleep(0.1)
    return process, orjson.loads(discovery.read_bytes())


def send_batch(http, info, number):
    spans = [
        span(number * 1000 + i, SPAN_ATTRS, trace_number=number) for i in range(BATCH)
    ]
    request = trace_request(spans, {"service.name": "agent", "project": "proc"})
    return http.post(
        f"{info['otlp_http_url']}/v1/traces",
        content=request.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )


def report_total(tmp_path, dsn):
    env = {**os.environ, "OTEL_COST_DATA_DIR": str(tmp_path / "data")}
    env.pop("OTEL_COST_CLICKHOUSE_DATABASE", None)
    output = subprocess.run(
        [
            sys.executable,
            "-m",
            "otel_cost",
            "report",
            "--db",
            dsn,
            "--by",
            "project",
            "--since",
            "2026-08-01",
            "--until",
            "2026-08-31",
            "--tz",
            "UTC",
            "--format",
            "json",
        ],
        env=env,
        capture_output=True,
        check=True,
    )
    report = orjson.loads(output.stdout)
    return Decimal(str(report["total_usd"])), report["events"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_stop_signal_flushes_then_report_shows(tmp_path, signum):
    dsn = f"chdb://{tmp_path / 'store'}"
    process, info = start_serve(tmp_path, dsn)
    with client() as http:
        for number in range(1, 4):
            assert send_batch(http, info, number).status_code == 200
    process.send_signal(signum)
    assert process.wait(60) == 0
    assert not (tmp_path / "data" / "serve.json").exists()
    total, events = report_total(tmp_path, dsn)
    assert events == 3 * BATCH
    assert total == SPAN_COST * 3 * BATCH


def test_sigkill_mid_stream_loses_nothing(tmp_path):
    dsn = f"chdb://{tmp_path / 'store'}"
    process, info = start_serve(tmp_path, dsn)
    acknowledged: list[int] = []

    def stream() -> None:
        with client() as http:
            for number in range(1, 200):
                try:
                    if send_batch(http, info, number).status_code == 200:
                        acknowledged.append(number)
                except Exception:  # the process died mid-request
                    return

    sender = threading.Thread(target=stream)
    sender.start()
    while len(acknowledged) < 5:
        time.sleep(0.01)
    process.kill()
    process.wait(30)
    sender.join(30)
    process, info = start_serve(tmp_path, dsn)
    with client() as http:
        # Every acknowledged batch survived the kill: the restarted service
        # stores what its journal holds, in the background.
        deadline = time.monotonic() + 30
        while True:
            stored = http.get(
                f"{info['api_url']}/api/v1/summary",
                params={"group_by": "project", "since": "2026-08-01T00:00:00Z"},
            ).json()
            events = sum(group["events"] for group in stored["groups"])
            if events >= len(acknowledged) * BATCH or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert events >= len(acknowledged) * BATCH
        # The client retries everything it sent, as an OTLP exporter would.
        last = max(acknowledged) + 1
        for number in range(1, last + 1):
            assert send_batch(http, info, number).status_code == 200
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0
    total, events = report_total(tmp_path, dsn)
    assert events == last * BATCH
    assert total == SPAN_COST * last * BATCH


def test_report_reads_through_running_service(tmp_path):
    # The service has the embedded store open, so the report goes through its API.
    dsn = f"chdb://{tmp_path / 'store'}"
    process, info = start_serve(tmp_path, dsn)
    try:
        with client() as http:
            assert send_batch(http, info, 1).status_code == 200
        total, events = report_total(tmp_path, dsn)
        assert events == BATCH
        assert total == SPAN_COST * BATCH
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0

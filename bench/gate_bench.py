"""Gate latency benchmark: a Claude Code PreToolUse hook, timed as a whole process.

Each run starts ``python -m otel_cost.cli.hook claude-code pretooluse`` as the
agent does, writes the hook payload to its stdin and waits for its response.
The budgets file has a session and a project envelope, and the store contains
``--events`` events of earlier sessions and of the current one. Cases:

- ``python -c pass``: the interpreter's own start-up, the floor of any hook;
- no budgets file: the hook starts and returns at once;
- no service: the hook opens the embedded store itself and runs the gate;
- ``otel-cost serve`` running on loopback: the hook posts the action to the
  service's gate endpoint. The service has its own store in the same
  temporary directory and is stopped at the end.

Prints one JSON line per case, then a table of p50 and p95 in ms.
Usage: python bench/gate_bench.py [--runs 30] [--events 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HOOK = [sys.executable, "-m", "otel_cost.cli.hook", "claude-code", "pretooluse"]
SESSION = "bench-session"
PAYLOAD = json.dumps(
    {
        "session_id": SESSION,
        "hook_event_name": "PreToolUse",
        "cwd": "/work/web",
        "tool_name": "Bash",
        "tool_input": {"command": "ls"},
    }
)
BUDGETS = (
    "envelopes:\n"
    "  - {name: session-cap, scope: session, limit_usd: '50'}\n"
    "  - {name: web, scope: project, limit_usd: '5000', match: {project: web}}\n"
)
# Runs in a child process, because chDB allows one data directory per process
# and the hooks must open the store after this process is done with it.
SEED = """
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from otel_cost.events import CostEvent, CostStatus, TokenCategory, Usage
from otel_cost.store import open_store
from otel_cost.store.writer import write_events

store = open_store(sys.argv[1])
count = int(sys.argv[2])
now = datetime.now(UTC)
events = [
    CostEvent(
        event_id=f"seed-{number}",
        ts=now - timedelta(minutes=number),
        harness="claude-code",
        source="import",
        session_id=sys.argv[3] if number < 50 else f"old-{number // 40}",
        project="web" if number % 3 else "api",
        provider="anthropic",
        model="claude-sonnet-4-5",
        resolved_model="claude-sonnet-4-5",
        usage=Usage({TokenCategory.INPUT: 500, TokenCategory.CACHE_READ: 20000,
                     TokenCategory.OUTPUT: 400}),
        cost_status=CostStatus.PRICED,
        cost_usd=Decimal("0.0135"),
    )
    for number in range(count)
]
write_events(store, events)
store.close()
"""


def seed(dsn: str, events: int, env: dict[str, str]) -> None:
    """Write ``events`` priced events into the store at ``dsn`` from a child process."""
    subprocess.run(
        [sys.executable, "-c", SEED, dsn, str(events), SESSION], env=env, check=True
    )


def time_process(command: list[str], env: dict[str, str], runs: int) -> dict[str, Any]:
    """Run ``command`` once to warm up, then ``runs`` times, and return p50 and p95 in ms."""
    timings = []
    answer = ""
    for run in range(runs + 1):
        started = time.perf_counter()
        done = subprocess.run(
            command, input=PAYLOAD, capture_output=True, text=True, env=env, check=False
        )
        elapsed = (time.perf_counter() - started) * 1000
        if done.returncode != 0 or "failed open" in done.stderr:
            raise SystemExit(f"{command} failed: {done.stderr.strip()}")
        answer = done.stdout.strip()
        if run:
            timings.append(elapsed)
    timings.sort()
    p95_index = min(len(timings) - 1, round(0.95 * (len(timings) - 1)))
    return {
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(timings[p95_index], 1),
        "runs": runs,
        "answer": answer,
    }


def start_service(directory: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start ``otel-cost serve`` on free loopback ports and wait for its discovery file."""
    process = subprocess.Popen(
        [sys.executable, "-m", "otel_cost", "serve", "--db",
         f"chdb://{directory / 'store'}", "--grpc-port", "0", "--http-port", "0",
         "--api-port", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    discovery = directory / "data" / "serve.json"
    deadline = time.monotonic() + 120
    while not discovery.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit("otel-cost serve did not start")
        time.sleep(0.1)
    return process


def case_env(directory: Path, budgets: Path | None) -> dict[str, str]:
    """Return the environment of a hook or service that uses ``directory``."""
    env = {
        name: value for name, value in os.environ.items()
        if not name.startswith("OTEL_COST_")
    }  # fmt: skip
    env["OTEL_COST_DATA_DIR"] = str(directory / "data")
    env["OTEL_COST_CLICKHOUSE_URL"] = f"chdb://{directory / 'store'}"
    if budgets is not None:
        env["OTEL_COST_BUDGETS_FILE"] = str(budgets)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--events", type=int, default=20000)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="otel-cost-gate-bench-") as name:
        root = Path(name)
        budgets = root / "budgets.yaml"
        budgets.write_text(BUDGETS)
        local, served = root / "local", root / "served"
        for directory in (local, served):
            seed(
                f"chdb://{directory / 'store'}", args.events, case_env(directory, None)
            )
        cases: list[tuple[str, list[str], dict[str, str]]] = [
            ("python -c pass", [sys.executable, "-c", "pass"], dict(os.environ)),
            ("hook, no budgets file", HOOK, case_env(local, None)),
            ("hook, no service", HOOK, case_env(local, budgets)),
        ]
        for label, command, env in cases:
            results.append(emit(label, time_process(command, env, args.runs)))
        service = start_service(served, case_env(served, budgets))
        try:
            figures = time_process(HOOK, case_env(served, budgets), args.runs)
            results.append(emit("hook, otel-cost serve running", figures))
        finally:
            service.terminate()
            service.wait(timeout=60)
    print(
        f"\n{platform.machine()}, Python {platform.python_version()}, {args.runs} runs"
    )
    print("| case | p50 ms | p95 ms |\n| --- | ---: | ---: |")
    for figures in results:
        print(f"| {figures['case']} | {figures['p50_ms']} | {figures['p95_ms']} |")


def emit(label: str, figures: dict[str, Any]) -> dict[str, Any]:
    """Print one case as a JSON line and return it."""
    line = {"benchmark": "gate", "case": label, **figures}
    print(json.dumps(line), flush=True)
    return line


if __name__ == "__main__":
    main()

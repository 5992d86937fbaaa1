"""Import benchmark: cold and incremental throughput, beside ccusage on the same files.

Prints one JSON line per measurement, then a short table. Run with
``make bench`` or ``python bench/import_bench.py --megabytes 300``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate_history import generate  # noqa: E402

OTEL_COST = [sys.executable, "-m", "otel_cost"]
# Runs a command and prints its wall time and peak resident memory (KiB).
MEASURE = (
    "import resource, subprocess, sys, time, json\n"
    "start = time.perf_counter()\n"
    "done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)\n"
    "elapsed = time.perf_counter() - start\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "sys.stderr.write(json.dumps({'seconds': elapsed, 'peak_kib': peak, 'rc': done.returncode}))\n"
    "sys.stdout.buffer.write(done.stdout)\n"
)


def measure(command: list[str], env: dict[str, str]) -> tuple[dict[str, float], str]:
    """Run ``command`` in a fresh process; return its timing and its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *command],
        capture_output=True,
        text=True,
        env=env,
    )
    figures = json.loads(done.stderr.strip().splitlines()[-1])
    if figures["rc"] != 0:
        raise SystemExit(f"command failed ({figures['rc']}): {' '.join(command)}")
    return figures, done.stdout


def history_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*.jsonl"))


def append_one_percent(root: Path) -> int:
    """Append new responses to 1% of the transcripts; return the bytes added."""
    files = sorted((root / "claude").rglob("*.jsonl"))
    added = 0
    for number, path in enumerate(files[: max(len(files) // 100, 1)]):
        lines = [
            line
            for line in path.read_text().splitlines()
            if '"type":"assistant"' in line
        ]
        if not lines:
            continue
        record = json.loads(lines[-1])
        record["message"]["id"] = f"msg_appended_{number:06d}"
        text = json.dumps(record, separators=(",", ":")) + "\n"
        with path.open("a") as handle:
            handle.write(text)
        added += len(text)
    return added


def emit(name: str, figures: dict[str, object]) -> None:
    print(json.dumps({"benchmark": name, **figures}), flush=True)


def run_otel_cost(
    agent: str, history: Path, store: Path, env: dict[str, str], size: int, name: str
) -> dict:  # type: ignore[type-arg]
    """Import one agent's files in a fresh process and report throughput."""
    figures, output = measure(
        [*OTEL_COST, "import", agent, "--path", str(history), "--db", f"chdb://{store}",
         "--json"], env,
    )  # fmt: skip
    events = json.loads(output)["total"]["events"]
    seconds = figures["seconds"]
    result = {
        "agent": agent,
        "seconds": round(seconds, 3),
        "megabytes": round(size / 1e6, 3),
        "mb_per_s": round(size / 1e6 / seconds, 1) if size else None,
        "events": events,
        "events_per_s": round(events / seconds),
        "peak_mib": round(figures["peak_kib"] / 1024, 1),
    }
    emit(name, result)
    return result


def claude_total(store: Path, env: dict[str, str]) -> Decimal:
    _, output = measure(
        [*OTEL_COST, "report", "--db", f"chdb://{store}", "--by", "harness",
         "--format", "json", "--tz", "UTC"], env,
    )  # fmt: skip
    rows = json.loads(output)["rows"]
    return sum(
        (Decimal(row["cost_usd"]) for row in rows if row["key"] == "claude-code"),
        Decimal(0),
    )


def by_model(store: Path, env: dict[str, str]) -> dict[str, tuple[Decimal, int]]:
    """Return cost and output tokens per model as otel-cost stores them."""
    _, output = measure(
        [*OTEL_COST, "report", "--db", f"chdb://{store}", "--by", "model",
         "--format", "json", "--tz", "UTC"], env,
    )  # fmt: skip
    return {
        row["key"]: (Decimal(row["cost_usd"]), row["tokens"].get("output", 0))
        for row in json.loads(output)["rows"]
    }


def ccusage_by_model(report: dict) -> dict[str, tuple[Decimal, int]]:  # type: ignore[type-arg]
    """Sum ccusage's per-day model breakdowns."""
    totals: dict[str, tuple[Decimal, int]] = {}
    for day in report.get("daily", []):
        for entry in day.get("modelBreakdowns", []):
            cost, tokens = totals.get(entry["modelName"], (Decimal(0), 0))
            totals[entry["modelName"]] = (
                cost + Decimal(str(entry["cost"])),
                tokens + entry["outputTokens"],
            )
    return totals


def run_ccusage(root: Path, size: int) -> dict | None:  # type: ignore[type-arg]
    if shutil.which("npx") is None:
        emit("ccusage", {"skipped": "npx not found"})
        return None
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(root / "claude")}
    command = ["npx", "-y", "ccusage@17", "daily", "--json", "--offline"]
    subprocess.run(command, capture_output=True, env=env)  # warm the npx cache
    figures, output = measure(command, env)
    report = json.loads(output)
    totals = report["totals"]
    result = {
        "by_model": {
            model: [str(cost.quantize(Decimal("0.000001"))), tokens]
            for model, (cost, tokens) in ccusage_by_model(report).items()
        },
        "seconds": round(figures["seconds"], 3),
        "mb_per_s": round(size / 1e6 / figures["seconds"], 1),
        "peak_mib": round(figures["peak_kib"] / 1024, 1),
        "total_usd": str(
            Decimal(str(totals["totalCost"])).quantize(Decimal("0.000001"))
        ),
        "output_tokens": totals["outputTokens"],
    }
    emit("ccusage", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--megabytes", type=int, default=300, help="History size to generate."
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="Reuse or keep this directory."
    )
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="otel-cost-bench-"))
    root, store = work / "history", work / "store"
    if not root.exists():
        generate(root, args.megabytes * 1_000_000)
    shutil.rmtree(store, ignore_errors=True)
    env = {**os.environ, "OTEL_COST_DATA_DIR": str(work / "data")}
    emit("machine", {"python": platform.python_version(), "cpus": os.cpu_count(),
                     "platform": platform.platform()})  # fmt: skip
    claude, codex = root / "claude", root / "codex"
    claude_size, codex_size = history_bytes(claude), history_bytes(codex)
    cold = run_otel_cost("claude-code", claude, store, env, claude_size, "import_cold")
    run_otel_cost("codex", codex, store, env, codex_size, "import_cold")
    added = append_one_percent(root)
    incremental = run_otel_cost(
        "claude-code", claude, store, env, added, "import_incremental"
    )
    unchanged = run_otel_cost("claude-code", claude, store, env, 0, "import_unchanged")
    ours = claude_total(store, env)
    peer = run_ccusage(root, claude_size)
    rows = [
        ("otel-cost cold", cold["seconds"], cold["mb_per_s"], cold["peak_mib"]),
        ("otel-cost +1% appended", incremental["seconds"], "", incremental["peak_mib"]),
        ("otel-cost unchanged", unchanged["seconds"], "", unchanged["peak_mib"]),
    ]
    if peer:
        rows.append(("ccusage@17", peer["seconds"], peer["mb_per_s"], peer["peak_mib"]))
    print(f"\nClaude Code history: {claude_size / 1e6:.1f} MB, {cold['events']} events")
    print(f"{'run':<26}{'seconds':>10}{'MB/s':>10}{'peak MiB':>10}")
    for name, seconds, rate, peak in rows:
        print(f"{name:<26}{seconds:>10}{rate:>10}{peak:>10}")
    if peer:
        ratio = peer["seconds"] / cold["seconds"]
        print(f"ccusage time / otel-cost time: {ratio:.2f}")
        emit("ratio", {"ccusage_over_otel_cost": round(ratio, 2)})
    print(f"otel-cost Claude Code total: ${ours.quantize(Decimal('0.000001'))}")
    if peer:
        print(f"ccusage Claude Code total:   ${peer['total_usd']}")
        emit("totals", {"otel_cost_usd": str(ours), "ccusage_usd": peer["total_usd"]})
        print(
            f"\n{'model':<30}{'otel-cost $':>14}{'ccusage $':>14}{'out tok':>12}{'ccu out':>12}"
        )
        for model, (cost, tokens) in sorted(by_model(store, env).items()):
            if model.startswith("gpt"):
                continue
            peer_cost, peer_tokens = peer["by_model"].get(model, ["-", "-"])
            print(
                f"{model:<30}{cost:>14.6f}{peer_cost:>14}{tokens:>12}{peer_tokens:>12}"
            )
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

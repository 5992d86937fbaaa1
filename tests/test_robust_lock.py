"""The locked-store message suggests only options the command accepts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from otel_cost.store import Store


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "otel_cost", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_locked_store_advice_per_command(
    store: Store, engine_dsn: str, tmp_path: Path
) -> None:
    # This test process has the embedded store open, so the child processes cannot.
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("envelopes: []\n")
    store_path = engine_dsn.removeprefix("chdb://")
    expected = (
        f"error: the embedded store {store_path!r} is in use by another otel-cost "
        f"process (pid "
    )

    status = run_cli("budget", "status", "--db", engine_dsn, "--file", str(budgets))
    menubar = run_cli("menubar", "--db", engine_dsn)

    assert status.returncode == 1
    assert status.stderr.startswith(expected)
    assert status.stderr.endswith(
        "); stop that process, or pass --db with another store\n"
    )
    assert "API" not in status.stderr
    assert menubar.returncode == 1
    assert menubar.stderr.startswith(expected)
    assert menubar.stderr.endswith(
        "); stop that process, or pass --db with another store, "
        "or pass --api-url with the API URL of that process\n"
    )

"""Alert delivery end to end with the real Debian Alertmanager and Prometheus.

Each test starts the binaries on free loopback ports with temporary storage,
and a webhook server that records what each receiver gets. Prometheus scrapes
``/metrics`` of a real ``otel-cost serve`` running in this process. The shipped
alertmanager.yaml is used with two changes only: the webhook base URL, and
group_wait/group_interval of 1s so that a test takes seconds, not minutes.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from serve_support import serving

from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store

ALERTS = Path(__file__).resolve().parent.parent / "alerts"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
PROMETHEUS = shutil.which("prometheus")

needs_alertmanager = pytest.mark.skipif(
    ALERTMANAGER is None,
    reason="Alertmanager not installed (apt-get install -y prometheus-alertmanager)",
)
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None or ALERTMANAGER is None,
    reason="Prometheus or Alertmanager not installed "
    "(apt-get install -y prometheus prometheus-alertmanager)",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Recorder(BaseHTTPRequestHandler):
    """Stores each POST body by path (the receiver name)."""

    received: list[tuple[str, dict[str, Any]]]

    def do_POST(self) -> None:  # noqa: N802 - the http.server interface
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path.strip("/"), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Keep test output quiet."""


@pytest.fixture
def webhook() -> Iterator[tuple[int, list[tuple[str, dict[str, Any]]]]]:
    received: list[tuple[str, dict[str, Any]]] = []
    handler = type("Handler", (Recorder,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], received
    server.shutdown()
    server.server_close()


def wait_for(check: Callable[[], bool], seconds: float, description: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds}s waiting for {description}")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def alertmanager(
    tmp_path: Path, webhook: tuple[int, list[tuple[str, dict[str, Any]]]]
) -> Iterator[str]:
    """Start Alertmanager with the shipped config; yield its base URL."""
    assert ALERTMANAGER is not None
    port, _ = webhook
    config = yaml.safe_load((ALERTS / "alertmanager.yaml").read_text())
    config["route"]["group_wait"] = "1s"
    config["route"]["group_interval"] = "1s"
    for receiver in config["receivers"]:
        for hook in receiver["webhook_configs"]:
            hook["url"] = hook["url"].replace("127.0.0.1:9095", f"127.0.0.1:{port}")
    config_file = tmp_path / "alertmanager.yaml"
    config_file.write_text(yaml.safe_dump(config))
    am_port = free_port()
    process = start(
        [ALERTMANAGER, f"--config.file={config_file}",
         f"--storage.path={tmp_path / 'am-data'}",
         f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
        tmp_path / "alertmanager.log",
    )  # fmt: skip
    url = f"http://127.0.0.1:{am_port}"
    try:
        wait_for(lambda: http_ok(f"{url}/-/ready"), 30, "Alertmanager to start")
        yield url
    finally:
        stop(process)


def alert(
    name: str, severity: str, owner: str, envelope: str, instance: str
) -> dict[str, Any]:
    labels = {
        "alertname": name,
        "severity": severity,
        "owner": owner,
        "envelope": envelope,
        "budget_instance": instance,
    }
    return {
        "labels": {key: value for key, value in labels.items() if value},
        "annotations": {"action": f"{name} action for {owner}."},
        "startsAt": datetime.now(UTC).isoformat(),
        "endsAt": (datetime.now(UTC) + timedelta(minutes=10)).isoformat(),
    }  # fmt: skip


def post_alerts(url: str, alerts: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(
        f"{url}/api/v2/alerts", data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def by_receiver(
    received: list[tuple[str, dict[str, Any]]],
) -> dict[str, list[set[str]]]:
    """Return, per receiver, the alert names of each firing notification."""
    result: dict[str, list[set[str]]] = {}
    for path, body in received:
        if body["status"] == "firing":
            names = {a["labels"]["alertname"] for a in body["alerts"]}
            result.setdefault(path, []).append(names)
    return result


@needs_alertmanager
def test_routing_grouping_inhibition(
    alertmanager: str, webhook: tuple[int, list[tuple[str, dict[str, Any]]]]
) -> None:
    _, received = webhook
    post_alerts(alertmanager, [
        alert("BudgetCritical", "critical", "developer", "dev", "s1"),
        alert("BudgetWarning", "warning", "developer", "dev", "s1"),
        alert("BudgetWarning", "warning", "team-lead", "web", "2026-12-01"),
        alert("BudgetProjectedOverspend", "warning", "team-lead", "web", "2026-12-01"),
        alert("BudgetExceeded", "critical", "developer", "long", "t1"),
        alert("BudgetOverridesFrequent", "warning", "security", "dev", ""),
        alert("OtelCostMetricsDown", "critical", "platform", "", ""),
    ])  # fmt: skip

    wait_for(lambda: sum(len(v) for v in by_receiver(received).values()) >= 6, 20,
             "six notifications")  # fmt: skip
    time.sleep(2)  # a stray warning would arrive within one more group interval
    notifications = by_receiver(received)

    # The critical alert on dev/s1 silences its warning (inhibition).
    assert sorted(map(sorted, notifications["developer"])) == [
        ["BudgetCritical"], ["BudgetExceeded"],
    ]  # fmt: skip
    # Both warnings of web/2026-12-01 arrive in one notification (grouping), and
    # the developer's exceeded envelope escalates to the team lead.
    assert sorted(map(sorted, notifications["team-lead"])) == [
        ["BudgetExceeded"], ["BudgetProjectedOverspend", "BudgetWarning"],
    ]  # fmt: skip
    assert notifications["security"] == [{"BudgetOverridesFrequent"}]
    assert notifications["platform"] == [{"OtelCostMetricsDown"}]
    security_body = next(body for path, body in received if path == "security")
    assert security_body["alerts"][0]["annotations"]["action"] == (
        "BudgetOverridesFrequent action for security."
    )

    with urllib.request.urlopen(f"{alertmanager}/api/v2/alerts", timeout=5) as response:
        states = {
            (a["labels"]["alertname"], a["labels"].get("envelope", "")): a["status"]
            for a in json.loads(response.read())
        }
    assert states[("BudgetWarning", "dev")]["state"] == "suppressed"
    assert states[("BudgetWarning", "dev")]["inhibitedBy"] != []
    assert states[("BudgetWarning", "web")]["state"] == "active"


def rules_without_for(tmp_path: Path) -> Path:
    """Copy the rules with every ``for`` removed, so alerts fire on the first evaluation."""
    rules = yaml.safe_load((ALERTS / "prometheus-rules.yaml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("for", None)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    return path


def post_event(api_url: str, event: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{api_url}/api/v1/events", data=json.dumps({"events": [event]}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@needs_prometheus
def test_prometheus_fires_on_90_percent(
    tmp_path: Path,
    store: Store,
    registry: PricingRegistry,
    alertmanager: str,
    webhook: tuple[int, list[tuple[str, dict[str, Any]]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert PROMETHEUS is not None
    _, received = webhook
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(
        "envelopes:\n"
        "  - {name: dev, scope: session, limit_usd: '0.005', match: {project: web}}\n"
    )
    monkeypatch.setenv("OTEL_COST_BUDGETS_FILE", str(budgets))
    with serving(store, registry) as service:
        api_url = service.urls["api_url"]
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules_without_for(tmp_path))],
            "alerting": {"alertmanagers": [{"static_configs": [
                {"targets": [alertmanager.removeprefix("http://")]}]}]},
            "scrape_configs": [{"job_name": "otel-cost", "static_configs": [
                {"targets": [api_url.removeprefix("http://")]}]}],
        }  # fmt: skip
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        port = free_port()
        process = start(
            [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            tmp_path / "prometheus.log",
        )  # fmt: skip
        try:
            wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/-/ready"), 30,
                     "Prometheus to start")  # fmt: skip
            # 1,000 input x $3/M + 100 output x $15/M = $0.0045, 90% of $0.005.
            post_event(api_url, {
                "event_id": "p1", "ts": datetime.now(UTC).isoformat(),
                "harness": "claude-code", "source": "proxy", "session_id": "s-9",
                "project": "web", "model": "claude-sonnet-4-5", "provider": "anthropic",
                "usage": {"input": 1000, "output": 100},
            })  # fmt: skip

            def critical_arrived() -> bool:
                return "BudgetCritical" in {
                    a["labels"]["alertname"]
                    for path, body in received if path == "developer"
                    for a in body["alerts"]
                }  # fmt: skip

            wait_for(critical_arrived, 60, "BudgetCritical at the developer webhook")
        finally:
            stop(process)

    body = next(
        body for path, body in received
        if path == "developer" and body["alerts"][0]["labels"]["alertname"] == "BudgetCritical"
    )  # fmt: skip
    sent = body["alerts"][0]
    assert sent["labels"]["owner"] == "developer"
    assert sent["labels"]["envelope"] == "dev"
    assert sent["labels"]["budget_instance"] == "s-9"
    assert sent["labels"]["job"] == "otel-cost"
    assert sent["annotations"]["summary"] == "Budget dev (s-9) is at 90%."
    assert sent["annotations"]["action"].startswith(
        "Finish or pause the running work now"
    )
    # The warning that also fires at 90% is silenced by the critical alert.
    assert not any(
        a["labels"]["alertname"] == "BudgetWarning"
        for path, body in received if path == "developer"
        for a in body["alerts"]
    )  # fmt: skip

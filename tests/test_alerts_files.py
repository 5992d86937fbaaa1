"""The files in alerts/: promtool and amtool checks, and the Grafana rules' shape.

promtool and amtool come from Debian's ``prometheus`` and
``prometheus-alertmanager`` packages; the tests that run them are skipped with
that reason when the binaries are missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ALERTS = Path(__file__).resolve().parent.parent / "alerts"
RULES = ALERTS / "prometheus-rules.yaml"
GRAFANA_RULES = ALERTS / "grafana" / "budget-alert-rules.yaml"
OWNERS = {"developer", "team-lead", "platform", "security"}
OWNER_TEMPLATE = "{{ $labels.owner }}"

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool not installed (apt-get install -y prometheus)",
)
needs_amtool = pytest.mark.skipif(
    shutil.which("amtool") is None,
    reason="amtool not installed (apt-get install -y prometheus-alertmanager)",
)


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, check=False, cwd=ALERTS
    )


def prometheus_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


@needs_promtool
def test_promtool_checks_rules() -> None:
    result = run("promtool", "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout


@needs_promtool
def test_promtool_unit_tests_pass() -> None:
    result = run("promtool", "test", "rules", "prometheus-rules.test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_rule_has_unit_test() -> None:
    tests = yaml.safe_load((ALERTS / "prometheus-rules.test.yaml").read_text())["tests"]
    tested = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert tested == {rule["alert"] for rule in prometheus_rules()}


def test_rules_carry_owner_severity_action() -> None:
    for rule in prometheus_rules():
        labels = rule["labels"]
        assert labels["severity"] in {"warning", "critical"}, rule["alert"]
        assert labels["owner"] in OWNERS | {OWNER_TEMPLATE}, rule["alert"]
        action = rule["annotations"]["action"]
        # One sentence: a single full stop, at the end.
        assert action.endswith("."), rule["alert"]
        assert action.count(". ") == 0, rule["alert"]


def test_thresholds_match_envelope_states() -> None:
    expressions = {rule["alert"]: rule["expr"] for rule in prometheus_rules()}
    assert expressions["BudgetWarning"] == "otel_cost_budget_utilisation_ratio >= 0.75"
    assert expressions["BudgetCritical"] == (
        "otel_cost_budget_utilisation_ratio >= 0.9 "
        "and otel_cost_budget_utilisation_ratio < 1"
    )
    assert expressions["BudgetExceeded"] == "otel_cost_budget_utilisation_ratio >= 1"


@needs_amtool
def test_amtool_checks_config() -> None:
    result = run("amtool", "check-config", "alertmanager.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


ROUTING_MATRIX = [
    (["owner=developer", "alertname=BudgetWarning", "severity=warning"], "developer"),
    (["owner=developer", "alertname=BudgetCritical", "severity=critical"], "developer"),
    (["owner=developer", "alertname=BudgetExceeded"], "developer,team-lead"),
    (["owner=team-lead", "alertname=BudgetExceeded"], "team-lead"),
    (["owner=team-lead", "alertname=BudgetProjectedOverspend"], "team-lead"),
    (["owner=security", "alertname=BudgetOverridesFrequent"], "security"),
    (["owner=platform", "alertname=OtelCostMetricsDown"], "platform"),
    (["alertname=SomethingElse"], "platform"),
]


@needs_amtool
@pytest.mark.parametrize(("labels", "receivers"), ROUTING_MATRIX)
def test_amtool_routes_by_owner(labels: list[str], receivers: str) -> None:
    result = run(
        "amtool", "config", "routes", "test", "--config.file=alertmanager.yaml",
        f"--verify.receivers={receivers}", *labels,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers


def grafana_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(GRAFANA_RULES.read_text())
    assert document["apiVersion"] == 1
    group = document["groups"][0]
    for key in ("name", "folder", "interval"):
        assert group[key], key
    rules: list[dict[str, Any]] = group["rules"]
    return rules


def test_grafana_rules_mirror_prometheus() -> None:
    prometheus = {rule["alert"]: rule for rule in prometheus_rules()}
    for rule in grafana_rules():
        source = prometheus[rule["title"]]
        assert rule["labels"] == source["labels"], rule["title"]
        assert rule["annotations"]["action"] == source["annotations"]["action"]
        assert rule["for"] == source.get("for", "0s"), rule["title"]
        ref_ids = {item["refId"] for item in rule["data"]}
        assert rule["condition"] in ref_ids
        assert rule["uid"].startswith("otel-cost-")
        assert rule["notification_settings"]["receiver"] == "otel-cost-alertmanager"


def test_grafana_thresholds() -> None:
    conditions = {}
    for rule in grafana_rules():
        condition = next(d for d in rule["data"] if d["refId"] == rule["condition"])
        assert condition["datasourceUid"] == "__expr__"
        conditions[rule["title"]] = condition["model"]["expression"]
    assert conditions == {
        "BudgetWarning": "$A >= 0.75",
        "BudgetCritical": "$A >= 0.9 && $A < 1",
        "BudgetExceeded": "$A >= 1",
        "BudgetProjectedOverspend": "$A > 0",
        "BudgetOverridesFrequent": "$A >= 3",
    }


def test_grafana_annotations_avoid_env_interpolation() -> None:
    # Grafana expands ${VAR} in provisioned annotations, which would eat "${{".
    assert not re.search(r"\$\{", GRAFANA_RULES.read_text().split("groups:", 1)[1])

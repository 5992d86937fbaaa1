"""The Helm chart, rendered and linted by Helm's own engine through helm-python-sdk."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

helm = pytest.importorskip("helm_python")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "otel-cost"
KUBE_VERSION = "1.31.0"
CORE_KINDS = {"Deployment", "Service", "Secret", "ConfigMap", "Job"}

#: Value sets the tests render; each must install cleanly.
VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "existing-secrets": {
        "clickhouse": {
            "url": "https://ch-lb.data.svc:8443",
            "existingSecret": "ch-credentials",
            "existingSecretPasswordKey": "pw",
        },
        "serve": {"existingTokenSecret": "otel-cost-token", "replicaCount": 3},
        "collector": {"enabled": False},
        "grafana": {"namespace": "monitoring", "alerts": {"enabled": True}},
        "prometheus": {"release": "kps", "extraLabels": {"team": "platform"}},
    },
    "minimal": {
        "migration": {"enabled": False},
        "grafana": {
            "dashboards": {"enabled": False},
            "datasource": {"enabled": False},
        },
        "prometheus": {
            "serviceMonitor": {"enabled": False},
            "rules": {"enabled": False},
        },
        "alertmanager": {"config": {"enabled": False}},
        "serve": {
            "apiToken": "s3cret-token",
            "budgets": "envelopes:\n  - {name: web, scope: project, limit_usd: 100}\n",
        },
    },
    "reconcile": {
        "serve": {"replicaCount": 4},
        "reconcile": {"enabled": True, "schedule": "*/30 * * * *", "days": 2},
    },
}


def render(values: dict[str, Any], namespace: str = "cost") -> list[dict[str, Any]]:
    """Render the chart and return every manifest as a parsed document."""
    chart = helm.Chart.load(str(CHART))
    files = chart.render(values, name="oc", namespace=namespace, is_install=True)
    documents = []
    for path, text in files.items():
        if path.endswith("NOTES.txt"):
            continue
        documents += [doc for doc in yaml.safe_load_all(text) if doc]
    return documents


def by_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Return the manifests of one kind."""
    return [doc for doc in documents if doc["kind"] == kind]


def named(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """Return the manifest of ``kind`` called ``name``."""
    (found,) = [d for d in by_kind(documents, kind) if d["metadata"]["name"] == name]
    return found


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """Return a container's environment by variable name."""
    return {item["name"]: item for item in container["env"]}


def test_chart_lints_strict() -> None:
    for label, values in VALUE_SETS.items():
        report = helm.lint(str(CHART), values, strict=True, kube_version=KUBE_VERSION)
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert problems == [], label
        assert report["errors"] == [], label


def test_core_manifests_validate() -> None:
    for label, values in VALUE_SETS.items():
        for document in render(values):
            if document["kind"] in CORE_KINDS:
                kubernetes_validate.validate(document, KUBE_VERSION, strict=True)
            assert document["metadata"]["labels"]["app.kubernetes.io/instance"] == "oc"
            assert document["metadata"]["namespace"], (label, document["kind"])


def test_default_render_kinds() -> None:
    kinds = sorted(doc["kind"] for doc in render({}))
    assert kinds == sorted(
        ["Deployment", "Deployment", "Service", "Service", "Service", "ConfigMap", "ConfigMap",
         "ConfigMap", "ConfigMap", "Secret", "Secret", "Secret", "Job",
         "ServiceMonitor", "PrometheusRule", "AlertmanagerConfig"]
    )  # fmt: skip


def test_serve_deployment_settings() -> None:
    documents = render({})
    deployment = named(documents, "Deployment", "oc-otel-cost")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["otel-cost"]
    assert container["args"][:2] == ["serve", "--host=0.0.0.0"]
    assert "--ack=journal" in container["args"]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "otlp-grpc": 4317,
        "otlp-http": 4318,
        "api": 8787,
    }
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["resources"]["limits"]["memory"] == "1Gi"
    env = env_of(container)
    assert env["OTEL_COST_CLICKHOUSE_URL"]["value"] == (
        "http://$(CLICKHOUSE_USER):$(CLICKHOUSE_PASSWORD)@clickhouse.clickhouse.svc:8123"
    )
    assert env["OTEL_COST_CLICKHOUSE_DATABASE"]["value"] == "otel_cost"
    token_ref = env["OTEL_COST_API_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert token_ref == {"name": "oc-otel-cost-api-token", "key": "api-token"}
    token = named(documents, "Secret", "oc-otel-cost-api-token")
    assert len(base64.b64decode(token["data"]["api-token"])) == 40


def test_migration_job_command() -> None:
    job = named(render({}), "Job", "oc-otel-cost-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["otel-cost"]
    assert container["args"] == ["serve", "--migrate-only"]
    assert "OTEL_COST_CLICKHOUSE_URL" in env_of(container)


def test_existing_secrets_and_cluster() -> None:
    documents = render(VALUE_SETS["existing-secrets"])
    assert [d["metadata"]["name"] for d in by_kind(documents, "Secret")] == [
        "oc-otel-cost-grafana-datasource"
    ]
    deployment = named(documents, "Deployment", "oc-otel-cost")
    assert deployment["spec"]["replicas"] == 3
    env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
    assert env["CLICKHOUSE_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "ch-credentials",
        "key": "pw",
    }
    assert env["OTEL_COST_CLICKHOUSE_URL"]["value"].startswith(
        "https://$(CLICKHOUSE_USER):$(CLICKHOUSE_PASSWORD)@ch-lb.data.svc:8443"
    )
    assert env["OTEL_COST_API_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == (
        "otel-cost-token"
    )
    assert not [d for d in documents if "collector" in d["metadata"]["name"]]


def test_sidecar_labels_and_namespaces() -> None:
    documents = render(VALUE_SETS["existing-secrets"])
    dashboards = [
        d
        for d in by_kind(documents, "ConfigMap")
        if "grafana_dashboard" in d["metadata"]["labels"]
    ]
    assert len(dashboards) == 3
    for config_map in dashboards:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["namespace"] == "cost"
    datasource = named(documents, "Secret", "oc-otel-cost-grafana-datasource")
    assert datasource["metadata"]["labels"]["grafana_datasource"] == "1"
    assert datasource["metadata"]["namespace"] == "monitoring"
    provisioning = yaml.safe_load(datasource["stringData"]["otel-cost-datasource.yaml"])
    (source,) = provisioning["datasources"]
    assert source["uid"] == "otel-cost-clickhouse"
    assert source["jsonData"]["host"] == "ch-lb.data.svc"
    assert source["jsonData"]["port"] == 8443
    assert source["jsonData"]["secure"] is True
    alerts = named(documents, "ConfigMap", "oc-otel-cost-grafana-alert-rules")
    assert alerts["metadata"]["labels"]["grafana_alert"] == "1"
    assert alerts["metadata"]["namespace"] == "monitoring"
    for kind in ("ServiceMonitor", "PrometheusRule", "AlertmanagerConfig"):
        (resource,) = by_kind(documents, kind)
        assert resource["metadata"]["labels"]["release"] == "kps", kind
        assert resource["metadata"]["labels"]["team"] == "platform", kind


def test_service_monitor_scrapes_metrics() -> None:
    (monitor,) = by_kind(render({}), "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "api"
    assert endpoint["path"] == "/metrics"
    assert endpoint["authorization"]["credentials"]["name"] == "oc-otel-cost-api-token"
    assert monitor["spec"]["selector"]["matchLabels"][
        "app.kubernetes.io/component"
    ] == ("serve")


def test_alertmanager_config_routes_owners() -> None:
    (config,) = by_kind(render({}), "AlertmanagerConfig")
    route = config["spec"]["route"]
    assert route["receiver"] == "platform"
    owners = [
        r["matchers"][0]["value"] for r in route["routes"] if len(r["matchers"]) == 1
    ]
    assert owners == ["developer", "team-lead", "platform", "security"]
    names = {receiver["name"] for receiver in config["spec"]["receivers"]}
    for child in route["routes"]:
        assert child["receiver"] in names


def test_minimal_values_render() -> None:
    documents = render(VALUE_SETS["minimal"])
    kinds = sorted(doc["kind"] for doc in documents)
    assert kinds == sorted(
        ["Deployment", "Deployment", "Service", "Service", "Service", "ConfigMap", "ConfigMap",
         "Secret", "Secret"]
    )  # fmt: skip
    token = named(documents, "Secret", "oc-otel-cost-api-token")
    assert base64.b64decode(token["data"]["api-token"]) == b"s3cret-token"
    budgets = named(documents, "ConfigMap", "oc-otel-cost-budgets")
    assert (
        yaml.safe_load(budgets["data"]["budgets.yaml"])["envelopes"][0]["name"] == "web"
    )
    deployment = named(documents, "Deployment", "oc-otel-cost")
    env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
    assert env["OTEL_COST_BUDGETS_FILE"]["value"] == "/etc/otel-cost/budgets.yaml"


def test_collector_forwards_to_serve() -> None:
    documents = render({"serve": {"replicaCount": 1}})
    config_map = named(documents, "ConfigMap", "oc-otel-cost-collector")
    config = yaml.safe_load(config_map["data"]["config.yaml"])
    exporter = config["exporters"]["otlp_grpc/otel-cost"]
    assert exporter["endpoint"] == "oc-otel-cost.cost.svc:4317"
    assert exporter["headers"]["authorization"] == "Bearer ${env:OTEL_COST_API_TOKEN}"
    for signal in ("traces", "logs"):
        pipeline = config["service"]["pipelines"][signal]
        assert pipeline["processors"][0] == "memory_limiter"
        assert pipeline["exporters"] == ["otlp_grpc/otel-cost"]
    assert (
        config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "0.0.0.0:4317"
    )


def test_collector_routes_traces_to_replicas() -> None:
    # The default runs two serve replicas.
    documents = render({})
    config_map = named(documents, "ConfigMap", "oc-otel-cost-collector")
    config = yaml.safe_load(config_map["data"]["config.yaml"])
    assert "otlp_grpc/otel-cost" not in config["exporters"]
    for signal, key in (("traces", "traceID"), ("logs", "resource")):
        exporter = config["exporters"][f"load_balancing/{signal}"]
        assert exporter["routing_key"] == key
        dns = exporter["resolver"]["dns"]
        assert dns == {"hostname": "oc-otel-cost-headless.cost.svc", "port": "4317"}
        otlp = exporter["protocol"]["otlp"]
        assert otlp["headers"]["authorization"] == "Bearer ${env:OTEL_COST_API_TOKEN}"
        pipeline = config["service"]["pipelines"][signal]
        assert pipeline["exporters"] == [f"load_balancing/{signal}"]
    headless = named(documents, "Service", "oc-otel-cost-headless")
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["selector"]["app.kubernetes.io/component"] == "serve"


def test_schema_rejects_bad_values() -> None:
    chart = helm.Chart.load(str(CHART))
    chart.validate_schema(chart.merge_values({}))
    bad_values = [
        {"clickhouse": {"url": "ftp://clickhouse:21"}},
        {"clickhouse": {"url": "http://user:pw@clickhouse:8123"}},
        {"serve": {"apiPort": 70000}},
        {"prometheus": {"release": ""}},
        {"unknownKey": True},
    ]
    for values in bad_values:
        with pytest.raises(helm.HelmValuesError):
            chart.validate_schema(chart.merge_values(values))


def test_dashboards_match_grafana_dir() -> None:
    documents = render({})
    shipped = {}
    for config_map in by_kind(documents, "ConfigMap"):
        if "grafana_dashboard" in config_map["metadata"]["labels"]:
            shipped.update(config_map["data"])
    source = {
        p.name: p.read_text() for p in (ROOT / "grafana" / "dashboards").glob("*.json")
    }
    assert sorted(shipped) == sorted(source)
    for name, text in source.items():
        assert (CHART / "dashboards" / name).read_text() == text, name
        assert json.loads(shipped[name]) == json.loads(text), name


def test_rules_match_alerts_dir() -> None:
    alerts = ROOT / "alerts"
    if not alerts.exists():
        pytest.skip("alerts/ is not in this checkout")
    copies = {
        "prometheus-rules.yaml": alerts / "prometheus-rules.yaml",
        "grafana-alert-rules.yaml": alerts / "grafana" / "budget-alert-rules.yaml",
    }
    for name, source in copies.items():
        assert (CHART / "files" / name).read_text() == source.read_text(), name
    (rule,) = by_kind(render({}), "PrometheusRule")
    expected = yaml.safe_load(copies["prometheus-rules.yaml"].read_text())
    assert rule["spec"]["groups"] == expected["groups"]


def test_notes_name_stack_settings() -> None:
    chart = helm.Chart.load(str(CHART))
    values = VALUE_SETS["existing-secrets"]
    files = chart.render(values, name="oc", namespace="cost", is_install=True)
    notes = files["otel-cost/templates/NOTES.txt"]
    assert "grafana.plugins: [grafana-clickhouse-datasource]" in notes
    assert "grafana.sidecar.alerts.enabled: true" in notes
    assert "release=kps" in notes
    assert "namespace monitoring" in notes
    assert "http://oc-otel-cost-collector.cost.svc:4318" not in notes


def test_cluster_name_reaches_both() -> None:
    documents = render({"clickhouse": {"cluster": "prod"}})
    job = named(documents, "Job", "oc-otel-cost-migrate")
    deployment = named(documents, "Deployment", "oc-otel-cost")
    for workload in (job, deployment):
        container = workload["spec"]["template"]["spec"]["containers"][0]
        assert env_of(container)["OTEL_COST_CLICKHOUSE_CLUSTER"]["value"] == "prod"
    plain = named(render({}), "Deployment", "oc-otel-cost")
    assert "OTEL_COST_CLICKHOUSE_CLUSTER" not in env_of(
        plain["spec"]["template"]["spec"]["containers"][0]
    )


def test_reconcile_cronjob_off_by_default() -> None:
    assert by_kind(render({}), "CronJob") == []


def test_reconcile_cronjob_settings() -> None:
    documents = render(VALUE_SETS["reconcile"])
    cronjob = named(documents, "CronJob", "oc-otel-cost-reconcile")
    kubernetes_validate.validate(cronjob, KUBE_VERSION, strict=True)
    spec = cronjob["spec"]
    assert spec["schedule"] == "*/30 * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert "timeZone" not in spec
    job = spec["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == 1800
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["command"] == ["otel-cost"]
    assert container["args"] == ["reconcile", "--days=2", "--settle-seconds=600"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = env_of(container)
    assert env["OTEL_COST_CLICKHOUSE_DATABASE"]["value"] == "otel_cost"
    assert env["OTEL_COST_CLICKHOUSE_URL"]["value"].startswith(
        "http://$(CLICKHOUSE_USER):$(CLICKHOUSE_PASSWORD)@"
    )


def test_schema_rejects_bad_reconcile() -> None:
    chart = helm.Chart.load(str(CHART))
    chart.validate_schema(chart.merge_values(VALUE_SETS["reconcile"]))
    bad_values = [
        {"reconcile": {"concurrencyPolicy": "Allow"}},
        {"reconcile": {"days": 0}},
        {"reconcile": {"activeDeadlineSeconds": 3600}},
        {"reconcile": {"schedule": ""}},
    ]
    for values in bad_values:
        with pytest.raises(helm.HelmValuesError):
            chart.validate_schema(chart.merge_values(values))


def test_serve_ack_store_renders() -> None:
    documents = render({"serve": {"ack": "store"}})
    deployment = named(documents, "Deployment", "oc-otel-cost")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "--ack=store" in container["args"]

"""The collector example for several serve replicas: wiring and routing keys."""

from __future__ import annotations

from test_serve_collector_config import check_wiring, load

REPLICAS = "otel-collector-replicas.yaml"


def test_replicas_config_is_wired() -> None:
    config = load(REPLICAS)
    check_wiring(config)
    pipelines = config["service"]["pipelines"]
    assert pipelines["traces"]["exporters"] == ["load_balancing/traces"]
    assert pipelines["logs"]["exporters"] == ["load_balancing/logs"]


def test_replicas_config_matches_base() -> None:
    # Only the exporters differ from the single-replica file.
    base = load("otel-collector.yaml")
    config = load(REPLICAS)
    for section in ("extensions", "receivers", "processors"):
        assert config[section] == base[section], section
    for name in ("traces", "logs"):
        pipeline = config["service"]["pipelines"][name]
        base_pipeline = base["service"]["pipelines"][name]
        assert pipeline["processors"] == base_pipeline["processors"], name


def test_routing_keys_and_protocol() -> None:
    exporters = load(REPLICAS)["exporters"]
    base = load("otel-collector.yaml")["exporters"]["otlp_grpc/otel_cost"]
    assert exporters["load_balancing/traces"]["routing_key"] == "traceID"
    assert exporters["load_balancing/logs"]["routing_key"] == "resource"
    for exporter in exporters.values():
        otlp = exporter["protocol"]["otlp"]
        assert "endpoint" not in otlp
        assert otlp["headers"] == base["headers"]
        assert otlp["compression"] == "gzip"
        assert exporter["resolver"]["dns"]["hostname"].startswith(
            "${env:OTEL_COST_SERVE_HEADLESS_HOST"
        )
        assert exporter["sending_queue"]["storage"] == "file_storage/queue"

"""The collector configuration: structure, wiring and current component names."""

from __future__ import annotations

from pathlib import Path

import yaml

CONFIG_DIR = Path(__file__).resolve().parents[1] / "collector-config"
KINDS = ("receivers", "processors", "exporters")


def load(name: str) -> dict:
    return yaml.safe_load((CONFIG_DIR / name).read_text())


def merge(base: dict, overlay: dict) -> dict:
    """Merge maps the way the collector merges several --config files."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def check_wiring(config: dict) -> None:
    pipelines = config["service"]["pipelines"]
    used = {kind: set() for kind in KINDS}
    for name, pipeline in pipelines.items():
        assert pipeline["receivers"], f"{name} has no receiver"
        assert pipeline["exporters"], f"{name} has no exporter"
        assert pipeline["processors"][0] == "memory_limiter", (
            f"{name}: memory_limiter first"
        )
        for kind in KINDS:
            for component in pipeline.get(kind, []):
                assert component in config[kind], (
                    f"{name} uses undefined {kind} {component}"
                )
                used[kind].add(component)
    for kind in KINDS:
        assert set(config[kind]) == used[kind], (
            f"unused {kind}: {set(config[kind]) - used[kind]}"
        )
    for extension in config["service"]["extensions"]:
        assert extension in config["extensions"]


def test_base_config_is_wired():
    config = load("otel-collector.yaml")
    check_wiring(config)
    assert set(config["service"]["pipelines"]) == {"traces", "logs"}


def test_overlay_config_is_wired():
    config = merge(load("otel-collector.yaml"), load("raw-traces-clickhouse.yaml"))
    check_wiring(config)
    assert config["service"]["pipelines"]["traces/raw"]["exporters"] == [
        "clickhouse/raw"
    ]
    assert config["exporters"]["clickhouse/raw"]["create_schema"] is False


def test_forwarding_to_serve():
    config = load("otel-collector.yaml")
    exporters = config["exporters"]
    assert list(exporters) == ["otlp_grpc/otel_cost"]
    forward = exporters["otlp_grpc/otel_cost"]
    assert forward["headers"]["authorization"] == "Bearer ${env:OTEL_COST_API_TOKEN}"
    assert forward["compression"] == "gzip"
    storage = forward["sending_queue"]["storage"]
    assert storage in config["extensions"]
    assert storage in config["service"]["extensions"]
    for pipeline in config["service"]["pipelines"].values():
        assert pipeline["exporters"] == ["otlp_grpc/otel_cost"]


def test_receivers_default_to_localhost():
    protocols = load("otel-collector.yaml")["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"].endswith(":-localhost:4317}")
    assert protocols["http"]["endpoint"].endswith(":-localhost:4318}")


def test_filters_keep_cost_telemetry():
    processors = load("otel-collector.yaml")["processors"]
    span_rule = processors["filter/cost_spans"]["traces"]["span"][0]
    for attribute in (
        "gen_ai.operation.name",
        "gen_ai.system",
        "gen_ai.provider.name",
        "gen_ai.usage.input_tokens",
        "gen_ai.tool.name",
    ):
        assert f'attributes["{attribute}"] == nil' in span_rule
    log_rule = processors["filter/agent_events"]["logs"]["log_record"][0]
    assert "claude_code|codex|gemini_cli|gen_ai" in log_rule
    # Claude Code's event.name is the short name, so the body and service count too.
    assert "IsMatch(body," in log_rule
    assert 'resource.attributes["service.name"]' in log_rule
    deleted = {
        action["key"] for action in processors["attributes/drop_content"]["actions"]
    }
    assert {"prompt", "gen_ai.input.messages", "gen_ai.output.messages"} <= deleted

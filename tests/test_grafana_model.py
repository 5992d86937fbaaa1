"""Grafana dashboards and provisioning files checked against the dashboard JSON model."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import yaml

GRAFANA = Path(__file__).resolve().parent.parent / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
PLUGIN = "grafana-clickhouse-datasource"
PROVISIONED_UID = "otel-cost-clickhouse"
PANEL_TYPES = {"timeseries", "stat", "table", "barchart", "piechart", "bargauge", "row"}


def load(path: Path) -> dict[str, Any]:
    """Parse one dashboard file."""
    return json.loads(path.read_text(encoding="utf-8"))


def all_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Return every panel, including those nested in collapsed rows."""
    found = []
    for item in dashboard["panels"]:
        found.append(item)
        found.extend(item.get("panels", []))
    return found


def datasource_refs(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Return every datasource reference in panels, targets, variables and annotations."""
    refs = []
    for item in all_panels(dashboard):
        if "datasource" in item:
            refs.append(item["datasource"])
        refs.extend(target["datasource"] for target in item.get("targets", []))
    for variable in dashboard["templating"]["list"]:
        if "datasource" in variable:
            refs.append(variable["datasource"])
    for entry in dashboard["annotations"]["list"]:
        refs.append(entry["datasource"])
        if "target" in entry:
            refs.append(entry["target"]["datasource"])
    return refs


def test_three_dashboards_present() -> None:
    names = [path.name for path in DASHBOARD_FILES]
    assert names == [
        "otel-cost-developer.json",
        "otel-cost-finops.json",
        "otel-cost-team.json",
    ]


def test_dashboard_uids_unique() -> None:
    uids = [load(path)["uid"] for path in DASHBOARD_FILES]
    assert len(set(uids)) == len(uids)
    for uid in uids:
        assert 0 < len(uid) <= 40, uid


def test_dashboard_top_level_keys() -> None:
    for path in DASHBOARD_FILES:
        dashboard = load(path)
        assert dashboard["id"] is None, path.name
        assert 39 <= dashboard["schemaVersion"] <= 42, path.name
        assert dashboard["title"].startswith("otel-cost / "), path.name
        assert "otel-cost" in dashboard["tags"], path.name
        assert dashboard["time"]["to"] == "now", path.name


def test_panel_ids_and_grid() -> None:
    for path in DASHBOARD_FILES:
        panels = all_panels(load(path))
        ids = [item["id"] for item in panels]
        assert len(set(ids)) == len(ids), path.name
        for item in panels:
            grid = item["gridPos"]
            assert item["type"] in PANEL_TYPES, (path.name, item["type"])
            assert grid["x"] + grid["w"] <= 24, (path.name, item["title"])
            assert grid["h"] > 0, (path.name, item["title"])
            assert grid["w"] > 0, (path.name, item["title"])
        cells = set()
        for item in panels:
            grid = item["gridPos"]
            for x in range(grid["x"], grid["x"] + grid["w"]):
                for y in range(grid["y"], grid["y"] + grid["h"]):
                    assert (x, y) not in cells, (path.name, item["title"], "overlaps")
                    cells.add((x, y))


def test_datasource_references_resolve() -> None:
    for path in DASHBOARD_FILES:
        dashboard = load(path)
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == PLUGIN
        assert variables["datasource"]["current"]["value"] == PROVISIONED_UID
        for ref in datasource_refs(dashboard):
            if ref["type"] == "grafana":
                assert ref["uid"] == "-- Grafana --"
                continue
            assert ref["type"] == PLUGIN, (path.name, ref)
            assert ref["uid"] in ("${datasource}", PROVISIONED_UID), (path.name, ref)


def test_attribution_variables_defined() -> None:
    for path in DASHBOARD_FILES:
        variables = {v["name"]: v for v in load(path)["templating"]["list"]}
        for name in ("team", "project", "harness", "model"):
            variable = variables[name]
            assert variable["type"] == "query", (path.name, name)
            assert variable["multi"] and variable["includeAll"], (path.name, name)
            assert variable["query"]["rawSql"] == variable["definition"]


def test_targets_are_sql_queries() -> None:
    for path in DASHBOARD_FILES:
        for item in all_panels(load(path)):
            if item["type"] == "row":
                continue
            assert item["description"], (path.name, item["title"])
            for target in item["targets"]:
                assert target["editorType"] == "sql"
                assert target["format"] in (0, 1)
                assert target["rawSql"].startswith("SELECT "), item["title"]
                if item["type"] == "timeseries":
                    assert target["format"] == 0, item["title"]
                    assert " AS time" in target["rawSql"], item["title"]


def test_money_panels_use_dollars() -> None:
    for path in DASHBOARD_FILES:
        for item in all_panels(load(path)):
            if item["type"] == "row":
                continue
            sql = item["targets"][0]["rawSql"]
            if sql.startswith("SELECT sum(cost_usd) AS cost_usd"):
                assert item["fieldConfig"]["defaults"]["unit"] == "currencyUSD"


def test_committed_json_matches_build() -> None:
    build = runpy.run_path(str(GRAFANA / "build.py"))
    for name, dashboard in build["dashboards"]().items():
        committed = (GRAFANA / "dashboards" / name).read_text(encoding="utf-8")
        assert committed == build["render"](dashboard), (
            f"rerun grafana/build.py: {name}"
        )


def test_datasource_provisioning_file() -> None:
    path = GRAFANA / "provisioning" / "datasources" / "otel-cost-clickhouse.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert config["apiVersion"] == 1
    (source,) = config["datasources"]
    assert source["uid"] == PROVISIONED_UID
    assert source["type"] == PLUGIN
    assert source["jsonData"]["defaultDatabase"] == "otel_cost"
    assert source["jsonData"]["protocol"] in ("http", "native")
    assert "password" in source["secureJsonData"]


def test_dashboard_provider_file() -> None:
    path = GRAFANA / "provisioning" / "dashboards" / "otel-cost.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].startswith("/")

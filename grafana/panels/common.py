"""Building blocks of the dashboards: datasource, variables, panels and layout."""

from __future__ import annotations

from typing import Any

PLUGIN = "grafana-clickhouse-datasource"
#: uid of the provisioned datasource (grafana/provisioning/datasources).
DATASOURCE_UID = "otel-cost-clickhouse"
DATASOURCE = {"type": PLUGIN, "uid": "${datasource}"}
SCHEMA_VERSION = 41

#: Query result format numbers of the ClickHouse plugin.
FORMAT_TIME_SERIES = 0
FORMAT_TABLE = 1

#: Filter for the four attribution variables; "All" turns each into 1=1.
FILTERS = (
    "$__conditionalAll(team IN (${team:singlequote}), $team)"
    " AND $__conditionalAll(project IN (${project:singlequote}), $project)"
    " AND $__conditionalAll(harness IN (${harness:singlequote}), $harness)"
    " AND $__conditionalAll(resolved_model IN (${model:singlequote}), $model)"
)

TOKEN_COLUMNS = [
    "input_tokens", "cache_read_tokens", "cache_write_5m_tokens",
    "cache_write_1h_tokens", "output_tokens", "reasoning_tokens",
    "image_input_tokens", "audio_input_tokens", "image_output_tokens",
    "audio_output_tokens",
]  # fmt: skip
TOTAL_TOKENS = " + ".join(TOKEN_COLUMNS)
# Every revision of an event keeps the first revision's time, so all of them
# are in one monthly partition and FINAL can merge each partition on its own.
FINAL_BY_PARTITION = "SETTINGS do_not_merge_across_partitions_select_final = 1"


def datasource_variable() -> dict[str, Any]:
    """Return the variable that picks the ClickHouse datasource."""
    return {
        "type": "datasource",
        "name": "datasource",
        "label": "ClickHouse",
        "query": PLUGIN,
        "refresh": 1,
        "hide": 0,
        "current": {"text": "otel-cost ClickHouse", "value": DATASOURCE_UID},
        "options": [],
    }


def query_variable(
    name: str, label: str, column: str, depends: str = ""
) -> dict[str, Any]:
    """Return a multi-value variable listing the values of ``column`` in the range."""
    where = "$__timeFilter(bucket)" + (f" AND {depends}" if depends else "")
    sql = (
        f"SELECT DISTINCT {column} FROM cost_rollup_15m WHERE {where} "
        f"AND {column} != '' ORDER BY {column}"
    )
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DATASOURCE,
        "definition": sql,
        "query": {"editorType": "sql", "rawSql": sql},
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "sort": 1,
        "hide": 0,
        "current": {"text": ["All"], "value": ["$__all"]},
        "options": [],
    }


def attribution_variables() -> list[dict[str, Any]]:
    """Return the team, project, harness and model variables (project follows team)."""
    return [
        query_variable("team", "Team", "team"),
        query_variable(
            "project",
            "Project",
            "project",
            "$__conditionalAll(team IN (${team:singlequote}), $team)",
        ),
        query_variable("harness", "Harness", "harness"),
        query_variable("model", "Model", "resolved_model"),
    ]


def textbox_variable(name: str, label: str, default: str) -> dict[str, Any]:
    """Return a free-text variable, for numbers such as a budget."""
    return {
        "type": "textbox",
        "name": name,
        "label": label,
        "query": default,
        "current": {"text": default, "value": default},
        "options": [{"selected": True, "text": default, "value": default}],
        "hide": 0,
    }


def target(sql: str, fmt: int = FORMAT_TABLE, ref_id: str = "A") -> dict[str, Any]:
    """Return one SQL query of a panel."""
    return {
        "refId": ref_id,
        "datasource": DATASOURCE,
        "editorType": "sql",
        "format": fmt,
        "queryType": "timeseries" if fmt == FORMAT_TIME_SERIES else "table",
        "rawSql": " ".join(sql.split()),
    }


def panel(
    kind: str,
    title: str,
    description: str,
    sql: str,
    size: tuple[int, int],
    unit: str = "currencyUSD",
    fmt: int = FORMAT_TABLE,
    options: dict[str, Any] | None = None,
    decimals: int | None = None,
) -> dict[str, Any]:
    """Return a panel of ``kind`` with one query; `layout` sets ids and positions."""
    defaults: dict[str, Any] = {"unit": unit}
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"w": size[0], "h": size[1], "x": 0, "y": 0},
        "targets": [target(sql, fmt)],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options or {},
    }


def row(title: str) -> dict[str, Any]:
    """Return a row header spanning the dashboard width."""
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": {"w": 24, "h": 1, "x": 0, "y": 0},
        "panels": [],
    }


def layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Number the panels and place them left to right, wrapping at 24 columns."""
    x = y = row_height = 0
    for number, item in enumerate(panels, start=1):
        item["id"] = number
        width, height = item["gridPos"]["w"], item["gridPos"]["h"]
        if x + width > 24 or item["type"] == "row":
            x, y, row_height = 0, y + row_height, 0
        item["gridPos"].update({"x": x, "y": y})
        x += width
        row_height = max(row_height, height)
        if item["type"] == "row":
            x, y, row_height = 0, y + height, 0
    return panels


def build_dashboard(
    uid: str,
    title: str,
    description: str,
    panels: list[dict[str, Any]],
    variables: list[dict[str, Any]],
    annotations: list[dict[str, Any]] | None = None,
    time_from: str = "now-7d",
) -> dict[str, Any]:
    """Return a complete classic dashboard model ready for file provisioning."""
    built_in = {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }
    return {
        "id": None,
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["otel-cost", "cost"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "refresh": "1m",
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "schemaVersion": SCHEMA_VERSION,
        "links": [
            {
                "title": "otel-cost dashboards",
                "type": "dashboards",
                "tags": ["otel-cost"],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
                "targetBlank": False,
                "icon": "external link",
            }
        ],
        "annotations": {"list": [built_in, *(annotations or [])]},
        "templating": {"list": [datasource_variable(), *variables]},
        "panels": layout(panels),
    }


def annotation(name: str, sql: str, colour: str) -> dict[str, Any]:
    """Return an annotation query; it must return time, title, text and tags."""
    return {
        "name": name,
        "datasource": DATASOURCE,
        "enable": True,
        "hide": False,
        "iconColor": colour,
        "target": target(sql),
    }


def with_thresholds(
    item: dict[str, Any], steps: list[tuple[float | None, str]]
) -> dict[str, Any]:
    """Colour a panel by absolute thresholds; the first step's value is None (base)."""
    item["fieldConfig"]["defaults"]["thresholds"] = {
        "mode": "absolute",
        "steps": [{"value": value, "color": colour} for value, colour in steps],
    }
    item["fieldConfig"]["defaults"]["color"] = {"mode": "thresholds"}
    return item

"""Write the otel-cost Grafana dashboards to ``grafana/dashboards/*.json``.

The dashboards are classic Grafana dashboard JSON (schemaVersion 41), the
form that file provisioning and the kube-prometheus-stack sidecar load on
Grafana 11.6 and later. Every query targets the grafana-clickhouse-datasource
plugin and uses its macros (``$__timeFilter``, ``$__timeInterval``,
``$__conditionalAll`` ...), so one JSON works against any otel-cost database.

Run ``python grafana/build.py`` after changing a panel. It also writes the
copies that the Helm chart ships (``helm/otel-cost/dashboards``); tests fail
when either committed copy differs from what this script writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from panels import developer, finops, team  # noqa: E402

OUTPUT = Path(__file__).resolve().parent / "dashboards"
CHART_COPY = (
    Path(__file__).resolve().parent.parent / "helm" / "otel-cost" / "dashboards"
)


def render(dashboard: dict[str, Any]) -> str:
    """Return a dashboard as stable, indented JSON text."""
    return json.dumps(dashboard, indent=2, sort_keys=False) + "\n"


def dashboards() -> dict[str, dict[str, Any]]:
    """Return every dashboard by file name."""
    return {
        "otel-cost-developer.json": developer.dashboard(),
        "otel-cost-team.json": team.dashboard(),
        "otel-cost-finops.json": finops.dashboard(),
    }


def main() -> None:
    """Write every dashboard file, and its copy in the Helm chart."""
    for directory in (OUTPUT, CHART_COPY):
        directory.mkdir(parents=True, exist_ok=True)
        for name, dashboard in dashboards().items():
            (directory / name).write_text(render(dashboard), encoding="utf-8")
            print(f"wrote {directory / name}")


if __name__ == "__main__":
    main()

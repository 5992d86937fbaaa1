"""The ``/metrics`` page: self-metrics, cost counters and gauges, budget lines.

Cost counters are all-time totals read from the rollup at scrape time, so they
count each event once whatever was re-sent, and ``rate()`` works across
restarts of the service.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from otel_cost.events import TokenCategory
from otel_cost.serve import queries
from otel_cost.serve.self_metrics import gauge
from otel_cost.store.connection import Store

logger = logging.getLogger(__name__)

BUDGET_MODULE = "otel_cost.budgets.metrics"
ZERO = Decimal(0)


def escape(value: str) -> str:
    """Escape a label value for the Prometheus text format."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def cost_lines(store: Store, now: datetime | None = None) -> list[str]:
    """Return the cost counters and burn gauges, read from the store."""
    now = now or datetime.now(UTC)
    totals = queries.metric_totals(store)
    lines = [
        "# HELP otel_cost_cost_usd_total Priced cost in USD of all stored events.",
        "# TYPE otel_cost_cost_usd_total counter",
    ]
    cost: dict[str, Decimal] = {}
    for row in totals:
        labels = _labels(row)
        cost[labels] = cost.get(labels, ZERO) + (row["cost_usd"] or ZERO)
    lines += [
        f"otel_cost_cost_usd_total{{{labels}}} {queries.money(value)}"
        for labels, value in cost.items()
    ]

    lines += [
        "# HELP otel_cost_events_total Stored cost events, by cost status.",
        "# TYPE otel_cost_events_total counter",
    ]
    for row in totals:
        status = escape(row["cost_status"])
        lines.append(
            f'otel_cost_events_total{{{_labels(row)},cost_status="{status}"}} '
            f"{row['events']}"
        )

    lines += [
        "# HELP otel_cost_tokens_total Stored tokens, by canonical category.",
        "# TYPE otel_cost_tokens_total counter",
    ]
    tokens: dict[str, int] = {}
    for row in totals:
        for category in TokenCategory:
            key = f'{_labels(row)},type="{category.value}"'
            tokens[key] = tokens.get(key, 0) + int(row[category.value])
    lines += [
        f"otel_cost_tokens_total{{{key}}} {value}"
        for key, value in tokens.items()
        if value
    ]
    return lines + _burn_lines(store, now)


def _burn_lines(store: Store, now: datetime) -> list[str]:
    lines = [
        "# HELP otel_cost_burn_usd Priced cost in USD over a rolling window ending now.",
        "# TYPE otel_cost_burn_usd gauge",
    ]
    for row in queries.metric_burn(store, now):
        project = escape(row["project"])
        for window in queries.BURN_WINDOWS:
            value = queries.money(row[f"cost_{window}"] or ZERO)
            lines.append(
                f'otel_cost_burn_usd{{project="{project}",window="{window}"}} {value}'
            )
    return lines


def _labels(row: dict[str, Any]) -> str:
    return (
        f'project="{escape(row["project"])}",model="{escape(row["model"])}",'
        f'harness="{escape(row["harness"])}"'
    )


def budget_lines(store: Store) -> list[str]:
    """Return the budget module's lines when that module is installed."""
    try:
        module = importlib.import_module(BUDGET_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name is not None and BUDGET_MODULE.startswith(exc.name):
            return []
        raise
    produce: Callable[[Store], list[str]] = module.budget_metric_lines
    return list(produce(store))


def render(service_lines: list[str], store: Store | None) -> tuple[str, bool]:
    """Return the full page and whether the store could be read."""
    lines = list(service_lines)
    store_ok = store is not None
    if store is not None:
        for part in (cost_lines, budget_lines):
            try:
                lines += part(store)
            except Exception as exc:  # noqa: BLE001 - a failed part must not hide the rest
                logger.warning("metrics from %s failed: %s", part.__name__, exc)
                store_ok = False
    lines += gauge(
        "metrics_store_read_ok", "1 when the cost metrics could be read.", int(store_ok)
    )
    return "\n".join(lines) + "\n", store_ok

"""Budget status for the views, read from the budgets package when it is installed.

The budgets stage is optional for the views: without it, or without a budgets
file, they show "no budgets" instead of failing.
"""

from __future__ import annotations

import importlib
import logging
from datetime import datetime
from typing import Any

from otel_cost.errors import OtelCostError
from otel_cost.store import Store
from otel_cost.views.model import BudgetLine

logger = logging.getLogger(__name__)


def load_budget_lines(store: Store, now: datetime) -> list[BudgetLine] | None:
    """Return every budget envelope with its spend, or None when there are none."""
    try:
        envelopes: Any = importlib.import_module("otel_cost.budgets.envelopes")
        status: Any = importlib.import_module("otel_cost.budgets.status")
    except ImportError:
        return None
    try:
        declared = envelopes.load_envelopes(envelopes.budgets_path())
        lines = [
            _line(envelope, item)
            for envelope in declared
            for item in status.envelope_statuses(store, envelope, now)
        ]
    except OtelCostError as exc:
        logger.warning("cannot read budget status: %s", exc)
        return None
    return lines or None


def _line(envelope: Any, status: Any) -> BudgetLine:
    scope = str(envelope.scope)
    if scope == "project":
        name, instance, period = envelope.name, "", envelope.period
    else:
        # Session and task envelopes have one instance per session or task.
        # The id is shown in full: session ids of one agent often share a
        # prefix, so a cut id would not tell the sessions apart.
        instance = str(status.instance)
        name, period = f"{envelope.name} {instance}", None
    return BudgetLine(
        scope=scope,
        name=name,
        limit_usd=status.available_usd,
        spent_usd=status.spent_usd,
        period=period,
        instance=instance,
        project=envelope.match.get("project", ""),
        unpriced_events=int(status.unpriced_events),
    )

"""Budget status for the views, read from the budgets package when it is installed.

The budgets stage is optional for the views: without it they show "no budgets"
instead of failing.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from otel_cost.errors import OtelCostError
from otel_cost.store import Store
from otel_cost.views.model import BudgetLine

logger = logging.getLogger(__name__)

#: Functions tried in order; each takes (store, now) and returns budget statuses.
STATUS_FUNCTIONS = ("budget_status", "budget_statuses", "current_status")


def load_budget_lines(store: Store, now: datetime) -> list[BudgetLine] | None:
    """Return every budget with its spend, or None when budgets are unavailable."""
    try:
        budgets = importlib.import_module("otel_cost.budgets")
    except ImportError:
        return None
    for name in STATUS_FUNCTIONS:
        function = getattr(budgets, name, None)
        if callable(function):
            return _call(function, store, now)
    logger.debug("otel_cost.budgets has none of %s", STATUS_FUNCTIONS)
    return None


def _call(function: Any, store: Store, now: datetime) -> list[BudgetLine] | None:
    try:
        statuses = function(store, now)
    except OtelCostError as exc:
        logger.warning("cannot read budget status: %s", exc)
        return None
    return budget_lines_from(statuses)


def budget_lines_from(statuses: Iterable[Any]) -> list[BudgetLine]:
    """Convert budget statuses (objects or mappings) into `BudgetLine` values.

    Each status needs a limit and a spent amount in USD; ``scope`` and
    ``name`` (or ``project``) say what the budget covers. Entries without a
    limit are skipped.
    """
    lines = []
    for status in statuses:
        fields = status if isinstance(status, Mapping) else vars(status)
        limit = _first(fields, "limit_usd", "cap_usd", "amount_usd")
        spent = _first(fields, "spent_usd", "used_usd", "cost_usd")
        if limit is None:
            continue
        lines.append(
            BudgetLine(
                scope=str(_first(fields, "scope") or "project"),
                name=str(_first(fields, "name", "project", "scope_id") or ""),
                limit_usd=Decimal(str(limit)),
                spent_usd=Decimal(str(spent or 0)),
                period=str(_first(fields, "period") or "month"),
            )
        )
    return lines


def _first(fields: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = fields.get(name)
        if value is not None:
            return getattr(value, "value", value)
    return None

"""Data shown by the terminal dashboard and the menubar, whatever its source."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal(0)

#: Look-back windows the dashboard can switch between, by label.
PERIODS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
#: Rolling totals always shown, whatever period is selected.
ROLLING_WINDOWS = ("1h", "24h", "7d")
#: Dimensions the spend mix can be grouped by (cost_events column names).
GROUPINGS = ("provider", "model", "project", "harness", "team")

#: Seconds between reloads of ``otel-cost top``; an event must show within 5 s.
DEFAULT_REFRESH_SECONDS = 2.0

#: Fraction of a budget spent from which the state turns amber, then red.
AMBER_FRACTION = Decimal("0.75")
RED_FRACTION = Decimal("0.90")


class BudgetState(StrEnum):
    """Traffic-light state of a budget, ordered from best to worst."""

    NONE = "none"
    GREEN = "green"
    AMBER = "amber"
    RED = "red"

    @property
    def rank(self) -> int:
        """Position from best (0) to worst (3), for picking the worst state."""
        return list(BudgetState).index(self)


def budget_state(spent_usd: Decimal, limit_usd: Decimal | None) -> BudgetState:
    """Return the state of a budget: green under 75%, amber from 75%, red from 90%."""
    if limit_usd is None or limit_usd <= 0:
        return BudgetState.NONE
    fraction = spent_usd / limit_usd
    if fraction >= RED_FRACTION:
        return BudgetState.RED
    if fraction >= AMBER_FRACTION:
        return BudgetState.AMBER
    return BudgetState.GREEN


@dataclass(frozen=True)
class BudgetLine:
    """One budget and how much of it is spent."""

    scope: str
    name: str
    limit_usd: Decimal
    spent_usd: Decimal
    #: Calendar period of a project budget; None for session and task budgets.
    period: str | None = None
    #: Project the budget is limited to, when it names one.
    project: str = ""
    #: Events with no price, which ``spent_usd`` leaves out.
    unpriced_events: int = 0
    #: Session id or task of a session or task budget, in full; "" for a project.
    instance: str = ""

    @property
    def remaining_usd(self) -> Decimal:
        """Money left before the cap; negative once the budget is overspent."""
        return self.limit_usd - self.spent_usd

    @property
    def state(self) -> BudgetState:
        """Traffic-light state of this budget."""
        return budget_state(self.spent_usd, self.limit_usd)


def worst_state(lines: list[BudgetLine]) -> BudgetState:
    """Return the worst state among ``lines`` (``NONE`` when there are no budgets)."""
    states = [line.state for line in lines]
    return max(states, key=lambda state: state.rank, default=BudgetState.NONE)


@dataclass(frozen=True)
class Total:
    """Spend over some window: priced cost, event count and unpriced events."""

    cost_usd: Decimal = ZERO
    events: int = 0
    unpriced_events: int = 0


@dataclass(frozen=True)
class MixRow:
    """Spend of one value of the grouping dimension (a provider, model, ...)."""

    key: str
    cost_usd: Decimal
    events: int
    unpriced_events: int = 0


@dataclass(frozen=True)
class Operation:
    """One expensive event for the top-N list."""

    ts: datetime
    session_id: str
    project: str
    model: str
    operation: str
    tool_name: str
    total_tokens: int
    cost_usd: Decimal


@dataclass(frozen=True)
class SessionRow:
    """One session in the period: what it cost and when it was last active."""

    session_id: str
    harness: str
    project: str
    started: datetime
    last_seen: datetime
    events: int
    cost_usd: Decimal
    unpriced_events: int = 0

    @property
    def rate_usd_per_minute(self) -> Decimal:
        """Average burn rate, counting a session shorter than a minute as one minute."""
        seconds = max((self.last_seen - self.started).total_seconds(), 60.0)
        return self.cost_usd * 60 / Decimal(str(seconds))


@dataclass(frozen=True)
class SessionDetail:
    """A session with its tokens by category and its most expensive events."""

    session: SessionRow
    tokens: dict[str, int] = field(default_factory=dict)
    operations: list[Operation] = field(default_factory=list)


@dataclass(frozen=True)
class UnpricedUsage:
    """Usage that has no price: tokens are known, the cost is not."""

    events: int = 0
    tokens: int = 0
    models: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Query:
    """The user's selection: period, project filter, grouping and list length."""

    period: str = "24h"
    project: str | None = None
    grouping: str = "provider"
    top_n: int = 10


@dataclass(frozen=True)
class Snapshot:
    """Everything one refresh of a view shows."""

    taken_at: datetime
    source: str
    query: Query
    rolling: dict[str, Total]
    today: Total
    period_total: Total
    current_session: SessionDetail | None
    mix: list[MixRow]
    top_operations: list[Operation]
    unpriced: UnpricedUsage
    projects: list[str]
    project_today: list[MixRow]
    budgets: list[BudgetLine] | None


@dataclass(frozen=True)
class DayStatus:
    """Today's spend per project and the budgets: all the menubar needs."""

    taken_at: datetime
    source: str
    today: Total
    projects: list[MixRow]
    budgets: list[BudgetLine] | None

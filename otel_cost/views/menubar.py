"""Menubar plugin output for SwiftBar and xbar (macOS) and Argos (GNOME Shell).

Both formats print the title on the first line, then ``---``, then one
dropdown item per line; ``|`` separates an item's text from its parameters.
SwiftBar and xbar run a command given as ``shell=`` plus ``param1=`` and so
on. Argos runs the command line given as ``bash='...'``. In all three,
``terminal=true`` runs it in a terminal, ``color=`` sets the text colour and
``refresh=true`` reruns the plugin.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from decimal import Decimal

from otel_cost.views.display import STATE_COLOURS, money, percent
from otel_cost.views.model import BudgetLine, BudgetState, DayStatus, worst_state

FORMATS = ("swiftbar", "argos")
#: Dropdown lines shown per project before the rest are summed into one line.
MAX_PROJECT_LINES = 12
STATE_MARKS = {
    BudgetState.NONE: "",
    BudgetState.GREEN: "●",
    BudgetState.AMBER: "▲",
    BudgetState.RED: "■",
}


def top_command() -> list[str]:
    """Return the command line that starts ``otel-cost top``."""
    executable = shutil.which("otel-cost")
    if executable:
        return [executable, "top"]
    return [sys.executable, "-m", "otel_cost", "top"]


def render(status: DayStatus, output_format: str, command: list[str]) -> str:
    """Return the plugin output for ``status`` in ``output_format``."""
    state = worst_state(status.budgets or [])
    lines = [_title(status, state), "---"]
    lines += _project_lines(status)
    lines.append("---")
    lines += _budget_lines(status.budgets)
    lines.append("---")
    lines.append(_run_item("Open otel-cost top", command, output_format))
    lines.append(f"Read via {status.source} at {status.taken_at:%H:%M:%S} | size=11")
    lines.append("Refresh | refresh=true")
    return "\n".join(lines) + "\n"


def _title(status: DayStatus, state: BudgetState) -> str:
    mark = STATE_MARKS[state]
    today = status.today
    text = f"{mark} {_cost(today.cost_usd, today.events, today.unpriced_events)}"
    text = text.strip()
    if today.unpriced_events and today.unpriced_events != today.events:
        text += " ?"
    return f"{text} | color={STATE_COLOURS[state]}"


def _project_lines(status: DayStatus) -> list[str]:
    if not status.projects:
        return ["No spend today | color=#9e9e9e"]
    states: dict[str, BudgetState] = {}
    for line in status.budgets or []:
        key = line.project or line.name
        if line.state.rank > states.get(key, BudgetState.NONE).rank:
            states[key] = line.state
    today = status.today
    lines = [f"Today {_cost(today.cost_usd, today.events, today.unpriced_events)}"]
    for row in status.projects[:MAX_PROJECT_LINES]:
        colour = STATE_COLOURS[states.get(row.key, BudgetState.NONE)]
        name = _clean(row.key or "(no project)")
        cost = _cost(row.cost_usd, row.events, row.unpriced_events)
        lines.append(f"{name}: {cost} | color={colour}")
    rest = status.projects[MAX_PROJECT_LINES:]
    if rest:
        others = sum((row.cost_usd for row in rest), Decimal(0))
        lines.append(f"{len(rest)} more projects: {money(others)}")
    if status.today.unpriced_events:
        count = status.today.unpriced_events
        lines.append(
            f"{count} unpriced event{'' if count == 1 else 's'} today "
            f"| color={STATE_COLOURS[BudgetState.RED]}"
        )
    return lines


def _budget_lines(budgets: list[BudgetLine] | None) -> list[str]:
    if not budgets:
        return ["No budgets | color=#9e9e9e"]
    lines = []
    for line in budgets:
        used = percent(line.spent_usd, line.limit_usd)
        text = f"{_clean(line.name or line.scope)} budget: {used} used, "
        if line.remaining_usd < 0:
            text += f"{money(-line.remaining_usd)} over"
        else:
            text += f"{money(line.remaining_usd)} left"
        if line.unpriced_events:
            # Spend leaves unpriced events out, so "used" may be too low.
            count = line.unpriced_events
            noun = "unpriced event" if count == 1 else "unpriced events"
            text += f" ({count} {noun} not counted)"
        lines.append(f"{text} | color={STATE_COLOURS[line.state]}")
    return lines


def _cost(cost_usd: Decimal, events: int, unpriced_events: int) -> str:
    # Events with no price have an unknown cost, which must not read as $0.00.
    if events and unpriced_events == events:
        return "unpriced"
    return money(cost_usd)


def _run_item(text: str, command: list[str], output_format: str) -> str:
    if output_format == "argos":
        return f"{text} | bash={shlex.quote(shlex.join(command))} terminal=true"
    params = [f"shell={shlex.quote(command[0])}"]
    params += [f"param{i}={shlex.quote(arg)}" for i, arg in enumerate(command[1:], 1)]
    return f"{text} | {' '.join(params)} terminal=true"


def _clean(text: str) -> str:
    # A "|" in a project name would start the parameter list; "---" a separator.
    return text.replace("|", "/").replace("\n", " ").removeprefix("---")

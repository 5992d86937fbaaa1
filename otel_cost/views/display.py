"""Display rules shared by the views: money, token counts and budget colours.

Money is rounded here and nowhere earlier: cents from one dollar up, four
decimals below a dollar so small sessions do not all read $0.00.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from otel_cost.views.model import BudgetState

CENT = Decimal("0.01")
HUNDREDTH_OF_A_CENT = Decimal("0.0001")

#: Colour of each budget state, as hex so SwiftBar, Argos and Rich all accept it.
STATE_COLOURS = {
    BudgetState.NONE: "#9e9e9e",
    BudgetState.GREEN: "#2e7d32",
    BudgetState.AMBER: "#ef8f00",
    BudgetState.RED: "#c62828",
}


def money(amount: Decimal) -> str:
    """Format US dollars: ``$1,234.57``, or ``$0.0042`` below one dollar."""
    step = CENT if abs(amount) >= 1 else HUNDREDTH_OF_A_CENT
    rounded = amount.quantize(step, rounding=ROUND_HALF_UP)
    sign = "-" if rounded < 0 else ""
    return f"{sign}${abs(rounded):,}"


def tokens(count: int) -> str:
    """Format a token count compactly: 950, 12.3k, 4.5M."""
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.1f}M"


def percent(part: Decimal, whole: Decimal) -> str:
    """Format ``part`` as a whole percentage of ``whole`` (``-`` when whole is zero)."""
    if whole == 0:
        return "-"
    share = (part * 100 / whole).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return f"{share}%"

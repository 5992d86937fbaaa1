"""The running totals of one capture session and their one-screen summary."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from otel_cost.events import CostEvent, CostStatus, TokenCategory

ZERO = Decimal(0)
MAX_MODEL_ROWS = 8


@dataclass
class ModelTotals:
    """Requests and cost of one model within a session."""

    requests: int = 0
    cost_usd: Decimal = ZERO
    unpriced: int = 0
    estimated: int = 0


@dataclass
class SessionTally:
    """Totals over every event a capture session recorded."""

    started_monotonic: float = field(default_factory=time.monotonic)
    requests: int = 0
    errors: int = 0
    interrupted: int = 0
    denied: int = 0
    cost_usd: Decimal = ZERO
    tokens: Counter[TokenCategory] = field(default_factory=Counter)
    unpriced_tokens: int = 0
    models: dict[str, ModelTotals] = field(default_factory=dict)

    def add(self, event: CostEvent) -> None:
        """Count one event."""
        self.requests += 1
        self.errors += event.outcome == "error"
        self.interrupted += event.outcome == "interrupted"
        self.denied += event.outcome == "denied"
        self.tokens.update(event.usage.tokens)
        totals = self.models.setdefault(event.model or "(unknown model)", ModelTotals())
        totals.requests += 1
        if event.cost_usd is None:
            totals.unpriced += 1
            self.unpriced_tokens += event.usage.total_tokens
            return
        totals.cost_usd += event.cost_usd
        totals.estimated += event.cost_status is CostStatus.ESTIMATED
        self.cost_usd += event.cost_usd

    @property
    def unpriced_requests(self) -> int:
        """Requests whose cost is unknown."""
        return sum(totals.unpriced for totals in self.models.values())

    def render(self, session_id: str, target: str, exit_code: int) -> str:
        """Return the summary printed when the wrapped command ends."""
        duration_s = time.monotonic() - self.started_monotonic
        lines = [
            f"otel-cost: session {session_id}, {format_duration(duration_s)}, "
            f"exit code {exit_code}",
            f"  requests {self.requests} (errors {self.errors}, "
            f"interrupted {self.interrupted}), cost {format_usd(self.cost_usd)}",
        ]
        lines.extend(self._model_lines())
        lines.append("  tokens " + self._token_text())
        if self.denied:
            lines.append(f"  refused by a budget gate: {self.denied} requests")
        if self.unpriced_requests:
            lines.append(
                f"  unpriced: {self.unpriced_requests} requests, "
                f"{self.unpriced_tokens:,} tokens (cost unknown, not $0)"
            )
        lines.append(f"  events stored in {target}")
        return "\n".join(lines)

    def _model_lines(self) -> list[str]:
        ranked = sorted(
            self.models.items(), key=lambda item: (-item[1].cost_usd, item[0])
        )
        width = max((len(name) for name, _ in ranked[:MAX_MODEL_ROWS]), default=5)
        lines = []
        for name, totals in ranked[:MAX_MODEL_ROWS]:
            cost = (
                format_usd(totals.cost_usd)
                if totals.unpriced < totals.requests
                else "unpriced"
            )
            note = " (estimated)" if totals.estimated else ""
            lines.append(f"    {name:<{width}}  {totals.requests:>5} req  {cost}{note}")
        if len(ranked) > MAX_MODEL_ROWS:
            lines.append(f"    ... and {len(ranked) - MAX_MODEL_ROWS} more models")
        return lines

    def _token_text(self) -> str:
        parts = [
            f"{category.value} {self.tokens[category]:,}"
            for category in TokenCategory
            if self.tokens[category]
        ]
        return ", ".join(parts) if parts else "none"


def format_usd(amount: Decimal) -> str:
    """Return a dollar amount rounded for display (four places below one dollar)."""
    places = Decimal("0.0001") if abs(amount) < 1 else Decimal("0.01")
    return f"${amount.quantize(places):,}"


def format_duration(seconds: float) -> str:
    """Return ``1h 02m 03s``, ``2m 03s`` or ``4.2s``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (
        f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"
    )

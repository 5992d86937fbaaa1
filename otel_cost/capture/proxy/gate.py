"""The budget seam of the proxy: a gate asked before each billable request.

The proxy has the whole prompt before anything is spent, so it can reject a
model call that would burst a budget envelope. The gate itself (envelopes,
spend, verdicts) lives in `otel_cost.budgets`; this module only adapts it. A
gate that fails lets the request through: capture must never stop an agent
on its own error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson

from otel_cost.capture.context import CaptureContext
from otel_cost.capture.wire import Provider

logger = logging.getLogger(__name__)

GATE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class GateAnswer:
    """A gate's verdict on one request, with the refusal to send on ``deny``."""

    verdict: str
    message: str = ""
    status: int = 0
    body: bytes = b""


class RequestGate(Protocol):
    """Decides whether a billable request may go upstream."""

    def check(self, provider: Provider, model: str, body: bytes) -> GateAnswer | None:
        """Return a verdict, or None to let the request through unremarked."""
        ...


class BudgetGate:
    """Asks the budget gate of the running service, else of the store, per request."""

    def __init__(
        self, context: CaptureContext, envelopes: list[Any], api_url: str | None
    ) -> None:
        self.context = context
        self.envelopes = envelopes
        self.api_url = api_url.rstrip("/") if api_url else None

    def check(self, provider: Provider, model: str, body: bytes) -> GateAnswer | None:
        """Return the gate's verdict; None when the gate itself failed."""
        from otel_cost.budgets.proxy import proxy_action, rejection_response

        try:
            parsed = orjson.loads(body) if body else {}
            request = parsed if isinstance(parsed, dict) else {}
            action = proxy_action(
                provider.value,
                self.context.harness,
                self.context.session_id,
                model,
                request,
            )
            decision = self._decide(action)
        except Exception as exc:  # the gate fails open
            logger.warning("budget gate failed, request allowed: %s", exc)
            return None
        verdict = str(decision.get("verdict", "allow"))
        message = str(decision.get("message", ""))
        if verdict != "deny":
            return GateAnswer(verdict, message)
        status, refusal = rejection_response(provider.value, message)
        return GateAnswer(verdict, message, status, orjson.dumps(refusal))

    def _decide(self, action: Any) -> dict[str, Any]:
        from otel_cost.budgets.hookrun import GATE_PATH, gate_locally

        if self.api_url:
            response = httpx.post(
                self.api_url + GATE_PATH, json=action.to_dict(), timeout=GATE_TIMEOUT_S
            )
            response.raise_for_status()
            answer: dict[str, Any] = response.json()
            return answer
        return gate_locally(self.envelopes, action)


def budget_gate(context: CaptureContext, api_url: str | None) -> BudgetGate | None:
    """Return a gate when budget envelopes are defined, else None."""
    try:
        from otel_cost.budgets.envelopes import budgets_path, load_envelopes

        envelopes = load_envelopes(budgets_path())
    except ImportError:
        return None
    except Exception as exc:  # a broken budgets file must not stop the agent
        logger.warning("budget envelopes not loaded, requests are not gated: %s", exc)
        return None
    return BudgetGate(context, list(envelopes), api_url) if envelopes else None

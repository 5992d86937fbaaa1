"""Run one agent hook: read its JSON, ask the gate, answer in the agent's shape.

The gate fails open. On any internal error (bad input, a store that cannot be
opened, a service that does not respond) the action is allowed, the agent gets
``{}`` and exit code 0, and stderr says why. When ``otel-cost serve`` runs,
the hook asks its gate endpoint, which answers in milliseconds; otherwise the
hook opens the store itself, which costs the embedded engine's start-up time.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from otel_cost.budgets.actions import Action, Verdict
from otel_cost.budgets.agents import HOOK_EVENTS
from otel_cost.budgets.envelopes import Envelope, budgets_path, load_envelopes

logger = logging.getLogger(__name__)

#: Path of the gate endpoint under the service's ``api_url``.
GATE_PATH = "/api/v1/budgets/gate"
#: Bearer token variable that ``otel-cost serve`` checks, sent when set.
API_TOKEN_VARIABLE = "OTEL_COST_API_TOKEN"
SERVICE_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class HookResult:
    """Output of one hook call: the JSON for stdout, the exit code and stderr text."""

    answer: dict[str, Any]
    exit_code: int = 0
    stderr: str = ""


def run_hook(
    agent: str, event: str, stdin_text: str, now: datetime | None = None
) -> HookResult:
    """Run one hook call and return the agent's response; never raises."""
    try:
        return _run(agent, event, stdin_text, now)
    except Exception as exc:  # noqa: BLE001 - the gate must never break the agent
        logger.debug("budget gate failed open", exc_info=True)
        return HookResult(
            {}, 0, f"otel-cost budget gate failed open (action allowed): {exc}"
        )


def _run(agent: str, event: str, stdin_text: str, now: datetime | None) -> HookResult:
    try:
        harness, reader, renderer = HOOK_EVENTS[(agent, event.lower())]
    except KeyError:
        known = ", ".join(f"{a} {e}" for a, e in HOOK_EVENTS)
        raise ValueError(
            f"unknown hook {agent} {event}; expected one of: {known}"
        ) from None
    payload = json.loads(stdin_text or "{}")
    if not isinstance(payload, dict):
        raise ValueError("hook input is not a JSON object")
    path = budgets_path()
    if not path.exists():
        return HookResult({})
    action = reader(payload, harness)
    # A running service reads and checks the budgets file itself.
    decision = _ask_service(action)
    if decision is None:
        envelopes = load_envelopes(path)
        if not envelopes:
            return HookResult({})
        decision = gate_locally(envelopes, action, now)
    verdict = Verdict(decision["verdict"])
    return HookResult(renderer(verdict, decision["message"]))


def _ask_service(action: Action) -> dict[str, Any] | None:
    try:
        discovery = importlib.import_module("otel_cost.serve.discovery")
    except ImportError:
        return None
    service = discovery.running_service()
    import urllib.error
    import urllib.request

    if not service or not service.get("api_url"):
        return None
    request = urllib.request.Request(
        str(service["api_url"]).rstrip("/") + GATE_PATH,
        data=json.dumps(action.to_dict()).encode(),
        headers=_headers(),
        method="POST",
    )
    try:
        # No proxy: the service runs on this host.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=SERVICE_TIMEOUT_SECONDS) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        logger.warning(
            "budget gate endpoint did not respond, checking the store: %s", exc
        )
        return None
    return answer


def _headers() -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    token = os.environ.get(API_TOKEN_VARIABLE)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def gate_locally(
    envelopes: list[Envelope], action: Action, now: datetime | None = None
) -> dict[str, Any]:
    """Evaluate the gate against the store this process opens."""
    from otel_cost.budgets.gate import evaluate
    from otel_cost.pricing.registry import load_registry
    from otel_cost.store import open_store

    store = open_store()
    try:
        return evaluate(store, load_registry(), envelopes, action, now).to_dict()
    finally:
        store.close()


def gate_endpoint(store: Any, registry: Any, body: dict[str, Any]) -> dict[str, Any]:
    """Return the decision for a POST to the service's gate endpoint (``GATE_PATH``).

    ``otel-cost serve`` calls this with its own store and registry; the body is
    `Action.to_dict` and the response is `GateDecision.to_dict`.
    """
    from otel_cost.budgets.gate import evaluate

    envelopes = load_envelopes(budgets_path())
    return evaluate(store, registry, envelopes, Action.from_dict(body)).to_dict()

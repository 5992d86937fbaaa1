"""``otel-cost instrument``: run a command with the proxy in front of its LLM calls."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otel_cost import config
from otel_cost.capture.context import CaptureContext
from otel_cost.capture.proxy.gate import budget_gate
from otel_cost.capture.proxy.recorder import Recorder
from otel_cost.capture.proxy.server import ProxyServer
from otel_cost.capture.proxy.upstreams import base_urls_for_agent
from otel_cost.capture.sink import Emitter, EventSink
from otel_cost.capture.wire import Provider
from otel_cost.pricing.registry import PricingRegistry

logger = logging.getLogger(__name__)

#: Command names of known agents, mapped to the harness names the importers use.
KNOWN_HARNESSES = {"claude": "claude-code", "codex": "codex", "gemini": "gemini"}
#: Resource attribute telling the service that the proxy already records this
#: agent's LLM requests, so its own request and cost telemetry must not count.
CAPTURE_MARKER = "otel_cost.capture"
COMMAND_NOT_FOUND = 127
#: Signals sent to the wrapper alone (by ``kill`` or a closing terminal). The
#: wrapper passes them on, so the agent stops too and the summary is written.
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def harness_for(command: Sequence[str]) -> str:
    """Return the harness name of a command, from its program name."""
    program = Path(command[0]).name
    return KNOWN_HARNESSES.get(program, program)


def exit_status(returncode: int) -> int:
    """Return a shell-style exit status: 128 + N for a child killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


@dataclass
class InstrumentResult:
    """The result of one instrumented run: exit code and summary text."""

    exit_code: int
    summary: str


def agent_environment(
    environ: Mapping[str, str],
    proxy_url: str,
    context: CaptureContext,
    service: Mapping[str, Any] | None,
) -> dict[str, str]:
    """Return the wrapped command's environment: base URLs, session and telemetry."""
    env = dict(environ)
    env.update(base_urls_for_agent(proxy_url))
    env[config.ENV_PROXY_URL] = proxy_url
    env[config.ENV_SESSION_ID] = context.session_id
    if service and service.get("otlp_http_url") and context.harness == "claude-code":
        env.update(
            claude_code_telemetry(environ, str(service["otlp_http_url"]), context)
        )
    return env


def claude_code_telemetry(
    environ: Mapping[str, str], otlp_http_url: str, context: CaptureContext
) -> dict[str, str]:
    """Return the variables that send Claude Code's own telemetry to the service.

    A user who already configured Claude Code telemetry keeps that setup. The
    resource carries the project, task and the capture marker, so the service
    keeps tool and session events but skips the request costs the proxy has.
    """
    if environ.get("CLAUDE_CODE_ENABLE_TELEMETRY"):
        return {}
    labels = {
        "otel_cost.project": context.project,
        "otel_cost.task_type": context.task_type,
        "otel_cost.harness": context.harness,
        "session.id": context.session_id,
        CAPTURE_MARKER: "proxy",
    }
    encoded = ",".join(
        f"{key}={urllib.parse.quote(value, safe='')}"
        for key, value in labels.items()
        if value
    )
    existing = environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    return {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_http_url,
        "OTEL_RESOURCE_ATTRIBUTES": f"{existing},{encoded}" if existing else encoded,
    }


def run_instrumented(
    command: Sequence[str],
    context: CaptureContext,
    upstreams: dict[Provider, str],
    registry: PricingRegistry,
    sink: EventSink,
    service: Mapping[str, Any] | None = None,
) -> InstrumentResult:
    """Run ``command`` behind the proxy and return its exit code and the summary."""
    emitter = Emitter(sink)
    recorder = Recorder(context, registry, emitter)
    api_url = str(service["api_url"]) if service and service.get("api_url") else None
    proxy = ProxyServer(upstreams, recorder, gate=budget_gate(context, api_url))
    proxy.start()
    try:
        env = agent_environment(os.environ, proxy.url, context, service)
        telemetry = env.get("CLAUDE_CODE_ENABLE_TELEMETRY", "") not in ("", "0")
        if context.harness == "claude-code" and telemetry:
            recorder.context = dataclasses.replace(context, native_telemetry=True)
        exit_code = run_child(command, env)
    finally:
        proxy.stop()
        emitter.close()
    if emitter.stats.failed:
        logger.warning(
            "%d events could not be stored in %s", emitter.stats.failed, sink.target
        )
    summary = recorder.tally.render(context.session_id, sink.target, exit_code)
    return InstrumentResult(exit_code=exit_code, summary=summary)


def run_child(command: Sequence[str], env: Mapping[str, str]) -> int:
    """Run the command in the foreground and return its shell-style exit status."""
    try:
        child = subprocess.Popen(list(command), env=dict(env))
    except FileNotFoundError:
        print(
            f"otel-cost: command not found: {command[0]} (check the name and PATH)",
            file=sys.stderr,
        )
        return COMMAND_NOT_FOUND
    except PermissionError:
        print(
            f"otel-cost: permission denied: {command[0]} (is it executable?)",
            file=sys.stderr,
        )
        return COMMAND_NOT_FOUND - 1
    with _signals_to_child(child):
        returncode = child.wait()
    return exit_status(returncode)


@contextmanager
def _signals_to_child(child: subprocess.Popen[bytes]) -> Iterator[None]:
    # Ctrl-C reaches the whole foreground process group, so the agent decides
    # what it means and the wrapper only waits to write the summary.
    def forward(signum: int, frame: object) -> None:
        child.send_signal(signum)

    handlers: dict[signal.Signals, Any] = {signal.SIGINT: signal.SIG_IGN}
    handlers.update({signum: forward for signum in FORWARDED_SIGNALS})
    try:
        previous = {
            signum: signal.signal(signum, handler)
            for signum, handler in handlers.items()
        }
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

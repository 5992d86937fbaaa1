"""``otel-cost instrument [options] -- CMD [ARGS...]``."""

from __future__ import annotations

import os
import sys

import click

from otel_cost import config
from otel_cost.capture.context import build_context, parse_tags
from otel_cost.capture.proxy.instrument import harness_for, run_child, run_instrumented
from otel_cost.capture.proxy.upstreams import resolve_upstreams
from otel_cost.capture.sink import open_sink, running_service
from otel_cost.capture.wire import Provider
from otel_cost.cli.common import db_option, pricing_option
from otel_cost.pricing.registry import load_registry


@click.command(
    "instrument",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option(
    "--project", default=None, help="Project label. Default: git top-level folder name."
)
@click.option(
    "--task-type", default=None, help="Task type label, such as feature or bugfix."
)
@click.option(
    "--session-id", default=None, help="Session id. Default: a new random id."
)
@click.option(
    "--user", default=None, help="User label. Default: $OTEL_COST_USER, else the login."
)
@click.option(
    "--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Extra label; repeatable."
)
@click.option(
    "--harness", default=None, help="Harness name. Default: from the command name."
)
@click.option(
    "--upstream-anthropic",
    default=None,
    metavar="URL",
    help="Anthropic upstream base URL.",
)
@click.option(
    "--upstream-openai",
    default=None,
    metavar="URL",
    help="OpenAI upstream base URL (with /v1).",
)
@click.option(
    "--upstream-gemini", default=None, metavar="URL", help="Gemini upstream base URL."
)
@db_option
@pricing_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def instrument_command(
    project: str | None,
    task_type: str | None,
    session_id: str | None,
    user: str | None,
    tags: tuple[str, ...],
    harness: str | None,
    upstream_anthropic: str | None,
    upstream_openai: str | None,
    upstream_gemini: str | None,
    dsn: str | None,
    pricing_files: tuple[str, ...],
    command: tuple[str, ...],
) -> None:
    """Run CMD with a local proxy that records the cost of its LLM API calls.

    CMD gets ANTHROPIC_BASE_URL, OPENAI_BASE_URL and GOOGLE_GEMINI_BASE_URL
    pointed at the proxy. The wrapper exits with CMD's exit code and prints a
    session summary to stderr.
    """
    if os.environ.get(config.ENV_PROXY_URL):
        click.echo(
            "otel-cost: already instrumented; running the command as is", err=True
        )
        sys.exit(run_child(command, os.environ))
    options = {
        Provider.ANTHROPIC: upstream_anthropic,
        Provider.OPENAI: upstream_openai,
        Provider.GEMINI: upstream_gemini,
    }
    upstreams = resolve_upstreams(options, os.environ)
    context = build_context(
        harness=harness or harness_for(command),
        project=project,
        task_type=task_type,
        session_id=session_id or os.environ.get(config.ENV_SESSION_ID),
        user=user,
        tags=parse_tags(tags),
    )
    registry = load_registry(pricing_files)
    service = None if dsn else running_service()
    sink = open_sink(dsn)
    result = run_instrumented(command, context, upstreams, registry, sink, service)
    click.echo(result.summary, err=True)
    sys.exit(result.exit_code)

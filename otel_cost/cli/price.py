"""``otel-cost price``: price one request from a provider's own usage object."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
import orjson

from otel_cost.cli.common import parse_instant, pricing_option, print_json
from otel_cost.decimals import decimal_text
from otel_cost.errors import UsageFormatError
from otel_cost.events import CostStatus
from otel_cost.normalise.usage import CONVERTERS, convert
from otel_cost.pricing.registry import Quote, load_registry


@click.command("price")
@click.option(
    "--model", required=True, help="Model id as the provider or agent names it."
)
@click.option(
    "--usage-format",
    required=True,
    type=click.Choice(list(CONVERTERS)),
    help="Convention of the usage object.",
)
@click.option("--usage", "usage_text", required=True, help="The usage object as JSON.")
@click.option(
    "--service-tier",
    type=click.Choice(["standard", "priority", "flex", "batch"]),
    default="standard",
    help="Service tier the request ran on.",
)
@click.option(
    "--at", "at_text", default=None, help="Request time (ISO 8601); default now."
)
@pricing_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def price_command(
    model: str,
    usage_format: str,
    usage_text: str,
    service_tier: str,
    at_text: str | None,
    pricing_files: tuple[str, ...],
    as_json: bool,
) -> None:
    """Price one request with the rate card in force at its time."""
    try:
        raw = orjson.loads(usage_text)
    except orjson.JSONDecodeError as exc:
        raise click.BadParameter(
            f"not valid JSON: {exc}", param_hint="--usage"
        ) from None
    try:
        usage = convert(usage_format, raw)
    except UsageFormatError as exc:
        raise click.BadParameter(str(exc), param_hint="--usage") from None
    at = parse_instant(at_text, "--at") if at_text else datetime.now(UTC)
    # Anthropic reports fast mode inside the usage object.
    speed = raw.get("speed", "") if isinstance(raw, dict) else ""
    registry = load_registry(pricing_files)
    quote = registry.quote(model, usage, at, service_tier, speed)
    payload = quote_payload(quote)
    if as_json:
        print_json(payload)
    else:
        _print_text(payload)


def quote_payload(quote: Quote) -> dict[str, Any]:
    """Return the JSON contract of one quote."""
    priced = quote.status is CostStatus.PRICED and quote.priced is not None
    lines = quote.priced.lines if quote.priced is not None else []
    payload: dict[str, Any] = {
        "model": quote.model,
        "resolved_model": quote.resolved_model,
        "status": quote.status.value,
        "total_usd": decimal_text(quote.priced.total_usd)
        if priced and quote.priced
        else None,
        "pricing_version": quote.pricing_version,
        "lines": [
            {
                "category": line.category,
                "tokens": line.quantity,
                "usd_per_token": decimal_text(line.usd_per_unit),
                "usd": decimal_text(line.cost_usd),
            }
            for line in lines
        ],
    }
    if quote.priced is not None and quote.priced.missing:
        payload["missing_rates"] = list(quote.priced.missing)
    if quote.priced is not None and quote.priced.unpriced_fees:
        # The card has no fee for these; the total leaves them out.
        payload["unpriced_fees"] = list(quote.priced.unpriced_fees)
    return payload


def _print_text(payload: dict[str, Any]) -> None:
    click.echo(
        f"model    {payload['model']} -> {payload['resolved_model'] or '(not found)'}"
    )
    click.echo(f"card     {payload['pricing_version']}")
    for line in payload["lines"]:
        click.echo(
            f"  {line['category']:<16} {line['tokens']:>10} x {line['usd_per_token']:<14}"
            f" = ${line['usd']}"
        )
    for fee in payload.get("unpriced_fees", []):
        click.echo(f"  {fee:<16} not priced: the rate card has no fee for it")
    if payload["status"] == "unpriced":
        click.echo("total    unpriced: the rate card has no price for this model")
    else:
        click.echo(f"total    ${payload['total_usd']}")

"""``otel-cost pricing``: the versioned rate-card registry."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from otel_cost.cli.common import print_json
from otel_cost.decimals import decimal_text
from otel_cost.errors import RateCardError
from otel_cost.pricing.ratecard import RateCard, load_rate_card
from otel_cost.pricing.registry import (
    BUILTIN_VERSION,
    EPOCH,
    add_card,
    load_registry,
)
from otel_cost.reports.render import plural


@click.group("pricing")
def pricing_group() -> None:
    """Add, list and show rate-card versions."""


def _effective_date(_ctx: click.Context, _param: click.Parameter, text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a valid date; expected YYYY-MM-DD such as 2026-09-01"
        ) from None


@pricing_group.command("add")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--effective",
    required=True,
    metavar="YYYY-MM-DD",
    callback=_effective_date,
    help="Date (UTC) from which the card prices events.",
)
@click.option(
    "--version", "version", default=None, help="Version name; default from the file."
)
def add_command(path: Path, effective: date, version: str | None) -> None:
    """Add a LiteLLM-format rate card to the registry.

    A card with an unusable entry (a negative price) is not added. Other
    findings, such as a cache read dearer than input, are printed as warnings:
    published cards have a few.
    """
    _reject_findings(path)
    card = add_card(path, effective, version)
    click.echo(
        f"added rate card {card.version}: {plural(len(card.models), 'model')}, "
        f"in force from {card.effective_from.date().isoformat()}"
    )


def _reject_findings(path: Path) -> None:
    # Findings do not depend on the effective date or version, so placeholders serve.
    card = load_rate_card(path, "unchecked", EPOCH)
    if not card.findings:
        return
    _print_findings(card)
    invalid = [finding for finding in card.findings if finding.invalid]
    if invalid:
        raise RateCardError(
            f"rate card {str(path)!r} not added because of "
            f"{plural(len(invalid), 'unusable price')}; fix the card, then check "
            "it with `otel-cost pricing check`"
        )


@pricing_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(as_json: bool) -> None:
    """List every rate-card version, oldest first."""
    registry = load_registry()
    rows: list[dict[str, Any]] = [
        {
            "version": card.version,
            "effective_from": card.effective_from.isoformat(),
            "models": len(card.models),
            "findings": len(card.findings),
            "builtin": card.version == BUILTIN_VERSION,
        }
        for card in registry.cards
    ]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        click.echo(
            f"{row['version']:<36} from {row['effective_from'][:10]}  "
            f"{plural(row['models'], 'model'):<12} "
            f"{plural(row['findings'], 'finding')}"
        )


@pricing_group.command("show")
@click.argument("version", default=BUILTIN_VERSION)
@click.option("--model", default=None, help="Show one model's rates.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_command(version: str, model: str | None, as_json: bool) -> None:
    """Show a rate-card version: its models, findings, or one model's rates."""
    cards = {card.version: card for card in load_registry().cards}
    card = cards.get(version)
    if card is None:
        raise click.BadParameter(
            f"rate card {version!r} not found; see `otel-cost pricing list`",
            param_hint="VERSION",
        )
    if model is not None:
        _show_model(card, model, as_json)
        return
    payload = {
        "version": card.version,
        "effective_from": card.effective_from.isoformat(),
        "source": card.source,
        "models": sorted(card.models),
        "findings": [finding.__dict__ for finding in card.findings],
    }
    if as_json:
        print_json(payload)
        return
    click.echo(
        f"{card.version}: {plural(len(card.models), 'model')} "
        f"from {card.effective_from.date()}"
    )
    _print_findings(card)


def _show_model(card: RateCard, model: str, as_json: bool) -> None:
    rates = card.lookup(model)
    if rates is None:
        raise click.BadParameter(
            f"model {model!r} not in {card.version}", param_hint="--model"
        )
    fields = {key: decimal_text(value) for key, value in sorted(rates.fields.items())}
    if as_json:
        print_json({"model": model, "provider": rates.provider, "rates": fields})
        return
    for key, value in fields.items():
        click.echo(f"{key:<56} {value}")


def _print_findings(card: RateCard) -> None:
    for finding in card.findings:
        click.echo(
            f"warning: {finding.model}: {finding.field}: {finding.message}", err=True
        )


@pricing_group.command("remove")
@click.argument("version")
def remove_command(version: str) -> None:
    """Remove a rate-card version from the local registry."""
    from otel_cost.pricing.registry import remove_card

    remove_card(version)
    click.echo(f"removed rate card {version}")


@pricing_group.command("check")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def check_command(path: Path) -> None:
    """Check a rate card for suspicious entries without adding it."""
    from otel_cost.pricing.registry import card_from_spec

    card = card_from_spec(str(path))
    counts = (
        f"{plural(len(card.models), 'model')}, {plural(len(card.findings), 'finding')}"
    )
    click.echo(f"{path}: {counts}")
    _print_findings(card)
    if card.findings:
        raise SystemExit(1)

"""``otel-cost budget``: declare envelopes, see their status, override and top up."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import click

from otel_cost.budgets.envelopes import (
    Envelope,
    Rollover,
    Scope,
    budgets_path,
    envelope_to_dict,
    find_envelope,
    load_envelopes,
    save_envelopes,
)
from otel_cost.budgets.ledger import (
    current_actor,
    decide_topup,
    get_topup,
    list_topups,
    read_audit,
    request_topup,
)
from otel_cost.budgets.overrides import apply_override, override_targets
from otel_cost.budgets.periods import instance_key, period_start
from otel_cost.budgets.schema import ENVELOPE_SCHEMA, OWNERS, PERIODS, SCOPES
from otel_cost.budgets.status import statuses_document
from otel_cost.cli.common import db_option, parse_instant, print_json
from otel_cost.decimals import decimal_text
from otel_cost.reports.render import plural
from otel_cost.serve.client import ServiceClient
from otel_cost.serve.discovery import service_for_store
from otel_cost.store import open_store

F = TypeVar("F", bound=Callable[..., Any])


def _budgets_file_option(must_exist: bool) -> Callable[[F], F]:
    return click.option(
        "--file",
        "budgets_file",
        metavar="PATH",
        default=None,
        type=click.Path(exists=must_exist, dir_okay=False),
        help="Budgets file (YAML). Default: $OTEL_COST_BUDGETS_FILE, else "
        "budgets.yaml in the data directory.",
    )


#: ``--file PATH`` of a budgets file that must exist.
file_option = _budgets_file_option(must_exist=True)
#: ``--file PATH`` of a budgets file that ``budget set`` creates when missing.
new_file_option = _budgets_file_option(must_exist=False)


def actor_option(func: F) -> F:
    """Add ``--as NAME``."""
    return click.option(
        "--as",
        "actor",
        metavar="NAME",
        default=None,
        help="Who acts, for the audit log. "
        "Default: $OTEL_COST_USER, else the login name.",
    )(func)


def money(text: str, name: str) -> Decimal:
    """Parse a USD amount given on the command line."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise click.BadParameter(
            f"{text!r} is not an amount such as 25 or 12.50", param_hint=name
        ) from None
    if not amount.is_finite() or amount < 0:
        raise click.BadParameter(
            f"{text!r} must be a finite amount of 0 or more", param_hint=name
        )
    return amount


@click.group("budget")
def budget_group() -> None:
    """Budget envelopes per project, session and task."""


@budget_group.command("list")
@file_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(budgets_file: str | None, as_json: bool) -> None:
    """List the declared envelopes."""
    path = budgets_path(budgets_file)
    envelopes = load_envelopes(path)
    if as_json:
        print_json([envelope_to_dict(e) for e in envelopes])
        return
    if not envelopes:
        click.echo(f"no envelopes in {path}; add one with `otel-cost budget set`")
        return
    for envelope in envelopes:
        filters = (
            ", ".join(f"{k}={v}" for k, v in envelope.match.items()) or "everything"
        )
        extra = f" per {envelope.period}" if envelope.scope is Scope.PROJECT else ""
        if envelope.scope is Scope.TASK:
            extra = f" for task {envelope.task}"
        click.echo(
            f"{envelope.name}: {envelope.scope.value} ${envelope.limit_usd}{extra}, "
            f"{filters}, owner {envelope.owner_role}"
        )


@budget_group.command("set")
@click.argument("name")
@click.option(
    "--scope",
    type=click.Choice(SCOPES),
    required=True,
    help="What one instance covers.",
)
@click.option(
    "--limit", "limit_text", required=True, metavar="USD", help="Limit in USD."
)
@click.option(
    "--period",
    type=click.Choice(PERIODS),
    default="month",
    help="Project envelopes: period.",
)
@click.option("--task", default="", help="Task envelopes: the task's session id.")
@click.option("--project", default=None, help="Count only this project.")
@click.option(
    "--harness", default=None, help="Count only this harness (claude-code, codex, ...)."
)
@click.option("--model", default=None, help="Count only this model.")
@click.option("--user", default=None, help="Count only this user.")
@click.option("--team", default=None, help="Count only this team.")
@click.option(
    "--owner", type=click.Choice(OWNERS), default=None, help="Who gets the alerts."
)
@click.option(
    "--approver",
    "approvers",
    multiple=True,
    help="May approve top-ups and overrides (repeatable).",
)
@click.option(
    "--rollover-cap",
    default=None,
    metavar="USD",
    help="Carry unspent budget over, up to USD.",
)
@click.option(
    "--rollover-starts",
    default=None,
    metavar="YYYY-MM-DD",
    help="First period that accumulates.",
)
@new_file_option
def set_command(
    name: str,
    scope: str,
    limit_text: str,
    period: str,
    task: str,
    project: str | None,
    harness: str | None,
    model: str | None,
    user: str | None,
    team: str | None,
    owner: str | None,
    approvers: tuple[str, ...],
    rollover_cap: str | None,
    rollover_starts: str | None,
    budgets_file: str | None,
) -> None:
    """Add the envelope NAME or replace it."""
    _check_set_arguments(name, scope, task, approvers, rollover_cap, rollover_starts)
    limit_usd = plain_money(limit_text, "--limit")
    path = budgets_path(budgets_file)
    envelopes = [e for e in load_envelopes(path) if e.name != name]
    match = {
        k: v
        for k, v in {
            "project": project,
            "harness": harness,
            "model": model,
            "user": user,
            "team": team,
        }.items()
        if v
    }
    rollover = Rollover()
    if rollover_cap is not None:
        starts = (
            rollover_starts
            or period_start(period, datetime.now(UTC)).date().isoformat()
        )
        cap_usd = plain_money(rollover_cap, "--rollover-cap")
        rollover = Rollover("capped", cap_usd, date.fromisoformat(starts))
    envelope = Envelope(
        name=name,
        scope=Scope(scope),
        limit_usd=limit_usd,
        period=period,
        task=task,
        match=match,
        owner=owner or "",
        approvers=approvers,
        rollover=rollover,
    )
    save_envelopes(path, [*envelopes, envelope])
    click.echo(f"envelope {name} saved to {path}")


#: The budgets file stores amounts as plain digits, as its schema requires.
PLAIN_AMOUNT = re.compile(r"[0-9]+(\.[0-9]+)?")
ENVELOPE_NAME = re.compile(ENVELOPE_SCHEMA["properties"]["name"]["pattern"])
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def plain_money(text: str, name: str) -> Decimal:
    """Parse a USD amount written as plain digits, the form the budgets file stores."""
    amount = money(text, name)
    if not PLAIN_AMOUNT.fullmatch(text.strip()):
        raise click.BadParameter(
            f"{text!r} must be written as plain digits such as 25 or 12.50, "
            "without a sign or an exponent",
            param_hint=name,
        )
    return amount


def _check_set_arguments(
    name: str,
    scope: str,
    task: str,
    approvers: tuple[str, ...],
    rollover_cap: str | None,
    rollover_starts: str | None,
) -> None:
    """Raise a click error naming the argument the budgets file would reject."""
    if not ENVELOPE_NAME.fullmatch(name):
        raise click.BadParameter(
            f"{name!r} must start with a letter or digit and contain only letters, "
            "digits, '.', '_' and '-', at most 100 characters",
            param_hint="NAME",
        )
    if scope == "task" and not task:
        raise click.UsageError("--scope task requires --task SESSION_ID")
    for approver in approvers:
        if not approver:
            raise click.BadParameter("must not be empty", param_hint="--approver")
        if approvers.count(approver) > 1:
            raise click.BadParameter(
                f"{approver!r} is given more than once", param_hint="--approver"
            )
    if rollover_cap is not None and scope != "project":
        raise click.UsageError(
            f"--rollover-cap applies only to --scope project, not {scope}"
        )
    if rollover_starts is not None:
        _check_rollover_start(rollover_cap, rollover_starts)


def _check_rollover_start(rollover_cap: str | None, rollover_starts: str) -> None:
    if rollover_cap is None:
        raise click.UsageError("--rollover-starts requires --rollover-cap")
    try:
        if not ISO_DATE.fullmatch(rollover_starts):
            raise ValueError
        date.fromisoformat(rollover_starts)
    except ValueError:
        raise click.BadParameter(
            f"{rollover_starts!r} is not a date in the form YYYY-MM-DD",
            param_hint="--rollover-starts",
        ) from None


@budget_group.command("remove")
@click.argument("name")
@file_option
def remove_command(name: str, budgets_file: str | None) -> None:
    """Remove the envelope NAME."""
    path = budgets_path(budgets_file)
    envelopes = load_envelopes(path)
    find_envelope(envelopes, name)
    save_envelopes(path, [e for e in envelopes if e.name != name])
    click.echo(f"envelope {name} removed from {path}")


@budget_group.command("status")
@click.option(
    "--envelope", "names", multiple=True, help="Only this envelope (repeatable)."
)
@click.option("--session", default=None, help="Session envelopes: this session.")
@click.option(
    "--at",
    "at_text",
    default=None,
    help="Evaluate at this time (ISO 8601); default now.",
)
@file_option
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status_command(
    names: tuple[str, ...],
    session: str | None,
    at_text: str | None,
    budgets_file: str | None,
    dsn: str | None,
    as_json: bool,
) -> None:
    """Show spent, remaining, projection and state per envelope."""
    path = budgets_path(budgets_file)
    envelopes = load_envelopes(path)
    if names:
        envelopes = [find_envelope(envelopes, name) for name in names]
    now = parse_instant(at_text, "--at") if at_text else datetime.now(UTC)
    service = service_for_store(dsn)
    if service is not None and service.get("budgets_file") == str(path):
        # The service has the embedded store open and reads the same budgets.
        document = ServiceClient(service["api_url"]).get(
            "/api/v1/budgets/status",
            {"envelope": ",".join(names), "session": session, "at": now.isoformat()},
        )
    else:
        store = open_store(dsn)
        try:
            document = statuses_document(store, envelopes, now, session)
        finally:
            store.close()
    payloads = document["statuses"]
    if as_json:
        print_json(payloads)
        return
    idle = set(document["envelopes_without_sessions"])
    for envelope in envelopes:
        if envelope.name in idle:
            # A session envelope shows the sessions of the last 24 hours.
            click.echo(
                f"{envelope.name} [{envelope.scope.value}]: no session in the last "
                "24 hours; pass --session ID to see one"
            )
    for item in payloads:
        projected = (
            f", projected ${_usd(item['projected_usd'])}"
            if item["projected_usd"]
            else ""
        )
        unpriced = (
            f" ({plural(item['unpriced_events'], 'unpriced event')} not counted)"
            if item["unpriced_events"]
            else ""
        )
        where = f"{item['envelope']} [{item['scope']} {item['instance']}]"
        remaining = Decimal(item["remaining_usd"])
        left = f"${remaining:.2f} left" if remaining >= 0 else f"${-remaining:.2f} over"
        click.echo(
            f"{where} {item['state'].upper()}: {_spent_text(item)}, "
            f"{left}{projected}{unpriced}"
        )


def _spent_text(item: dict[str, Any]) -> str:
    spent, available = _usd(item["spent_usd"]), _usd(item["available_usd"])
    if Decimal(item["available_usd"]) <= 0:
        # A share of nothing has no percentage, so the text leaves it out.
        # The JSON reports 100 there to mark the envelope exceeded.
        return f"${spent} spent with ${available} available"
    return f"${spent} of ${available} ({Decimal(item['percent']):.1f}%)"


def _usd(text: str | None) -> str:
    return f"{Decimal(text or 0):.2f}"


@budget_group.command("override")
@click.option(
    "--session", default=None, help="Lift the session envelopes of this session."
)
@click.option(
    "--task", default=None, help="Lift the task envelopes of this task (approver only)."
)
@click.option(
    "--envelope",
    "envelope_name",
    default=None,
    help="Only this envelope; a project envelope needs an approver.",
)
@click.option("--reason", required=True, help="Why, for the audit log.")
@click.option(
    "--amount",
    "amount_text",
    default=None,
    metavar="USD",
    help="Raise the limit by USD instead of lifting it.",
)
@actor_option
@file_option
@db_option
def override_command(
    session: str | None,
    task: str | None,
    envelope_name: str | None,
    reason: str,
    amount_text: str | None,
    actor: str | None,
    budgets_file: str | None,
    dsn: str | None,
) -> None:
    """Lift or raise a limit for one session, task or project period."""
    if not reason.strip():
        raise click.BadParameter(
            "give a reason, it goes to the audit log", param_hint="--reason"
        )
    envelopes = load_envelopes(budgets_path(budgets_file))
    actor_name = current_actor(actor)
    targets = override_targets(envelopes, session, task, envelope_name, actor_name)
    amount = money(amount_text, "--amount") if amount_text is not None else None
    store = open_store(dsn)
    for envelope, instance in targets:
        apply_override(store, envelope, instance, actor_name, reason, amount)
        change = f"raised by ${amount}" if amount is not None else "lifted"
        click.echo(
            f"{envelope.name} [{envelope.scope.value} {instance}]: limit {change}"
        )


@budget_group.group("topup")
def topup_group() -> None:
    """Emergency top-ups: request, approve or reject, list."""


@topup_group.command("request")
@click.option("--envelope", "envelope_name", required=True, help="Envelope to top up.")
@click.option(
    "--amount", "amount_text", required=True, metavar="USD", help="Amount in USD."
)
@click.option("--reason", required=True, help="Why the extra budget is needed.")
@click.option(
    "--session", default=None, help="Session envelopes: the session to top up."
)
@actor_option
@file_option
@db_option
def topup_request_command(
    envelope_name: str,
    amount_text: str,
    reason: str,
    session: str | None,
    actor: str | None,
    budgets_file: str | None,
    dsn: str | None,
) -> None:
    """Request a top-up of the current period, session or task."""
    envelope = find_envelope(load_envelopes(budgets_path(budgets_file)), envelope_name)
    instance = _instance(envelope, session)
    store = open_store(dsn)
    topup_id = request_topup(
        store,
        envelope,
        instance,
        money(amount_text, "--amount"),
        current_actor(actor),
        reason,
    )
    click.echo(
        f"top-up {topup_id} requested for {envelope.name} [{instance}]; "
        f"an approver runs `otel-cost budget topup approve {topup_id}`"
    )


def _instance(envelope: Envelope, session: str | None) -> str:
    if envelope.scope is Scope.PROJECT:
        return instance_key(period_start(envelope.period, datetime.now(UTC)))
    if envelope.scope is Scope.TASK:
        return envelope.task
    if not session:
        raise click.UsageError(
            f"envelope {envelope.name} is per session; give --session S"
        )
    return session


def _decide(
    topup_id: str,
    approve: bool,
    reason: str,
    actor: str | None,
    budgets_file: str | None,
    dsn: str | None,
) -> None:
    store = open_store(dsn)
    topup = get_topup(store, topup_id)
    envelope = find_envelope(
        load_envelopes(budgets_path(budgets_file)), topup["envelope"]
    )
    result = decide_topup(
        store, envelope, topup_id, current_actor(actor), approve, reason
    )
    click.echo(
        f"top-up {topup_id} {result['status']}: ${decimal_text(result['amount_usd'])} "
        f"for {result['envelope']} [{result['instance']}]"
    )


@topup_group.command("approve")
@click.argument("topup_id")
@click.option("--reason", default="", help="Note for the audit log.")
@actor_option
@file_option
@db_option
def topup_approve_command(
    topup_id: str,
    reason: str,
    actor: str | None,
    budgets_file: str | None,
    dsn: str | None,
) -> None:
    """Approve a requested top-up and apply it."""
    _decide(topup_id, True, reason, actor, budgets_file, dsn)


@topup_group.command("reject")
@click.argument("topup_id")
@click.option("--reason", default="", help="Note for the audit log.")
@actor_option
@file_option
@db_option
def topup_reject_command(
    topup_id: str,
    reason: str,
    actor: str | None,
    budgets_file: str | None,
    dsn: str | None,
) -> None:
    """Reject a requested top-up."""
    _decide(topup_id, False, reason, actor, budgets_file, dsn)


@topup_group.command("list")
@click.option(
    "--status", type=click.Choice(["requested", "approved", "rejected"]), default=None
)
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def topup_list_command(status: str | None, dsn: str | None, as_json: bool) -> None:
    """List top-ups in their latest state."""
    rows = list_topups(open_store(dsn), status)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        click.echo(
            f"{row['topup_id']} {row['status']} ${decimal_text(row['amount_usd'])} "
            f"{row['envelope']} [{row['instance']}] by {row['requested_by']}: "
            f"{row['reason']}"
        )


@budget_group.command("audit")
@click.option("--envelope", default=None, help="Only this envelope.")
@click.option(
    "--since",
    "since_text",
    default=None,
    help="Only entries from this time (ISO 8601).",
)
@click.option(
    "--limit",
    default=100,
    show_default=True,
    type=click.IntRange(min=1),
    help="Maximum number of entries.",
)
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def audit_command(
    envelope: str | None,
    since_text: str | None,
    limit: int,
    dsn: str | None,
    as_json: bool,
) -> None:
    """Show the audit log, newest first."""
    since = parse_instant(since_text, "--since") if since_text else None
    rows = read_audit(open_store(dsn), envelope, since, limit)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        amount = (
            f" ${decimal_text(row['amount_usd'])}"
            if row["amount_usd"] is not None
            else ""
        )
        click.echo(
            f"{row['ts']:%Y-%m-%d %H:%M:%S} {row['action']}{amount} "
            f"{row['envelope']} [{row['instance']}] by {row['actor']}: {row['reason']}"
        )

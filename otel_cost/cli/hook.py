"""``otel-cost hook``: budget gates for agent hooks, and their installers.

The installed hooks run ``python -m otel_cost.cli.hook AGENT EVENT``, which
loads only this module and the gate instead of every otel-cost command, so
an allowed action costs tens of milliseconds of start-up.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

AGENT_EVENTS = {
    "claude-code": ("pretooluse", "userpromptsubmit", "stop"),
    "codex": ("pretooluse", "userpromptsubmit"),
    "gemini": ("beforemodel",),
}


@click.group("hook")
def hook_group() -> None:
    """Run budget gates for agent hooks, or install the hooks."""


# Events that only record the usage the transcript shows; they gate nothing.
RECORD_EVENTS = frozenset({"stop"})


def _record(agent: str, stdin_text: str) -> None:
    import json

    from otel_cost.capture.hooks import record_hook

    try:
        payload = json.loads(stdin_text or "{}")
    except ValueError as exc:
        click.echo(
            f"otel-cost hook: invalid hook input, nothing recorded: {exc}", err=True
        )
        payload = None
    if isinstance(payload, dict):
        outcome = record_hook(agent, payload)
        if outcome.error:
            click.echo(f"otel-cost hook: recording failed: {outcome.error}", err=True)
    sys.stdout.write("{}\n")
    sys.stdout.flush()


def _answer(agent: str, event: str) -> None:
    import json

    from otel_cost.budgets.hookrun import run_hook

    if event.lower() in RECORD_EVENTS:
        _record(agent, sys.stdin.read())
        return
    result = run_hook(agent, event, sys.stdin.read())
    if result.stderr:
        click.echo(result.stderr, err=True)
    sys.stdout.write(json.dumps(result.answer) + "\n")
    sys.stdout.flush()
    sys.exit(result.exit_code)


def _make_agent_command(agent: str, events: tuple[str, ...]) -> click.Command:
    @click.command(agent)
    @click.argument("event", type=click.Choice(events, case_sensitive=False))
    def command(event: str) -> None:
        _answer(agent, event)

    command.help = (
        f"Read a {agent} hook payload on stdin and print the gate's response. "
        "Fails open: on any internal error the action is allowed and the "
        "reason goes to stderr."
    )
    return command


for _agent, _events in AGENT_EVENTS.items():
    hook_group.add_command(_make_agent_command(_agent, _events))


def _settings(agent: str, global_scope: bool, settings_file: str | None) -> Path:
    from otel_cost.budgets.install import settings_path

    if settings_file:
        return Path(settings_file).expanduser()
    return settings_path(agent, global_scope, Path.cwd())


_agent_argument = click.argument("agent", type=click.Choice(list(AGENT_EVENTS)))
_global_option = click.option(
    "--global/--project",
    "global_scope",
    default=False,
    help="Use the user-wide settings file, or the project's (the default).",
)
_settings_option = click.option(
    "--settings-file",
    default=None,
    metavar="PATH",
    help="Settings file to edit instead.",
)


@hook_group.command("install")
@_agent_argument
@_global_option
@_settings_option
def install_command(agent: str, global_scope: bool, settings_file: str | None) -> None:
    """Add the budget-gate hooks to the agent's settings, keeping other hooks."""
    from otel_cost.budgets.install import install_hooks

    path = _settings(agent, global_scope, settings_file)
    added = install_hooks(agent, path)
    if added:
        click.echo(f"added the otel-cost gate for {', '.join(added)} to {path}")
    else:
        click.echo(f"the otel-cost gate is already installed in {path}")


@hook_group.command("uninstall")
@_agent_argument
@_global_option
@_settings_option
def uninstall_command(
    agent: str, global_scope: bool, settings_file: str | None
) -> None:
    """Remove the budget-gate hooks from the agent's settings."""
    from otel_cost.budgets.install import uninstall_hooks

    path = _settings(agent, global_scope, settings_file)
    removed = uninstall_hooks(agent, path)
    if removed:
        click.echo(f"removed the otel-cost gate for {', '.join(removed)} from {path}")
    else:
        click.echo(f"no otel-cost gate hooks found in {path}")


@hook_group.command("status")
@_agent_argument
@_global_option
@_settings_option
def status_command(agent: str, global_scope: bool, settings_file: str | None) -> None:
    """Show which otel-cost hooks are installed in the agent's settings."""
    from otel_cost.budgets.install import installed_hooks

    path = _settings(agent, global_scope, settings_file)
    click.echo(f"{agent} settings: {path}{'' if path.exists() else ' (not found)'}")
    for event, present in installed_hooks(agent, path).items():
        click.echo(f"  {event:<18} {'installed' if present else 'not installed'}")


if __name__ == "__main__":
    hook_group(prog_name="otel-cost hook")

"""Install and remove the budget-gate hooks in each agent's settings file.

Existing hooks are kept: installing adds one matcher group per event unless a
group already runs an otel-cost gate command, and uninstalling removes only the
handlers whose command runs the gate (``otel_cost.cli.hook``).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otel_cost import config
from otel_cost.errors import ConfigError

logger = logging.getLogger(__name__)

# Every command we install contains this module name, which is how uninstall
# and re-install recognise our handlers.
HOOK_MODULE = "otel_cost.cli.hook"


@dataclass(frozen=True)
class AgentHooks:
    """Where an agent keeps its hooks and which events the gate uses."""

    agent: str
    #: settings event name -> our event argument
    events: dict[str, str]
    #: matcher written for each event (None: no matcher key)
    matchers: dict[str, str | None]
    #: handler timeout in the agent's unit
    timeout: int


AGENTS = {
    "claude-code": AgentHooks(
        "claude-code",
        # Stop records the usage of each finished response as it happens.
        {
            "PreToolUse": "pretooluse",
            "UserPromptSubmit": "userpromptsubmit",
            "Stop": "stop",
        },
        {"PreToolUse": "*", "UserPromptSubmit": None, "Stop": None},
        timeout=10,  # seconds
    ),
    "codex": AgentHooks(
        "codex",
        {"PreToolUse": "pretooluse", "UserPromptSubmit": "userpromptsubmit"},
        {"PreToolUse": "*", "UserPromptSubmit": None},
        timeout=10,  # seconds
    ),
    "gemini": AgentHooks(
        "gemini",
        {"BeforeModel": "beforemodel"},
        {"BeforeModel": None},
        timeout=10000,  # milliseconds
    ),
}


def settings_path(agent: str, global_scope: bool, project_dir: Path) -> Path:
    """Return the settings file the agent reads hooks from."""
    home = config.home()
    if agent == "claude-code":
        base = Path(os.environ.get(config.ENV_CLAUDE_CONFIG_DIR) or home / ".claude")
        return (
            base / "settings.json"
            if global_scope
            else project_dir / ".claude/settings.json"
        )
    if agent == "codex":
        base = Path(os.environ.get(config.ENV_CODEX_HOME) or home / ".codex")
        return (
            base / "hooks.json" if global_scope else project_dir / ".codex/hooks.json"
        )
    if agent == "gemini":
        base = home / ".gemini"
        return (
            base / "settings.json"
            if global_scope
            else project_dir / ".gemini/settings.json"
        )
    raise ConfigError(f"unknown agent {agent!r}; expected one of {', '.join(AGENTS)}")


def hook_command(agent: str, event: str) -> str:
    """Return the shell command that runs the gate with this Python."""
    return f"{shlex.quote(sys.executable)} -m {HOOK_MODULE} {agent} {event}"


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        settings = json.loads(path.read_text(encoding="utf-8") or "{}")
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"settings file {str(path)!r} is not valid JSON: {exc}"
        ) from exc
    if not isinstance(settings, dict):
        raise ConfigError(f"settings file {str(path)!r} must contain a JSON object")
    return settings


def _write(path: Path, settings: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".otel-cost.tmp")
    temporary.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


def _is_ours(handler: Any) -> bool:
    return isinstance(handler, dict) and HOOK_MODULE in str(handler.get("command", ""))


def install_hooks(agent: str, path: Path) -> list[str]:
    """Add the gate to the settings file; return the events that were added."""
    spec = AGENTS[agent]
    settings = _read(path)
    hooks = settings.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise ConfigError(f"'hooks' in {str(path)!r} must be a JSON object")
    added = []
    for event, argument in spec.events.items():
        groups = hooks.setdefault(event, [])
        if any(_is_ours(h) for g in groups for h in g.get("hooks", [])):
            continue
        group: dict[str, Any] = {}
        if spec.matchers[event] is not None:
            group["matcher"] = spec.matchers[event]
        handler = {
            "type": "command",
            "command": hook_command(agent, argument),
            "timeout": spec.timeout,
        }
        if agent == "gemini":
            handler["name"] = "otel-cost-budget-gate"
        group["hooks"] = [handler]
        groups.append(group)
        added.append(event)
    _write(path, settings)
    logger.info("installed otel-cost gate hooks %s in %s", added, path)
    return added


def uninstall_hooks(agent: str, path: Path) -> list[str]:
    """Remove the gate's handlers from the settings file; return the events changed."""
    settings = _read(path)
    hooks = settings.get("hooks")
    if not isinstance(hooks, dict):
        return []
    removed = []
    for event in AGENTS[agent].events:
        groups = hooks.get(event)
        if not isinstance(groups, list):
            continue
        kept_groups = []
        for group in groups:
            handlers = group.get("hooks", []) if isinstance(group, dict) else []
            kept = [h for h in handlers if not _is_ours(h)]
            if len(kept) != len(handlers):
                removed.append(event)
            if kept or not handlers:
                kept_groups.append({**group, "hooks": kept} if handlers else group)
        if kept_groups:
            hooks[event] = kept_groups
        else:
            del hooks[event]
    if not hooks:
        del settings["hooks"]
    _write(path, settings)
    return sorted(set(removed))


def installed_hooks(agent: str, path: Path) -> dict[str, bool]:
    """Return, for each event otel-cost handles, whether its handler is installed."""
    hooks = _read(path).get("hooks")
    status: dict[str, bool] = {}
    for event in AGENTS[agent].events:
        groups = hooks.get(event) if isinstance(hooks, dict) else None
        status[event] = isinstance(groups, list) and any(
            _is_ours(handler)
            for group in groups
            if isinstance(group, dict)
            for handler in group.get("hooks", [])
        )
    return status

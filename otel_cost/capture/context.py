"""The labels of a live capture session: project, task, user, git and tags.

Defaults come from the git repository around the working directory (top-level
folder name, origin URL without credentials, current branch) and from the
working directory itself when there is no repository.
"""

from __future__ import annotations

import getpass
import logging
import os
import re
import subprocess
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from otel_cost import config
from otel_cost.errors import ConfigError

logger = logging.getLogger(__name__)

GIT_TIMEOUT_S = 2.0
_USERINFO = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*://)[^@/]*@", re.IGNORECASE)


@dataclass(frozen=True)
class CaptureContext:
    """Labels copied onto every event of one capture session."""

    session_id: str
    harness: str
    project: str = ""
    task_type: str = ""
    user: str = ""
    git_repo: str = ""
    git_branch: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    #: The agent also sends its own request telemetry to the service.
    native_telemetry: bool = False


def parse_tags(pairs: Iterable[str]) -> dict[str, str]:
    """Parse ``key=value`` options into a dictionary, rejecting malformed pairs."""
    tags: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"invalid tag {pair!r}; expected key=value")
        tags[key.strip()] = value.strip()
    return tags


def build_context(
    harness: str,
    project: str | None = None,
    task_type: str | None = None,
    session_id: str | None = None,
    user: str | None = None,
    tags: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> CaptureContext:
    """Fill in every label not given from git, the working directory and the login."""
    working_dir = (cwd or Path.cwd()).resolve()
    top = _git(working_dir, "rev-parse", "--show-toplevel")
    return CaptureContext(
        session_id=session_id or uuid.uuid4().hex,
        harness=harness,
        project=project or Path(top or working_dir).name,
        task_type=task_type or "",
        user=user or _login(),
        git_repo=strip_credentials(_git(working_dir, "remote", "get-url", "origin"))
        if top
        else "",
        git_branch=_git(working_dir, "rev-parse", "--abbrev-ref", "HEAD")
        if top
        else "",
        tags=dict(tags or {}),
    )


def strip_credentials(url: str) -> str:
    """Remove a user name and token from a remote URL (``https://tok@host/...``)."""
    return _USERINFO.sub(r"\g<scheme>", url)


def _git(cwd: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.debug("git %s failed: %s", args[0], exc)
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _login() -> str:
    try:
        # The same variable names the actor of budget decisions.
        return os.environ.get(config.ENV_BUDGET_ACTOR) or getpass.getuser()
    except (KeyError, OSError):
        return ""

"""Budget envelopes and the YAML file that declares them.

A project envelope caps spend per calendar period (a month unless ``period``
sets another). A session envelope is a soft limit that each matching session
gets on its own and that the user may override. A task envelope is a hard stop
for one long-running task, named by the session id (or parent session id) of
its events.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from otel_cost import config
from otel_cost.budgets.schema import BUDGETS_SCHEMA, MATCH_FIELDS
from otel_cost.errors import ConfigError

logger = logging.getLogger(__name__)

FILE_NAME = "budgets.yaml"
ENV_BUDGETS_FILE = config.ENV_BUDGETS_FILE


class Scope(StrEnum):
    """Coverage of one envelope instance: a project period, a session or a task."""

    PROJECT = "project"
    SESSION = "session"
    TASK = "task"


DEFAULT_OWNERS = {
    Scope.PROJECT: "team-lead",
    Scope.SESSION: "developer",
    Scope.TASK: "developer",
}


@dataclass(frozen=True)
class Rollover:
    """Treatment of unspent budget at the end of a period."""

    mode: str = "none"
    cap_usd: Decimal | None = None
    starts: date | None = None


@dataclass(frozen=True)
class Envelope:
    """One budget: a limit in USD over a scope, narrowed by attribution filters."""

    name: str
    scope: Scope
    limit_usd: Decimal
    period: str = "month"
    task: str = ""
    match: dict[str, str] = field(default_factory=dict)
    owner: str = ""
    team: str = ""
    approvers: tuple[str, ...] = ()
    rollover: Rollover = Rollover()
    description: str = ""

    @property
    def owner_role(self) -> str:
        """The role that alerts about this envelope go to."""
        return self.owner or DEFAULT_OWNERS[self.scope]

    @property
    def team_label(self) -> str:
        """The team named on metrics and alerts: ``team`` or the team filter."""
        return self.team or self.match.get("team", "")

    @property
    def soft(self) -> bool:
        """Whether the user may lift the limit without an approver."""
        return self.scope is Scope.SESSION


def budgets_path(override: str | None = None) -> Path:
    """Return the budgets file: ``override``, then the variable, then the data dir."""
    if override:
        return Path(override).expanduser()
    from_env = os.environ.get(ENV_BUDGETS_FILE)
    if from_env:
        return Path(from_env).expanduser()
    return config.data_dir() / FILE_NAME


class _DecimalLoader(yaml.SafeLoader):
    """A safe YAML loader that reads floats as exact decimals."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    return Decimal(text.replace("_", ""))


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


def load_envelopes(path: Path) -> list[Envelope]:
    """Read and validate a budgets file; a missing file declares no envelopes."""
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8")
        raw = yaml.load(text, Loader=_DecimalLoader)  # noqa: S506 - a SafeLoader
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read budgets file {str(path)!r}: {exc}") from exc
    return parse_envelopes(raw if raw is not None else {"envelopes": []}, str(path))


def parse_envelopes(raw: Any, source: str = "budgets file") -> list[Envelope]:
    """Validate the decoded file against the schema and build the envelopes."""
    # Imported here: jsonschema costs tens of milliseconds, and a hook that finds
    # no budgets file must respond without paying for it.
    import jsonschema

    validator = jsonschema.Draft202012Validator(BUDGETS_SCHEMA)
    errors = sorted(validator.iter_errors(raw), key=lambda error: list(error.path))
    if errors:
        raise ConfigError(f"invalid budgets file {source}: {_describe(errors[0])}")
    envelopes = [_build(entry) for entry in raw["envelopes"]]
    _check_unique(envelopes, source)
    return envelopes


def _describe(error: Any) -> str:
    location = "/".join(str(part) for part in error.absolute_path) or "(top level)"
    return f"at {location}: {error.message}"


def _money(value: Any, where: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(
            f"{where} is {value!r}; expected a decimal amount in USD"
        ) from None
    if amount < 0:
        raise ConfigError(f"{where} is {value!r}; expected an amount of 0 or more")
    return amount


def _build(entry: dict[str, Any]) -> Envelope:
    name = entry["name"]
    scope = Scope(entry["scope"])
    if scope is not Scope.PROJECT and ("period" in entry or "rollover" in entry):
        raise ConfigError(
            f"envelope {name!r}: period and rollover apply to project envelopes only; "
            f"a {scope.value} envelope lasts as long as its {scope.value}"
        )
    return Envelope(
        name=name,
        scope=scope,
        limit_usd=_money(entry["limit_usd"], f"envelope {name!r} limit_usd"),
        period=entry.get("period", "month"),
        task=entry.get("task", ""),
        match={
            key: entry["match"][key]
            for key in MATCH_FIELDS
            if key in entry.get("match", {})
        },
        owner=entry.get("owner", ""),
        team=entry.get("team", ""),
        approvers=tuple(entry.get("approvers", ())),
        rollover=_build_rollover(name, entry.get("rollover")),
        description=entry.get("description", ""),
    )


def _build_rollover(name: str, raw: dict[str, Any] | None) -> Rollover:
    if not raw or raw["mode"] == "none":
        return Rollover()
    return Rollover(
        mode="capped",
        cap_usd=_money(raw["cap_usd"], f"envelope {name!r} rollover cap_usd"),
        starts=date.fromisoformat(raw["starts"]),
    )


def _check_unique(envelopes: list[Envelope], source: str) -> None:
    seen: set[str] = set()
    for envelope in envelopes:
        if envelope.name in seen:
            raise ConfigError(
                f"invalid budgets file {source}: envelope name {envelope.name!r} "
                "appears twice; names must be unique"
            )
        seen.add(envelope.name)


def envelope_to_dict(envelope: Envelope) -> dict[str, Any]:
    """Return the file form of an envelope, with money as decimal strings."""
    entry: dict[str, Any] = {
        "name": envelope.name,
        "scope": envelope.scope.value,
        "limit_usd": str(envelope.limit_usd),
    }
    if envelope.scope is Scope.PROJECT:
        entry["period"] = envelope.period
    if envelope.task:
        entry["task"] = envelope.task
    if envelope.match:
        entry["match"] = dict(envelope.match)
    for key in ("owner", "team", "description"):
        if getattr(envelope, key):
            entry[key] = getattr(envelope, key)
    if envelope.approvers:
        entry["approvers"] = list(envelope.approvers)
    if envelope.rollover.mode == "capped":
        entry["rollover"] = {
            "mode": "capped",
            "cap_usd": str(envelope.rollover.cap_usd),
            "starts": str(envelope.rollover.starts),
        }
    return entry


def save_envelopes(path: Path, envelopes: list[Envelope]) -> None:
    """Write the envelopes back to the file, replacing it atomically."""
    document = {"version": 1, "envelopes": [envelope_to_dict(e) for e in envelopes]}
    parse_envelopes(document, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    temporary.replace(path)
    logger.info("wrote %d budget envelopes to %s", len(envelopes), path)


def find_envelope(envelopes: list[Envelope], name: str) -> Envelope:
    """Return the envelope called ``name``; raise `ConfigError` listing the names."""
    for envelope in envelopes:
        if envelope.name == name:
            return envelope
    known = ", ".join(e.name for e in envelopes) or "none"
    raise ConfigError(
        f"budget envelope {name!r} not found; declared envelopes: {known}"
    )

"""Codex CLI rollouts: ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl``.

A rollout starts with a ``session_meta`` line. Usage arrives in ``event_msg``
lines of type ``token_count``, whose ``info`` contains the session's cumulative
``total_token_usage`` and, usually, the call's own ``last_token_usage``:

* Codex writes the same ``token_count`` again without a new call; a line whose
  cumulative ``total_tokens`` equals the previous line's is skipped.
* Without ``last_token_usage`` the call is the difference between this line's
  totals and the previous line's. The previous totals advance on every line,
  so mixing both forms never counts a call twice.
* The event id is built from the cumulative counters under the session the
  history started in. A forked session (``forked_from_id``) replays its
  parent's history, so the replayed lines get the parent's ids and the store
  keeps one copy. Lines stamped within five seconds after the fork's
  ``session_meta`` are replay and are skipped as well.

Usage is in the Codex convention: cached and cache-write tokens inside
``input_tokens`` and reasoning inside ``output_tokens``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from otel_cost import config
from otel_cost.capture.importers.base import (
    Importer,
    ParseResult,
    env_path,
    iter_complete_lines,
)
from otel_cost.errors import UsageFormatError
from otel_cost.events import CostEvent, Usage
from otel_cost.normalise.usage import count, from_codex

logger = logging.getLogger(__name__)

HARNESS = "codex"
DEFAULT_PROVIDER = "openai"
FORK_REPLAY_WINDOW = timedelta(seconds=5)
ROLLOUT_GLOB = "rollout-*.jsonl"
DATE_PARTS = (re.compile(r"\d{4}"), re.compile(r"\d{2}"), re.compile(r"\d{2}"))
# Cumulative counters in event-id order, then the one the id leaves out.
ID_COUNTERS = (
    "total_tokens",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
)
COUNTERS = (*ID_COUNTERS, "cache_write_input_tokens")
# Added to a fork's mtime so that forks sort after every original file.
FORK_ORDER_OFFSET_NS = 100 * 365 * 24 * 3600 * 10**9
# Recent Codex versions put the whole system prompt (tens of KB) in session_meta.
MAX_META_BYTES = 1 << 20
# Line errors are counted in full, but only the first few are reported.
MAX_LINE_ERRORS = 5
LINE_ERRORS = (orjson.JSONDecodeError, UsageFormatError, ValueError, TypeError)


class NotARolloutError(ValueError):
    """The first line of a file is not a Codex ``session_meta`` record."""


@dataclass
class RolloutState:
    """Decoder state saved with the byte offset, so a later read can resume."""

    session_id: str = ""
    forked_from_id: str = ""
    parent_session_id: str = ""
    replay_until: str = ""
    cwd: str = ""
    project: str = ""
    git_branch: str = ""
    git_repo: str = ""
    provider: str = DEFAULT_PROVIDER
    meta_model: str = ""
    model: str = ""
    last_timestamp: str = ""
    previous_totals: dict[str, int] | None = None
    attributes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> RolloutState:
        """Rebuild the state saved by `as_dict`, ignoring unknown keys."""
        names = cls.__dataclass_fields__
        return cls(**{key: value for key, value in state.items() if key in names})

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON-serialisable form of the state."""
        return asdict(self)

    @property
    def history_id(self) -> str:
        """The session whose history the cumulative counters belong to."""
        return self.forked_from_id or self.session_id


class CodexImporter(Importer):
    """Imports Codex CLI and Codex Desktop rollout files."""

    name = HARNESS

    def default_roots(self) -> list[Path]:
        """Return ``$CODEX_HOME`` or ``~/.codex``."""
        override = env_path(config.ENV_CODEX_HOME)
        return [override if override is not None else config.home() / ".codex"]

    def discover(self, root: Path) -> Iterator[Path]:
        """Yield live and archived rollouts, each file name once."""
        seen: set[str] = set()
        for path in _dated_rollouts(root / "sessions"):
            seen.add(path.name)
            yield path
        archived = root / "archived_sessions"
        if archived.is_dir():
            for path in sorted(archived.glob(ROLLOUT_GLOB)):
                if path.name not in seen:
                    yield path

    def sort_key(self, path: Path) -> tuple[int, str]:
        """Order parents before forks, so the store keeps each call's first sighting."""
        mtime, name = super().sort_key(path)
        return (mtime + FORK_ORDER_OFFSET_NS if _is_fork(path) else mtime, name)

    def parse(self, path: Path, start: int, state: dict[str, Any]) -> ParseResult:
        """Decode the complete lines of one rollout from byte ``start``."""
        rollout = RolloutState.from_dict(state)
        result = ParseResult(offset=start)
        number = 0
        for end, line in iter_complete_lines(path, start):
            number += 1
            first = end == len(line)
            try:
                event = self._decode_line(line, path, rollout, first)
            except NotARolloutError as exc:
                return ParseResult(offset=0, errors=[str(exc)])
            except LINE_ERRORS as exc:
                result.add_error(
                    f"line {number} after byte {start}: {exc}", MAX_LINE_ERRORS
                )
            else:
                if event is not None:
                    result.events.append(event)
            result.offset = end
        result.state = rollout.as_dict()
        return result

    def _decode_line(
        self, line: bytes, path: Path, rollout: RolloutState, first: bool
    ) -> CostEvent | None:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            if first:
                raise NotARolloutError(_not_a_rollout(path)) from None
            raise
        if first:
            payload = record.get("payload") if isinstance(record, dict) else None
            if not isinstance(payload, dict) or record.get("type") != "session_meta":
                raise NotARolloutError(_not_a_rollout(path))
            _read_session_meta(record, payload, path, rollout)
            return None
        if not isinstance(record, dict):
            raise ValueError(f"expected a JSON object, got {type(record).__name__}")
        kind = record.get("type")
        payload = record.get("payload")
        if not isinstance(payload, dict):
            return None
        if kind == "turn_context":
            rollout.model = _text(payload.get("model")) or rollout.model
        elif kind == "event_msg" and payload.get("type") == "token_count":
            return _token_count_event(record, payload, rollout)
        return None


def _is_fork(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            first_line = handle.readline(MAX_META_BYTES)
        meta = orjson.loads(first_line)
    except (OSError, orjson.JSONDecodeError):
        return False
    payload = meta.get("payload") if isinstance(meta, dict) else None
    return isinstance(payload, dict) and bool(payload.get("forked_from_id"))


def _dated_rollouts(sessions: Path) -> Iterator[Path]:
    # Only sessions/YYYY/MM/DD/rollout-*.jsonl, as Codex lays them out.
    if not sessions.is_dir():
        return
    for year in _matching_dirs(sessions, DATE_PARTS[0]):
        for month in _matching_dirs(year, DATE_PARTS[1]):
            for day in _matching_dirs(month, DATE_PARTS[2]):
                yield from sorted(day.glob(ROLLOUT_GLOB))


def _matching_dirs(parent: Path, pattern: re.Pattern[str]) -> list[Path]:
    return sorted(
        child
        for child in parent.iterdir()
        if child.is_dir() and pattern.fullmatch(child.name)
    )


def _not_a_rollout(path: Path) -> str:
    return (
        f"{path.name} is not a Codex rollout: its first line must be a "
        "session_meta record with an object payload"
    )


def _read_session_meta(
    record: dict[str, Any], payload: dict[str, Any], path: Path, rollout: RolloutState
) -> None:
    rollout.session_id = (
        _text(payload.get("id")) or _text(payload.get("session_id")) or path.stem
    )
    rollout.forked_from_id = _text(payload.get("forked_from_id"))
    rollout.parent_session_id = rollout.forked_from_id or _spawn_parent(payload)
    rollout.cwd = _text(payload.get("cwd"))
    rollout.project = Path(rollout.cwd).name if rollout.cwd else ""
    git = payload.get("git")
    if isinstance(git, dict):
        rollout.git_branch = _text(git.get("branch"))
        rollout.git_repo = _text(git.get("repository_url"))
    rollout.provider = _text(payload.get("model_provider")) or DEFAULT_PROVIDER
    rollout.meta_model = _text(payload.get("model"))
    started = _text(payload.get("timestamp")) or _text(record.get("timestamp"))
    rollout.last_timestamp = started
    if rollout.forked_from_id and started:
        replay_end = _parse_time(started) + FORK_REPLAY_WINDOW
        rollout.replay_until = replay_end.isoformat()
    for key in ("originator", "cli_version"):
        value = _text(payload.get(key))
        if value:
            rollout.attributes[key] = value


def _spawn_parent(payload: dict[str, Any]) -> str:
    # A subagent names its parent under source.subagent.thread_spawn.
    node: Any = payload.get("source")
    for key in ("subagent", "thread_spawn", "parent_thread_id"):
        if not isinstance(node, dict):
            return ""
        node = node.get(key)
    return _text(node)


def _token_count_event(
    record: dict[str, Any], payload: dict[str, Any], rollout: RolloutState
) -> CostEvent | None:
    info = payload.get("info")
    if not isinstance(info, dict):
        # NOTE: a token_count without info only updates rate limits. Older
        # Codex versions logged no usage at all; their calls are not estimated.
        return None
    last = info.get("last_token_usage")
    previous = rollout.previous_totals
    totals = _totals(info, last, previous)
    if totals is None:
        return None
    rollout.previous_totals = totals
    ts = _event_time(record, rollout)
    if previous is not None and totals["total_tokens"] == previous["total_tokens"]:
        return None
    if rollout.replay_until and ts < _parse_time(rollout.replay_until):
        return None
    call = last if isinstance(last, dict) else _difference(totals, previous)
    usage = from_codex(call)
    if usage.total_tokens == 0:
        return None
    model = _first_text(payload.get("model"), info.get("model"), info.get("model_name"))
    return _event(
        rollout, totals, ts, model or rollout.model or rollout.meta_model, usage
    )


def _counters(usage: Mapping[str, Any], name: str) -> dict[str, int]:
    counts = {key: count(usage.get(key), f"{name}.{key}") for key in COUNTERS}
    if usage.get("total_tokens") is None:
        counts["total_tokens"] = counts["input_tokens"] + counts["output_tokens"]
    return counts


def _totals(
    info: dict[str, Any], last: Any, previous: dict[str, int] | None
) -> dict[str, int] | None:
    total = info.get("total_token_usage")
    if isinstance(total, dict):
        return _counters(total, "total_token_usage")
    if not isinstance(last, dict):
        return None
    # No cumulative usage on the line, so the call advances the previous totals.
    call = _counters(last, "last_token_usage")
    base = previous or dict.fromkeys(COUNTERS, 0)
    return {key: base.get(key, 0) + call[key] for key in COUNTERS}


def _difference(
    totals: dict[str, int], previous: dict[str, int] | None
) -> dict[str, int]:
    if previous is None:
        return dict(totals)
    delta = {key: totals[key] - previous.get(key, 0) for key in COUNTERS}
    if any(value < 0 for value in delta.values()):
        # The counters went backwards because they restarted, so the totals are the call.
        return dict(totals)
    return delta


def _event(
    rollout: RolloutState,
    totals: dict[str, int],
    ts: datetime,
    model: str,
    usage: Usage,
) -> CostEvent:
    counters = ":".join(str(totals[key]) for key in ID_COUNTERS)
    attributes = dict(rollout.attributes)
    if rollout.cwd:
        attributes["cwd"] = rollout.cwd
    return CostEvent(
        event_id=f"{HARNESS}:{rollout.history_id}:{counters}",
        ts=ts,
        harness=HARNESS,
        source="import",
        session_id=rollout.session_id,
        parent_session_id=rollout.parent_session_id,
        provider=rollout.provider,
        model_requested=model,
        model=model,
        project=rollout.project,
        git_repo=rollout.git_repo,
        git_branch=rollout.git_branch,
        operation="chat",
        usage=usage,
        attributes=attributes,
    )


def _event_time(record: dict[str, Any], rollout: RolloutState) -> datetime:
    # A line without its own time takes the time of the line before it.
    stamp = _text(record.get("timestamp")) or rollout.last_timestamp
    if not stamp:
        raise ValueError("token_count line has no timestamp and none came before it")
    rollout.last_timestamp = stamp
    return _parse_time(stamp)


def _parse_time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return parsed


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _first_text(*values: Any) -> str:
    for value in values:
        if isinstance(value, str) and value:
            return value
    return ""

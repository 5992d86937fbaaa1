"""Cline, Roo Code and Kilo Code: task histories of the VS Code extensions.

The three extensions share Cline's storage layout. Each task is a directory
``globalStorage/<extension id>/tasks/<task id>/`` in the editor's user data
(``~/.config/<app>/User`` on Linux, ``~/Library/Application Support/<app>/User``
on macOS, for VS Code, VS Code Insiders, VSCodium, Cursor and Windsurf).
``ui_messages.json`` is a JSON array, rewritten whole on every change. Each
``{"type": "say", "say": "api_req_started"}`` entry carries one request's
usage as a JSON string in ``text``: ``tokensIn``, ``tokensOut``,
``cacheWrites``, ``cacheReads`` and the extension's own ``cost``. Cline also
writes ``deleted_api_reqs`` (the total of requests a checkpoint restore removed
from the array, which were still billed) and ``subagent_usage`` (the total of
one round of subagents) in the same shape. Both are imported as events too.
Roo Code's ``condense_context`` entries record only the cost of summarising
the conversation; they become unpriced events that keep that cost.

An entry's ``ts`` (epoch ms) never changes once written, so it keys the event.
The model comes from the entry's ``modelInfo`` when present, else from the
last ``<model>`` tag that the extension puts in the environment details of
``api_conversation_history.json``, else from ``task_metadata.json``.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson

from otel_cost import config
from otel_cost.capture.importers.base import Importer, ParseResult, env_path
from otel_cost.capture.importers.cline_cli import cline_usage, parse_cli_session
from otel_cost.capture.importers.discovery import app_support_dir, xdg_data_dir
from otel_cost.capture.importers.opencode import parse_database
from otel_cost.capture.importers.record_fields import (
    RECORD_ERRORS,
    RecordError,
    as_mapping,
    cost_usd,
    epoch_time,
    project_name,
    read_json_object,
    text,
    tokens,
)
from otel_cost.events import CostEvent, Usage

logger = logging.getLogger(__name__)

UI_MESSAGES = "ui_messages.json"
API_HISTORY = "api_conversation_history.json"
TASK_METADATA = "task_metadata.json"
HISTORY_ITEM = "history_item.json"
CONDENSE_SAY = "condense_context"
USAGE_SAYS = ("api_req_started", "deleted_api_reqs", "subagent_usage", CONDENSE_SAY)
#: Editors that host VS Code extensions, as named in their user-data directory.
VSCODE_APPS = ("Code", "Code - Insiders", "VSCodium", "Cursor", "Windsurf")
EXTENSION_IDS = {
    "cline": "saoudrizwan.claude-dev",
    "roo-code": "rooveterinaryinc.roo-cline",
    "kilo-code": "kilocode.kilo-code",
}
KILO_DATABASE_GLOB = "kilo*.db"
MODEL_TAG = re.compile(rb"<model>([^<]{1,200})</model>")
# Roo Code and Kilo Code write "Workspace", Cline writes "Working".
WORKSPACE_LINE = re.compile(
    rb"# Current (?:Workspace|Working) Directory \(([^)]{1,1000})\) Files"
)


def vscode_extension_dirs(extension_id: str) -> list[Path]:
    """Return ``globalStorage/<extension_id>`` of every VS Code-family editor."""
    base = app_support_dir()
    return [base / app / "User" / "globalStorage" / extension_id for app in VSCODE_APPS]


@dataclass
class TaskFiles:
    """The files beside ``ui_messages.json`` that attribute a task's requests."""

    directory: Path

    @property
    def task_id(self) -> str:
        """The task id, which is the directory's name."""
        return self.directory.name

    @cached_property
    def history_item(self) -> Mapping[str, Any]:
        """Roo Code's and Kilo Code's task record: workspace, parent, mode."""
        return read_json_object(self.directory / HISTORY_ITEM)

    @cached_property
    def history_tags(self) -> tuple[str, str]:
        """The last ``<model>`` tag and workspace line of the conversation."""
        try:
            data = (self.directory / API_HISTORY).read_bytes()
        except OSError:
            return "", ""
        models = MODEL_TAG.findall(data)
        workspaces = WORKSPACE_LINE.findall(data)
        model = models[-1].decode(errors="replace").strip() if models else ""
        workspace = workspaces[-1].decode(errors="replace") if workspaces else ""
        return model, workspace

    @cached_property
    def metadata_model(self) -> tuple[str, str]:
        """The last model and provider in ``task_metadata.json``'s ``model_usage``."""
        usage = read_json_object(self.directory / TASK_METADATA).get("model_usage")
        for entry in reversed(usage if isinstance(usage, list) else []):
            if isinstance(entry, Mapping) and text(entry.get("model_id")):
                return text(entry.get("model_id")), text(entry.get("model_provider_id"))
        return "", ""

    @property
    def workspace(self) -> str:
        """The task's working directory, or an empty string when unknown."""
        return text(self.history_item.get("workspace")) or self.history_tags[1]

    @property
    def parent_id(self) -> str:
        """The task that started this one as a subtask, if any."""
        for key in ("parentTaskId", "rootTaskId"):
            candidate = text(self.history_item.get(key))
            if candidate and candidate != self.task_id:
                return candidate
        return ""


class TaskHistoryImporter(Importer):
    """Imports the ``ui_messages.json`` of one Cline-family extension."""

    whole_file = True
    #: Environment variable that replaces the default roots.
    override_env: str = ""
    #: True when the extension writes ``tokensIn`` with cache tokens included.
    input_includes_cache: bool = False

    @property
    def extension_id(self) -> str:
        """The VS Code extension id whose storage this importer reads."""
        return EXTENSION_IDS[self.name]

    def default_roots(self) -> list[Path]:
        """Return the override directory, else the extension's storage per editor."""
        override = env_path(self.override_env)
        if override is not None:
            return [override]
        return vscode_extension_dirs(self.extension_id)

    def discover(self, root: Path) -> Iterator[Path]:
        """Yield ``ui_messages.json`` files of an extension, tasks or task dir."""
        patterns = (
            f"tasks/*/{UI_MESSAGES}",
            f"*/{UI_MESSAGES}",
            UI_MESSAGES,
            f"{self.extension_id}/tasks/*/{UI_MESSAGES}",
        )
        found = {path for pattern in patterns for path in root.glob(pattern)}
        yield from sorted(found)

    def parse(self, path: Path, start: int, state: dict[str, Any]) -> ParseResult:
        """Read every usage entry of one task (the file is rewritten whole)."""
        result = ParseResult(offset=path.stat().st_size)
        try:
            entries = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            result.add_error(f"cannot parse the task's messages: {exc}")
            return result
        if not isinstance(entries, list):
            result.add_error("the task's messages are not a JSON array")
            return result
        task = TaskFiles(path.parent)
        for index, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                result.add_error(f"entry {index} is not a JSON object")
                continue
            if not _is_usage_entry(entry):
                continue
            try:
                if entry.get("say") == CONDENSE_SAY:
                    event = self.condense_event(entry, task)
                else:
                    event = self.entry_event(entry, task)
            except RECORD_ERRORS as exc:
                result.add_error(f"entry {index}: {exc}")
                continue
            if event is not None:
                result.events.append(event)
        return result

    def entry_event(
        self, entry: Mapping[str, Any], task: TaskFiles
    ) -> CostEvent | None:
        """Return the event of one usage entry, None for a request not yet sent."""
        raw_text = entry.get("text")
        if not isinstance(raw_text, str):
            raise RecordError(f"{entry.get('say')} text must be a JSON string")
        payload = as_mapping(orjson.loads(raw_text), f"{entry.get('say')} text")
        counted = ("tokensIn", "tokensOut", "cacheReads", "cacheWrites")
        if all(payload.get(key) is None for key in counted):
            # The request is written first with no usage and filled in later.
            return None
        protocol = text(payload.get("apiProtocol"))
        usage = cline_usage(
            tokens(payload, "tokensIn"),
            tokens(payload, "tokensOut"),
            tokens(payload, "cacheReads"),
            tokens(payload, "cacheWrites"),
            self.input_includes_cache or protocol == "openai",
        )
        reported = cost_usd(payload.get("cost"), "cost")
        if usage.total_tokens == 0 and not reported:
            return None
        return self._event(entry, payload, task, usage, reported)

    def condense_event(
        self, entry: Mapping[str, Any], task: TaskFiles
    ) -> CostEvent | None:
        """Return the event of a context condensation, None when it cost nothing.

        Roo Code records only the cost of the request that summarised the
        conversation, with no tokens or model, so the event carries the
        extension's cost and stays unpriced.
        """
        condense = as_mapping(entry.get("contextCondense") or {}, "contextCondense")
        reported = cost_usd(condense.get("cost"), "contextCondense.cost")
        if not reported:
            return None
        return self._event(entry, {}, task, Usage(), reported, with_model=False)

    def _event(
        self,
        entry: Mapping[str, Any],
        payload: Mapping[str, Any],
        task: TaskFiles,
        usage: Usage,
        reported: Decimal | None,
        with_model: bool = True,
    ) -> CostEvent:
        ts = epoch_time(entry.get("ts"), "ts")
        model, provider = _model_and_provider(entry, task) if with_model else ("", "")
        cancel_reason = text(payload.get("cancelReason"))
        return CostEvent(
            event_id=f"{self.name}:{task.task_id}:{entry.get('ts')}",
            ts=ts,
            harness=self.name,
            source="import",
            session_id=task.task_id,
            parent_session_id=task.parent_id,
            provider=provider,
            model_requested=model,
            model=model,
            project=project_name(task.workspace),
            outcome="cancelled" if cancel_reason else "ok",
            error_type=cancel_reason,
            usage=usage,
            attributes=_attributes(entry, payload, task),
            reported_cost_usd=reported,
        )


def _is_usage_entry(entry: Mapping[str, Any]) -> bool:
    return entry.get("type") == "say" and entry.get("say") in USAGE_SAYS


def _model_and_provider(entry: Mapping[str, Any], task: TaskFiles) -> tuple[str, str]:
    info = entry.get("modelInfo")
    if isinstance(info, Mapping) and text(info.get("modelId")):
        return text(info.get("modelId")), text(info.get("providerId"))
    metadata_model, metadata_provider = task.metadata_model
    return task.history_tags[0] or metadata_model, metadata_provider


def _attributes(
    entry: Mapping[str, Any], payload: Mapping[str, Any], task: TaskFiles
) -> dict[str, str]:
    attributes = {"client": "vscode"}
    if task.workspace:
        attributes["cwd"] = task.workspace
    if entry.get("say") != "api_req_started":
        attributes["record"] = str(entry.get("say"))
    protocol = text(payload.get("apiProtocol"))
    if protocol:
        attributes["api_protocol"] = protocol
    mode = text(task.history_item.get("mode"))
    if mode:
        attributes["mode"] = mode
    return attributes


class RooCodeImporter(TaskHistoryImporter):
    """Roo Code tasks; ``tokensIn`` is the whole input, cache tokens included."""

    name = "roo-code"
    override_env = config.ENV_OTEL_COST_ROO_CODE_DIR
    input_includes_cache = True


class KiloCodeImporter(TaskHistoryImporter):
    """Kilo Code: extension tasks of releases before 7, then ``kilo.db``.

    The older extension is a Roo Code fork and writes ``tokensIn`` the same
    way. Kilo 7 and later keep sessions in ``kilo.db`` (``~/.local/share/kilo``),
    an OpenCode-schema database read by the OpenCode importer's code.
    """

    name = "kilo-code"
    override_env = config.ENV_OTEL_COST_KILO_CODE_DIR
    input_includes_cache = True

    def default_roots(self) -> list[Path]:
        """Return the override, else the extension's storage and Kilo's data dir."""
        roots = super().default_roots()
        if env_path(self.override_env) is not None:
            return roots
        database = env_path(config.ENV_KILO_DB)
        if database is not None:
            return [*roots, database]
        kilo_dirs = [xdg_data_dir() / "kilo"]
        if sys.platform == "darwin":
            kilo_dirs.append(app_support_dir() / "kilo")
        return [*roots, *kilo_dirs]

    def discover(self, root: Path) -> Iterator[Path]:
        """Yield task files and ``kilo*.db`` databases (``root`` may be one)."""
        if root.is_file():
            yield root
            return
        yield from super().discover(root)
        yield from sorted(root.glob(KILO_DATABASE_GLOB))

    def parse(self, path: Path, start: int, state: dict[str, Any]) -> ParseResult:
        """Read a ``kilo.db`` from its watermark, or a task's messages."""
        if path.suffix == ".db":
            return parse_database(path, state, self.name)
        return super().parse(path, start, state)


class ClineImporter(TaskHistoryImporter):
    """Cline extension tasks and Cline CLI sessions.

    Cline writes ``tokensIn`` without the cache tokens (the Anthropic
    convention), so only entries marked with the OpenAI protocol are read as
    including them.
    """

    # NOTE: the disjoint reading follows a third-party importer's account of
    # Cline's source, not Cline itself. Older Cline releases reportedly wrote
    # OpenAI-provider prompts with cache included and no protocol marker, so
    # the cached part of their input is counted twice.

    name = "cline"
    override_env = config.ENV_OTEL_COST_CLINE_DIR
    input_includes_cache = False

    def default_roots(self) -> list[Path]:
        """Return the extension's storage, Cline's data directory and CLI sessions."""
        roots = super().default_roots()
        if env_path(self.override_env) is not None:
            return roots
        return [*roots, *cline_data_dirs()]

    def discover(self, root: Path) -> Iterator[Path]:
        """Yield task files and CLI ``<session>.messages.json`` files."""
        yield from super().discover(root)
        patterns = (
            "sessions/*/*.messages.json",
            "*/*.messages.json",
            "*.messages.json",
        )
        found = {path for pattern in patterns for path in root.glob(pattern)}
        yield from sorted(found)

    def parse(self, path: Path, start: int, state: dict[str, Any]) -> ParseResult:
        """Read a task's messages or a CLI session file."""
        if path.name.endswith(".messages.json"):
            return parse_cli_session(path, self.name)
        return super().parse(path, start, state)


def cline_data_dirs() -> list[Path]:
    """Return Cline's own data and CLI session directories, as Cline resolves them."""
    data = env_path(config.ENV_CLINE_DATA_DIR)
    if data is None:
        base = env_path(config.ENV_CLINE_DIR) or config.home() / ".cline"
        data = base / "data"
    sessions = env_path(config.ENV_CLINE_SESSION_DATA_DIR) or data / "sessions"
    return [data, sessions]

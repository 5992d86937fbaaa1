"""OTLP attribute values as plain Python values, and the attribution keys."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

#: The maximum length of a kept attribute string; longer values are cut, because only
#: names and ids are stored and a payload must never fill the store.
MAX_VALUE_CHARS = 1024


def any_value(value: AnyValue) -> Any:
    """Return the Python form of one ``AnyValue``."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return to_dict(value.kvlist_value.values)
    return getattr(value, kind)


# Called unbound, because building a bound method for each attribute took about
# 8% of the time of `to_dict` (CPython 3.11, upb protobuf).
_which_oneof = AnyValue.WhichOneof


def to_dict(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    """Return a ``repeated KeyValue`` as a dictionary (the last key wins)."""
    found: dict[str, Any] = {}
    for pair in pairs:
        value = pair.value
        kind = _which_oneof(value, "value")
        # Most attributes are strings or integers, so those skip the any_value call.
        if kind == "string_value":
            found[pair.key] = value.string_value
        elif kind == "int_value":
            found[pair.key] = value.int_value
        else:
            found[pair.key] = any_value(value)
    return found


def text(value: Any) -> str:
    """Return a scalar attribute as a bounded string ('' for missing or composite)."""
    if type(value) is str:
        return value[:MAX_VALUE_CHARS]
    if value is None or isinstance(value, list | dict | bytes):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)[:MAX_VALUE_CHARS]


def id_text(value: Any) -> str:
    """Return an id attribute as a string of at most `MAX_VALUE_CHARS` characters.

    A longer id keeps its start and ends in a hash of the whole, so two ids that
    differ only after the cut stay two ids.
    """
    full = value if type(value) is str else text(value)
    if len(full) <= MAX_VALUE_CHARS:
        return full
    digest = hashlib.sha256(full.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{full[: MAX_VALUE_CHARS - len(digest) - 1]}~{digest}"


def first_id(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    """Return the first non-empty id of ``keys``, made distinct as `id_text` does."""
    for key in keys:
        value = attrs.get(key)
        if value is not None:
            found = id_text(value)
            if found:
                return found
    return ""


def first_in(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    """Return the first non-empty value of ``keys`` in one set of attributes."""
    for key in keys:
        value = attrs.get(key)
        if value is not None:
            found = text(value)
            if found:
                return found
    return ""


def first_text(sources: Iterable[Mapping[str, Any]], keys: Iterable[str]) -> str:
    """Return the first non-empty value of ``keys``, searching each source in turn."""
    names = keys if isinstance(keys, tuple) else tuple(keys)
    for source in sources:
        for key in names:
            value = source.get(key)
            if value is None:
                continue
            found = text(value)
            if found:
                return found
    return ""


# Attribution keys, most specific first. Agents set these with
# OTEL_RESOURCE_ATTRIBUTES (Claude Code also copies them onto every event).
PROJECT_KEYS = ("otel_cost.project", "project", "project.name", "project.id")
TEAM_KEYS = ("otel_cost.team", "team", "team.name", "team.id", "department")
USER_KEYS = (
    "otel_cost.user",
    "user",
    "user.name",
    "enduser.id",
    "user.email",
    "user.account_id",
    "user.id",
)
COST_CENTER_KEYS = (
    "otel_cost.cost_center",
    "cost_center",
    "cost.center",
    "cost_center.id",
)
TASK_TYPE_KEYS = ("otel_cost.task_type", "task_type", "task.type")
GIT_REPO_KEYS = ("git.repo", "vcs.repository.url.full", "vcs.repository.name")
GIT_BRANCH_KEYS = ("git.branch", "vcs.ref.head.name", "vcs.repository.ref.name")
SESSION_KEYS = ("gen_ai.conversation.id", "session.id", "conversation.id", "session_id")
HARNESS_KEYS = ("otel_cost.harness",)

"""JSON Schema of the budgets file (``budgets.yaml``).

Money fields accept a YAML number or a decimal string; the loader reads YAML
numbers as `Decimal` from their text, so ``0.1`` never passes through a float.
"""

from __future__ import annotations

from typing import Any

SCOPES = ("project", "session", "task")
PERIODS = ("month", "week", "day")
OWNERS = ("developer", "team-lead", "platform", "security")
ROLLOVER_MODES = ("none", "capped")
MATCH_FIELDS = ("project", "harness", "model", "user", "team")

_MONEY: dict[str, Any] = {
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"},
    ]
}
_NAME: dict[str, Any] = {
    "type": "string",
    "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
}
_TEXT: dict[str, Any] = {"type": "string", "minLength": 1}

ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "scope", "limit_usd"],
    "properties": {
        "name": _NAME,
        "scope": {"enum": list(SCOPES)},
        "limit_usd": _MONEY,
        "period": {"enum": list(PERIODS)},
        "task": _TEXT,
        "match": {
            "type": "object",
            "additionalProperties": False,
            "properties": {field: _TEXT for field in MATCH_FIELDS},
        },
        "owner": {"enum": list(OWNERS)},
        "team": {"type": "string"},
        "approvers": {"type": "array", "items": _TEXT, "uniqueItems": True},
        "rollover": {
            "type": "object",
            "additionalProperties": False,
            "required": ["mode"],
            "properties": {
                "mode": {"enum": list(ROLLOVER_MODES)},
                "cap_usd": _MONEY,
                "starts": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
            },
            "if": {"properties": {"mode": {"const": "capped"}}},
            "then": {"required": ["mode", "cap_usd", "starts"]},
        },
        "description": {"type": "string"},
    },
    "allOf": [
        {
            "if": {"properties": {"scope": {"const": "task"}}},
            "then": {"required": ["task"]},
        },
    ],
}

BUDGETS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "otel-cost budget envelopes",
    "type": "object",
    "additionalProperties": False,
    "required": ["envelopes"],
    "properties": {
        "version": {"const": 1},
        "envelopes": {"type": "array", "items": ENVELOPE_SCHEMA},
    },
}

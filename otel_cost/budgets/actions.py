"""Gate actions and verdicts: the light types a hook needs before any store work."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

# NOTE: an estimate, not a tokenizer. Four bytes per token is the usual rule of
# thumb for English text and source code under BPE tokenizers.
BYTES_PER_TOKEN = 4


class ActionKind(StrEnum):
    """The kinds of action a gate estimates."""

    FILE_READ = "file_read"
    EDIT = "edit"
    PROMPT = "prompt"
    MODEL_CALL = "model_call"
    TOOL = "tool"


class Verdict(StrEnum):
    """A gate's decision, from least to most restrictive."""

    ALLOW = "allow"
    WARN = "warn"
    DENY = "deny"


@dataclass(frozen=True)
class Action:
    """An action an agent is about to take, reduced to what its cost depends on.

    ``request_tokens`` is set when the hook sees the whole model request (Gemini
    CLI BeforeModel). Otherwise the context size comes from the session history
    in the store, or from ``context_tokens`` (read from the agent's transcript)
    when the store has no call of the session yet.
    """

    kind: ActionKind
    harness: str
    session_id: str
    cwd: str = ""
    model: str = ""
    added_tokens: int = 0
    request_tokens: int | None = None
    context_tokens: int | None = None
    user: str = ""
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form sent to the service's gate endpoint."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Action:
        """Build an action from its JSON form, raising ValueError that names a bad field."""
        values = {key: raw[key] for key in cls.__dataclass_fields__ if key in raw}
        for name in _REQUIRED_FIELDS:
            if name not in values:
                raise ValueError(f"{name!r} is missing")
        kind = values["kind"]
        if not isinstance(kind, str) or kind not in _KINDS:
            raise ValueError(f"'kind' must be one of {', '.join(_KINDS)}, got {kind!r}")
        values["kind"] = ActionKind(kind)
        for name in _TEXT_FIELDS:
            if name in values and not isinstance(values[name], str):
                raise ValueError(f"{name!r} must be a string, got {values[name]!r}")
        for name in _TOKEN_FIELDS:
            if name in values:
                _check_token_count(name, values[name])
        return cls(**values)


_KINDS = tuple(kind.value for kind in ActionKind)
_REQUIRED_FIELDS = ("kind", "harness", "session_id")
_TEXT_FIELDS = ("harness", "session_id", "cwd", "model", "user", "label")
_TOKEN_FIELDS = ("added_tokens", "request_tokens", "context_tokens")


def _check_token_count(name: str, value: Any) -> None:
    if value is None and name != "added_tokens":
        return
    # bool is a subclass of int, but JSON true is not a token count.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name!r} must be an integer >= 0, got {value!r}")

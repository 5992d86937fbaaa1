"""Usage conventions of each provider, converted once into exclusive categories.

* Anthropic: ``input_tokens`` excludes cache reads and writes; cache writes may
  be split into 5-minute and 1-hour parts under ``cache_creation``.
* OpenAI Chat Completions and Responses, Codex ``token_count``, Gemini
  ``usageMetadata`` and OpenTelemetry ``gen_ai.usage.*``: input includes cached
  tokens. OpenAI and Codex reasoning is part of output; Gemini thoughts are not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from otel_cost.errors import UsageFormatError
from otel_cost.events import FeeCategory, TokenCategory, Usage

# Categories bound to module globals, because the converters run once per event
# and on Python 3.11 reading an enum member through its class takes about ten
# times as long as reading a global.
INPUT = TokenCategory.INPUT
CACHE_READ = TokenCategory.CACHE_READ
CACHE_WRITE_5M = TokenCategory.CACHE_WRITE_5M
CACHE_WRITE_1H = TokenCategory.CACHE_WRITE_1H
OUTPUT = TokenCategory.OUTPUT
REASONING = TokenCategory.REASONING
IMAGE_INPUT = TokenCategory.IMAGE_INPUT
AUDIO_INPUT = TokenCategory.AUDIO_INPUT
AUDIO_OUTPUT = TokenCategory.AUDIO_OUTPUT
WEB_SEARCH = FeeCategory.WEB_SEARCH


#: The maximum count of one token category (or fee) in one event, far above any
#: real request. At this limit the store's UInt64 sums cannot wrap around: a
#: billion events of 10**10 tokens add up to 10**19, below 2**64.
MAX_TOKENS_PER_CATEGORY = 10_000_000_000


def count(value: Any, name: str, maximum: int = MAX_TOKENS_PER_CATEGORY) -> int:
    """Return a whole token count from 0 to ``maximum``, or raise naming the field.

    Integral floats such as ``100.0`` (JSON parsers and OTLP ``doubleValue``
    produce them) are accepted. ``1.5`` is rejected rather than truncated.
    """
    if type(value) is int and 0 <= value <= maximum:
        return value
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UsageFormatError(f"{name} must be a number of tokens, got {value!r}")
    number = _whole_number(value, name)
    if number < 0:
        raise UsageFormatError(f"{name} must not be negative, got {_shown(number)}")
    if number > maximum:
        raise UsageFormatError(
            f"{name} is {_shown(number)}, above the maximum of {maximum}"
        )
    return number


def _shown(number: int) -> str:
    """Return a count for a message, in exponent form when it is very long."""
    return str(number) if abs(number) < 10**30 else f"{number:.3e}"


def _whole_number(value: float | str, name: str) -> int:
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                raise UsageFormatError(
                    f"{name} must be a number of tokens, got {value!r}"
                ) from None
    if isinstance(value, float) and not value.is_integer():
        # is_integer() is False for inf and nan as well.
        raise UsageFormatError(
            f"{name} must be a whole number of tokens, got {value!r}"
        )
    return int(value)


def _dig(usage: Mapping[str, Any], *path: str) -> Any:
    node: Any = usage
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _build(tokens: dict[TokenCategory, int], fees: dict[FeeCategory, int]) -> Usage:
    return Usage(
        tokens={key: value for key, value in tokens.items() if value},
        fees={key: value for key, value in fees.items() if value} if fees else {},
    )


def from_anthropic(usage: Mapping[str, Any]) -> Usage:
    """Convert an Anthropic Messages ``usage`` object."""
    write_total = count(
        usage.get("cache_creation_input_tokens"), "cache_creation_input_tokens"
    )
    split = usage.get("cache_creation")
    split_counts: Mapping[str, Any] = split if isinstance(split, Mapping) else {}
    write_5m = count(
        split_counts.get("ephemeral_5m_input_tokens"),
        "cache_creation.ephemeral_5m_input_tokens",
    )
    write_1h = count(
        split_counts.get("ephemeral_1h_input_tokens"),
        "cache_creation.ephemeral_1h_input_tokens",
    )
    if isinstance(split, Mapping) and write_5m + write_1h > 0:
        # The aggregate can exceed the split on older clients: the remainder is
        # a 5-minute write, the API default.
        write_5m += max(write_total - write_5m - write_1h, 0)
    else:
        write_5m, write_1h = write_total, 0
    tokens = {
        INPUT: count(usage.get("input_tokens"), "input_tokens"),
        CACHE_READ: count(
            usage.get("cache_read_input_tokens"), "cache_read_input_tokens"
        ),
        CACHE_WRITE_5M: write_5m,
        CACHE_WRITE_1H: write_1h,
        OUTPUT: count(usage.get("output_tokens"), "output_tokens"),
    }
    searches = count(
        _dig(usage, "server_tool_use", "web_search_requests"),
        "server_tool_use.web_search_requests",
    )
    return _build(tokens, {WEB_SEARCH: searches})


def from_openai(usage: Mapping[str, Any]) -> Usage:
    """Convert an OpenAI Chat Completions or Responses ``usage`` object."""
    if "input_tokens" in usage or "output_tokens" in usage:
        prompt_key, completion_key = "input_tokens", "output_tokens"
        prompt_details = usage.get("input_tokens_details") or {}
        completion_details = usage.get("output_tokens_details") or {}
    else:
        prompt_key, completion_key = "prompt_tokens", "completion_tokens"
        prompt_details = usage.get("prompt_tokens_details") or {}
        completion_details = usage.get("completion_tokens_details") or {}
    prompt = count(usage.get(prompt_key), prompt_key)
    cached = count(
        prompt_details.get("cached_tokens"), f"{prompt_key}_details.cached_tokens"
    )
    written = count(
        prompt_details.get("cache_write_tokens"),
        f"{prompt_key}_details.cache_write_tokens",
    )
    audio_in = count(
        prompt_details.get("audio_tokens"), f"{prompt_key}_details.audio_tokens"
    )
    image_in = count(
        prompt_details.get("image_tokens"), f"{prompt_key}_details.image_tokens"
    )
    completion = count(usage.get(completion_key), completion_key)
    reasoning = count(
        completion_details.get("reasoning_tokens"),
        f"{completion_key}_details.reasoning_tokens",
    )
    audio_out = count(
        completion_details.get("audio_tokens"), f"{completion_key}_details.audio_tokens"
    )
    _check_subset(prompt, cached + written + audio_in + image_in, prompt_key)
    _check_subset(completion, reasoning + audio_out, completion_key)
    tokens = {
        INPUT: prompt - cached - written - audio_in - image_in,
        CACHE_READ: cached,
        CACHE_WRITE_5M: written,
        AUDIO_INPUT: audio_in,
        IMAGE_INPUT: image_in,
        OUTPUT: completion - reasoning - audio_out,
        REASONING: reasoning,
        AUDIO_OUTPUT: audio_out,
    }
    return _build(tokens, {})


def from_codex(usage: Mapping[str, Any]) -> Usage:
    """Convert a Codex ``token_count`` usage (``last_token_usage`` or a delta)."""
    prompt = count(usage.get("input_tokens"), "input_tokens")
    cached = count(usage.get("cached_input_tokens"), "cached_input_tokens")
    written = count(usage.get("cache_write_input_tokens"), "cache_write_input_tokens")
    output = count(usage.get("output_tokens"), "output_tokens")
    reasoning = count(usage.get("reasoning_output_tokens"), "reasoning_output_tokens")
    _check_subset(prompt, cached + written, "input_tokens")
    _check_subset(output, reasoning, "output_tokens")
    tokens = {
        INPUT: prompt - cached - written,
        CACHE_READ: cached,
        CACHE_WRITE_5M: written,
        OUTPUT: output - reasoning,
        REASONING: reasoning,
    }
    return _build(tokens, {})


def from_gemini(usage: Mapping[str, Any]) -> Usage:
    """Convert a Gemini ``usageMetadata`` object (or Gemini CLI ``tokens``)."""
    if "input" in usage or "output" in usage:
        prompt = count(usage.get("input"), "input")
        cached = count(usage.get("cached"), "cached")
        output = count(usage.get("output"), "output")
        thoughts = count(usage.get("thoughts"), "thoughts")
    else:
        prompt = count(usage.get("promptTokenCount"), "promptTokenCount")
        cached = count(usage.get("cachedContentTokenCount"), "cachedContentTokenCount")
        output = count(usage.get("candidatesTokenCount"), "candidatesTokenCount")
        thoughts = count(usage.get("thoughtsTokenCount"), "thoughtsTokenCount")
    _check_subset(prompt, cached, "promptTokenCount")
    tokens = {
        INPUT: prompt - cached,
        CACHE_READ: cached,
        OUTPUT: output,
        REASONING: thoughts,
    }
    return _build(tokens, {})


SEMCONV_CACHE_WRITE_KEYS = (
    "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
)
SEMCONV_CACHE_READ_KEYS = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
)


def _first(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> int:
    for key in keys:
        value = attributes.get(key)
        if value is not None:
            return count(value, key)
    return 0


def has_semconv_usage(attributes: Mapping[str, Any]) -> bool:
    """Return whether any ``gen_ai.usage.*tokens`` attribute is present."""
    # Most items carry input or output tokens and so need no scan of every key.
    if (
        "gen_ai.usage.input_tokens" in attributes
        or "gen_ai.usage.output_tokens" in attributes
    ):
        return True
    return any(
        key.startswith("gen_ai.usage.") and key.endswith("tokens") for key in attributes
    )


def from_semconv(attributes: Mapping[str, Any]) -> Usage:
    """Convert OpenTelemetry GenAI ``gen_ai.usage.*`` span attributes."""
    prompt = _first(
        attributes, ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
    )
    output = _first(
        attributes, ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
    )
    cached = _first(attributes, SEMCONV_CACHE_READ_KEYS)
    written = _first(attributes, SEMCONV_CACHE_WRITE_KEYS)
    reasoning = _first(
        attributes,
        ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens"),
    )
    # The conventions make cache reads and writes subsets of input_tokens and
    # reasoning a subset of output_tokens.
    _check_subset(prompt, cached + written, "gen_ai.usage.input_tokens")
    _check_subset(output, reasoning, "gen_ai.usage.output_tokens")
    tokens = {
        INPUT: prompt - cached - written,
        CACHE_READ: cached,
        CACHE_WRITE_5M: written,
        OUTPUT: output - reasoning,
        REASONING: reasoning,
    }
    return _build(tokens, {})


CANONICAL_FEES = {fee.value: fee for fee in FeeCategory}
CANONICAL_TOKENS = {category.value: category for category in TokenCategory}


def from_canonical(usage: Mapping[str, Any]) -> Usage:
    """Read usage already in our category names (``input``, ``cache_read``, ...)."""
    tokens: dict[TokenCategory, int] = {}
    fees: dict[FeeCategory, int] = {}
    for key, value in usage.items():
        if key in CANONICAL_TOKENS:
            tokens[CANONICAL_TOKENS[key]] = count(value, key)
        elif key in CANONICAL_FEES:
            fees[CANONICAL_FEES[key]] = count(value, key)
        else:
            known = ", ".join([*CANONICAL_TOKENS, *CANONICAL_FEES])
            raise UsageFormatError(
                f"unknown usage category {key!r}; expected one of {known}"
            )
    return _build(tokens, fees)


def _check_subset(total: int, parts: int, name: str) -> None:
    if parts > total:
        raise UsageFormatError(
            f"{name} is {total}, smaller than the {parts} tokens it must include"
        )


CONVERTERS: dict[str, Callable[[Mapping[str, Any]], Usage]] = {
    "anthropic": from_anthropic,
    "openai": from_openai,
    "codex": from_codex,
    "gemini": from_gemini,
    "semconv": from_semconv,
    "canonical": from_canonical,
}


# At least one of these fields is present in a usage object of that
# convention. A non-empty object with none of them is a format mix-up.
EXPECTED_FIELDS: dict[str, tuple[str, ...]] = {
    "anthropic": ("input_tokens", "output_tokens", "cache_read_input_tokens",
                  "cache_creation_input_tokens"),
    "openai": ("prompt_tokens", "completion_tokens", "input_tokens", "output_tokens"),
    "codex": ("input_tokens", "output_tokens", "cached_input_tokens"),
    "gemini": ("promptTokenCount", "candidatesTokenCount", "input", "output"),
    "semconv": ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
                "gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens"),
}  # fmt: skip


def convert(usage_format: str, usage: Mapping[str, Any]) -> Usage:
    """Convert ``usage`` from the named convention into canonical categories."""
    try:
        converter = CONVERTERS[usage_format]
    except KeyError:
        raise UsageFormatError(
            f"unknown usage format {usage_format!r}; expected one of {', '.join(CONVERTERS)}"
        ) from None
    if not isinstance(usage, Mapping):
        raise UsageFormatError(
            f"usage must be a JSON object, got {type(usage).__name__}"
        )
    expected = EXPECTED_FIELDS.get(usage_format, ())
    if usage and expected and not any(name in usage for name in expected):
        raise UsageFormatError(
            f"usage has none of the {usage_format} fields {', '.join(expected)}; "
            "check --usage-format"
        )
    return converter(usage)

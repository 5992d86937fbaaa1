"""Each provider's usage convention converted into exclusive categories."""

from __future__ import annotations

import pytest

from otel_cost.errors import UsageFormatError
from otel_cost.events import FeeCategory
from otel_cost.events import TokenCategory as T
from otel_cost.normalise.usage import convert


def test_anthropic_input_excludes_cache() -> None:
    usage = convert(
        "anthropic",
        {
            "input_tokens": 6,
            "output_tokens": 412,
            "cache_creation_input_tokens": 18240,
            "cache_read_input_tokens": 96310,
            "cache_creation": {
                "ephemeral_5m_input_tokens": 0,
                "ephemeral_1h_input_tokens": 18240,
            },
            "server_tool_use": {"web_search_requests": 2},
        },
    )
    assert usage.tokens == {
        T.INPUT: 6,
        T.CACHE_READ: 96310,
        T.CACHE_WRITE_1H: 18240,
        T.OUTPUT: 412,
    }
    assert usage.fees == {FeeCategory.WEB_SEARCH: 2}
    assert usage.total_tokens == 6 + 96310 + 18240 + 412


def test_anthropic_without_split_is_5m() -> None:
    usage = convert(
        "anthropic", {"input_tokens": 1, "cache_creation_input_tokens": 500}
    )
    assert usage.tokens == {T.INPUT: 1, T.CACHE_WRITE_5M: 500}


def test_anthropic_split_not_object_ignored() -> None:
    usage = convert(
        "anthropic",
        {
            "input_tokens": 1,
            "cache_creation_input_tokens": 300,
            "cache_creation": [{"ephemeral_1h_input_tokens": 300}],
        },
    )
    assert usage.tokens == {T.INPUT: 1, T.CACHE_WRITE_5M: 300}
    assert usage.fees == {}


def test_anthropic_split_remainder_is_5m() -> None:
    usage = convert(
        "anthropic",
        {
            "cache_creation_input_tokens": 900,
            "cache_creation": {
                "ephemeral_5m_input_tokens": 100,
                "ephemeral_1h_input_tokens": 500,
            },
        },
    )
    assert usage.tokens == {T.CACHE_WRITE_5M: 400, T.CACHE_WRITE_1H: 500}


def test_openai_chat_includes_cache() -> None:
    usage = convert(
        "openai",
        {
            "prompt_tokens": 1000,
            "completion_tokens": 300,
            "prompt_tokens_details": {"cached_tokens": 600},
            "completion_tokens_details": {"reasoning_tokens": 200},
        },
    )
    assert usage.tokens == {
        T.INPUT: 400,
        T.CACHE_READ: 600,
        T.OUTPUT: 100,
        T.REASONING: 200,
    }


def test_openai_responses_shape() -> None:
    usage = convert(
        "openai",
        {
            "input_tokens": 50,
            "output_tokens": 40,
            "input_tokens_details": {"cached_tokens": 20},
            "output_tokens_details": {"reasoning_tokens": 30},
        },
    )
    assert usage.tokens == {
        T.INPUT: 30,
        T.CACHE_READ: 20,
        T.OUTPUT: 10,
        T.REASONING: 30,
    }


def test_codex_cache_and_reasoning_inside() -> None:
    usage = convert(
        "codex",
        {
            "input_tokens": 40210,
            "cached_input_tokens": 38912,
            "cache_write_input_tokens": 200,
            "output_tokens": 611,
            "reasoning_output_tokens": 402,
            "total_tokens": 40821,
        },
    )
    assert usage.tokens == {
        T.INPUT: 1098,
        T.CACHE_READ: 38912,
        T.CACHE_WRITE_5M: 200,
        T.OUTPUT: 209,
        T.REASONING: 402,
    }
    assert usage.total_tokens == 40821


def test_gemini_thoughts_outside_output() -> None:
    usage = convert(
        "gemini",
        {
            "promptTokenCount": 48210,
            "cachedContentTokenCount": 40960,
            "candidatesTokenCount": 812,
            "thoughtsTokenCount": 1290,
        },
    )
    assert usage.tokens == {
        T.INPUT: 7250,
        T.CACHE_READ: 40960,
        T.OUTPUT: 812,
        T.REASONING: 1290,
    }


@pytest.mark.parametrize(
    "write_key",
    [
        "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
    ],
)
def test_semconv_cache_write_spellings(write_key: str) -> None:
    usage = convert(
        "semconv",
        {
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.cache_read.input_tokens": 700,
            write_key: 100,
            "gen_ai.usage.output_tokens": 50,
            "gen_ai.usage.reasoning.output_tokens": 20,
        },
    )
    assert usage.tokens == {
        T.INPUT: 200,
        T.CACHE_READ: 700,
        T.CACHE_WRITE_5M: 100,
        T.OUTPUT: 30,
        T.REASONING: 20,
    }


def test_canonical_names_pass_through() -> None:
    usage = convert("canonical", {"input": 5, "cache_write_1h": 7, "web_search": 1})
    assert usage.tokens == {T.INPUT: 5, T.CACHE_WRITE_1H: 7}
    assert usage.fees == {FeeCategory.WEB_SEARCH: 1}


@pytest.mark.parametrize(
    ("usage_format", "usage", "message"),
    [
        ("openai", {"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 20}},
         "smaller than the 20 tokens"),
        ("anthropic", {"input_tokens": -1}, "must not be negative"),
        ("anthropic", {"input_tokens": "many"}, "'many'"),
        ("canonical", {"inputs": 3}, "unknown usage category 'inputs'"),
        ("bogus", {}, "unknown usage format 'bogus'"),
    ],
)  # fmt: skip
def test_invalid_usage_names_field(
    usage_format: str, usage: dict, message: str
) -> None:  # type: ignore[type-arg]
    with pytest.raises(UsageFormatError, match=message):
        convert(usage_format, usage)


def test_format_mixup_is_rejected() -> None:
    with pytest.raises(UsageFormatError, match="none of the anthropic fields"):
        convert("anthropic", {"prompt_tokens": 100000, "completion_tokens": 5000})

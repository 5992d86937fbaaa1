"""The ``otel-cost price`` JSON contract."""

from __future__ import annotations

import json
from decimal import Decimal as D

from click.testing import CliRunner

from otel_cost.cli.main import cli


def run_price(*args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = CliRunner().invoke(cli, ["price", *args, "--json"])
    payload = json.loads(result.output) if result.exit_code == 0 else {}
    return result.exit_code, payload


def test_price_anthropic_contract() -> None:
    usage = {
        "input_tokens": 6,
        "output_tokens": 412,
        "cache_creation_input_tokens": 18240,
        "cache_read_input_tokens": 96310,
        "cache_creation": {
            "ephemeral_5m_input_tokens": 0,
            "ephemeral_1h_input_tokens": 18240,
        },
    }
    code, payload = run_price(
        "--model",
        "claude-opus-4-8",
        "--usage-format",
        "anthropic",
        "--usage",
        json.dumps(usage),
    )
    assert code == 0
    # claude-opus-4-8: input 5e-06, read 5e-07, 1-hour write 1e-05, output 2.5e-05.
    expected = (
        6 * D("0.000005")
        + 96310 * D("0.0000005")
        + 18240 * D("0.00001")
        + 412 * D("0.000025")
    )
    assert D(payload["total_usd"]) == expected
    assert payload["status"] == "priced"
    assert payload["resolved_model"] == "claude-opus-4-8"
    assert payload["pricing_version"] == "litellm-2026-07-24"
    categories = [line["category"] for line in payload["lines"]]
    assert categories == ["input", "cache_read", "cache_write_1h", "output"]
    hour_line = payload["lines"][2]
    assert hour_line == {
        "category": "cache_write_1h",
        "tokens": 18240,
        "usd_per_token": "0.00001",
        "usd": "0.1824",
    }
    assert sum(D(line["usd"]) for line in payload["lines"]) == D(payload["total_usd"])


def test_price_codex_priority_tier() -> None:
    usage = {"input_tokens": 1000, "cached_input_tokens": 800, "output_tokens": 100,
             "reasoning_output_tokens": 60}  # fmt: skip
    code, payload = run_price(
        "--model", "gpt-5.5", "--usage-format", "codex", "--usage", json.dumps(usage),
        "--service-tier", "priority",
    )  # fmt: skip
    assert code == 0
    # Priority: input 1e-05, cache read 1e-06, output 6e-05 (reasoning too).
    expected = 200 * D("0.00001") + 800 * D("0.000001") + 100 * D("0.00006")
    assert D(payload["total_usd"]) == expected


def test_price_unknown_model_null_total() -> None:
    code, payload = run_price(
        "--model",
        "gpt-5.9-preview",
        "--usage-format",
        "canonical",
        "--usage",
        '{"input": 5}',
    )
    assert code == 0
    assert payload["status"] == "unpriced"
    assert payload["total_usd"] is None
    assert payload["resolved_model"] is None


def test_price_bedrock_arn_unpriced() -> None:
    arn = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/x1"
    code, payload = run_price(
        "--model", arn, "--usage-format", "canonical", "--usage", '{"input": 5}'
    )
    assert code == 0
    assert payload["status"] == "unpriced"


def test_price_invalid_usage_exits_nonzero() -> None:
    result = CliRunner().invoke(
        cli,
        [
            "price",
            "--model",
            "gpt-5",
            "--usage-format",
            "openai",
            "--usage",
            "{oops",
            "--json",
        ],
    )
    assert result.exit_code == 2
    assert "not valid JSON" in result.output


def test_price_inconsistent_usage_message() -> None:
    result = CliRunner().invoke(
        cli,
        ["price", "--model", "gpt-5", "--usage-format", "openai", "--usage",
         '{"prompt_tokens": 1, "prompt_tokens_details": {"cached_tokens": 5}}'],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "prompt_tokens is 1" in result.output


def test_price_anthropic_fast_mode() -> None:
    usage = {"input_tokens": 1000, "output_tokens": 100, "speed": "fast"}
    code, payload = run_price(
        "--model",
        "claude-opus-4-8",
        "--usage-format",
        "anthropic",
        "--usage",
        json.dumps(usage),
    )
    assert code == 0
    # Fast mode multiplies the opus-4-8 rates by the card's factor 6.
    expected = (1000 * D("0.000005") + 100 * D("0.000025")) * 6
    assert D(payload["total_usd"]) == expected


def test_price_fee_without_rate_reported() -> None:
    # The card has no web-search fee for claude-haiku-4-5-20251001.
    usage = {
        "input_tokens": 10,
        "output_tokens": 10,
        "server_tool_use": {"web_search_requests": 3},
    }
    code, payload = run_price(
        "--model", "claude-haiku-4-5-20251001", "--usage-format", "anthropic",
        "--usage", json.dumps(usage),
    )  # fmt: skip
    assert code == 0
    assert payload["unpriced_fees"] == ["web_search"]
    assert D(payload["total_usd"]) == 10 * D("0.000001") + 10 * D("0.000005")

"""End to end: ``otel-cost instrument`` around a child agent and fake providers."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fakes import wire
from fakes.server import FakeProvider

from otel_cost.cli.main import cli
from otel_cost.store import Store

AGENT = Path(__file__).parent / "fakes" / "agent.py"
ANTHROPIC_KEY = "sk-ant-SECRET-1234567890"
OPENAI_KEY = "sk-proj-SECRET-abcdefghij"
GEMINI_KEY = "AIzaSECRET-klmnopqrstu"
SECRETS = (ANTHROPIC_KEY, OPENAI_KEY, GEMINI_KEY)

SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"
MINI = "gpt-4o-mini-2024-07-18"
GPT5 = "gpt-5-mini-2025-08-07"
FLASH = "gemini-2.5-flash"


def _scenarios(fake: FakeProvider) -> None:
    fake.add("anthropic-json", wire.anthropic_json("msg_json", HAIKU, {
        "input_tokens": 100, "cache_creation_input_tokens": 200,
        "cache_read_input_tokens": 1000, "output_tokens": 40,
        "cache_creation": {"ephemeral_5m_input_tokens": 150, "ephemeral_1h_input_tokens": 50},
    }))  # fmt: skip
    fake.add("anthropic-sse", wire.anthropic_sse("msg_sse", SONNET, {
        "input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20,
    }, output_tokens=50))  # fmt: skip
    cut = wire.anthropic_sse("msg_cut", SONNET, {"input_tokens": 10}, output_tokens=70)
    cut.cut_after = 3
    fake.add("anthropic-cut", cut)
    fake.add("anthropic-429", wire.anthropic_error(429, "rate_limit_error"))
    fake.add("chat-json", wire.openai_chat_json("chatcmpl-json", MINI, {
        "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
        "prompt_tokens_details": {"cached_tokens": 40, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }))  # fmt: skip
    fake.add("chat-sse", wire.openai_chat_sse("chatcmpl-sse", MINI, {
        "prompt_tokens": 200, "completion_tokens": 30, "total_tokens": 230,
    }))  # fmt: skip
    fake.add("responses-json", wire.responses_json("resp_json", GPT5, {
        "input_tokens": 1000, "input_tokens_details": {"cached_tokens": 600},
        "output_tokens": 300, "output_tokens_details": {"reasoning_tokens": 200},
        "total_tokens": 1300,
    }))  # fmt: skip
    fake.add("responses-sse", wire.responses_sse("resp_sse", GPT5, {
        "input_tokens": 50, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 10, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 60,
    }))  # fmt: skip
    fake.add("gemini-json", wire.gemini_json(FLASH, {
        "promptTokenCount": 300, "cachedContentTokenCount": 100,
        "candidatesTokenCount": 50, "thoughtsTokenCount": 20, "totalTokenCount": 370,
    }, "gem-json"))  # fmt: skip
    fake.add("gemini-sse", wire.gemini_sse(FLASH, [
        {"promptTokenCount": 80, "candidatesTokenCount": 5, "totalTokenCount": 85},
        {"promptTokenCount": 80, "candidatesTokenCount": 12, "totalTokenCount": 92},
        {"promptTokenCount": 80, "candidatesTokenCount": 25, "thoughtsTokenCount": 10,
         "totalTokenCount": 115},
    ], "gem-sse"))  # fmt: skip
    fake.add("gemini-503", wire.gemini_error(503, "UNAVAILABLE"))


def _step(name: str, provider: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"x-scenario": name}
    if provider == "anthropic":
        headers |= {"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01"}
    elif provider == "openai":
        headers |= {"Authorization": f"Bearer {OPENAI_KEY}"}
    else:
        headers |= {"x-goog-api-key": GEMINI_KEY}
    return {
        "name": name,
        "provider": provider,
        "path": path,
        "body": body,
        "headers": headers,
    }


def _plan() -> dict[str, Any]:
    prompt = [{"role": "user", "content": "Say hello."}]
    gemini = {"contents": [{"role": "user", "parts": [{"text": "Say hello."}]}]}
    return {
        "exit_code": 3,
        "steps": [
            _step("anthropic-json", "anthropic", "/v1/messages",
                  {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": prompt}),
            _step("anthropic-sse", "anthropic", "/v1/messages",
                  {"model": "claude-sonnet-4-5", "stream": True, "messages": prompt}),
            _step("anthropic-cut", "anthropic", "/v1/messages",
                  {"model": "claude-sonnet-4-5", "stream": True, "messages": prompt}),
            _step("anthropic-429", "anthropic", "/v1/messages",
                  {"model": "claude-sonnet-4-5", "messages": prompt}),
            _step("chat-json", "openai", "/chat/completions",
                  {"model": "gpt-4o-mini", "messages": prompt}),
            _step("chat-sse", "openai", "/chat/completions",
                  {"model": "gpt-4o-mini", "messages": prompt, "stream": True,
                   "stream_options": {"include_usage": True}}),
            _step("responses-json", "openai", "/responses",
                  {"model": "gpt-5-mini", "input": "Say hello."}),
            _step("responses-sse", "openai", "/responses",
                  {"model": "gpt-5-mini", "input": "Say hello.", "stream": True}),
            _step("gemini-json", "gemini", f"/v1beta/models/{FLASH}:generateContent", gemini),
            _step("gemini-sse", "gemini",
                  f"/v1beta/models/{FLASH}:streamGenerateContent?alt=sse&key={GEMINI_KEY}",
                  gemini),
            _step("gemini-503", "gemini", f"/v1beta/models/{FLASH}:generateContent", gemini),
        ],
    }  # fmt: skip


# Hand-computed from the built-in card (litellm 2026-07-24), per token in USD.
EXPECTED_COST = {
    # 100 input x 1e-6 + 1000 cache read x 1e-7 + 150 5-minute writes x 1.25e-6
    # + 50 1-hour writes x 2e-6 + 40 output x 5e-6
    "msg_json": Decimal("0.0001")
    + Decimal("0.0001")
    + Decimal("0.0001875")
    + Decimal("0.0001")
    + Decimal("0.0002"),
    # 10 x 3e-6 + 100 x 3e-7 + 20 x 3.75e-6 + 50 output x 1.5e-5
    "msg_sse": Decimal("0.00003")
    + Decimal("0.00003")
    + Decimal("0.000075")
    + Decimal("0.00075"),
    # Cut off after message_start: 10 input x 3e-6 + 1 output x 1.5e-5 (estimated)
    "msg_cut": Decimal("0.00003") + Decimal("0.000015"),
    # 60 uncached x 1.5e-7 + 40 cached x 7.5e-8 + 20 output x 6e-7
    "chatcmpl-json": Decimal("0.000009") + Decimal("0.000003") + Decimal("0.000012"),
    # 200 x 1.5e-7 + 30 x 6e-7
    "chatcmpl-sse": Decimal("0.00003") + Decimal("0.000018"),
    # 400 x 2.5e-7 + 600 cached x 2.5e-8 + 100 output x 2e-6 + 200 reasoning x 2e-6
    "resp_json": Decimal("0.0001")
    + Decimal("0.000015")
    + Decimal("0.0002")
    + Decimal("0.0004"),
    # 50 x 2.5e-7 + 10 x 2e-6
    "resp_sse": Decimal("0.0000125") + Decimal("0.00002"),
}


@pytest.fixture
def fake() -> Any:
    with FakeProvider() as provider:
        _scenarios(provider)
        yield provider


def _run(fake: FakeProvider, tmp_path: Path) -> tuple[Any, dict[str, Any]]:
    plan_path, out_path = tmp_path / "plan.json", tmp_path / "out.json"
    plan_path.write_text(json.dumps(_plan()))
    args = [
        "-vv", "instrument", "--project", "demo", "--task-type", "feature",
        "--session-id", "sess-e2e", "--user", "ana", "--tag", "team=core",
        "--harness", "test-agent",
        "--upstream-anthropic", fake.url, "--upstream-openai", fake.url + "/v1",
        "--upstream-gemini", fake.url,
        "--", sys.executable, str(AGENT), str(plan_path), str(out_path),
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    return result, json.loads(out_path.read_text())


def _events(store: Store) -> list[dict[str, Any]]:
    return store.query_dicts(
        "SELECT * FROM cost_events FINAL WHERE session_id = 'sess-e2e' ORDER BY ts"
    )


def test_instrument_records_every_format(
    store: Store, fake: FakeProvider, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result, _ = _run(fake, tmp_path)
    assert result.exit_code == 3, result.output
    rows = _events(store)
    assert len(rows) == 11
    by_response = {row["attributes"].get("response_id", ""): row for row in rows}
    for response_id, cost in EXPECTED_COST.items():
        assert by_response[response_id]["cost_usd"] == cost, response_id
    gemini_json = by_response["gem-json"]
    assert {row["source"] for row in rows} == {"proxy"}
    assert {row["project"] for row in rows} == {"demo"}
    assert {row["task_type"] for row in rows} == {"feature"}
    assert {row["user"] for row in rows} == {"ana"}
    assert {row["attributes"]["team"] for row in rows} == {"core"}
    assert gemini_json["model"] == FLASH
    # 200 uncached x 3e-7 + 100 cached x 3e-8 + 50 output x 2.5e-6 + 20 thoughts x 2.5e-6
    assert gemini_json["cost_usd"] == (
        Decimal("0.00006")
        + Decimal("0.000003")
        + Decimal("0.000125")
        + Decimal("0.00005")
    )


def test_instrument_gemini_stream_takes_last(
    store: Store, fake: FakeProvider, tmp_path: Path
) -> None:
    _run(fake, tmp_path)
    rows = [
        row for row in _events(store)
        if row["attributes"]["wire_format"] == "gemini.generate_content"
        and row["attributes"]["stream"] == "true"
    ]  # fmt: skip
    assert len(rows) == 1
    row = rows[0]
    # The last chunk's running usage, not the sum of three chunks (240 prompt).
    assert row["input_tokens"] == 80
    assert row["output_tokens"] == 25
    assert row["reasoning_tokens"] == 10
    # 80 x 3e-7 + 25 x 2.5e-6 + 10 reasoning x 2.5e-6
    assert row["cost_usd"] == Decimal("0.000024") + Decimal("0.0000625") + Decimal(
        "0.000025"
    )


def test_instrument_records_failures(
    store: Store, fake: FakeProvider, tmp_path: Path
) -> None:
    _run(fake, tmp_path)
    rows = _events(store)
    errors = {row["error_type"]: row for row in rows if row["outcome"] == "error"}
    assert set(errors) == {"rate_limit_error", "UNAVAILABLE"}
    assert errors["rate_limit_error"]["model_requested"] == "claude-sonnet-4-5"
    assert errors["rate_limit_error"]["attributes"]["http.status_code"] == "429"
    assert errors["rate_limit_error"]["cost_usd"] == Decimal(0)
    assert errors["UNAVAILABLE"]["attributes"]["http.status_code"] == "503"
    cut = [row for row in rows if row["outcome"] == "interrupted"]
    assert len(cut) == 1
    assert cut[0]["error_type"] == "stream_interrupted"
    assert cut[0]["cost_status"] == "estimated"
    assert cut[0]["input_tokens"] == 10
    assert cut[0]["output_tokens"] == 1


def test_instrument_responses_byte_identical(
    store: Store, fake: FakeProvider, tmp_path: Path
) -> None:
    _, out = _run(fake, tmp_path)
    results = {result["name"]: result for result in out["results"]}
    for name, answer in fake.routes.items():
        got = results[name]
        assert bytes.fromhex(got["body"]) == answer.body, name
        if answer.cut_after is None:
            assert got["status"] == answer.status, name
            assert got["error"] == "", name
            for header, value in answer.headers:
                assert got["headers"][header.lower()] == value, (name, header)
    assert results["anthropic-cut"]["error"] == "RemoteProtocolError"


def test_instrument_forwards_credentials_unchanged(
    store: Store, fake: FakeProvider, tmp_path: Path
) -> None:
    _run(fake, tmp_path)
    seen = {dict(request.headers)["x-scenario"]: request for request in fake.received}
    assert dict(seen["anthropic-json"].headers)["x-api-key"] == ANTHROPIC_KEY
    assert dict(seen["chat-json"].headers)["Authorization"] == f"Bearer {OPENAI_KEY}"
    assert dict(seen["gemini-json"].headers)["x-goog-api-key"] == GEMINI_KEY
    assert seen["gemini-sse"].path.endswith(f"?alt=sse&key={GEMINI_KEY}")
    assert json.loads(seen["chat-sse"].body)["stream_options"] == {
        "include_usage": True
    }


def test_instrument_keeps_secrets_out(
    store: Store,
    fake: FakeProvider,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    result, _ = _run(fake, tmp_path)
    captured = capfd.readouterr()
    stored = store.query(
        "SELECT toString(tuple(*)) FROM cost_events FINAL WHERE session_id = 'sess-e2e'"
    )
    assert len(stored) == 11
    texts = [caplog.text, result.output, captured.out, captured.err]
    texts += [row[0] for row in stored]
    for secret in SECRETS:
        for text in texts:
            assert secret not in text
    assert "Say hello" not in "".join(row[0] for row in stored)


def test_instrument_summary_and_report(
    store: Store, fake: FakeProvider, tmp_path: Path
) -> None:
    result, _ = _run(fake, tmp_path)
    total = sum(EXPECTED_COST.values()) + Decimal("0.000238") + Decimal("0.0001115")
    summary = result.stderr if hasattr(result, "stderr") else result.output
    assert "session sess-e2e" in summary
    assert "requests 11 (errors 2, interrupted 1)" in summary
    assert f"cost ${total.quantize(Decimal('0.0001'))}" in summary
    rows = store.query(
        "SELECT sum(cost_usd) FROM cost_events FINAL WHERE session_id = 'sess-e2e'"
    )
    assert rows[0][0] == total
    report = CliRunner().invoke(cli, ["report", "--by", "model", "--format", "json"])
    assert report.exit_code == 0, report.output
    assert total.normalize().to_eng_string() in report.output.replace('"', " ")


def test_instrument_nested_runs_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_COST_PROXY_URL", "http://127.0.0.1:7000")
    script = "import os, sys; sys.exit(5 if os.environ['OTEL_COST_PROXY_URL'] else 0)"
    result = CliRunner().invoke(cli, ["instrument", "--", sys.executable, "-c", script])
    assert result.exit_code == 5
    assert "already instrumented" in result.output


def test_instrument_missing_command(store: Store) -> None:
    result = CliRunner().invoke(cli, ["instrument", "--", "no-such-agent-xyz"])
    assert result.exit_code == 127
    assert "command not found: no-such-agent-xyz" in result.output
    assert "requests 0" in result.output


def test_instrument_child_sees_proxy(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    script = (
        "import json, os, sys; json.dump({k: os.environ.get(k, '') for k in "
        "['ANTHROPIC_BASE_URL', 'OPENAI_BASE_URL', 'GOOGLE_GEMINI_BASE_URL', "
        "'OTEL_COST_SESSION_ID', 'OTEL_COST_PROXY_URL']}, open(sys.argv[1], 'w'))"
    )
    args = ["instrument", "--session-id", "s-env", "--", sys.executable, "-c", script,
            str(out)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    seen = json.loads(out.read_text())
    proxy_url = seen["OTEL_COST_PROXY_URL"]
    assert proxy_url.startswith("http://127.0.0.1:")
    assert seen["ANTHROPIC_BASE_URL"] == proxy_url + "/anthropic"
    assert seen["OPENAI_BASE_URL"] == proxy_url + "/openai"
    assert seen["GOOGLE_GEMINI_BASE_URL"] == proxy_url + "/gemini"
    assert seen["OTEL_COST_SESSION_ID"] == "s-env"


def test_instrument_forwards_sigterm(store: Store, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    script = (
        "import pathlib, sys, time; pathlib.Path(sys.argv[1]).write_text('up'); "
        "time.sleep(30)"
    )

    def terminate_when_ready() -> None:
        deadline = time.monotonic() + 10
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate_when_ready)
    killer.start()
    args = ["instrument", "--", sys.executable, "-c", script, str(ready)]
    result = CliRunner().invoke(cli, args)
    killer.join()
    # The child died of the forwarded SIGTERM: 128 + 15.
    assert result.exit_code == 143
    assert "exit code 143" in result.output

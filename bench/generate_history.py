"""Write a synthetic but format-true Claude Code and Codex history for benchmarks.

The Claude Code part has streamed responses written several times under one
``message.id``, subagent transcripts, resumed sessions that copy earlier
responses, large tool results and a few truncated lines. The Codex part has
repeated ``token_count`` events and forked sessions that replay their parent.
All values are made up.
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

CLAUDE_MODELS = [
    "claude-sonnet-4-5-20250929",
    "claude-opus-4-8",
    "claude-haiku-4-5-20251001",
]
CODEX_MODELS = ["gpt-5.5", "gpt-5"]
START = datetime(2026, 9, 1, tzinfo=UTC)


def dumps(record: dict[str, object]) -> str:
    return json.dumps(record, separators=(",", ":"))


def stamp(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ClaudeWriter:
    """Writes Claude Code transcripts under ``<root>/projects``."""

    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root = root / "projects"
        self.rng = rng
        self.message_number = 0
        self.copied: list[str] = []

    def session(self, project: str, session_id: str, ts: datetime, turns: int) -> int:
        lines = list(self.copied[-3:]) if self.rng.random() < 0.2 else []
        cwd = f"/home/dev/src/{project}"
        for turn in range(turns):
            lines.append(self._user(cwd, session_id, ts, turn))
            ts += timedelta(seconds=self.rng.randint(5, 90))
            lines.extend(self._assistant(cwd, session_id, ts))
        if self.rng.random() < 0.05:
            lines.append(lines[-1][: len(lines[-1]) // 2])
        directory = self.root / f"-home-dev-src-{project}"
        directory.mkdir(parents=True, exist_ok=True)
        text = "\n".join(lines) + "\n"
        (directory / f"{session_id}.jsonl").write_text(text)
        written = len(text)
        if self.rng.random() < 0.3:
            sub = directory / session_id / "subagents"
            sub.mkdir(parents=True, exist_ok=True)
            sub_lines = []
            for _ in range(max(turns // 4, 1)):
                sub_lines.extend(self._assistant(cwd, session_id, ts, sidechain=True))
            sub_text = "\n".join(sub_lines) + "\n"
            (sub / f"agent-{self.rng.getrandbits(32):08x}.jsonl").write_text(sub_text)
            written += len(sub_text)
        return written

    def _user(self, cwd: str, session_id: str, ts: datetime, turn: int) -> str:
        # Tool results make user lines large, as in real transcripts.
        filler = "x" * self.rng.randint(200, 6000)
        return dumps({
            "parentUuid": None, "isSidechain": False, "userType": "external", "cwd": cwd,
            "sessionId": session_id, "version": "2.1.240", "gitBranch": "main", "type": "user",
            "uuid": f"u-{session_id}-{turn}", "timestamp": stamp(ts),
            "message": {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": f"toolu_{turn}", "content": filler}]},
        })  # fmt: skip

    def _assistant(
        self, cwd: str, session_id: str, ts: datetime, sidechain: bool = False
    ) -> list[str]:
        self.message_number += 1
        message_id = f"msg_bench_{self.message_number:010d}"
        model = self.rng.choice(CLAUDE_MODELS)
        write = self.rng.choice([0, 0, 1500, 4000])
        one_hour = write if self.rng.random() < 0.3 else 0
        final_output = self.rng.randint(50, 2500)
        revisions = self.rng.randint(1, 3)
        lines = []
        for revision in range(revisions):
            last = revision == revisions - 1
            usage = {
                "input_tokens": self.rng.randint(1, 30),
                "output_tokens": final_output if last else self.rng.randint(1, 20),
                "cache_creation_input_tokens": write,
                "cache_read_input_tokens": self.rng.randint(10_000, 180_000),
                "cache_creation": {"ephemeral_5m_input_tokens": write - one_hour,
                                   "ephemeral_1h_input_tokens": one_hour},
                "service_tier": "standard",
            }  # fmt: skip
            lines.append(dumps({
                "parentUuid": None, "isSidechain": sidechain, "userType": "external",
                "cwd": cwd, "sessionId": session_id, "version": "2.1.240",
                "gitBranch": "main", "type": "assistant",
                "uuid": f"a-{message_id}-{revision}", "timestamp": stamp(ts),
                "requestId": f"req_{message_id}",
                "message": {"id": message_id, "type": "message", "role": "assistant",
                            "model": model, "content": [{"type": "text", "text": "y" * 200}],
                            "stop_reason": "end_turn" if last else None, "usage": usage},
            }))  # fmt: skip
        # Usage fields only grow between revisions; keep the copy for resumes.
        self.copied.append(lines[-1])
        return lines


class CodexWriter:
    """Writes Codex rollouts under ``<root>/sessions/YYYY/MM/DD``."""

    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root = root / "sessions"
        self.rng = rng

    def session(self, session_id: str, ts: datetime, turns: int) -> int:
        directory = self.root / f"{ts:%Y/%m/%d}"
        directory.mkdir(parents=True, exist_ok=True)
        lines = [dumps({"timestamp": stamp(ts), "type": "session_meta", "payload": {
            "id": session_id, "timestamp": stamp(ts), "cwd": "/home/dev/src/api",
            "originator": "codex_cli_rs", "cli_version": "0.146.0", "model_provider": "openai",
            "git": {"branch": "main"}}})]  # fmt: skip
        lines.append(dumps({"timestamp": stamp(ts), "type": "turn_context", "payload": {
            "cwd": "/home/dev/src/api", "model": self.rng.choice(CODEX_MODELS)}}))  # fmt: skip
        totals = {"input_tokens": 0, "cached_input_tokens": 0, "output_tokens": 0,
                  "reasoning_output_tokens": 0, "total_tokens": 0}  # fmt: skip
        for _ in range(turns):
            ts += timedelta(seconds=self.rng.randint(5, 60))
            cached = self.rng.randint(5_000, 100_000)
            last = {"input_tokens": cached + self.rng.randint(100, 5000),
                    "cached_input_tokens": cached,
                    "output_tokens": self.rng.randint(50, 3000)}  # fmt: skip
            last["reasoning_output_tokens"] = last["output_tokens"] // 2
            last["total_tokens"] = last["input_tokens"] + last["output_tokens"]
            for key in totals:
                totals[key] += last[key]
            event = {"timestamp": stamp(ts), "type": "event_msg", "payload": {
                "type": "token_count", "info": {"total_token_usage": dict(totals),
                "last_token_usage": last, "model_context_window": 272000}}}  # fmt: skip
            lines.append(dumps(event))
            if self.rng.random() < 0.3:
                lines.append(dumps(event))  # Codex repeats unchanged totals
        text = "\n".join(lines) + "\n"
        (
            directory / f"rollout-{stamp(ts)[:19].replace(':', '-')}-{session_id}.jsonl"
        ).write_text(text)
        return len(text)


def generate(root: Path, target_bytes: int, seed: int = 1) -> dict[str, int]:
    """Write sessions until ``target_bytes`` are on disk; return counts."""
    rng = random.Random(seed)
    claude = ClaudeWriter(root / "claude", rng)
    codex = CodexWriter(root / "codex", rng)
    written = sessions = 0
    ts = START
    while written < target_bytes:
        sessions += 1
        ts += timedelta(minutes=rng.randint(10, 300))
        session_id = f"{rng.getrandbits(128):032x}"
        if sessions % 5 == 0:
            written += codex.session(session_id, ts, rng.randint(5, 60))
        else:
            project = rng.choice(["shop", "api", "infra", "web", "data"])
            written += claude.session(project, session_id, ts, rng.randint(5, 60))
    return {"bytes": written, "sessions": sessions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("--megabytes", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(generate(args.root, args.megabytes * 1_000_000, args.seed)))


if __name__ == "__main__":
    main()

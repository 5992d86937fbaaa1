"""The budgets file: schema checks, exact decimals, and the set/list/remove commands."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from otel_cost.budgets.envelopes import (
    Scope,
    budgets_path,
    load_envelopes,
    parse_envelopes,
)
from otel_cost.cli.main import cli
from otel_cost.errors import ConfigError

EXAMPLE = """\
version: 1
envelopes:
  - name: web-monthly
    scope: project
    limit_usd: 250.10
    match: {project: web, team: payments}
    approvers: [bob]
    rollover: {mode: capped, cap_usd: "40", starts: "2026-10-01"}
  - name: dev-session
    scope: session
    limit_usd: "0.1"
    match: {harness: claude-code}
  - name: migration
    scope: task
    task: sess-42
    limit_usd: 30
"""


def test_example_file_loads_exactly(tmp_path: Path) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text(EXAMPLE)
    web, session, task = load_envelopes(path)
    assert web.limit_usd == Decimal("250.10")
    assert web.scope is Scope.PROJECT
    assert web.period == "month"
    assert web.match == {"project": "web", "team": "payments"}
    assert web.owner_role == "team-lead"
    assert web.team_label == "payments"
    assert web.rollover.cap_usd == Decimal("40")
    assert str(web.rollover.starts) == "2026-10-01"
    assert session.limit_usd == Decimal("0.1")
    assert session.soft is True
    assert session.owner_role == "developer"
    assert task.task == "sess-42"
    assert task.soft is False


def test_missing_file_declares_nothing(tmp_path: Path) -> None:
    assert load_envelopes(tmp_path / "absent.yaml") == []


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"envelopes": [{"name": "a", "scope": "team", "limit_usd": 1}]},
         "at envelopes/0/scope: 'team' is not one of"),
        ({"envelopes": [{"name": "a", "scope": "project", "limit_usd": "ten"}]},
         "at envelopes/0/limit_usd: 'ten' is not valid"),
        ({"envelopes": [{"name": "a", "scope": "task", "limit_usd": 1}]},
         "at envelopes/0: 'task' is a required property"),
        ({"envelopes": [{"name": "a", "scope": "project", "limit_usd": 1,
                         "match": {"repo": "x"}}]},
         "Additional properties are not allowed ('repo' was unexpected)"),
        ({"envelopes": [{"name": "a", "scope": "project", "limit_usd": 1,
                         "rollover": {"mode": "capped"}}]},
         "'cap_usd' is a required property"),
        ({"envelopes": [{"name": "a", "scope": "session", "limit_usd": 1,
                         "period": "week"}]},
         "period and rollover apply to project envelopes only"),
        ({"envelopes": [{"name": "a", "scope": "project", "limit_usd": 1},
                        {"name": "a", "scope": "session", "limit_usd": 2}]},
         "envelope name 'a' appears twice"),
    ],
)  # fmt: skip
def test_invalid_files_name_problem(document: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_envelopes(document, "budgets.yaml")
    assert expected in str(caught.value)


def test_yaml_syntax_error_is_clear(tmp_path: Path) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text("envelopes: [\n")
    with pytest.raises(ConfigError) as caught:
        load_envelopes(path)
    assert f"cannot read budgets file {str(path)!r}" in str(caught.value)


def test_path_precedence_option_env_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert budgets_path() == tmp_path / "data" / "budgets.yaml"
    monkeypatch.setenv("OTEL_COST_BUDGETS_FILE", str(tmp_path / "env.yaml"))
    assert budgets_path() == tmp_path / "env.yaml"
    assert budgets_path(str(tmp_path / "opt.yaml")) == tmp_path / "opt.yaml"


def test_cli_set_list_remove(tmp_path: Path) -> None:
    runner = CliRunner()
    file_args = ["--file", str(tmp_path / "b.yaml")]
    result = runner.invoke(
        cli,
        ["budget", "set", "web", "--scope", "project", "--limit", "120.50",
         "--project", "web", "--approver", "bob", "--rollover-cap", "20",
         "--rollover-starts", "2026-09-01", *file_args],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        cli, ["budget", "set", "dev", "--scope", "session", "--limit", "2", *file_args]
    )
    assert result.exit_code == 0, result.output

    listed = runner.invoke(cli, ["budget", "list", *file_args])
    assert listed.output.splitlines() == [
        "web: project $120.50 per month, project=web, owner team-lead",
        "dev: session $2, everything, owner developer",
    ]
    envelopes = load_envelopes(tmp_path / "b.yaml")
    assert envelopes[0].limit_usd == Decimal("120.50")
    assert envelopes[0].rollover.cap_usd == Decimal("20")
    assert envelopes[0].approvers == ("bob",)

    removed = runner.invoke(cli, ["budget", "remove", "web", *file_args])
    assert removed.exit_code == 0
    assert [e.name for e in load_envelopes(tmp_path / "b.yaml")] == ["dev"]

    missing = runner.invoke(cli, ["budget", "remove", "web", *file_args])
    assert missing.exit_code == 1
    assert "budget envelope 'web' not found; declared envelopes: dev" in missing.output


def test_cli_rejects_bad_limit(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["budget", "set", "x", "--scope", "project", "--limit", "lots",
         "--file", str(tmp_path / "b.yaml")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "'lots' is not an amount such as 25 or 12.50" in result.output


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["x", "--scope", "task", "--limit", "5"],
         "--scope task requires --task SESSION_ID"),
        (["x", "--scope", "task", "--task", "", "--limit", "5"],
         "--scope task requires --task SESSION_ID"),
        (["x", "--scope", "project", "--limit", "1e30"],
         "Invalid value for --limit: '1e30' must be written as plain digits"),
        (["", "--scope", "project", "--limit", "5"],
         "Invalid value for NAME: '' must start with a letter or digit"),
        (["a b", "--scope", "project", "--limit", "5"],
         "Invalid value for NAME: 'a b' must start with a letter or digit"),
        (["x", "--scope", "project", "--limit", "5", "--approver", "a",
          "--approver", "a"],
         "Invalid value for --approver: 'a' is given more than once"),
        (["x", "--scope", "project", "--limit", "5", "--rollover-cap", "1e2"],
         "Invalid value for --rollover-cap: '1e2' must be written as plain digits"),
        (["x", "--scope", "project", "--limit", "5", "--rollover-cap", "3",
          "--rollover-starts", "2026-13-01"],
         "Invalid value for --rollover-starts: '2026-13-01' is not a date"),
        (["x", "--scope", "project", "--limit", "5", "--rollover-starts",
          "2026-01-01"],
         "--rollover-starts requires --rollover-cap"),
        (["x", "--scope", "session", "--limit", "5", "--rollover-cap", "3"],
         "--rollover-cap applies only to --scope project, not session"),
    ],
)  # fmt: skip
def test_cli_set_names_bad_option(
    tmp_path: Path, arguments: list[str], expected: str
) -> None:
    budgets_file = tmp_path / "b.yaml"
    result = CliRunner().invoke(
        cli, ["budget", "set", *arguments, "--file", str(budgets_file)]
    )
    output = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert expected in output
    assert "budgets file" not in output
    assert not budgets_file.exists()

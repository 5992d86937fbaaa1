"""Every environment variable otel-cost reads, with its default.

Precedence everywhere: command-line option, then the specific variable here,
then the default.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "otel-cost"

#: DSN of the ClickHouse store: ``chdb:///path`` (embedded) or ``http(s)://...``.
ENV_CLICKHOUSE_URL = "OTEL_COST_CLICKHOUSE_URL"
#: Directory for the embedded store, rate-card registry and import state.
ENV_DATA_DIR = "OTEL_COST_DATA_DIR"
#: Extra rate card(s), ``PATH`` or ``PATH@YYYY-MM-DD``, separated by ``os.pathsep``.
ENV_PRICING_FILE = "OTEL_COST_PRICING_FILE"

#: Agent history locations, as each agent itself names them.
ENV_CLAUDE_CONFIG_DIR = "CLAUDE_CONFIG_DIR"
ENV_CODEX_HOME = "CODEX_HOME"
ENV_GEMINI_DIR = "GEMINI_CLI_HOME"
#: Our own override for the Gemini CLI directory (the one that contains ``tmp/``).
ENV_OTEL_COST_GEMINI_DIR = "OTEL_COST_GEMINI_DIR"


def data_dir() -> Path:
    """Return the directory of the embedded store and local state."""
    override = os.environ.get(ENV_DATA_DIR)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_dsn() -> str:
    """Return the store DSN from the environment or the embedded default."""
    override = os.environ.get(ENV_CLICKHOUSE_URL)
    if override:
        return override
    return f"chdb://{data_dir() / 'store'}"


def pricing_files_from_env() -> list[str]:
    """Return the extra rate-card specs named in the environment."""
    raw = os.environ.get(ENV_PRICING_FILE, "")
    return [part for part in raw.split(os.pathsep) if part]


def home() -> Path:
    """Return the user's home directory."""
    return Path.home()


#: Database of otel-cost's tables.
ENV_CLICKHOUSE_DATABASE = "OTEL_COST_CLICKHOUSE_DATABASE"
#: Storage policy with ``hot``, ``warm`` and ``cold`` volumes (servers only).
ENV_CLICKHOUSE_STORAGE_POLICY = "OTEL_COST_CLICKHOUSE_STORAGE_POLICY"
DEFAULT_DATABASE = "otel_cost"


def clickhouse_database() -> str:
    """Return the database name for otel-cost's tables."""
    return os.environ.get(ENV_CLICKHOUSE_DATABASE) or DEFAULT_DATABASE


def storage_policy() -> str | None:
    """Return the server storage policy for tiered TTL moves, if configured."""
    return os.environ.get(ENV_CLICKHOUSE_STORAGE_POLICY) or None


#: Budget envelopes file (YAML); default ``<data dir>/budgets.yaml``.
ENV_BUDGETS_FILE = "OTEL_COST_BUDGETS_FILE"
#: Name recorded as the actor of budget overrides, top-ups and gate decisions.
ENV_BUDGET_ACTOR = "OTEL_COST_USER"

#: XDG base directories, which OpenCode, Goose and VS Code on Linux follow.
ENV_XDG_DATA_HOME = "XDG_DATA_HOME"
ENV_XDG_CONFIG_HOME = "XDG_CONFIG_HOME"
#: Directory that holds OpenCode's ``opencode*.db`` and ``storage/`` (our override).
ENV_OTEL_COST_OPENCODE_DIR = "OTEL_COST_OPENCODE_DIR"
#: Our overrides: a VS Code ``globalStorage/<extension id>`` directory or its tasks.
ENV_OTEL_COST_ROO_CODE_DIR = "OTEL_COST_ROO_CODE_DIR"
ENV_OTEL_COST_KILO_CODE_DIR = "OTEL_COST_KILO_CODE_DIR"
ENV_OTEL_COST_CLINE_DIR = "OTEL_COST_CLINE_DIR"
#: Cline's own data locations (standalone Cline and the Cline CLI).
ENV_CLINE_DIR = "CLINE_DIR"
ENV_CLINE_DATA_DIR = "CLINE_DATA_DIR"
ENV_CLINE_SESSION_DATA_DIR = "CLINE_SESSION_DATA_DIR"
#: Qwen Code's own locations: the runtime directory, then the home directory.
ENV_QWEN_RUNTIME_DIR = "QWEN_RUNTIME_DIR"
ENV_QWEN_HOME = "QWEN_HOME"
#: Goose's own root; its sessions live in ``<root>/data/sessions/sessions.db``.
ENV_GOOSE_PATH_ROOT = "GOOSE_PATH_ROOT"

#: GitHub Copilot CLI directory (the one holding ``session-store.db``), as
#: Copilot itself names it, and our own override of it.
ENV_COPILOT_HOME = "COPILOT_HOME"
ENV_OTEL_COST_COPILOT_DIR = "OTEL_COST_COPILOT_DIR"
#: A VS Code ``User`` directory to read Copilot Chat's trace database from.
ENV_OTEL_COST_COPILOT_VSCODE_DIR = "OTEL_COST_COPILOT_VSCODE_DIR"
#: Zed data directory (the one holding ``threads/threads.db``).
ENV_OTEL_COST_ZED_DIR = "OTEL_COST_ZED_DIR"
#: Cursor data directory (the one holding ``User/globalStorage/state.vscdb``).
ENV_OTEL_COST_CURSOR_DIR = "OTEL_COST_CURSOR_DIR"
#: Model that prices Cursor requests made in Auto mode, which records no model.
ENV_OTEL_COST_CURSOR_AUTO_MODEL = "OTEL_COST_CURSOR_AUTO_MODEL"

#: Upstream base URLs of the instrument proxy, per provider (our overrides).
ENV_UPSTREAM_ANTHROPIC = "OTEL_COST_UPSTREAM_ANTHROPIC"
ENV_UPSTREAM_OPENAI = "OTEL_COST_UPSTREAM_OPENAI"
ENV_UPSTREAM_GEMINI = "OTEL_COST_UPSTREAM_GEMINI"
#: Base URLs the provider SDKs and agents read; a value set before
#: ``otel-cost instrument`` starts becomes that provider's upstream.
ENV_ANTHROPIC_BASE_URL = "ANTHROPIC_BASE_URL"
ENV_OPENAI_BASE_URL = "OPENAI_BASE_URL"
ENV_GEMINI_BASE_URL = "GOOGLE_GEMINI_BASE_URL"
#: Set for the wrapped command: the proxy's URL and the capture session id,
#: so nested tools (hook shims, a second ``instrument``) join the session.
ENV_PROXY_URL = "OTEL_COST_PROXY_URL"
ENV_SESSION_ID = "OTEL_COST_SESSION_ID"

#: Bearer token that ``otel-cost serve`` requires; mandatory off loopback.
ENV_API_TOKEN = "OTEL_COST_API_TOKEN"

#: Kilo Code's own override of its ``kilo.db`` database path (Kilo 7 and later).
ENV_KILO_DB = "KILO_DB"

#: ClickHouse cluster (a ``remote_servers`` name) to create the tables on, with
#: replicated engines and Distributed tables (servers only).
ENV_CLICKHOUSE_CLUSTER = "OTEL_COST_CLICKHOUSE_CLUSTER"


def clickhouse_cluster() -> str | None:
    """Return the ClickHouse cluster name for cluster mode, if configured."""
    return os.environ.get(ENV_CLICKHOUSE_CLUSTER) or None

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
#: Our own override for the Gemini CLI directory (the one that holds ``tmp/``).
ENV_OTEL_COST_GEMINI_DIR = "OTEL_COST_GEMINI_DIR"


def data_dir() -> Path:
    """Return the directory that holds the embedded store and local state."""
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

#: Database that holds otel-cost's tables.
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

"""Where desktop agents keep their data, and safe reads of their SQLite files.

Editors and agents built on Electron (VS Code, Cursor) keep their user data in
the platform's application-support directory. Zed keeps its threads in the
XDG data directory on Linux. Agent databases are opened read-only, or read
from a copy while the agent holds a lock, so an import never changes them.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import sys
import tempfile
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from otel_cost import config

logger = logging.getLogger(__name__)

#: Seconds a read waits for a writer's lock before falling back to a copy.
BUSY_TIMEOUT_S = 0.5
#: Side files that contain committed or in-flight changes (WAL and journal).
SQLITE_SIDE_FILES = ("-wal", "-journal")
#: VS Code builds whose user directory may hold Copilot Chat data.
VSCODE_APP_NAMES = ("Code", "Code - Insiders", "VSCodium")


@dataclass(frozen=True)
class RootChoice:
    """A data directory and the environment variable that chose it, if any."""

    path: Path
    env_var: str = ""


def is_macos() -> bool:
    """Return True on macOS, where apps keep data under ~/Library."""
    return sys.platform == "darwin"


def app_support_dir() -> Path:
    """Return the per-user directory where Electron apps keep their data."""
    if is_macos():
        return config.home() / "Library" / "Application Support"
    return _xdg_dir("XDG_CONFIG_HOME", ".config")


def xdg_data_dir() -> Path:
    """Return ``$XDG_DATA_HOME`` or ``~/.local/share``."""
    return _xdg_dir("XDG_DATA_HOME", ".local/share")


def _xdg_dir(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable)
    # The XDG specification ignores relative paths in these variables.
    if value and os.path.isabs(value):
        return Path(value)
    return config.home() / fallback


def choose_root(env_vars: tuple[str, ...], default: Path) -> RootChoice:
    """Return the directory named by the first set variable, else ``default``."""
    for name in env_vars:
        value = os.environ.get(name)
        if value:
            return RootChoice(Path(value).expanduser(), name)
    return RootChoice(default)


def vscode_user_dirs() -> list[Path]:
    """Return the ``User`` directory of every VS Code build, present or not."""
    base = app_support_dir()
    return [base / name / "User" for name in VSCODE_APP_NAMES]


def sqlite_uri(path: Path) -> str:
    """Return a read-only SQLite URI for ``path``."""
    quoted = urllib.parse.quote(str(path.resolve()))
    return f"file:{quoted}?mode=ro"


@contextmanager
def open_sqlite_readonly(path: Path) -> Iterator[sqlite3.Connection]:
    """Open an agent's SQLite database read-only, copying it if a direct read fails.

    A direct read can fail while the agent holds a write lock, or in WAL mode
    when the ``-shm`` file cannot be created next to the database. The copy
    takes the main file and its ``-wal`` log, so committed transactions that
    are not yet checkpointed are still read. SQLite ignores a torn frame at the
    end of a copied log, so a copy taken mid-write loses at most that frame.
    """
    try:
        connection: sqlite3.Connection | None = _connect_readonly(path)
    except sqlite3.OperationalError as exc:
        logger.debug("direct read of %s failed (%s); reading a copy", path, exc)
        connection = None
    if connection is None:
        with _copied_database(path) as copy:
            connection = sqlite3.connect(copy, timeout=BUSY_TIMEOUT_S)
            try:
                yield connection
            finally:
                connection.close()
        return
    try:
        yield connection
    finally:
        connection.close()


def _connect_readonly(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise FileNotFoundError(f"SQLite database {str(path)!r} not found")
    connection = sqlite3.connect(sqlite_uri(path), uri=True, timeout=BUSY_TIMEOUT_S)
    try:
        connection.execute("PRAGMA query_only = 1")
        # Reading the schema takes the shared lock, so a locked or unreadable
        # database fails here rather than in the first real query.
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error:
        connection.close()
        raise
    return connection


@contextmanager
def _copied_database(path: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="otel-cost-sqlite-") as directory:
        target = Path(directory) / path.name
        shutil.copyfile(path, target)
        for suffix in SQLITE_SIDE_FILES:
            side = path.with_name(path.name + suffix)
            if side.is_file():
                shutil.copyfile(side, target.with_name(target.name + suffix))
        yield target


def table_columns(connection: sqlite3.Connection, table: str) -> set[str]:
    """Return the column names of ``table``, empty when the table is missing."""
    rows = connection.execute(f"PRAGMA table_info({table})").fetchall()
    return {row[1] for row in rows}


def sqlite_signature(path: Path) -> tuple[int, int]:
    """Return a size and modification time that change with any commit.

    In WAL mode a commit only appends to the ``-wal`` file, so the main file's
    own size and time stay the same until a checkpoint. This adds both files.
    """
    size, mtime_ns = 0, 0
    for candidate in (path, path.with_name(path.name + "-wal")):
        try:
            stat = candidate.stat()
        except OSError:
            continue
        size += stat.st_size
        mtime_ns = max(mtime_ns, stat.st_mtime_ns)
    return size, mtime_ns

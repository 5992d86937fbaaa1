"""The discovery file ``<data dir>/serve.json``, by which other commands find the service."""

from __future__ import annotations

import logging
import os
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from otel_cost import config

logger = logging.getLogger(__name__)

FILE_NAME = "serve.json"
HEALTH_TIMEOUT_S = 1.0
REQUIRED_KEYS = ("pid", "api_url", "otlp_http_url", "otlp_grpc_url")


def discovery_path() -> Path:
    """Return where the running service describes itself."""
    return config.data_dir() / FILE_NAME


def write_discovery(info: dict[str, Any]) -> Path:
    """Write the discovery file atomically (readers never see half of it)."""
    path = discovery_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{FILE_NAME}.{os.getpid()}")
    temporary.write_bytes(orjson.dumps(info, option=orjson.OPT_INDENT_2))
    os.replace(temporary, path)
    return path


def remove_discovery(pid: int) -> None:
    """Remove the discovery file if it still describes process ``pid``."""
    path = discovery_path()
    info = _read(path)
    if info is not None and info.get("pid") == pid:
        path.unlink(missing_ok=True)


def running_service() -> dict[str, Any] | None:
    """Return the discovery info of a live service, or None.

    A service is live when its process exists and its ``/healthz`` returns
    its own pid, so a stale file left by a killed process is not trusted.
    """
    info = _read(discovery_path())
    if info is None or not all(key in info for key in REQUIRED_KEYS):
        return None
    pid = info["pid"]
    if not isinstance(pid, int) or not _alive(pid):
        return None
    try:
        # No proxy: the service is on this host, and a proxy must not respond for it.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(
            f"{info['api_url']}/healthz", timeout=HEALTH_TIMEOUT_S
        ) as response:
            health = orjson.loads(response.read())
    except (OSError, ValueError) as exc:
        logger.debug(
            "service at %s did not respond to /healthz: %s", info["api_url"], exc
        )
        return None
    return info if isinstance(health, dict) and health.get("pid") == pid else None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        info = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return info if isinstance(info, dict) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def service_for_store(dsn: str | None) -> dict[str, Any] | None:
    """Return the live service that has open the embedded store ``dsn`` names.

    Only an embedded store needs the service: a server store can be read by
    any number of processes.
    """
    from otel_cost import config

    wanted = dsn or config.default_dsn()
    if not wanted.startswith("chdb://"):
        return None
    info = running_service()
    if info is None:
        return None
    same_store = (
        info.get("dsn") == wanted
        and info.get("database") == config.clickhouse_database()
    )
    return info if same_store else None

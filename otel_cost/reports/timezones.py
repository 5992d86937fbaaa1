"""Time-zone names for day buckets."""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from otel_cost.errors import ConfigError

LOCALTIME = Path("/etc/localtime")


def validate_timezone(name: str) -> str:
    """Return ``name`` if it is a known IANA time zone, else raise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {name!r}; expected an IANA name such as Europe/Berlin"
        ) from None
    return name


def local_timezone() -> str:
    """Return the IANA name of this machine's time zone, or UTC when unknown."""
    candidate = os.environ.get("TZ", "").lstrip(":")
    if not candidate and LOCALTIME.is_symlink():
        target = str(LOCALTIME.resolve())
        if "zoneinfo/" in target:
            candidate = target.split("zoneinfo/", 1)[1]
    try:
        return validate_timezone(candidate) if candidate else "UTC"
    except ConfigError:
        return "UTC"

"""Options and helpers shared by the commands."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

import click
import orjson

from otel_cost import config
from otel_cost.decimals import decimal_text
from otel_cost.errors import StoreLockedError

F = TypeVar("F", bound=Callable[..., Any])


def db_option(func: F) -> F:
    """Add ``--db DSN``."""
    return click.option(
        "--db",
        "dsn",
        metavar="DSN",
        default=None,
        help=(
            "Store DSN: chdb:///path (embedded) or http(s)://host:8123. "
            f"Default: ${config.ENV_CLICKHOUSE_URL}, else the embedded store "
            "under the user data directory."
        ),
    )(func)


def pricing_option(func: F) -> F:
    """Add ``--pricing-file PATH[@YYYY-MM-DD]`` (repeatable)."""
    return click.option(
        "--pricing-file",
        "pricing_files",
        metavar="PATH[@DATE]",
        multiple=True,
        help=(
            "Extra rate card in LiteLLM format, in force from DATE (default: "
            "for all events). Repeat for several cards."
        ),
    )(func)


def api_url_option(func: F) -> F:
    """Add ``--api-url URL`` for views that can read through a running serve.

    A locked embedded store then also suggests ``--api-url``, which only
    these commands accept.
    """

    @functools.wraps(func)
    def suggest_api_when_locked(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except StoreLockedError as exc:
            raise StoreLockedError(
                f"{exc}, or pass --api-url with the API URL of that process"
            ) from None

    return click.option(
        "--api-url",
        default=None,
        metavar="URL",
        help="Read through this otel-cost serve API instead of discovering one.",
    )(cast(F, suggest_api_when_locked))


def json_default(value: Any) -> Any:
    """Serialise decimals as exact strings for JSON output."""
    if isinstance(value, Decimal):
        return decimal_text(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def print_json(payload: Any) -> None:
    """Write ``payload`` as indented JSON to stdout."""
    data = orjson.dumps(payload, default=json_default, option=orjson.OPT_INDENT_2)
    sys.stdout.write(data.decode() + "\n")


def parse_instant(text: str, name: str) -> datetime:
    """Parse an ISO 8601 time; a time without zone is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 time such as 2026-08-20T14:03:11Z",
            param_hint=name,
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed

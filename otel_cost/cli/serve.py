"""``otel-cost serve``: run the OTLP receiver, query API and metrics until stopped."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import click

from otel_cost import config
from otel_cost.cli.common import db_option, pricing_option
from otel_cost.serve.pipeline import ACK_JOURNAL, ACK_MODES
from otel_cost.serve.service import (
    DEFAULT_API_PORT,
    DEFAULT_GRPC_PORT,
    DEFAULT_HOST,
    DEFAULT_HTTP_PORT,
    ServeConfig,
    Service,
)

logger = logging.getLogger(__name__)

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _host_port(value: str | None, name: str) -> tuple[str, int] | None:
    if value is None:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(
            f"{value!r} is not HOST:PORT such as 127.0.0.1:4317", param_hint=name
        )
    return host.strip("[]"), int(port)


def _port_option(flag: str, default: int, help_text: str) -> Decorator:
    return click.option(
        flag,
        type=click.IntRange(0, 65535),
        default=default,
        show_default=True,
        help=help_text,
    )


def _address_option(flag: str, name: str, help_text: str) -> Decorator:
    return click.option(flag, name, metavar="HOST:PORT", default=None, help=help_text)


@click.command("serve")
@db_option
@pricing_option
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Address all three listeners bind to.",
)
@_port_option("--grpc-port", DEFAULT_GRPC_PORT, "OTLP/gRPC port (0 picks a free port).")
@_port_option("--http-port", DEFAULT_HTTP_PORT, "OTLP/HTTP port (0 picks a free port).")
@_port_option(
    "--api-port", DEFAULT_API_PORT, "REST API, /metrics and health port (0 picks one)."
)
@_address_option(
    "--otlp-grpc", "otlp_grpc", "OTLP/gRPC address; overrides --host and --grpc-port."
)
@_address_option(
    "--otlp-http", "otlp_http", "OTLP/HTTP address; overrides --host and --http-port."
)
@_address_option("--api", "api", "API address; overrides --host and --api-port.")
@click.option(
    "--spool-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory of the disk spool: the journal of accepted events, "
    "and what waits while the store is down "
    "[default: <data dir>/spool/<database>-<store hash>].",
)
@click.option(
    "--token-env",
    default=config.ENV_API_TOKEN,
    show_default=True,
    help="Environment variable holding the bearer token; required when "
    "binding beyond loopback.",
)
@click.option(
    "--convert-workers",
    type=click.IntRange(0, 64),
    default=0,
    show_default=True,
    help="Worker processes that convert and price OTLP requests (0: in the "
    "service's own process). Each needs a spare CPU; see docs/scale.md.",
)
@click.option(
    "--ack",
    type=click.Choice(ACK_MODES),
    default=ACK_JOURNAL,
    show_default=True,
    help="When an export is acknowledged: 'journal' once its events are "
    "fsynced to the disk spool (they are queryable within about a second), "
    "'store' once they are queryable, or spooled while the store is down. "
    "'journal' ingests far more per second.",
)
@click.option(
    "--migrate-only",
    is_flag=True,
    help="Apply the schema migrations to the store, then exit (a deployment's "
    "migration job runs this).",
)
def serve_command(
    dsn: str | None,
    pricing_files: tuple[str, ...],
    host: str,
    grpc_port: int,
    http_port: int,
    api_port: int,
    otlp_grpc: str | None,
    otlp_http: str | None,
    api: str | None,
    spool_dir: Path | None,
    token_env: str,
    convert_workers: int,
    ack: str,
    migrate_only: bool,
) -> None:
    """Receive OTLP, price and store cost events, and answer queries.

    SIGTERM, SIGHUP or Ctrl-C stops accepting, writes everything accepted to
    the store (or leaves it in the spool when the store is down) and exits 0.
    """
    if migrate_only:
        _migrate(dsn)
        return
    grpc_address = _host_port(otlp_grpc, "--otlp-grpc") or (host, grpc_port)
    http_address = _host_port(otlp_http, "--otlp-http") or (host, http_port)
    api_address = _host_port(api, "--api") or (host, api_port)
    settings = ServeConfig(
        dsn=dsn,
        pricing_files=pricing_files,
        grpc_host=grpc_address[0],
        grpc_port=grpc_address[1],
        http_host=http_address[0],
        http_port=http_address[1],
        api_host=api_address[0],
        api_port=api_address[1],
        spool_dir=spool_dir,
        token=os.environ.get(token_env) or None,
        token_env=token_env,
        convert_workers=convert_workers,
        ack=ack,
    )
    service = Service(settings)
    service.start()
    click.echo(
        f"otel-cost serve: API {service.urls['api_url']}, "
        f"OTLP/HTTP {service.urls['otlp_http_url']}, "
        f"OTLP/gRPC {service.urls['otlp_grpc_url']}",
        err=True,
    )
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # A closed terminal (SIGHUP) stops the service as cleanly as SIGTERM.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, request_stop)
    stop.wait()
    click.echo("otel-cost serve: stopping; writing what was accepted", err=True)
    service.stop()
    spooled = service.pipeline.spool.size_bytes
    left = f"; {spooled} bytes stay in the spool for the next start" if spooled else ""
    click.echo(f"otel-cost serve: stopped{left}", err=True)


def _migrate(dsn: str | None) -> None:
    from otel_cost.store import open_store
    from otel_cost.store.migrations import load_migrations

    store = open_store(dsn)
    try:
        applied = store.query("SELECT count() FROM schema_migrations")[0][0]
    finally:
        store.close()
    click.echo(
        f"otel-cost serve: schema of {store.dsn} (database {store.database}) is "
        f"migrated: {applied} of {len(load_migrations())} migrations recorded",
        err=True,
    )

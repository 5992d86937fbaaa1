"""otel-cost: cost observability and budget governance for AI coding agents."""

__version__ = "0.1.0"


def configure(*args: object, **kwargs: object) -> bool:
    """Set up the SDK once: span export from ``OTEL_*`` and httpx instrumentation.

    See `otel_cost.sdk.configure`; OpenTelemetry loads only when this is called.
    """
    from otel_cost.sdk import configure as configure_sdk

    return configure_sdk(*args, **kwargs)  # type: ignore[arg-type]


def record_usage(*args: object, **kwargs: object) -> object:
    """Record one LLM call made outside httpx; see `otel_cost.sdk.record_usage`."""
    from otel_cost.sdk import record_usage as record

    return record(*args, **kwargs)  # type: ignore[arg-type]

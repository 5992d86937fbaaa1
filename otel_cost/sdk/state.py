"""Process-wide SDK state: the tracer, the rate cards and self-metrics."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from opentelemetry import trace

from otel_cost.pricing.registry import PricingRegistry, load_registry

logger = logging.getLogger(__name__)

INSTRUMENTATION_NAME = "otel_cost.sdk"


@dataclass
class SdkStats:
    """Self-metrics: what the SDK did and how often it failed (and swallowed it)."""

    spans: int = 0
    unpriced: int = 0
    errors: int = 0


class SdkState:
    """The one configured state of the SDK in this process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.configured = False
        self.tracer_provider: trace.TracerProvider | None = None
        #: True when the SDK built the provider, so `shutdown` may stop it.
        self.owns_provider = False
        self.pricing_files: tuple[str, ...] = ()
        self.stats = SdkStats()
        self._registry: PricingRegistry | None = None
        self._registry_failed = False

    def tracer(self) -> trace.Tracer:
        """Return our tracer from the configured provider, else the global one."""
        return trace.get_tracer(
            INSTRUMENTATION_NAME, tracer_provider=self.tracer_provider
        )

    def registry(self) -> PricingRegistry | None:
        """Return the rate cards, loading them once; None when they cannot load."""
        if self._registry is None and not self._registry_failed:
            try:
                self._registry = load_registry(self.pricing_files)
            except Exception as exc:  # spans still carry tokens without a price
                self._registry_failed = True
                self.count_error("cannot load rate cards", exc)
        return self._registry

    def count_error(self, operation: str, exc: BaseException) -> None:
        """Count and log an error that the SDK swallowed."""
        self.stats.errors += 1
        logger.debug("otel-cost SDK: %s: %s", operation, type(exc).__name__)


STATE = SdkState()

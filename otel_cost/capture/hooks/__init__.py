"""The recording side of agent hooks: emit the usage a hook call makes visible."""

from otel_cost.capture.hooks.recording import HookRecord, record_hook

__all__ = ["HookRecord", "record_hook"]

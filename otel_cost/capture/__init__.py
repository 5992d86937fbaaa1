"""Capture: every way cost events enter otel-cost."""

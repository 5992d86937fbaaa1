"""otel-cost: cost observability and budget governance for AI coding agents."""

__version__ = "0.1.0"

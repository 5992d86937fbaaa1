"""The ``otel-cost`` command line."""

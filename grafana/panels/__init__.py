"""Panel definitions of the otel-cost dashboards, one module per dashboard."""

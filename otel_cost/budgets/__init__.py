"""Budget envelopes, their status, pre-action gates, overrides, top-ups and metrics."""

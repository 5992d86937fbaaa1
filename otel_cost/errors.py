"""The exception hierarchy: every expected failure derives from `OtelCostError`."""


class OtelCostError(Exception):
    """Base class of every error that otel-cost reports without a traceback."""


class ConfigError(OtelCostError):
    """A setting, option or environment variable holds an invalid value."""


class StoreError(OtelCostError):
    """The ClickHouse store cannot be opened, migrated or written."""


class StoreLockedError(StoreError):
    """Another process already holds the embedded store."""


class RateCardError(OtelCostError):
    """A rate card cannot be read or holds an invalid entry."""


class UsageFormatError(OtelCostError):
    """A usage object does not follow the convention it claims."""
